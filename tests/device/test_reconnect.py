"""Backoff and Reconnector (real tasks, tiny delays)."""

from __future__ import annotations

import asyncio
import random

import pytest

from hub_app.device.reconnect import Backoff, Reconnector


def test_backoff_grows_exponentially_and_is_capped() -> None:
    backoff = Backoff(initial=0.5, maximum=8.0, factor=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.delay(10_000) == 8.0


def test_backoff_jitter_stays_in_bounds_and_varies() -> None:
    backoff = Backoff(initial=1.0, maximum=10.0, factor=2.0, jitter=0.25)
    rng = random.Random(7)
    delays = [backoff.delay(2, rng) for _ in range(200)]
    assert all(3.0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 100
    assert all(0 <= backoff.delay(50, rng) <= 10.0 for _ in range(100))


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(initial=-1)
    with pytest.raises(ValueError):
        Backoff(jitter=2)


async def test_reconnector_retries_until_success_and_reports_failures() -> None:
    calls = 0
    failures: list[tuple[int, str]] = []
    done = asyncio.Event()

    async def connect() -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionRefusedError(f"refused {calls}")
        done.set()

    reconnector = Reconnector(
        connect, backoff=Backoff(initial=0.0, maximum=0.0),
        on_failure=lambda n, err: failures.append((n, str(err))),
    )
    reconnector.start()
    reconnector.start()  # idempotent while running
    await asyncio.wait_for(done.wait(), 30)
    await reconnector.stop()
    assert calls == 4
    assert failures == [(1, "refused 1"), (2, "refused 2"), (3, "refused 3")]
    assert not reconnector.running


async def test_reconnector_stop_cancels_a_run() -> None:
    attempts = 0
    failing = asyncio.Event()

    async def connect() -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 2:
            failing.set()
        raise OSError("down")

    reconnector = Reconnector(connect, backoff=Backoff(initial=0.01, maximum=0.01))
    reconnector.start()
    await asyncio.wait_for(failing.wait(), 30)
    await reconnector.stop()
    seen = attempts
    await asyncio.sleep(0.1)
    assert attempts == seen
    assert not reconnector.running
