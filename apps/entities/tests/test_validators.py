"""Unit tests of the entities' field rules (``apps.entities.validators``)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.entities import validators
from apps.entities.errors import EntityInvalid

pytestmark = pytest.mark.django_db


def _refused(call: Any, *args: Any) -> EntityInvalid:
    with pytest.raises(EntityInvalid) as caught:
        call(*args)
    return caught.value


def _nested(depth: int) -> dict[str, Any]:
    """A JSON object whose containers nest ``depth`` levels (the object itself is level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"child": value}
    return value


class TestName:
    def test_strips_surrounding_space(self) -> None:
        assert validators.name_clean("  Acme AG \t") == "Acme AG"

    def test_keeps_unicode(self) -> None:
        assert validators.name_clean("Zürich Bäckerei 北京") == "Zürich Bäckerei 北京"

    def test_accepts_the_maximum_length(self) -> None:
        assert validators.name_clean("x" * validators.NAME_MAX) == "x" * 200

    @pytest.mark.parametrize("value", ["", "   ", "x" * 201, "a\x00b", "line\nbreak", "tab\there", "del\x7f"])
    def test_refuses(self, value: str) -> None:
        error = _refused(validators.name_clean, value)
        assert error.field == "name"
        assert error.status == 422


class TestReference:
    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_blank_is_null(self, value: str | None) -> None:
        assert validators.reference_clean(value) is None

    def test_strips(self) -> None:
        assert validators.reference_clean(" C-1 ") == "C-1"

    @pytest.mark.parametrize("value", ["x" * 101, "a\x00b", "a\rb"])
    def test_refuses(self, value: str) -> None:
        assert _refused(validators.reference_clean, value).field == "reference"


class TestEmail:
    @pytest.mark.parametrize("value", [None, ""])
    def test_empty_is_blank(self, value: str | None) -> None:
        assert validators.email_clean(value) == ""

    def test_normalises_the_domain(self) -> None:
        assert validators.email_clean("  Jane.Doe@EXAMPLE.Com ") == "Jane.Doe@example.com"

    @pytest.mark.parametrize(
        "value",
        ["not-an-email", "a@", "@example.com", "a@@example.com", "a b@example.com", "a\x00@example.com", " "],
    )
    def test_refuses(self, value: str) -> None:
        error = _refused(validators.email_clean, value)
        assert error.field == "email"
        assert "email" in error.detail


class TestPhone:
    @pytest.mark.parametrize("value", [None, ""])
    def test_empty_is_blank(self, value: str | None) -> None:
        assert validators.phone_clean(value) == ""

    @pytest.mark.parametrize(
        ("value", "e164"),
        [
            ("+41 44 668 18 00", "+41446681800"),
            ("+41-44-668-18-00", "+41446681800"),
            ("+1 (202) 456-1111", "+12024561111"),
            ("  +44 20 7946 0958 ", "+442079460958"),
        ],
    )
    def test_normalises_to_e164(self, value: str, e164: str) -> None:
        assert validators.phone_clean(value) == e164

    def test_refuses_a_national_number(self) -> None:
        error = _refused(validators.phone_clean, "044 668 18 00")
        assert "international" in error.detail

    def test_refuses_an_impossible_number(self) -> None:
        error = _refused(validators.phone_clean, "+41 12")
        assert error.detail == "phone is not a valid number."

    @pytest.mark.parametrize("value", ["hello", "+", "++41", "+41 44 668 18 00\x00", "+41\n446681800"])
    def test_refuses(self, value: str) -> None:
        assert _refused(validators.phone_clean, value).field == "phone"


class TestTags:
    def test_normalises_and_deduplicates_in_order(self) -> None:
        assert validators.tags_clean([" VIP ", "eu", "vip", "b2b.gold", "x_y-z"]) == [
            "vip",
            "eu",
            "b2b.gold",
            "x_y-z",
        ]

    def test_empty(self) -> None:
        assert validators.tags_clean([]) == []

    def test_accepts_the_maximum(self) -> None:
        tags = [f"t{index}" for index in range(validators.TAGS_MAX)]
        assert validators.tags_clean(tags) == tags

    def test_refuses_too_many(self) -> None:
        tags = [f"t{index}" for index in range(validators.TAGS_MAX + 1)]
        assert "at most 20" in _refused(validators.tags_clean, tags).detail

    def test_duplicates_do_not_count_twice(self) -> None:
        assert len(validators.tags_clean(["same"] * 30)) == 1

    @pytest.mark.parametrize(
        "tag", ["", "-lead", ".lead", "has space", "x" * 51, "émoji", "a\x00", "a\nb", "a/b"]
    )
    def test_refuses(self, tag: str) -> None:
        assert _refused(validators.tags_clean, [tag]).field == "tags"


