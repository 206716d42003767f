"""The Qt binding keeps Python's reference counts right.

PySide6 6.12 dropped one reference to the object a Python override returns when C++ calls it
(``QAbstractItemModel.data`` returning ``None``). On
Python 3.11, where ``None`` is not immortal, every such call brings the process
closer to "Fatal Python error: none_dealloc" at exit. This test fails on such a binding.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import QApplication

CALLS = 500
_ROOT = QModelIndex()


class _NoneModel(QAbstractListModel):
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else 10

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> object:
        return None


def test_none_returned_from_an_override_keeps_its_reference(qapp: QApplication) -> None:
    model = _NoneModel()
    index = model.index(3, 0)
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        index.data(Qt.ItemDataRole.ToolTipRole)  # C++ QModelIndex::data -> Python data()
    assert sys.getrefcount(None) > before - CALLS // 2
