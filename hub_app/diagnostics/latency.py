"""Statistics of RPC ping round trips and a Wi-Fi signal series, for the connectivity plots."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Histogram", "LatencyStats", "SignalSeries", "histogram", "percentile"]


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted values (``fraction`` 0..1)."""
    if not sorted_values:
        raise ValueError("no values")
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = fraction * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class Histogram:
    """``counts[i]`` samples fell in ``[edges[i], edges[i+1])`` (the last bin includes its end)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


def histogram(values: Iterable[float], bins: int = 10) -> Histogram:
    """Equal-width bins from the smallest to the largest value."""
    data = sorted(values)
    if not data:
        return Histogram((), ())
    low, high = data[0], data[-1]
    if high == low:
        return Histogram((low, high), (len(data),))
    width = (high - low) / bins
    counts = [0] * bins
    for value in data:
        index = min(int((value - low) / width), bins - 1)
        counts[index] += 1
    edges = (*tuple(low + width * i for i in range(bins)), high)
    return Histogram(edges, tuple(counts))


class LatencyStats:
    """Round-trip times (milliseconds) of N pings plus the number lost."""

    def __init__(self) -> None:
        self.samples_ms: list[float] = []
        self.lost = 0

    def add(self, milliseconds: float) -> None:
        self.samples_ms.append(milliseconds)

    def add_lost(self) -> None:
        self.lost += 1

    @property
    def sent(self) -> int:
        return len(self.samples_ms) + self.lost

    @property
    def loss_fraction(self) -> float:
        return self.lost / self.sent if self.sent else 0.0

    def summary(self) -> dict[str, float | int]:
        """min / median / p95 / max / mean (ms), sent, lost."""
        out: dict[str, float | int] = {"sent": self.sent, "lost": self.lost}
        data = sorted(self.samples_ms)
        if data:
            out.update(min=data[0], median=percentile(data, 0.5), p95=percentile(data, 0.95),
                       max=data[-1], mean=sum(data) / len(data))
        return out

    def describe(self) -> str:
        """One line in plain words."""
        summary = self.summary()
        if not self.samples_ms:
            return f"No answer to {self.sent} pings."
        return (f"{len(self.samples_ms)} of {self.sent} answered; median "
                f"{summary['median']:.1f} ms, 95% within {summary['p95']:.1f} ms, slowest "
                f"{summary['max']:.1f} ms.")

    def histogram(self, bins: int = 10) -> Histogram:
        return histogram(self.samples_ms, bins)


class SignalSeries:
    """Wi-Fi signal (dBm) samples over time, bounded: ``(t_seconds, rssi)``."""

    def __init__(self, limit: int = 600) -> None:
        self.points: deque[tuple[float, int]] = deque(maxlen=limit)

    def add(self, t: float, rssi: int | None) -> None:
        if rssi is not None:
            self.points.append((t, int(rssi)))

    def range(self) -> tuple[int, int] | None:
        """(weakest, strongest) so far, or None."""
        if not self.points:
            return None
        values = [p[1] for p in self.points]
        return min(values), max(values)
