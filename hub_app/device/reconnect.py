"""Reconnecting with a capped exponential backoff and jitter, as an object of its own."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Backoff", "Reconnector"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnect attempts: `initial * factor**attempt`, capped at `maximum`,
    then spread by +/- `jitter` (a fraction) so that many clients do not retry in step."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid backoff: {self}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before attempt number `attempt` (0 for the first)."""
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        if self.jitter == 0 or base == 0:
            return base
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return min(self.maximum, max(0.0, base * (1 + spread)))


class Reconnector:
    """Calls `connect()` until it succeeds, sleeping `backoff.delay(attempt)` before each try.

    `connect` raises to say the attempt failed; `on_failure(attempt, error)` is told about each
    failed attempt. `start()` is idempotent while a run is in progress; `stop()` cancels it.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[None]],
        *,
        backoff: Backoff | None = None,
        on_failure: Callable[[int, BaseException], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._connect = connect
        self.backoff = backoff or Backoff()
        self._on_failure = on_failure
        self._rng = rng
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether a reconnect run is in progress."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin reconnecting in the background (no-op if already running)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="device-reconnect")

    async def stop(self) -> None:
        """Cancel a run in progress and wait for it to end."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise

    async def _run(self) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(self.backoff.delay(attempt, self._rng))
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                _LOGGER.debug("reconnect attempt %d failed: %s", attempt + 1, err)
                if self._on_failure is not None:
                    self._on_failure(attempt + 1, err)
                attempt += 1
                continue
            return
