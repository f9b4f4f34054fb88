from django.apps import AppConfig


class DeliveriesConfig(AppConfig):
    name = "apps.deliveries"
    label = "deliveries"
    default_auto_field = "django.db.models.BigAutoField"
