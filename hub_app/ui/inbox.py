"""The "Discovered" inbox: new lights found on access points or on the LAN, each with Set up and
Ignore (in the style of Home Assistant's discovered integrations).

``InboxModel`` is a Qt list model over the hub's plain Python ``Inbox`` (an ``EventedList`` of
``DiscoveredItem``); ``InboxWidget`` shows one card per item.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from hub_app.hub.evented import EventedList, ListEvent
from hub_app.hub.inbox import DiscoveredItem

_log = logging.getLogger(__name__)

ItemRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2
DetailRole = Qt.ItemDataRole.UserRole + 3

AnyIndex = QModelIndex | QPersistentModelIndex


def tr(text: str) -> str:
    return QCoreApplication.translate("Inbox", text)


KIND_NAMES = {"hublight": "HubLight", "mongoose": "Mongoose OS light", "shelly": "Shelly device"}


def describe(item: DiscoveredItem) -> str:
    """One line about how and where the light was found, in plain words."""
    parts = [tr(KIND_NAMES.get(item.kind, item.kind))]
    if item.model:
        parts.append(item.model)
    if item.ap_ssid:
        text = tr("waiting for set-up on its own network {ssid}").format(ssid=item.ap_ssid)
        if item.signal_dbm is not None:
            text += tr(" (signal {dbm} dBm)").format(dbm=item.signal_dbm)
        parts.append(text)
    if item.lan_address:
        parts.append(tr("on your network at {address}").format(address=item.lan_address))
    if item.fw_version:
        parts.append(tr("firmware {version}").format(version=item.fw_version))
    return " · ".join(parts)


class InboxModel(QAbstractListModel):
    """A read-only list model over an ``EventedList[DiscoveredItem]`` (it follows its events)."""

    def __init__(self, items: EventedList[DiscoveredItem], parent: Any = None) -> None:
        super().__init__(parent)
        self._items = items
        self._unsubscribe: Callable[[], None] | None = items.subscribe(self._on_event)

    def close(self) -> None:
        """Stop following the list."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: ListEvent[DiscoveredItem]) -> None:
        kind = event.kind
        if kind == "inserting":
            self.beginInsertRows(QModelIndex(), event.index, event.index)
        elif kind == "inserted":
            self.endInsertRows()
        elif kind == "removing":
            self.beginRemoveRows(QModelIndex(), event.index, event.index)
        elif kind == "removed":
            self.endRemoveRows()
        elif kind == "resetting":
            self.beginResetModel()
        elif kind == "reset":
            self.endResetModel()
        elif kind == "changed":
            index = self.index(event.index, 0)
            self.dataChanged.emit(index, index)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items) or index.column():
            return None
        item = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return item.title
        if role in (DetailRole, Qt.ItemDataRole.ToolTipRole,
                    Qt.ItemDataRole.AccessibleDescriptionRole):
            return describe(item)
        if role == KeyRole:
            return item.key
        if role == ItemRole:
            return item
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | \
            Qt.ItemFlag.ItemNeverHasChildren

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names.update({ItemRole: QByteArray(b"item"), KeyRole: QByteArray(b"key"),
                      DetailRole: QByteArray(b"detail")})
        return names

    def item(self, row: int) -> DiscoveredItem:
        return self._items[row]