class TestAttributes:
    def test_accepts_json_values(self) -> None:
        value = {"n": 1, "f": 1.5, "s": "ü", "b": True, "none": None, "list": [1, {"a": []}]}
        assert validators.attributes_clean(value) == value

    def test_accepts_the_maximum_depth(self) -> None:
        value = _nested(validators.ATTRIBUTES_MAX_DEPTH)
        assert validators.attributes_clean(value) is value

    @pytest.mark.parametrize("depth", [validators.ATTRIBUTES_MAX_DEPTH + 1, 50, 5000])
    def test_refuses_deeper_objects(self, depth: int) -> None:
        assert "nest at most" in _refused(validators.attributes_clean, _nested(depth)).detail

    def test_lists_count_as_levels(self) -> None:
        value: dict[str, Any] = {"a": [[[[1]]]]}  # object + 4 lists = 5 levels
        assert validators.attributes_clean(value) == value
        assert "nest at most" in _refused(validators.attributes_clean, {"a": [[[[[1]]]]]}).detail

    def test_accepts_the_maximum_size(self) -> None:
        # {"k": "..."} is 9 bytes of JSON around the string.
        value = {"k": "x" * (validators.ATTRIBUTES_MAX_BYTES - 9)}
        assert validators.attributes_clean(value) == value

    def test_refuses_one_byte_more(self) -> None:
        value = {"k": "x" * (validators.ATTRIBUTES_MAX_BYTES - 8)}
        assert "bytes" in _refused(validators.attributes_clean, value).detail

    def test_size_counts_utf8_bytes(self) -> None:
        value = {"k": "é" * (validators.ATTRIBUTES_MAX_BYTES // 2)}  # 2 bytes each
        assert "bytes" in _refused(validators.attributes_clean, value).detail

    @pytest.mark.parametrize(
        "value",
        [{"k": "a\x00b"}, {"a\x00": 1}, {"deep": {"list": ["\x00"]}}],
    )
    def test_refuses_nul(self, value: dict[str, Any]) -> None:
        assert "NUL" in _refused(validators.attributes_clean, value).detail

    def test_a_backslash_u0000_text_is_not_nul(self) -> None:
        value = {"path": "C:\\u0000"}
        assert validators.attributes_clean(value) == value

    @pytest.mark.parametrize("value", [{"k": "\ud800"}, {"\udfff": 1}, {"k": ["ok", "x\ud83d"]}])
    def test_refuses_lone_surrogates(self, value: dict[str, Any]) -> None:
        assert "Unicode" in _refused(validators.attributes_clean, value).detail

    @pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
    def test_refuses_non_finite_numbers(self, number: float) -> None:
        assert "finite" in _refused(validators.attributes_clean, {"a": {"b": number}}).detail

    @pytest.mark.parametrize("value", [[], "text", 1, None])
    def test_refuses_non_objects(self, value: Any) -> None:
        assert "JSON object" in _refused(validators.attributes_clean, value).detail


class TestKind:
    @pytest.mark.parametrize(
        ("value", "key"), [("customer", "customer"), (" Vendor ", "vendor"), ("a_b-9", "a_b-9")]
    )
    def test_normalises(self, value: str, key: str) -> None:
        assert validators.kind_key_clean(value) == key

    def test_accepts_forty_characters(self) -> None:
        assert validators.kind_key_clean("k" * 40) == "k" * 40

    @pytest.mark.parametrize(
        "value", ["", "9lives", "-x", "has space", "k" * 41, "a\x00", "a\nb", "ünï", "a.b"]
    )
    def test_refuses(self, value: str) -> None:
        assert _refused(validators.kind_key_clean, value).field == "kind"

    def test_label_strips(self) -> None:
        assert validators.kind_label_clean("  Vendor ") == "Vendor"

    @pytest.mark.parametrize("value", ["", "  ", "x" * 101, "a\x00b", "a\nb"])
    def test_label_refuses(self, value: str) -> None:
        assert _refused(validators.kind_label_clean, value).field == "label"


def test_error_payload_has_the_contract_errors_list() -> None:
    error = _refused(validators.name_clean, "")
    payload = error.payload()
    assert payload["code"] == "validation_error"
    assert payload["detail"] == error.detail
    assert payload["errors"] == [{"loc": ["name"], "msg": error.detail, "type": "validation_error"}]
