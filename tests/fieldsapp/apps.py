from django.apps import AppConfig


class FieldsappConfig(AppConfig):
    name = "tests.fieldsapp"
    default_auto_field = "django.db.models.BigAutoField"
