"""Django settings of DCRF's suite on rxcdc.api: DCRF's own, but Postgres (logical WAL).

The services (Postgres with wal2json, the MongoDB-wire server) come from the environment of
the rxcdc test run. The channel layer stays DCRF's in-memory one.
"""

import os

SECRET_KEY = "dcrf-suite-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "rxcdc.api",
    "tests",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "dcrf",
        "USER": "postgres",
        "HOST": os.environ["RXCDC_PG_HOST"],
        "PORT": os.environ["RXCDC_PG_PORT"],
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        "TEST_CONFIG": {"expiry": 100500},
    },
}
MONGO_URL = os.environ["MONGO_URL"]
RX_API_OBSERVERS = []  # DCRF's observers live in its test modules, defined by the tests
