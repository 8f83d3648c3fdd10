from django.apps import AppConfig


class ApiAppConfig(AppConfig):
    name = "tests.apiapp"
    label = "apiapp"
    default_auto_field = "django.db.models.BigAutoField"
