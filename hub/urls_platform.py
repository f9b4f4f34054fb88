"""URLs of the bare ``HUB_BASE_DOMAIN``: the platform API, and the platform admin (``tenants.admin``)."""

from django.urls import path

from api.platform import api
from tenants.admin import platform_admin_site

urlpatterns = [path("api/platform/v1/", api.urls), path("admin/", platform_admin_site.urls)]

handler400 = "api.errors.handler400"
handler403 = "api.errors.handler403"
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
