"""The qasync loop fixture: asyncio and Qt timers run together in a fresh loop per test."""

from __future__ import annotations

import asyncio

import qasync
from PySide6.QtCore import QTimer


async def test_loop_is_a_fresh_qasync_loop() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, qasync.QEventLoop)
    fired: list[int] = []
    QTimer.singleShot(0, lambda: fired.append(1))
    await asyncio.sleep(0.05)
    assert fired == [1]


async def test_second_test_gets_another_loop() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, qasync.QEventLoop)
    assert loop.is_running()
