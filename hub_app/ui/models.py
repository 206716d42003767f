"""Qt item models over the hub's plain Python lists (the lists live in ``hub_app.hub``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from hub_app.hub.evented import EventedList, ListEvent
from hub_app.hub.lights import LightList, LightView

DEVICE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
LIGHT_ROLE = Qt.ItemDataRole.UserRole + 2
ROOM_ROLE = Qt.ItemDataRole.UserRole + 3
ITEM_ROLE = Qt.ItemDataRole.UserRole + 4

AnyIndex = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def tr(text: str) -> str:
    return QCoreApplication.translate("LightTreeModel", text)


def room_title(room: str) -> str:
    return room or tr("No room")


def state_text(view: LightView) -> str:
    """On / Off / Offline / … pending, in words."""
    if view.online is False:
        return tr("Offline")
    if view.pending:
        wanted = view.desired_value("on")
        if wanted is True:
            return tr("Turning on…")
        if wanted is False:
            return tr("Turning off…")
        return tr("Changing…")
    if view.on is None:
        return tr("Waiting for the light…") if view.online is None else tr("Unknown")
    return tr("On") if view.on else tr("Off")


def last_seen_text(view: LightView, now: datetime | None = None) -> str:
    if view.last_seen is None:
        return tr("never")
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - view.last_seen).total_seconds()))
    if seconds < 60:
        return tr("just now")
    if seconds < 3600:
        return tr("%n min ago").replace("%n", str(seconds // 60))
    return view.last_seen.astimezone().strftime("%d %b %H:%M")


class LightTreeModel(QAbstractItemModel):
    """Rooms (top level) -> lights, over ``hub.lights``. Columns: name, state, brightness,
    colour, last seen. A light being changed shows "Turning on…" (italic) until confirmed."""

    COLUMNS = ("Light", "State", "Brightness", "Colour", "Last seen")
    CHANGE_INTERVAL_MS = 50

    def __init__(self, lights: LightList, parent: Any = None) -> None:
        super().__init__(parent)
        self._lights = lights
        self._rooms: list[str] = []
        self._children: dict[str, list[str]] = {}  # room -> device ids
        self._where: dict[str, tuple[int, int]] = {}  # device id -> (room row, row in room)
        self._reset_pending = False
        # State reports are shown at most once per CHANGE_INTERVAL_MS (the first at once, the
        # rest batched): with a thousand lights each reporting once a second, a repaint per
        # report would keep the event loop busy.
        self._changed: set[str] = set()
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(self.CHANGE_INTERVAL_MS)
        self._change_timer.timeout.connect(self._flush_changes)
        self._last_flush = 0.0
        self._rebuild()
        self._unsubscribe = lights.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _rebuild(self) -> None:
        self._rooms = self._lights.rooms()
        self._children = {room: [] for room in self._rooms}
        for view in self._lights:
            self._children.setdefault(view.room, []).append(view.device_id)
        self._where = {
            device_id: (room_row, row)
            for room_row, room in enumerate(self._rooms)
            for row, device_id in enumerate(self._children.get(room, []))
        }

    def _on_event(self, event: ListEvent[LightView]) -> None:
        if event.kind in ("inserted", "removed", "reset"):
            # The model answers from its own snapshot of rooms and rows, so the structure can
            # follow one event-loop turn later: a burst of 1,000 new lights is one reset, not
            # 1,000 (each of which re-lays out and re-filters the whole tree).
            if not self._reset_pending:
                self._reset_pending = True
                QTimer.singleShot(0, self._apply_structure)
        elif event.kind == "changed" and event.item is not None:
            self._changed.add(event.item.device_id)
            if self._change_timer.isActive():
                return
            since = (time.monotonic() - self._last_flush) * 1000
            if since >= self.CHANGE_INTERVAL_MS:
                self._flush_changes()  # a lone change (a click) shows at once
            else:
                self._change_timer.start(int(self.CHANGE_INTERVAL_MS - since) + 1)

    def _flush_changes(self) -> None:
        self._last_flush = time.monotonic()
        changed, self._changed = self._changed, set()
        last_column = self.columnCount() - 1
        rooms: set[int] = set()
        for device_id in changed:
            index = self.index_of(device_id)
            if index.isValid():
                self.dataChanged.emit(index, index.siblingAtColumn(last_column))
                rooms.add(index.parent().row())
        for room_row in rooms:
            room = self.index(room_row, 0)
            self.dataChanged.emit(room, room.siblingAtColumn(last_column))

    def _apply_structure(self) -> None:
        self._reset_pending = False
        self.beginResetModel()
        self._rebuild()
        self.endResetModel()

    # --- lookups -----------------------------------------------------------------------
    def index_of(self, device_id: str) -> QModelIndex:
        where = self._where.get(device_id)
        if where is None:
            return QModelIndex()
        room_row, row = where
        return self.index(row, 0, self.index(room_row, 0))

    def light_at(self, index: AnyIndex) -> LightView | None:
        if not index.isValid() or index.internalId() == 0:
            return None
        room = self._rooms[index.internalId() - 1]
        device_id = self._children[room][index.row()]
        return self._lights.get(device_id)

    # --- the model ---------------------------------------------------------------------
    def index(self, row: int, column: int, parent: AnyIndex = _ROOT) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: AnyIndex = _ROOT) -> QModelIndex:  # type: ignore[override]
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: AnyIndex = _ROOT) -> int:
        if not parent.isValid():
            return len(self._rooms)
        if parent.internalId() != 0 or parent.column() != 0:
            return 0
        return len(self._children.get(self._rooms[parent.row()], []))

    def columnCount(self, parent: AnyIndex = _ROOT) -> int:
        return len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return tr(self.COLUMNS[section])
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            return self._room_data(index, role)
        view = self.light_at(index)
        if view is None:
            return None
        column = index.column()
        if role == DEVICE_ID_ROLE:
            return view.device_id
        if role == LIGHT_ROLE:
            return view
        if role == ROOM_ROLE:
            return view.room
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == 0:
                return view.display_name
            if column == 1:
                return state_text(view)
            if column == 2:
                return f"{view.brightness} %" if view.brightness is not None else "–"
            if column == 3:
                if view.rgb is None:
                    return "–"
                return "#{:02x}{:02x}{:02x}".format(*view.rgb)
            if column == 4:
                return last_seen_text(view)
        if role == Qt.ItemDataRole.DecorationRole and column == 3 and view.rgb is not None:
            return QColor(*view.rgb)
        if role == Qt.ItemDataRole.FontRole and view.pending:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and view.online is False:
            return QGuiApplication.palette().brush(
                QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
            )
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [view.display_name, view.device_id, state_text(view)]
            if view.last_error:
                lines.append(view.last_error)
            return "\n".join(lines)
        return None

    def _room_data(self, index: AnyIndex, role: int) -> Any:
        room = self._rooms[index.row()]
        if role == ROOM_ROLE:
            return room
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if index.column() == 0:
                return room_title(room)
            if index.column() == 1:
                views = [self._lights.get(d) for d in self._children.get(room, [])]
                on = sum(1 for v in views if v is not None and v.on and v.online)
                return tr("%1 of %2 on").replace("%1", str(on)).replace("%2", str(len(views)))
        if role == Qt.ItemDataRole.FontRole and index.column() == 0:
            font = QFont()
            font.setBold(True)
            return font
        return None


class LightFilterProxy(QSortFilterProxyModel):
    """Search (name, room, device id) and a state filter: all / on / off / offline / pending."""

    FILTERS = ("all", "on", "off", "offline", "pending")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self.setAutoAcceptChildRows(False)
        self._text = ""
        self._state = "all"

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().casefold()
        self.endFilterChange()

    def set_state_filter(self, state: str) -> None:
        self.beginFilterChange()
        self._state = state if state in self.FILTERS else "all"
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if not source_parent.isValid():
            # Unfiltered, every room shows (rooms exist only while they have lights): answering
            # here spares Qt a scan of the room's lights on every state report. Filtered, a room
            # shows when one of its lights does (recursive filtering).
            return not self._text and self._state == "all"
        model = self.sourceModel()
        view = model.data(model.index(source_row, 0, source_parent), LIGHT_ROLE)
        if not isinstance(view, LightView):
            return False
        fields = (view.display_name, view.room, view.device_id)
        if self._text and not any(self._text in field.casefold() for field in fields):
            return False
        state = self._state
        if state == "on":
            return bool(view.on) and view.online is not False
        if state == "off":
            return view.on is False and view.online is not False
        if state == "offline":
            return view.online is False
        if state == "pending":
            return view.pending
        return True


class EventedListModel(QAbstractListModel):
    """A one-column list model over an ``EventedList``; ``describe(item) -> text``."""

    def __init__(
        self, items: EventedList[Any], describe: Callable[[Any], str], parent: Any = None
    ) -> None:
        super().__init__(parent)
        self._items = items
        self._describe = describe
        self._unsubscribe = items.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: ListEvent[Any]) -> None:
        kind, row = event.kind, event.index
        if kind == "inserting":
            self.beginInsertRows(QModelIndex(), row, row)
        elif kind == "inserted":
            self.endInsertRows()
        elif kind == "removing":
            self.beginRemoveRows(QModelIndex(), row, row)
        elif kind == "removed":
            self.endRemoveRows()
        elif kind == "resetting":
            self.beginResetModel()
        elif kind == "reset":
            self.endResetModel()
        elif kind == "changed":
            self.dataChanged.emit(self.index(row), self.index(row))

    def item_at(self, row: int) -> Any:
        return self._items[row] if 0 <= row < len(self._items) else None

    def rowCount(self, parent: AnyIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._describe(item)
        if role == ITEM_ROLE:
            return item
        return None
