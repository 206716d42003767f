"""A plain Python list that tells subscribers about every change (Qt-free, like napari's).

Qt item models adapt it (``hub_app.ui``); the events come in pairs around structural changes so a
model can call ``beginInsertRows`` before and ``endInsertRows`` after the list changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

_log = logging.getLogger(__name__)

T = TypeVar("T")

ListEventKind = Literal[
    "inserting", "inserted", "removing", "removed", "changed", "resetting", "reset"
]


@dataclass(frozen=True)
class ListEvent(Generic[T]):
    """``kind`` happened at ``index`` (-1 for resets); ``item`` is the item concerned.

    ``inserting`` / ``removing`` / ``resetting`` come before the list changes, ``inserted`` /
    ``removed`` / ``reset`` / ``changed`` after it.
    """

    kind: ListEventKind
    index: int
    item: T | None = None


ListCallback = Callable[[ListEvent[T]], None]


class EventedList(Generic[T]):
    """A read-only sequence for its users; mutated only by its owner through the methods below."""

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T] = list(items)
        self._subscribers: list[Callable[[ListEvent[T]], None]] = []

    # --- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> T:
        return self._items[index]

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def index_where(self, predicate: Callable[[T], bool]) -> int:
        """The index of the first item for which ``predicate`` holds, or -1."""
        for index, item in enumerate(self._items):
            if predicate(item):
                return index
        return -1

    # --- events ----------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[ListEvent[T]], None]) -> Callable[[], None]:
        """Call ``callback(ListEvent)`` for every change; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, kind: ListEventKind, index: int, item: T | None) -> None:
        event = ListEvent(kind, index, item)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                _log.exception("list subscriber failed on %s", kind)

    # --- changing (owner only) -------------------------------------------------------------
    def insert(self, index: int, item: T) -> None:
        index = max(0, min(index, len(self._items)))
        self._emit("inserting", index, item)
        self._items.insert(index, item)
        self._emit("inserted", index, item)

    def append(self, item: T) -> None:
        self.insert(len(self._items), item)

    def pop(self, index: int) -> T:
        item = self._items[index]
        self._emit("removing", index, item)
        del self._items[index]
        self._emit("removed", index, item)
        return item

    def replace(self, index: int, item: T) -> None:
        """Put a new value at ``index`` (a "changed" event)."""
        self._items[index] = item
        self._emit("changed", index, item)

    def reset(self, items: Iterable[T]) -> None:
        """Replace the whole content."""
        self._emit("resetting", -1, None)
        self._items = list(items)
        self._emit("reset", -1, None)
