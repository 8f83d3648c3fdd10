"""Settings of the seeds' quickstart project: a plain Django project plus the quickstart's lines.

Service addresses come from the environment the test sets (the quickstart says "configure me").
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
env = os.environ.get

SECRET_KEY = "seed-quickstart-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "seedsite.urls"
ASGI_APPLICATION = "seedsite.asgi.application"
TEMPLATES: list[dict[str, object]] = []
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env("PGHOST", "localhost"),
        "PORT": env("PGPORT", "5432"),
        "NAME": env("PGDATABASE", "seed"),
        "USER": env("PGUSER", "postgres"),
    }
}
# Test plumbing: a slot and a cache database of this run's own on the shared services.
RX_SLOT_NAME = env("RX_SLOT_NAME", "rxcdc")
RX_MONGO_DB = env("RX_MONGO_DB", "rxcdc")

# -- from the quickstart (rxdjango → rxcdc; "configure me" read from the environment) -----------
# fmt: off

# settings.py

RX_FRONTEND_DIR = os.path.join(BASE_DIR, '../frontend/src/app/modules')
RX_WEBSOCKET_URL = "import.meta.env.VITE_SOCKET_URL"

# settings.py
MONGO_URL = env("MONGO_URL", "configure me")
REDIS_URL = env("REDIS_URL", "configure me")
# for now framework expects this to exist, and to be set to True during tests
TESTING = False

# settings.py
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",  # "token is a rest_framework.authtoken token"
    "channels",
    "chat",
    'rxcdc',
]
# fmt: on
