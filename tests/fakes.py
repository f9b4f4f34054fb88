"""The identity service's stand-in for tests: one real local HTTP server, shared with
``manage.py fake_identity`` (faked at the HTTP boundary only)."""

from __future__ import annotations

from tenants.fake_identity import NO_ROUTE, FakeIdentityService, FakeOrganization, FakeUser, Handler

__all__ = ["NO_ROUTE", "FakeIdentityService", "FakeOrganization", "FakeUser", "Handler"]
