"""Qt item models of the diagnostics window (over plain Python data)."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from hub_app.diagnostics.config_diff import diff_config, flatten, is_flag_key, parse_value

AnyIndex = QModelIndex | QPersistentModelIndex


def tr(text: str) -> str:
    return QCoreApplication.translate("Diagnostics", text)


class RowsModel(QAbstractTableModel):
    """Read-only (label, value) rows, e.g. the device info."""

    def __init__(self, headers: tuple[str, str], parent: Any = None) -> None:
        super().__init__(parent)
        self._headers = headers
        self._rows: list[tuple[str, str]] = []

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[tuple[str, str]]:
        return list(self._rows)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 2

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows) or index.column() > 1:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                    Qt.ItemDataRole.AccessibleTextRole):
            return self._rows[index.row()][index.column()]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal \
                and 0 <= section < 2:
            return tr(self._headers[section])
        return None


class ConfigModel(QAbstractTableModel):
    """The light's config as dotted keys and values; values are editable (except read-only
    ones and the ``*_set`` flags of write-only keys). ``changes()`` is the diff."""

    READ_ONLY = frozenset({"device.id", "wifi.ap.ssid"})

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._original: dict[str, Any] = {}
        self._edited: dict[str, Any] = {}
        self._keys: list[str] = []
        self.error_key: str | None = None

    def set_config(self, tree: dict[str, Any]) -> None:
        self.beginResetModel()
        self._original = flatten(tree)
        self._edited = dict(self._original)
        self._keys = list(self._original)
        self.error_key = None
        self.endResetModel()

    def keys(self) -> list[str]:
        return list(self._keys)

    def row_of(self, key: str) -> int:
        return self._keys.index(key) if key in self._keys else -1

    def changes(self) -> list[Any]:
        return diff_config(self._original, self._edited)

    def discard_changes(self) -> None:
        self.beginResetModel()
        self._edited = dict(self._original)
        self.error_key = None
        self.endResetModel()

    def mark_error(self, key: str | None) -> None:
        self.error_key = key
        if self._keys:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._keys) - 1, 1))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 2

    def _editable(self, key: str) -> bool:
        return key not in self.READ_ONLY and not is_flag_key(key)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._keys) or index.column() > 1:
            return None
        key = self._keys[index.row()]
        if index.column() == 0:
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
                changed = self._edited.get(key) != self._original.get(key)
                return f"{key} *" if changed else key
            if role == Qt.ItemDataRole.ToolTipRole and key == self.error_key:
                return tr("The light refused this key")
            return None
        value = self._edited.get(key)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return value if isinstance(value, str) else json.dumps(value)
        if role == Qt.ItemDataRole.EditRole:
            return value if isinstance(value, str) else json.dumps(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            if is_flag_key(key):
                return tr("Set or not; the value itself is never shown")
            if key in self.READ_ONLY:
                return tr("Read-only")
        return None

    def setData(self, index: AnyIndex, value: Any,
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != 1 or role != Qt.ItemDataRole.EditRole:
            return False
        key = self._keys[index.row()]
        if not self._editable(key):
            return False
        try:
            parsed = parse_value(str(value), self._original.get(key))
        except ValueError:
            return False
        self._edited[key] = parsed
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), 1))
        return True

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren
        if index.column() == 1 and self._editable(self._keys[index.row()]):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return {0: tr("Key"), 1: tr("Value")}.get(section)
        return None