class InboxCard(QFrame):
    """One discovered light: its name, how it was found, Set up and Ignore. ``update(item)``
    refreshes the texts in place (focus and the buttons stay)."""

    def __init__(self, item: DiscoveredItem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item = item
        self.setObjectName(f"inbox_card_{item.key}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # colours only from palette roles, so the cards follow the OS theme (dark mode too)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setForegroundRole(QPalette.ColorRole.Text)
        layout = QHBoxLayout(self)
        texts = QVBoxLayout()
        self.title_label = QLabel(self)
        self.title_label.setObjectName("inbox_title")
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.detail_label = QLabel(self)
        self.detail_label.setObjectName("inbox_detail")
        self.detail_label.setWordWrap(True)
        for label in (self.title_label, self.detail_label):
            label.setForegroundRole(QPalette.ColorRole.Text)
        texts.addWidget(self.title_label)
        texts.addWidget(self.detail_label)
        layout.addLayout(texts, 1)
        self.setup_button = QPushButton(tr("Set up"), self)
        self.setup_button.setObjectName("inbox_setup")
        self.ignore_button = QPushButton(tr("Ignore"), self)
        self.ignore_button.setObjectName("inbox_ignore")
        layout.addWidget(self.setup_button)
        layout.addWidget(self.ignore_button)
        self.update_item(item)

    def update_item(self, item: DiscoveredItem) -> None:
        """Show ``item`` (same key) without re-creating anything."""
        self.item = item
        self.setAccessibleName(tr("Discovered light {name}").format(name=item.title))
        self.title_label.setText(item.title)
        self.detail_label.setText(describe(item))
        self.setup_button.setAccessibleName(tr("Set up {name}").format(name=item.title))
        self.ignore_button.setAccessibleName(tr("Ignore {name}").format(name=item.title))


class InboxWidget(QWidget):
    """The "Discovered" inbox.

    ``hub_or_items``: a ``Hub`` (its ``inbox``, ``await ignore(key)``) or an
    ``EventedList[DiscoveredItem]``. ``open_wizard(item)``: called for "Set up" (by default the
    ``AddLightWizard`` is opened pre-filled with the item). ``setupRequested`` /
    ``ignoreRequested`` are emitted too.
    """

    setupRequested = Signal(object)
    ignoreRequested = Signal(str)

    def __init__(self, hub_or_items: Any,
                 open_wizard: Callable[[DiscoveredItem], Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inbox")
        self.setAccessibleName(tr("Discovered lights"))
        self._hub = hub_or_items
        items = hub_or_items if isinstance(hub_or_items, EventedList) else hub_or_items.inbox
        self.model = InboxModel(items, self)
        self._open_wizard = open_wizard
        self.wizards: list[Any] = []
        self._pending: set[asyncio.Future[Any]] = set()
        layout = QVBoxLayout(self)
        heading = QLabel(tr("Discovered"), self)
        font = heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        heading.setFont(font)
        layout.addWidget(heading)
        self.empty_label = QLabel(tr("No new lights found. Plug a new light in: it shows up "
                                     "here within a minute."), self)
        self.empty_label.setObjectName("inbox_empty")
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.cards_holder = QWidget(self.scroll_area)
        self.cards_layout = QVBoxLayout(self.cards_holder)
        self.cards_layout.addStretch(1)
        self.scroll_area.setWidget(self.cards_holder)
        layout.addWidget(self.scroll_area, 1)
        self.cards: list[InboxCard] = []
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset,
                       self.model.dataChanged):
            signal.connect(self._rebuild)
        self._rebuild()

    def _rebuild(self, *_args: Any) -> None:
        """Bring the cards in line with the model, by key: existing cards are updated in place
        and keep their place in the focus chain (a keyboard user is not thrown out while the
        list changes); only new items get a card and only gone items lose theirs."""
        by_key = {card.item.key: card for card in self.cards}
        wanted: list[InboxCard] = []
        for row in range(self.model.rowCount()):
            item = self.model.item(row)
            card = by_key.pop(item.key, None)
            if card is None:
                card = InboxCard(item, self.cards_holder)
                card.setup_button.clicked.connect(
                    lambda _=False, c=card: self.set_up(c.item))
                card.ignore_button.clicked.connect(
                    lambda _=False, c=card: self.ignore(c.item))
            elif card.item != item:
                card.update_item(item)
            wanted.append(card)
        focus = QApplication.focusWidget()
        refocus_at: int | None = None
        for card in by_key.values():  # gone from the list
            if focus is not None and card.isAncestorOf(focus):
                refocus_at = self.cards.index(card)
            self.cards_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        if wanted != self.cards:
            for position, card in enumerate(wanted):
                if self.cards_layout.indexOf(card) != position:
                    self.cards_layout.insertWidget(position, card)
                card.show()
            previous: QWidget | None = None
            for card in wanted:  # Tab goes down the list in the order shown
                if previous is not None:
                    QWidget.setTabOrder(previous, card.setup_button)
                QWidget.setTabOrder(card.setup_button, card.ignore_button)
                previous = card.ignore_button
        self.cards = wanted
        self.empty_label.setVisible(not self.cards)
        self.scroll_area.setVisible(bool(self.cards))
        if refocus_at is not None:  # the focused card went away: focus its neighbour
            if wanted:
                wanted[min(refocus_at, len(wanted) - 1)].setup_button.setFocus(
                    Qt.FocusReason.OtherFocusReason)
            else:
                self.setFocus(Qt.FocusReason.OtherFocusReason)

    def card(self, key: str) -> InboxCard | None:
        """The card of the item ``key`` (None when not shown)."""
        return next((c for c in self.cards if c.item.key == key), None)

    def set_up(self, item: DiscoveredItem) -> None:
        """Open the add-light wizard for ``item``."""
        self.setupRequested.emit(item)
        if self._open_wizard is not None:
            self._open_wizard(item)
            return
        if isinstance(self._hub, EventedList):
            return
        from hub_app.ui.wizard import AddLightWizard

        wizard = AddLightWizard(self._hub, item, self.window())
        self.wizards.append(wizard)
        wizard.finished.connect(lambda _code, w=wizard: self._forget_wizard(w))
        wizard.show()

    def _forget_wizard(self, wizard: Any) -> None:
        if wizard in self.wizards:
            self.wizards.remove(wizard)

    def ignore(self, item: DiscoveredItem) -> None:
        """Hide ``item`` from the inbox (the hub remembers it)."""
        self.ignoreRequested.emit(item.key)
        for name in ("ignore_discovered", "ignore"):
            method = getattr(self._hub, name, None)
            if callable(method):
                outcome = method(item.key)
                if inspect.isawaitable(outcome):
                    task = asyncio.ensure_future(outcome)
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)
                return
        if isinstance(self._hub, EventedList):
            discard = getattr(self._hub, "discard", None)
            if callable(discard):
                discard(item.key)

    def closeEvent(self, event: Any) -> None:
        for task in list(self._pending):
            task.cancel()
        self.model.close()
        super().closeEvent(event)
