"""Reading Prometheus' text format the way Prometheus does (``prometheus_client.parser``)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by (sample name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str) -> Samples:
    """GET an endpoint and parse it (raises what urllib raises when it does not answer)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return parse(response.read().decode())


def value(samples: Samples, name: str, default: float | None = None, **labels: str) -> float:
    """One sample's value; ``default`` when absent (KeyError without one)."""
    key = (name, frozenset(labels.items()))
    if key not in samples and default is not None:
        return default
    return samples[key]
