import os

from tests.bench_peers.sites.base import *  # noqa: F403
from tests.bench_peers.sites.base import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "channels", "rxcdc", "tests.bench_peers.sites.rxcdc_site"]
ASGI_APPLICATION = "tests.bench_peers.sites.rxcdc_site.asgi.application"

# docs/settings.md: the pub/sub layer (one PUBLISH per update and server process).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
RX_SLOT_NAME = os.environ.get("PEERS_DB", "bench_peers")
RX_MONGO_DB = os.environ.get("PEERS_DB", "bench_peers")
RX_CACHE_TTL = 3600.0
# The heat of the 10,000-message room writes 10,000 documents to the MongoDB stand-in; on a busy
# machine that took longer than the default 10 s, and the client got `worker_unavailable`.
RX_HEAT_TIMEOUT = 120.0
