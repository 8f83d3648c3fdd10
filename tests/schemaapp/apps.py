from django.apps import AppConfig


class SchemaAppConfig(AppConfig):
    name = "tests.schemaapp"
    label = "schemaapp"
    default_auto_field = "django.db.models.BigAutoField"
