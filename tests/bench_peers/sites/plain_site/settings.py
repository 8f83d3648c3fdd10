from tests.bench_peers.sites.base import *  # noqa: F403
