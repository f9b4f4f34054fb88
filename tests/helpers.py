"""Assertions shared by every test suite."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape: JSON ``{"detail", "code"}``, plus ``errors`` on every 422."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    if code is not None:
        assert body["code"] == code, body
    if status == 422:
        assert isinstance(body["errors"], list)
        assert body["errors"]
    return body
