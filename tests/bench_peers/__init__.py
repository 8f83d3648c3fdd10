"""``make bench-peers``: rxcdc, RxDjango and DCRF side by side on one chat workload.

Not discovered by ``make bench`` (whose modules are ``tests/bench/bench_*.py``). The peers run
from ``.venv-peers`` (``scripts/setup-peers.sh``); this package's ``chat`` app and ``sites``
settings are imported by both environments, so they import nothing but Django, DRF and Channels.
"""
