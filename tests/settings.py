"""Django settings for the test suite: every service comes from rxcdc.testing's environment."""

import os

SECRET_KEY = "rxcdc-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = os.environ.get("RX_ALLOWED_HOSTS", "*").split(",")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "channels",
    "rxcdc",
    "tests.testapp",
    "rxcdc.api",
    "tests.apiapp",
    "tests.exactapp",
    "tests.fieldsapp",
    "tests.schemaapp",
]
if os.environ.get("RX_BENCH"):
    # Benchmarks measure the stream as most projects have it, filtered to the tracked tables
    # on the server: tests.schemaapp tracks a partitioned table, which turns that filter off.
    INSTALLED_APPS.remove("tests.schemaapp")
if os.environ.get("RX_WITHOUT_RXCDC"):
    # The writer-overhead benchmark's baseline: the same models, no rxcdc at all.
    INSTALLED_APPS = [a for a in INSTALLED_APPS if not a.startswith("rxcdc")]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("RXCDC_PG_NAME", "rxcdc"),
        "USER": "postgres",
        "HOST": os.environ["RXCDC_PG_HOST"],
        "PORT": os.environ["RXCDC_PG_PORT"],
    }
}

CHANNEL_LAYERS = {
    "default": {
        # One PUBLISH per update reaches each server process once (docs/settings.md).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
    }
}

MONGO_URL = os.environ["MONGO_URL"]
REDIS_URL = os.environ["REDIS_URL"]
RX_MONGO_DB = os.environ.get("RX_MONGO_DB", "rxcdc_tests")
RX_SLOT_NAME = os.environ.get("RX_SLOT_NAME", "rxcdc")
RX_CACHE_TTL = float(os.environ.get("RX_CACHE_TTL", "300"))
