"""Strong references to the asyncio tasks a widget starts, cancelled when it closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

_log = logging.getLogger(__name__)


class TaskKeeper:
    """Starts tasks on the running (qasync) loop, keeps them alive, cancels them on ``cancel_all``.

    ``on_error(exc)`` is called for an unexpected exception of a task (never a traceback dialog).
    """

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def start(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned by this keeper."""
        task = asyncio.get_event_loop().create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            _log.error("task %s failed", task.get_name(), exc_info=exc)
            if self._on_error is not None:
                self._on_error(exc)

    @property
    def busy(self) -> bool:
        """Whether a task is still running."""
        return bool(self._tasks)

    def cancel_all(self) -> None:
        """Cancel every running task."""
        for task in list(self._tasks):
            task.cancel()

    async def wait_all(self) -> None:
        """Wait until every task has ended (after ``cancel_all`` for instance)."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks)
