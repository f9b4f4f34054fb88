"""Platform API v1: every organization's usage, ``platform_admin`` only (the platform API's auth)."""

from __future__ import annotations

import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from api.pagination import paginate
from apps.usage import selectors
from apps.usage.schemas import USAGE_ERRORS, UsagePage, UsageQuery

router = Router(tags=["usage"])


@router.get("usage", summary="List organizations' usage", response={200: UsagePage, **USAGE_ERRORS})
def usage_list(request: HttpRequest, query: Query[UsageQuery]) -> dict[str, Any]:
    """Per organization over `from`..`to` (UTC days): rows stored, storage, requests and active users,
    as the hourly collection job recorded them (never a scan of the organizations' schemas)."""
    today = datetime.datetime.now(tz=datetime.UTC).date()
    start, end = selectors.usage_period(start=query.from_, end=query.to, today=today)
    return paginate(selectors.usage_list(start=start, end=end), page=query)
