from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The job queue's gauges on /metrics (hub.metrics reserves their names).
        from tenants.job_selectors import job_gauges_register

        job_gauges_register()

        # manage.py check fails while the tenant template schema is behind the migrations.
        from django.core import checks

        from tenants.template import template_check

        checks.register(template_check)
