"""Settings for the benchmark's daphne and worker processes: the test settings, with the channel
layer configured as in production (example/project/settings.py).

redis-py 8 reads with a 5 s socket timeout by default, as long as channels_redis's blocking pop:
a consumer that receives nothing for 5 s dies with "Timeout reading from ..." (close code 1011).
"""

import os

from tests.settings import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 15}]},
    }
}
