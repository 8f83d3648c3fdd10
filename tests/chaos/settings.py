"""The exactness settings, with the lease the chaos suite's workers run under."""

import os

from tests.exact.settings import *  # noqa: F403

# Short, so that a frozen worker is replaced within the recovery budget (docs/reliability.md).
RX_LEASE_TIMEOUT = float(os.environ.get("RX_LEASE_TIMEOUT", "10"))
