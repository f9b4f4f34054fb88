"""The usage module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Invalid


class UsageErrorCode(StrEnum):
    """Every code the platform usage list answers (besides those of `HubErrorCode`)."""

    PERIOD_INVALID = "period_invalid"


class UsagePeriodInvalid(Invalid):
    code = UsageErrorCode.PERIOD_INVALID
