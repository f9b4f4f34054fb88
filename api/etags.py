"""Optimistic concurrency for single objects: strong ``ETag``s and ``If-Match`` preconditions (RFC 9110).

An object's ETag is derived from its row's version, ``updated_at`` (every write of an entity, account,
resource or booking sets it), together with its id, so two objects never share one. Reads and writes
answer it in the ``ETag`` header; a ``PATCH``/``DELETE`` (and a booking's cancel) with ``If-Match``
applies only while the object still has one of the listed ETags (``*``: any live version), else 412
``precondition_failed``. With ``HUB_REQUIRE_IF_MATCH`` on, such a write without the header is a 428
``precondition_required``.

The comparison is made by the service on the row it re-read under its lock (``IfMatch.check``), in the
transaction that writes it: two clients holding the same ETag cannot both win, the second sees the
first's version. Services receive the parsed ``IfMatch`` value and never import this module.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

from django.conf import settings
from django.http import HttpResponse
from ninja import Header

from hub.errors import BadRequest, HubErrorCode, PreconditionFailed, PreconditionRequired

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One entity-tag of a list: optional weak prefix, a quoted opaque tag (etagc excludes DQUOTE and
# controls), then a comma or the end (RFC 9110, section 8.8.3).
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


class Versioned(Protocol):
    """A row with an id and a version: every write sets ``updated_at``."""

    @property
    def pk(self) -> Any: ...

    @property
    def updated_at(self) -> datetime: ...


def etag_of(instance: Versioned) -> str:
    """The strong ETag of ``instance``'s current version: opaque, quoted, a digest of its model, id and
    ``updated_at`` (in whole microseconds since the epoch, so the database's value and the saved
    instance's give the same tag)."""
    micros = (instance.updated_at - _EPOCH) // timedelta(microseconds=1)
    version = f"{type(instance)._meta.label_lower}:{instance.pk}:{micros}"  # type: ignore[attr-defined]
    return f'"{hashlib.sha256(version.encode()).hexdigest()[:32]}"'


def etag_set(response: HttpResponse, instance: Versioned) -> None:
    """Answer ``instance``'s ETag on ``response`` (Ninja's temporal response of the operation)."""
    response["ETag"] = etag_of(instance)


@dataclass(frozen=True)
class IfMatch:
    """A parsed ``If-Match``: ``*`` (any current version) or the strong tags listed; weak ones
    (``W/"..."``) are dropped, since they never match for ``If-Match`` (strong comparison)."""

    any: bool
    tags: frozenset[str]

    def check(self, instance: Versioned) -> None:
        """Raise 412 unless ``instance`` (re-read under its row lock by the caller) has a listed ETag."""
        if self.any:
            return
        current = etag_of(instance)
        if current not in self.tags:
            raise PreconditionFailed(
                "The object was changed since you read it (its ETag is no longer the one in If-Match); "
                "read it again and retry."
            )


def if_match_parse(value: str) -> IfMatch:
    """``*`` or a comma-separated list of entity-tags; anything else is a 400 naming the header."""
    text = value.strip()
    if text == "*":
        return IfMatch(any=True, tags=frozenset())
    tags: set[str] = set()
    position = 0
    while position < len(text):
        match = _ENTITY_TAG.match(text, position)
        if match is None or match.end() == position:
            raise BadRequest(
                'If-Match must be * or a comma-separated list of quoted entity tags ("...").',
                code=HubErrorCode.MALFORMED_REQUEST,
            )
        if match.group(1) is None:
            tags.add(f'"{match.group(2)}"')
        position = match.end()
    if position == 0:
        raise BadRequest("If-Match is empty.", code=HubErrorCode.MALFORMED_REQUEST)
    return IfMatch(any=False, tags=frozenset(tags))


# The header as an operation's parameter: declared in the OpenAPI document, read as text, and parsed by
# ``if_match`` inside the operation, once the object is found (another organization's is a 404 first).
IfMatchHeader = Annotated[
    str | None,
    Header(
        None,
        alias="If-Match",
        description="The ETag of the version read (its ETag header), several comma-separated, or *: the "
        "write applies only while the object is still that version, else 412 precondition_failed. "
        "Required (428 precondition_required) when the server runs with HUB_REQUIRE_IF_MATCH.",
    ),
]


def if_match(value: str | None) -> IfMatch | None:
    """The request's ``If-Match`` (``IfMatchHeader``), parsed; ``None`` when it has none (a 428
    instead when ``HUB_REQUIRE_IF_MATCH`` is on)."""
    if value is None:
        if settings.HUB_REQUIRE_IF_MATCH:
            raise PreconditionRequired()
        return None
    return if_match_parse(value)
