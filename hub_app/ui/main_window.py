"""The main window: lights by room with live state, control panels, the Discovered inbox, menus,
status bar, tray icon. A thin view over ``hub_app.hub.Hub``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QSystemTrayIcon,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from hub_app.hub import ControlError, Hub, HubStatus, Notice
from hub_app.hub.evented import ListEvent
from hub_app.hub.lights import LightView

from .errors import ErrorReporter
from .models import (
    DEVICE_ID_ROLE,
    ITEM_ROLE,
    EventedListModel,
    LightFilterProxy,
    LightTreeModel,
)
from .panels import LightPanel, RoomsPanel, SchedulesPanel
from .settings_dialog import SettingsDialog

_log = logging.getLogger(__name__)


class FallbackInbox(QWidget):
    """The Discovered inbox until the inbox widget (hub_app.ui.inbox) is available."""

    def __init__(self, hub: Hub, window: MainWindow) -> None:
        super().__init__()
        self.hub = hub
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(self.tr("<b>Discovered</b>")))
        self.model = EventedListModel(hub.inbox, self._describe)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setAccessibleName(self.tr("Discovered lights"))
        layout.addWidget(self.view)
        row = QHBoxLayout()
        setup = QPushButton(self.tr("Set up…"))
        setup.setAccessibleName(self.tr("Set up the selected light"))
        setup.clicked.connect(lambda: window.open_wizard(self._selected()))
        ignore = QPushButton(self.tr("Ignore"))
        ignore.setAccessibleName(self.tr("Ignore the selected light"))
        ignore.clicked.connect(self._ignore)
        row.addWidget(setup)
        row.addWidget(ignore)
        layout.addLayout(row)
        self._run = window.run_task

    def _describe(self, item: Any) -> str:
        via = " + ".join(
            {"ap": self.tr("set-up network"), "lan": self.tr("your network")}[v]
            for v in item.seen_via)
        return f"{item.title} ({via})"

    def _selected(self) -> Any:
        index = self.view.currentIndex()
        return index.data(ITEM_ROLE) if index.isValid() else None

    def _ignore(self) -> None:
        item = self._selected()
        if item is not None:
            self._run(self.hub.ignore(item.key), self.tr("ignore the light"))

    def close_models(self) -> None:
        self.model.close()


class MainWindow(QMainWindow):
    """Home Hub's main window over ``hub`` (started or starting)."""

    closed = Signal()

    def __init__(self, hub: Hub, *, show_error_dialogs: bool = True) -> None:
        super().__init__()
        self.hub = hub
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribers: list[Any] = []
        self.errors = ErrorReporter(lambda: self, show_dialogs=show_error_dialogs)
        self.setWindowTitle(self.tr("Home Hub") + (self.tr(" — demo") if hub.demo else ""))
        self.setAccessibleName(self.tr("Home Hub"))

        # --- lights list ---------------------------------------------------------------
        self.model = LightTreeModel(hub.lights, self)
        self.proxy = LightFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search lights and rooms"))
        self.search.setAccessibleName(self.tr("Search lights"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_changed)
        self.state_filter = QComboBox()
        self.state_filter.setAccessibleName(self.tr("Show"))
        for key, label in (("all", self.tr("All lights")), ("on", self.tr("On")),
                           ("off", self.tr("Off")), ("offline", self.tr("Offline")),
                           ("pending", self.tr("Waiting for confirmation"))):
            self.state_filter.addItem(label, key)
        self.state_filter.currentIndexChanged.connect(
            lambda _: self._filter_changed())
        self.tree = QTreeView()
        self.tree.setModel(self.proxy)
        self.tree.setAccessibleName(self.tr("Lights by room"))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.header().setStretchLastSection(True)
        self.tree.setColumnWidth(0, 200)
        self.tree.setColumnWidth(1, 130)
        self.tree.setColumnWidth(2, 90)
        self.tree.setColumnWidth(3, 90)
        self.tree.selectionModel().currentChanged.connect(lambda *_: self._selection_changed())
        self.tree.activated.connect(self._activated)
        self.proxy.modelReset.connect(self._after_reset)
        self.proxy.layoutChanged.connect(self.tree.expandAll)
        self.proxy.rowsInserted.connect(lambda *_: self.tree.expandAll())

        left = QWidget()
        left_layout = QVBoxLayout(left)
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.state_filter)
        left_layout.addLayout(bar)
        left_layout.addWidget(self.tree, 3)
        self.inbox = self._make_inbox()
        left_layout.addWidget(self.inbox, 1)

        # --- panels --------------------------------------------------------------------
        self.light_panel = LightPanel(hub, self.run_task)
        self.light_panel.diagnostics_button.clicked.connect(self.open_diagnostics)
        self.rooms_panel = RoomsPanel(hub, self.run_task)
        self.schedules_panel = SchedulesPanel(hub, self.run_task)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(self.tr("Control"))
        self.tabs.addTab(self.light_panel, self.tr("Light"))
        self.tabs.addTab(self.rooms_panel, self.tr("Rooms && scenes"))
        self.tabs.addTab(self.schedules_panel, self.tr("Schedules"))

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.setCentralWidget(splitter)

        self._make_actions()
        self._make_status_bar()
        self.tray = self._make_tray()

        self._unsubscribers += [
            hub.lights.subscribe(self._on_lights_event),
            hub.subscribe_status(self._show_status),
            hub.subscribe_notices(self._on_notice),
        ]
        self._show_status(hub.status)
        self.tree.expandAll()
        self._restore_geometry()
        if not self._geometry_restored:
            self.resize(1000, 640)
        # the "last seen" column ages: refresh it now and then (no data changes)
        self._ager = QTimer(self)
        self._ager.setInterval(30_000)
        self._ager.timeout.connect(self.tree.viewport().update)
        self._ager.start()
        self.errors.install(_running_loop())

    # --- construction helpers ----------------------------------------------------------
    def _make_inbox(self) -> QWidget:
        try:
            from hub_app.ui.inbox import InboxWidget  # the other view's widget, when present
        except ImportError:
            return FallbackInbox(self.hub, self)
        try:
            widget: QWidget = InboxWidget(self.hub)
        except Exception:
            _log.exception("the inbox widget failed to start; using the simple list")
            return FallbackInbox(self.hub, self)
        with contextlib.suppress(AttributeError, TypeError):
            widget.setup_requested.connect(self.open_wizard)  # type: ignore[attr-defined]
        return widget

    def _make_actions(self) -> None:
        style = self.style()
        self.add_action = QAction(self.tr("&Add light…"), self)
        self.add_action.setShortcut(QKeySequence.StandardKey.New)
        self.add_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_FileDialogNewFolder))
        self.add_action.triggered.connect(lambda: self.open_wizard(None))
        self.diagnostics_action = QAction(self.tr("&Diagnostics…"), self)
        self.diagnostics_action.setShortcut(QKeySequence("Ctrl+D"))
        self.diagnostics_action.setIcon(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogInfoView))
        self.diagnostics_action.triggered.connect(self.open_diagnostics)
        self.toggle_action = QAction(self.tr("&Toggle light"), self)
        self.toggle_action.setShortcut(QKeySequence("Ctrl+T"))
        self.toggle_action.triggered.connect(self.toggle_selected)
        self.settings_action = QAction(self.tr("&Settings…"), self)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.setIcon(
            style.standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView))
        self.settings_action.triggered.connect(self.open_settings)
        self.about_action = QAction(self.tr("&About Home Hub"), self)
        self.about_action.triggered.connect(self.show_about)
        self.quit_action = QAction(self.tr("&Quit"), self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        self.find_action = QAction(self.tr("&Find"), self)
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_action.triggered.connect(self.search.setFocus)
        menu = self.menuBar()
        file_menu = menu.addMenu(self.tr("&File"))
        file_menu.addAction(self.add_action)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        light_menu = menu.addMenu(self.tr("&Light"))
        light_menu.addAction(self.toggle_action)
        light_menu.addAction(self.diagnostics_action)
        light_menu.addAction(self.find_action)
        help_menu = menu.addMenu(self.tr("&Help"))
        help_menu.addAction(self.about_action)
        toolbar = self.addToolBar(self.tr("Main"))
        toolbar.setObjectName("main-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.add_action)
        toolbar.addAction(self.diagnostics_action)
        toolbar.addAction(self.settings_action)

    def _make_status_bar(self) -> None:
        self.connection_label = QLabel()
        self.connection_label.setAccessibleName(self.tr("Backend connection"))
        self.activity_label = QLabel()
        self.activity_label.setAccessibleName(self.tr("Activity"))
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setAccessibleName(self.tr("Working"))
        self.busy.hide()
        status = self.statusBar()
        status.addWidget(self.activity_label, 1)
        status.addPermanentWidget(self.busy)
        status.addPermanentWidget(self.connection_label)

    def _make_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(self.windowIcon() or QIcon(), self)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DialogYesButton)
        tray.setIcon(icon)
        tray.setToolTip(self.tr("Home Hub"))
        self.tray_menu = QMenu(self)
        self.tray_menu.aboutToShow.connect(self._fill_tray_menu)
        tray.setContextMenu(self.tray_menu)
        tray.activated.connect(lambda _reason: self._raise_window())
        tray.show()
        return tray

    def _raise_window(self) -> None:
        self.showNormal()
        self.activateWindow()

    def _fill_tray_menu(self) -> None:
        self.tray_menu.clear()
        for view in list(self.hub.lights)[:12]:
            action = self.tray_menu.addAction(view.display_name)
            action.setCheckable(True)
            action.setChecked(bool(view.on))
            action.setEnabled(view.online is not False)
            action.triggered.connect(
                lambda _=False, d=view.device_id: self.run_task(self.hub.toggle(d),
                                                                self.tr("switch the light")))
        self.tray_menu.addSeparator()
        self.tray_menu.addAction(self.tr("Show Home Hub"), self.showNormal)
        self.tray_menu.addAction(self.quit_action)

    # --- running work ------------------------------------------------------------------
    def run_task(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``coro`` on the loop; a ControlError shows in the status bar, anything else
        goes to the error reporter. Tasks are kept and cancelled at shutdown."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                return
            error = finished.exception()
            if error is None:
                return
            if isinstance(error, ControlError):
                self.statusBar().showMessage(str(error), 15_000)
            elif isinstance(error, (ValueError, LookupError)):
                self.statusBar().showMessage(
                    self.tr("Could not %1: %2").replace("%1", what).replace("%2", str(error)),
                    15_000)
            else:
                import traceback

                self.errors.report(error, "".join(traceback.format_exception(error)))

        task.add_done_callback(done)

    # --- list and selection ------------------------------------------------------------
    def _search_changed(self, text: str) -> None:
        self.proxy.set_search(text)
        self.tree.expandAll()

    def _filter_changed(self) -> None:
        self.proxy.set_state_filter(self.state_filter.currentData())
        self.tree.expandAll()

    def selected_device_id(self) -> str | None:
        index = self.tree.currentIndex()
        value = index.data(DEVICE_ID_ROLE) if index.isValid() else None
        return value if isinstance(value, str) else None

    def select_light(self, device_id: str) -> None:
        source = self.model.index_of(device_id)
        index = self.proxy.mapFromSource(source)
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def _selection_changed(self) -> None:
        device_id = self.selected_device_id()
        self._selected = device_id
        self.light_panel.show_light(self.hub.lights.get(device_id) if device_id else None)
        self.diagnostics_action.setEnabled(device_id is not None)
        self.toggle_action.setEnabled(device_id is not None)

    _selected: str | None = None

    def _after_reset(self) -> None:
        self.tree.expandAll()
        if self._selected is not None:
            keep = self._selected
            self.select_light(keep)
            if self.selected_device_id() is None:
                self._selected = keep  # filtered out for now; the panel keeps it
                self.light_panel.show_light(self.hub.lights.get(keep))

    def _activated(self, index: QModelIndex) -> None:
        if index.data(DEVICE_ID_ROLE):
            self.toggle_selected()

    def _on_lights_event(self, event: ListEvent[LightView]) -> None:
        if event.kind in ("changed", "inserted", "reset") and self._selected is not None:
            view = self.hub.lights.get(self._selected)
            if view is not None and (event.item is None or event.item.device_id == view.device_id):
                self.light_panel.show_light(view)

    def toggle_selected(self) -> None:
        device_id = self.selected_device_id()
        if device_id is not None:
            self.run_task(self.hub.toggle(device_id), self.tr("switch the light"))

    # --- status and notices ------------------------------------------------------------
    def _show_status(self, status: HubStatus) -> None:
        kind = str(status.connection.kind)
        words = {"connected": self.tr("connected"), "connecting": self.tr("connecting…"),
                 "disconnected": self.tr("not connected")}.get(kind, kind)
        text = f"{status.backend_label}: {words}"
        if kind != "connected" and status.connection.reason:
            text += f" ({status.connection.reason})"
        self.connection_label.setText(text)
        self.activity_label.setText(status.activity or "")
        self.busy.setVisible(status.activity is not None)

    def _on_notice(self, notice: Notice) -> None:
        message = notice.title + (f": {notice.text}" if notice.text else "")
        self.statusBar().showMessage(message, 10_000)
        if self.tray is not None and notice.kind in ("light_offline", "setup_finished",
                                                    "problem", "schedule"):
            self.tray.showMessage(notice.title, notice.text or notice.title)

    # --- dialogs -----------------------------------------------------------------------
    def open_wizard(self, discovered_item: Any = None) -> None:
        try:
            from hub_app.ui.wizard import AddLightWizard
        except ImportError:
            QMessageBox.information(
                self, self.tr("Add light"),
                self.tr("The set-up wizard is not part of this build yet. Use "
                        "\"hub-cli provision\" to set up a light."))
            return
        wizard = AddLightWizard(self.hub, discovered_item)
        wizard.setParent(self, wizard.windowFlags())
        wizard.open()

    def open_diagnostics(self) -> None:
        device_id = self.selected_device_id() or self._selected
        if device_id is None:
            self.statusBar().showMessage(self.tr("Select a light first."), 5000)
            return
        try:
            from hub_app.ui.diagnostics import DiagnosticsWindow
        except ImportError:
            view = self.hub.lights.get(device_id)
            QMessageBox.information(
                self, self.tr("Diagnostics"),
                self.tr("Diagnostics are not part of this build yet.\n\n%1").replace(
                    "%1", _facts(view) if view else device_id))
            return
        window = DiagnosticsWindow(self.hub, device_id)
        window.setParent(self, window.windowFlags())
        window.show()

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.hub, self.run_task, self)
        dialog.open()
        return dialog

    def show_about(self) -> None:
        QMessageBox.about(
            self, self.tr("About Home Hub"),
            self.tr("<b>Home Hub</b><br>Find, set up, control and diagnose HubLight lights."))

    # --- geometry and shutdown ---------------------------------------------------------
    _geometry_restored = False

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("main_window/geometry")
        if geometry is not None:
            self._geometry_restored = bool(self.restoreGeometry(geometry))
        state = settings.value("main_window/state")
        if state is not None:
            self.restoreState(state)

    def save_geometry(self) -> None:
        settings = QSettings()
        settings.setValue("main_window/geometry", self.saveGeometry())
        settings.setValue("main_window/state", self.saveState())
        settings.sync()

    def shutdown(self) -> None:
        """Save geometry, drop subscriptions, cancel tasks (idempotent)."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.save_geometry()
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self.model.close()
        self.rooms_panel.close_models()
        self.schedules_panel.close_models()
        closer = getattr(self.inbox, "close_models", None)
        if closer is not None:
            closer()
        for task in list(self._tasks):
            task.cancel()
        self._ager.stop()
        if self.tray is not None:
            self.tray.hide()
        self.errors.uninstall()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
        self.closed.emit()


def _facts(view: LightView) -> str:
    return "\n".join([
        f"{view.display_name} ({view.device_id})",
        f"Model: {view.model or '?'}  Firmware: {view.fw_version or '?'}",
        f"Addresses: {', '.join(view.addresses) or '?'}",
    ])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        with contextlib.suppress(RuntimeError):
            return asyncio.get_event_loop()
    return None


def application() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app
