"""URLs of an organization's host."""

from django.urls import path

from api.tenant import api

urlpatterns = [path("api/v1/", api.urls)]

handler400 = "api.errors.handler400"
handler403 = "api.errors.handler403"
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"
