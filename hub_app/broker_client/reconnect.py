"""Reconnect policy: capped exponential backoff with jitter, reset after a good connection."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays between connection attempts: `initial`, doubling (x `factor`) up to `maximum`.

    Each delay gets +-`jitter` (a fraction) so that many hubs/lights do not retry in lock step.
    Call `reset()` once a connection has been established (CONNACK accepted).
    """

    initial: float = 0.1
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    attempts: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        base = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        if self.jitter:
            base *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return min(base, self.maximum)

    def reset(self) -> None:
        self.attempts = 0
