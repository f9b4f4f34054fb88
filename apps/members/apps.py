from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "apps.members"
    label = "members"
    default_auto_field = "django.db.models.BigAutoField"
