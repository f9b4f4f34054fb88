from django.apps import AppConfig


class EntitiesConfig(AppConfig):
    name = "apps.entities"
    label = "entities"
    default_auto_field = "django.db.models.BigAutoField"
