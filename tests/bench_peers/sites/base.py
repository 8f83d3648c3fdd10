"""Settings every site shares; the services come from ``LocalServices.env()`` and the database
name from ``PEERS_DB`` (each peer has its own database in the one Postgres cluster)."""

import os

SECRET_KEY = "rxcdc-bench-peers-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework.authtoken",
    "tests.bench_peers.chat",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PEERS_DB", "bench_peers"),
        "USER": "postgres",
        "HOST": os.environ["RXCDC_PG_HOST"],
        "PORT": os.environ["RXCDC_PG_PORT"],
    }
}

REDIS_URL = os.environ["REDIS_URL"]
MONGO_URL = os.environ["MONGO_URL"]
