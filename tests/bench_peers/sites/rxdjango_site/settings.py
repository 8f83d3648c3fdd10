import os

from tests.bench_peers.sites.base import *  # noqa: F403
from tests.bench_peers.sites.base import INSTALLED_APPS, REDIS_URL

# The README: rxdjango before daphne; channels anywhere.
INSTALLED_APPS = [
    "rxdjango",
    "daphne",
    *INSTALLED_APPS,
    "channels",
    "tests.bench_peers.sites.rxdjango_site",
]
ASGI_APPLICATION = "tests.bench_peers.sites.rxdjango_site.asgi.application"

# The README names REDIS_URL, MONGO_URL and MONGO_STATE_DB; the channel layer is channels_redis's
# default one. No socket timeout: redis-py 8's default (5 s) equals the layer's blocking pop and
# fails idle consumers, whichever peer runs on it.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}
MONGO_STATE_DB = os.environ.get("PEERS_DB", "bench_peers")
