"""DCRF's own suite on rxcdc.api; ``harness/`` is the package it runs in, not one to collect."""

collect_ignore = ["harness"]
