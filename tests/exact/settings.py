"""The test settings, plus what the exactness harness tunes for its rx_replicate and daphne."""

import os

from tests.settings import *  # noqa: F403

# Small chunks: the state machine's "big" transactions arrive in several parts.
RX_CHUNK_SIZE = int(os.environ.get("RX_CHUNK_SIZE", "2000"))
RX_HEAT_TIMEOUT = float(os.environ.get("RX_HEAT_TIMEOUT", "10"))
