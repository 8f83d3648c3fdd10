"""Settings of the rxcdc example: every service address comes from the environment.

``make demo`` (example/demo.py) starts throwaway services and sets these variables; the
production-like stack in docker/ sets them in its compose file.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
env = os.environ.get

SECRET_KEY = env("DJANGO_SECRET_KEY", "rxcdc-example-not-secret")
DEBUG = env("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",  # token auth for the websockets (the login page offers both)
    "channels",
    "rxcdc",
    "project",
    "chat",
    "checklist",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
TEMPLATES: list[dict[str, object]] = []

# libpq's own variables, so `psql` in the same shell reaches the same database.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env("PGHOST", "localhost"),
        "PORT": env("PGPORT", "5432"),
        "NAME": env("PGDATABASE", "rxcdc_example"),
        "USER": env("PGUSER", "postgres"),
        "PASSWORD": env("PGPASSWORD", ""),
    }
}

REDIS_URL = env("REDIS_URL", "redis://localhost:6379/0")
MONGO_URL = env("MONGO_URL", "mongodb://localhost:27017")
CHANNEL_LAYERS = {
    "default": {
        # One PUBLISH per update reaches each server process once (docs/settings.md).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# rxcdc (docs/settings.md, docs/frontend.md)
RX_SLOT_NAME = env("RX_SLOT_NAME", "rxcdc_example")
RX_MONGO_DB = env("RX_MONGO_DB", "rxcdc_example")
RX_FRONTEND_DIR = BASE_DIR / "frontend" / "src" / "rx"
RX_WEBSOCKET_URL = ""  # the page's own host: daphne serves the page and the sockets
RX_WEBSOCKET_URLCONF = ["chat.routing", "checklist.routing"]

# The built React app (`npm run build` in frontend/), served by project.views.
FRONTEND_DIST = Path(env("EXAMPLE_FRONTEND_DIST", str(BASE_DIR / "frontend" / "dist")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
}
