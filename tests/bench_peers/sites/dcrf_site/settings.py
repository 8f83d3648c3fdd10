from tests.bench_peers.sites.base import *  # noqa: F403
from tests.bench_peers.sites.base import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "channels", "tests.bench_peers.sites.dcrf_site"]
ASGI_APPLICATION = "tests.bench_peers.sites.dcrf_site.asgi.application"

# channels_redis's default layer (see rxdjango_site.settings for the socket timeout).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}
