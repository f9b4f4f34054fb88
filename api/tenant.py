"""Tenant API v1, served on ``<slug>.<HUB_BASE_DOMAIN>/api/v1/``: one router per business module."""

from __future__ import annotations

from ninja import NinjaAPI

from api.auth import viewer_auth
from api.errors import StrictJSONParser, install_error_handlers
from apps.analytics.api import router as analytics_router
from apps.audit.api import router as audit_router
from apps.deliveries.api import router as deliveries_router
from apps.entities.api import router as entities_router
from apps.exports.api import router as exports_router
from apps.imports.api import router as imports_router
from apps.ledger.api import router as ledger_router
from apps.members.api import me_router
from apps.members.api import router as members_router
from apps.notifications.api import router as notifications_router
from apps.privacy.api import router as privacy_router
from apps.reports.api import router as reports_router
from apps.scheduling.api import router as scheduling_router

api = NinjaAPI(
    title="Hub tenant API",
    version="1",
    description="The organization's business data. Bearer access token bound to this organization.",
    urls_namespace="tenant-v1",
    auth=viewer_auth,
    parser=StrictJSONParser(),
)
install_error_handlers(api)
api.add_router("/entities/", entities_router, tags=["entities"])
api.add_router("/transactions/", ledger_router, tags=["transactions"])
api.add_router("/scheduling/", scheduling_router, tags=["scheduling"])
api.add_router("/analytics/", analytics_router, tags=["analytics"])
# Before any "/notifications/" router: its "{id}" paths must not swallow "deliveries".
api.add_router("/notifications/deliveries/", deliveries_router, tags=["notifications"])
api.add_router("/analytics/reports", reports_router, tags=["analytics"])
api.add_router("/audit/", audit_router, tags=["audit"])
api.add_router("/privacy/", privacy_router, tags=["privacy"])
api.add_router("/members/", members_router, tags=["members"])
api.add_router("/notifications/", notifications_router, tags=["notifications"])
api.add_router("/me", me_router, tags=["members"])
api.add_router("/imports/", imports_router, tags=["imports"])
api.add_router("/exports/", exports_router, tags=["exports"])
