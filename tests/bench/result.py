"""What a benchmark reports: one metric, its repeats, and how it compares with its baseline."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """One metric: samples over the repeats, an optional baseline measured in the same run.

    ``target`` is a minimum ratio to the baseline (``at_least``), a lower (``minimum``) or upper
    (``at_most``) bound on the value, or none (reported only).
    """

    metric: str
    unit: str
    samples: Sequence[float]
    baseline: Sequence[float] = ()
    baseline_name: str = ""
    at_least: float | None = None  # ratio value/baseline
    at_most: float | None = None  # value
    minimum: float | None = None  # value

    @property
    def value(self) -> float:
        return statistics.median(self.samples)

    @property
    def ratio(self) -> float | None:
        """Value / baseline: the median of the per-repeat ratios when every repeat measured both.

        Paired ratios are robust to the machine's load drifting between repeats.
        """
        if not self.baseline:
            return None
        if len(self.baseline) == len(self.samples):
            return statistics.median(
                v / b for v, b in zip(self.samples, self.baseline, strict=True)
            )
        return self.value / statistics.median(self.baseline)

    @property
    def target(self) -> str:
        if self.at_least is not None:
            return f"≥ {self.at_least:.0%} of {self.baseline_name}"
        if self.at_most is not None:
            return f"≤ {fmt(self.at_most)} {self.unit}"
        if self.minimum is not None:
            return f"≥ {fmt(self.minimum)} {self.unit}"
        return "—"

    @property
    def met(self) -> bool | None:
        if self.at_least is not None:
            return self.ratio is not None and self.ratio >= self.at_least
        if self.at_most is not None:
            return self.value <= self.at_most
        if self.minimum is not None:
            return self.value >= self.minimum
        return None


def fmt(number: float) -> str:
    """Readable figure: thousands separators for big numbers, 2-3 significant digits for small."""
    if abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 1:
        return f"{number:.2f}"
    return f"{number:.3f}"


def spread(samples: Sequence[float]) -> str:
    """``median (min..max, n=N)``."""
    low, high = fmt(min(samples)), fmt(max(samples))
    return f"{fmt(statistics.median(samples))} ({low}..{high}, n={len(samples)})"
