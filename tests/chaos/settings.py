"""The exactness settings, with the lease the chaos suite's workers run under."""

import os

from tests.exact.settings import *  # noqa: F403

# Short, so that a frozen worker is replaced within the recovery budget (docs/reliability.md).
RX_LEASE_TIMEOUT = float(os.environ.get("RX_LEASE_TIMEOUT", "10"))
# The revocation row's bound: a change no signal announces closes the socket within this.
RX_REAUTH_INTERVAL = float(os.environ.get("RX_REAUTH_INTERVAL", "1"))
