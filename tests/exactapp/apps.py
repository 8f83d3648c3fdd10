from django.apps import AppConfig


class ExactAppConfig(AppConfig):
    name = "tests.exactapp"
    label = "exactapp"
    default_auto_field = "django.db.models.BigAutoField"
