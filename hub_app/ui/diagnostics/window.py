"""The diagnostics window of one light, for support staff: a thin Qt view over
``hub_app.diagnostics.DeviceDiagnostics``."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hub_app.device.errors import DeviceError, RpcError
from hub_app.diagnostics import (
    LEVELS,
    CommandHistory,
    DeviceDiagnostics,
    check_params,
    config_error_key,
    info_rows,
)
from hub_app.ui.wizard.tasks import TaskKeeper

from .models import ConfigModel, RowsModel, tr
from .plots import HistogramPlot, SignalPlot

_log = logging.getLogger(__name__)


def _error_label(name: str, parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setAccessibleName(tr("Error"))
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.hide()
    return label


def _show(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setAccessibleDescription(text)
    label.setVisible(bool(text))


def _button(text: str, name: str, parent: QWidget) -> QPushButton:
    button = QPushButton(tr(text), parent)
    button.setObjectName(name)
    button.setAccessibleName(tr(text).replace("&", ""))
    return button


def _words(exc: BaseException) -> str:
    if isinstance(exc, RpcError):
        return tr("The light answered: {message} (error {code}).").format(
            message=exc.message, code=exc.code)
    if isinstance(exc, DeviceError):
        return tr("The light could not be reached: {error}. Check that it is plugged in and on "
                  "the network, then try again.").format(error=exc)
    if isinstance(exc, ValueError):
        return str(exc)
    if isinstance(exc, OSError):
        return tr("The file could not be read: {error}").format(error=exc.strerror or exc)
    return tr("Something unexpected went wrong: {error}").format(error=exc)


class _Tab(QWidget):
    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        self.window_ = window
        self.diag = window.diagnostics
        self.status = _error_label(f"{type(self).__name__.lower()}_error", self)

    def run(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self.window_.tasks.start(self._guard(coro), name)

    async def _guard(self, coro: Any) -> Any:
        _show(self.status, "")
        try:
            return await coro
        except (DeviceError, ValueError, OSError, TimeoutError) as exc:
            _show(self.status, _words(exc))
            return None


# ==================================================================== info
class InfoTab(_Tab):
    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        layout = QVBoxLayout(self)
        self.model = RowsModel(("What", "Value"), self)
        self.table = QTableView(self)
        self.table.setObjectName("info_table")
        self.table.setAccessibleName(tr("Device info"))
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.refresh_button = _button("&Refresh", "info_refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignRight)

    def refresh(self) -> asyncio.Task[Any]:
        return self.run(self._refresh(), "diagnostics:info")

    async def _refresh(self) -> None:
        info, wifi = await self.diag.refresh_info()
        paired = self.diag.paired
        client = self.diag.client
        address = f"{client.host}:{client.port}" if client is not None else None
        self.model.set_rows(info_rows(
            {**info, "name": getattr(paired, "name", "") or info.get("id")}, wifi,
            address=address, backend=self.diag.backend,
            last_seen=getattr(paired, "last_seen", None)))


# ==================================================================== console
class ConsoleTab(_Tab):
    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        self.history = CommandHistory()
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.method_edit = QLineEdit(self)
        self.method_edit.setObjectName("console_method")
        self.method_edit.setAccessibleName(tr("Method"))
        self.method_edit.setPlaceholderText("Sys.GetInfo")
        self.methods_model = QStringListModel(self)
        completer = QCompleter(self.methods_model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.method_edit.setCompleter(completer)
        self.method_edit.installEventFilter(self)
        self.params_edit = QPlainTextEdit(self)
        self.params_edit.setObjectName("console_params")
        self.params_edit.setAccessibleName(tr("Params (JSON)"))
        self.params_edit.setPlaceholderText('{"key": "device"}')
        self.params_edit.setTabChangesFocus(True)
        self.params_edit.setMaximumHeight(120)
        self.params_error = _error_label("console_params_error", self)
        method_label = QLabel(tr("&Method:"), self)
        method_label.setBuddy(self.method_edit)
        params_label = QLabel(tr("&Params:"), self)
        params_label.setBuddy(self.params_edit)
        form.addRow(method_label, self.method_edit)
        form.addRow(params_label, self.params_edit)
        form.addRow("", self.params_error)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.send_button = _button("&Send", "console_send", self)
        self.send_button.setDefault(True)
        self.timing = QLabel(self)
        self.timing.setObjectName("console_timing")
        row.addWidget(self.timing, 1)
        row.addWidget(self.send_button)
        layout.addLayout(row)
        layout.addWidget(self.status)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.calls = QListWidget(split)
        self.calls.setObjectName("console_history")
        self.calls.setAccessibleName(tr("Calls made"))
        self.request_view = QPlainTextEdit(split)
        self.request_view.setObjectName("console_request")
        self.request_view.setAccessibleName(tr("Request frame"))
        self.request_view.setReadOnly(True)
        self.reply_view = QPlainTextEdit(split)
        self.reply_view.setObjectName("console_reply")
        self.reply_view.setAccessibleName(tr("Reply frame"))
        self.reply_view.setReadOnly(True)
        layout.addWidget(split, 1)
        self.params_edit.textChanged.connect(self._check)
        self.method_edit.textChanged.connect(self._check)
        self.send_button.clicked.connect(self.send)
        self.method_edit.returnPressed.connect(self.send)
        self.calls.currentRowChanged.connect(self._show_entry)
        self._check()

    def set_methods(self, methods: list[str]) -> None:
        self.methods_model.setStringList(methods)

    def _check(self) -> bool:
        check = check_params(self.params_edit.toPlainText())
        _show(self.params_error, "" if check.ok else check.error)
        ok = check.ok and bool(self.method_edit.text().strip())
        self.send_button.setEnabled(ok)
        return ok

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if watched is self.method_edit and isinstance(event, QKeyEvent) and \
                event.type() == QKeyEvent.Type.KeyPress:
            popup = self.method_edit.completer().popup()
            if popup is None or not popup.isVisible():
                recalled = None
                if event.key() == Qt.Key.Key_Up:
                    recalled = self.history.previous(
                        (self.method_edit.text(), self.params_edit.toPlainText()))
                elif event.key() == Qt.Key.Key_Down:
                    recalled = self.history.following()
                if recalled is not None:
                    self.method_edit.setText(recalled[0])
                    self.params_edit.setPlainText(recalled[1])
                    return True
        return super().eventFilter(watched, event)

    def send(self) -> asyncio.Task[Any] | None:
        if not self._check():
            return None
        method, params = self.method_edit.text().strip(), self.params_edit.toPlainText()
        self.history.add(method, params)
        self.send_button.setEnabled(False)
        return self.run(self._send(method, params), "diagnostics:console")

    async def _send(self, method: str, params: str) -> None:
        try:
            entry = await self.diag.console_call(method, params)
        finally:
            self._check()
        outcome = tr("ok") if entry.ok else tr("error")
        elapsed = entry.elapsed_ms
        self.timing.setText(tr("{method}: {outcome} in {ms:.1f} ms").format(
            method=method, outcome=outcome, ms=elapsed or 0.0))
        self.calls.addItem(f"{method} — {outcome}")
        self.calls.setCurrentRow(self.calls.count() - 1)

    def _show_entry(self, row: int) -> None:
        entries = self.diag.rpc_log.entries
        offset = len(entries) - self.calls.count()
        if row < 0 or not 0 <= row + offset < len(entries):
            return
        entry = entries[row + offset]
        self.request_view.setPlainText(entry.request_text())
        reply = entry.reply_text()
        if entry.error and not entry.traces:
            reply = entry.error
        self.reply_view.setPlainText(reply)


# ==================================================================== log
class LogTab(_Tab):
    POLL_S = 1.0

    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.level = QComboBox(self)
        self.level.setObjectName("log_level")
        self.level.setAccessibleName(tr("Lowest level shown"))
        for level in LEVELS:
            self.level.addItem(tr(level), level)
        level_label = QLabel(tr("&Level:"), self)
        level_label.setBuddy(self.level)
        self.pause = QCheckBox(tr("&Pause"), self)
        self.pause.setObjectName("log_pause")
        self.pause.setAccessibleName(tr("Pause the live log"))
        row.addWidget(level_label)
        row.addWidget(self.level)
        row.addStretch(1)
        row.addWidget(self.pause)
        layout.addLayout(row)
        self.view = QPlainTextEdit(self)
        self.view.setObjectName("log_view")
        self.view.setAccessibleName(tr("Log of the light"))
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(5000)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self.level.currentIndexChanged.connect(self._rerender)
        self._poller: asyncio.Task[Any] | None = None

    def start(self) -> None:
        if self._poller is None:
            self._poller = self.window_.tasks.start(self._poll_forever(), "diagnostics:log")

    async def _poll_forever(self) -> None:
        while True:
            if not self.pause.isChecked():
                await self.poll_once()
            await asyncio.sleep(self.POLL_S)

    async def poll_once(self) -> None:
        try:
            new = await self.diag.poll_log()
        except DeviceError as exc:
            _show(self.status, _words(exc))
            return
        _show(self.status, "")
        for line in self.diag.log.filtered(self.level.currentData(), new):
            self.view.appendPlainText(line.format())

    def _rerender(self) -> None:
        self.view.setPlainText("\n".join(
            line.format() for line in self.diag.log.filtered(self.level.currentData())))


# ==================================================================== config
class ConfigTab(_Tab):
    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        layout = QVBoxLayout(self)
        self.model = ConfigModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("config_table")
        self.table.setAccessibleName(tr("Configuration"))
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        layout.addWidget(self.table, 1)
        self.diff_view = QPlainTextEdit(self)
        self.diff_view.setObjectName("config_diff")
        self.diff_view.setAccessibleName(tr("Changes to apply"))
        self.diff_view.setReadOnly(True)
        self.diff_view.setMaximumHeight(110)
        self.diff_view.hide()
        layout.addWidget(self.diff_view)
        self.error = _error_label("config_apply_error", self)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.reload_button = _button("Re&load", "config_reload", self)
        self.discard_button = _button("&Discard changes", "config_discard", self)
        self.review_button = _button("&Review changes", "config_review", self)
        self.apply_button = _button("&Apply", "config_apply", self)
        self.apply_button.setEnabled(False)
        for button in (self.reload_button, self.discard_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.review_button)
        row.addWidget(self.apply_button)
        layout.addLayout(row)
        self.reload_button.clicked.connect(self.reload)
        self.discard_button.clicked.connect(self._discard)
        self.review_button.clicked.connect(self.review)
        self.apply_button.clicked.connect(self.apply)
        self.model.dataChanged.connect(self._edited)

    def reload(self) -> asyncio.Task[Any]:
        return self.run(self._reload(), "diagnostics:config")

    async def _reload(self) -> None:
        self.model.set_config(await self.diag.get_config())
        self._edited()

    def _discard(self) -> None:
        self.model.discard_changes()
        self._edited()

    def _edited(self, *_args: Any) -> None:
        self.diff_view.hide()
        self.apply_button.setEnabled(False)
        self.review_button.setEnabled(bool(self.model.changes()))

    def review(self) -> None:
        changes = self.model.changes()
        if not changes:
            self.diff_view.setPlainText(tr("Nothing changed."))
        else:
            self.diff_view.setPlainText("\n".join(c.describe() for c in changes))
        self.diff_view.show()
        self.apply_button.setEnabled(bool(changes))

    def apply(self) -> asyncio.Task[Any]:
        self.apply_button.setEnabled(False)
        return self.run(self._apply(), "diagnostics:config-apply")

    async def _apply(self) -> None:
        changes = self.model.changes()
        try:
            result = await self.diag.apply_config(changes)
        except RpcError as exc:
            key = config_error_key(exc.message)
            self.model.mark_error(key)
            row = self.model.row_of(key) if key else -1
            if row >= 0:
                self.table.selectRow(row)
            _show(self.error, tr("The light refused the change{key}: {message}. Nothing was "
                                 "applied; correct the value and apply again.").format(
                key=f" of {key}" if key else "", message=exc.message))
            self.apply_button.setEnabled(True)
            return
        _show(self.error, "")
        self.model.set_config(self.diag.config or {})
        self.diff_view.setPlainText(tr("Applied and saved.") + (
            " " + tr("Restart the light for it to take effect.")
            if result.get("restart_required") else ""))
        self.review_button.setEnabled(False)


# ==================================================================== connectivity
class ConnectivityTab(_Tab):
    SIGNAL_EVERY_S = 2.0

    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.count = QSpinBox(self)
        self.count.setObjectName("ping_count")
        self.count.setRange(1, 500)
        self.count.setValue(20)
        self.count.setAccessibleName(tr("Number of pings"))
        count_label = QLabel(tr("&Pings:"), self)
        count_label.setBuddy(self.count)
        self.ping_button = _button("&Ping", "ping_button", self)
        self.ping_result = QLabel(self)
        self.ping_result.setObjectName("ping_result")
        self.ping_result.setWordWrap(True)
        row.addWidget(count_label)
        row.addWidget(self.count)
        row.addWidget(self.ping_button)
        row.addWidget(self.ping_result, 1)
        layout.addLayout(row)
        self.histogram = HistogramPlot(self)
        self.histogram.setObjectName("ping_histogram")
        layout.addWidget(self.histogram, 1)
        checks = QFormLayout()
        self.broker_button = _button("Check &broker", "broker_button", self)
        self.broker_result = QLabel(self)
        self.broker_result.setObjectName("broker_result")
        self.broker_result.setWordWrap(True)
        self.mdns_button = _button("Check &mDNS", "mdns_button", self)
        self.mdns_result = QLabel(self)
        self.mdns_result.setObjectName("mdns_result")
        self.mdns_result.setWordWrap(True)
        checks.addRow(self.broker_button, self.broker_result)
        checks.addRow(self.mdns_button, self.mdns_result)
        layout.addLayout(checks)
        self.signal_toggle = QCheckBox(tr("Record &signal strength"), self)
        self.signal_toggle.setObjectName("signal_toggle")
        self.signal_toggle.setAccessibleName(tr("Record signal strength"))
        layout.addWidget(self.signal_toggle)
        self.signal_plot = SignalPlot(self.diag.signal, self)
        self.signal_plot.setObjectName("signal_plot")
        layout.addWidget(self.signal_plot, 1)
        layout.addWidget(self.status)
        self.ping_button.clicked.connect(self.ping)
        self.broker_button.clicked.connect(self.check_broker)
        self.mdns_button.clicked.connect(self.check_mdns)
        self.signal_toggle.toggled.connect(self._toggle_signal)
        self._sampler: asyncio.Task[Any] | None = None

    def ping(self) -> asyncio.Task[Any]:
        self.ping_button.setEnabled(False)
        return self.run(self._ping(), "diagnostics:ping")

    async def _ping(self) -> None:
        def sample(stats: Any) -> None:
            self.ping_result.setText(tr("{done} of {count} sent…").format(
                done=stats.sent, count=self.count.value()))

        try:
            stats = await self.diag.ping(self.count.value(), on_sample=sample)
        finally:
            self.ping_button.setEnabled(True)
        text = stats.describe()
        self.ping_result.setText(text)
        self.histogram.set_histogram(stats.histogram(12), text)

    def check_broker(self) -> asyncio.Task[Any]:
        return self.run(self._broker(), "diagnostics:broker")

    async def _broker(self) -> None:
        self.broker_result.setText(tr("Checking…"))
        _ok, text = await self.diag.broker_check()
        self.broker_result.setText(tr(text))

    def check_mdns(self) -> None:
        _ok, text = self.diag.mdns_check()
        self.mdns_result.setText(tr(text))

    def _toggle_signal(self, on: bool) -> None:
        if on and self._sampler is None:
            self._sampler = self.window_.tasks.start(self._sample_forever(), "diagnostics:rssi")
        elif not on and self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None

    async def _sample_forever(self) -> None:
        while True:
            with contextlib.suppress(DeviceError):
                await self.diag.sample_signal()
                self.signal_plot.update()
            await asyncio.sleep(self.SIGNAL_EVERY_S)


# ==================================================================== firmware
class FirmwareTab(_Tab):
    def __init__(self, window: DiagnosticsWindow) -> None:
        super().__init__(window)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        file_row = QHBoxLayout()
        self.file_edit = QLineEdit(self)
        self.file_edit.setObjectName("fw_file")
        self.file_edit.setAccessibleName(tr("Firmware file"))
        self.browse_button = _button("&Browse…", "fw_browse", self)
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.url_edit = QLineEdit(self)
        self.url_edit.setObjectName("fw_url")
        self.url_edit.setAccessibleName(tr("Firmware URL"))
        self.url_edit.setPlaceholderText("https://…")
        self.sha_edit = QLineEdit(self)
        self.sha_edit.setObjectName("fw_sha256")
        self.sha_edit.setAccessibleName(tr("SHA-256 of the firmware at the URL"))
        self.commit_timeout = QSpinBox(self)
        self.commit_timeout.setObjectName("fw_commit_timeout")
        self.commit_timeout.setRange(10, 3600)
        self.commit_timeout.setValue(300)
        self.commit_timeout.setSuffix(" s")
        self.commit_timeout.setAccessibleName(tr("Time to commit before it rolls back"))
        form.addRow(tr("File:"), file_row)
        form.addRow(tr("or URL:"), self.url_edit)
        form.addRow(tr("SHA-256 (for a URL):"), self.sha_edit)
        form.addRow(tr("Commit within:"), self.commit_timeout)
        layout.addLayout(form)
        self.update_button = _button("&Update firmware", "fw_update", self)
        layout.addWidget(self.update_button, 0, Qt.AlignmentFlag.AlignRight)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("fw_progress")
        self.progress.setAccessibleName(tr("Firmware update progress"))
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.state_label = QLabel(self)
        self.state_label.setObjectName("fw_state")
        self.state_label.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.state_label)
        commit_row = QHBoxLayout()
        self.commit_prompt = QLabel(self)
        self.commit_prompt.setObjectName("fw_commit_prompt")
        self.commit_prompt.setWordWrap(True)
        font = self.commit_prompt.font()
        font.setBold(True)
        self.commit_prompt.setFont(font)
        self.commit_button = _button("&Commit now", "fw_commit", self)
        self.revert_button = _button("Roll &back", "fw_revert", self)
        commit_row.addWidget(self.commit_prompt, 1)
        commit_row.addWidget(self.commit_button)
        commit_row.addWidget(self.revert_button)
        layout.addLayout(commit_row)
        layout.addWidget(self.status)
        layout.addStretch(1)
        danger = QHBoxLayout()
        self.reboot_button = _button("&Reboot", "reboot_button", self)
        self.reset_button = _button("&Factory reset…", "factory_reset_button", self)
        danger.addStretch(1)
        danger.addWidget(self.reboot_button)
        danger.addWidget(self.reset_button)
        layout.addLayout(danger)
        self._set_commit_visible(False)
        self._deadline: float | None = None
        self._previous_version: str | None = None
        self._pending_version: str | None = None
        self.rollback_watch: asyncio.Task[Any] | None = None
        self.countdown = QTimer(self)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self._tick)
        self.confirm_box: QMessageBox | None = None
        self.browse_button.clicked.connect(self._browse)
        self.update_button.clicked.connect(self.start_update)
        self.commit_button.clicked.connect(self.commit)
        self.revert_button.clicked.connect(self.revert)
        self.reboot_button.clicked.connect(self.reboot)
        self.reset_button.clicked.connect(self.ask_factory_reset)

    def _set_commit_visible(self, visible: bool) -> None:
        for widget in (self.commit_prompt, self.commit_button, self.revert_button):
            widget.setVisible(visible)

    def _browse(self) -> None:
        dialog = QFileDialog(self, tr("Choose a firmware file"))
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.file_edit.setText)
        dialog.open()

    def start_update(self) -> asyncio.Task[Any]:
        self.update_button.setEnabled(False)
        return self.run(self._update(), "diagnostics:ota")

    async def _update(self) -> None:
        path = self.file_edit.text().strip() or None
        url = self.url_edit.text().strip() or None
        sha = self.sha_edit.text().strip() or None
        if path is None and (url is None or sha is None):
            self.update_button.setEnabled(True)
            raise ValueError(tr("Choose a firmware file, or give a URL and its SHA-256."))

        def progress(percent: int, text: str) -> None:
            self.progress.setValue(percent)
            self.state_label.setText(tr(text) + "…")

        try:
            self._previous_version = (await self.diag.get_boot_state()).fw_version
            state = await self.diag.update_firmware(
                path=path, url=None if path else url, sha256=None if path else sha,
                commit_timeout=self.commit_timeout.value(), on_progress=progress)
        except RpcError as exc:
            self.state_label.setText(tr("The update failed: {message}. The light keeps its "
                                        "current firmware.").format(message=exc.message))
            return
        finally:
            self.update_button.setEnabled(True)
        self.progress.setValue(100)
        self.state_label.setText(tr("The light runs firmware {version} (not committed yet).")
                                 .format(version=state.fw_version))
        self._pending_version = state.fw_version
        self._deadline = asyncio.get_running_loop().time() + state.commit_timeout
        self._set_commit_visible(True)
        self._tick()
        self.countdown.start()

    def seconds_left(self) -> int:
        if self._deadline is None:
            return 0
        return max(0, round(self._deadline - asyncio.get_event_loop().time()))

    def _tick(self) -> None:
        left = self.seconds_left()
        if left <= 0:
            self.countdown.stop()
            self._deadline = None
            self._set_commit_visible(False)
            self.commit_prompt.setText("")
            self.state_label.setText(tr("Not committed in time: the light rolls back to its "
                                        "previous firmware…"))
            self.rollback_watch = self.run(self._watch_rollback(), "diagnostics:rollback")
            return
        text = tr("Commit now or it rolls back in {seconds} s.").format(seconds=left)
        self.commit_prompt.setText(text)
        self.commit_prompt.setAccessibleName(text)

    async def _watch_rollback(self, timeout_s: float = 120.0) -> None:
        """After the commit time ran out: wait until the light runs its previous firmware
        again and say so."""
        old, new = self._previous_version, self._pending_version
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    try:
                        state = await self.diag.get_boot_state()
                    except DeviceError:
                        state = None  # restarting
                    if state is not None and state.is_committed:
                        break
                    await asyncio.sleep(0.5)
        except TimeoutError:
            self.state_label.setText(tr(
                "The light did not come back with its previous firmware within {seconds} s. "
                "Check that it is powered, then open Diagnostics again.").format(
                    seconds=int(timeout_s)))
            return
        self.state_label.setText(tr(
            "Rolled back: the update to {new} was not committed in time, so the light "
            "went back to firmware {old}.").format(new=new, old=old or state.fw_version))

    def commit(self) -> asyncio.Task[Any]:
        return self.run(self._commit(), "diagnostics:commit")

    async def _commit(self) -> None:
        state = await self.diag.commit()
        self.countdown.stop()
        self._deadline = None
        self._set_commit_visible(False)
        self.state_label.setText(tr("Firmware {version} is committed: the light keeps it.")
                                 .format(version=state.fw_version))

    def revert(self) -> asyncio.Task[Any]:
        return self.run(self._revert(), "diagnostics:revert")

    async def _revert(self) -> None:
        await self.diag.revert()
        self.countdown.stop()
        self._deadline = None
        self._set_commit_visible(False)
        self.state_label.setText(tr("Rolling back: the light restarts with its previous "
                                    "firmware."))

    def reboot(self) -> asyncio.Task[Any]:
        return self.run(self._reboot(), "diagnostics:reboot")

    async def _reboot(self) -> None:
        await self.diag.reboot()
        self.state_label.setText(tr("The light is restarting; it is back in a few seconds."))

    def ask_factory_reset(self) -> QMessageBox:
        name = self.window_.light_name
        box = QMessageBox(QMessageBox.Icon.Warning, tr("Factory reset {name}?").format(name=name),
                          tr("Factory reset erases the settings of “{name}” ({id}): its name, "
                             "Wi-Fi and its pairing with this hub. It then waits on its own "
                             "network to be set up again with the code on its label.").format(
                              name=name, id=self.diag.device_id),
                          QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("factory_reset_confirm")
        reset = box.addButton(tr("Reset {name}").format(name=name),
                              QMessageBox.ButtonRole.DestructiveRole)
        reset.setObjectName("factory_reset_yes")
        keep = box.addButton(tr("Keep it"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        self.confirm_box = box

        def finished() -> None:
            self.confirm_box = None
            if box.clickedButton() is reset:
                self.run(self._factory_reset(), "diagnostics:factory-reset")

        box.finished.connect(finished)
        box.open()
        return box

    async def _factory_reset(self) -> None:
        await self.diag.factory_reset()
        hub = self.window_.hub
        if hub is None:
            self.state_label.setText(tr("The light was reset and restarts on its own network."))
            return
        # its pairing is gone: the hub forgets it, so it comes back in Discovered as a new light
        await hub.forget_light(self.diag.device_id)
        self.state_label.setText(tr("The light was reset and removed from this hub. It "
                                    "restarts on its own network and shows up under "
                                    "Discovered, ready to be set up again."))


# ==================================================================== window
class DiagnosticsWindow(QWidget):
    """Diagnostics of one light, in tabs.

    ``hub_or_client_factory``: a ``Hub`` (``await device_client(id, trace=...)``, registry,
    secrets, LAN discovery, settings) or a callable ``factory(device_id, trace) -> DeviceClient``
    (may be async). The window closes the client it opened.
    """

    reportExported = Signal(str)

    def __init__(self, hub_or_client_factory: Any, device_id: str, *,
                 flight_recorder: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self._source = hub_or_client_factory
        hub = hub_or_client_factory if hasattr(hub_or_client_factory, "device_client") else None
        self.hub = hub
        paired = hub.registry.get(device_id) if hub is not None else None
        self.light_name = getattr(paired, "display_name", None) or device_id
        self.setObjectName("diagnostics_window")
        self.setWindowTitle(tr("Diagnostics — {name}").format(name=self.light_name))
        self.setAccessibleName(self.windowTitle())
        self.resize(860, 620)
        self.tasks = TaskKeeper(self._on_task_error)
        self.diagnostics = DeviceDiagnostics(
            device_id, lan_discovery=getattr(hub, "lan_discovery", None),
            broker=_broker_of(hub), backend=getattr(paired, "backend", None), paired=paired,
            flight_recorder_json=self._flight_recorder_json)
        self._flight_recorder = flight_recorder
        layout = QVBoxLayout(self)
        self.connection = QLabel(tr("Connecting to the light…"), self)
        self.connection.setObjectName("connection_state")
        self.connection.setWordWrap(True)
        layout.addWidget(self.connection)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("diagnostics_tabs")
        self.info_tab = InfoTab(self)
        self.console_tab = ConsoleTab(self)
        self.log_tab = LogTab(self)
        self.config_tab = ConfigTab(self)
        self.connectivity_tab = ConnectivityTab(self)
        self.firmware_tab = FirmwareTab(self)
        for tab, title in ((self.info_tab, "Device &info"), (self.console_tab, "RPC &console"),
                           (self.log_tab, "&Log"), (self.config_tab, "Con&figuration"),
                           (self.connectivity_tab, "Co&nnectivity"),
                           (self.firmware_tab, "Firm&ware")):
            self.tabs.addTab(tab, tr(title))
        layout.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        self.export_status = QLabel(self)
        self.export_status.setObjectName("export_status")
        self.export_status.setWordWrap(True)
        self.export_button = _button("&Export report…", "export_button", self)
        bottom.addWidget(self.export_status, 1)
        bottom.addWidget(self.export_button)
        layout.addLayout(bottom)
        self.export_button.clicked.connect(self._choose_export_path)
        self.ready = asyncio.get_event_loop().create_future()
        self.tasks.start(self._connect(), "diagnostics:connect")

    def _flight_recorder_json(self) -> str | None:
        recorder = self._flight_recorder
        if recorder is None and self.hub is not None:
            finder = getattr(self.hub, "flight_recorder", None)
            if callable(finder):
                recorder = finder(self.diagnostics.device_id)
        return recorder.export_text() if recorder is not None else None

    async def _connect(self) -> None:
        device_id = self.diagnostics.device_id
        try:
            if self.hub is not None:
                client = await self.hub.device_client(device_id, trace=self.diagnostics.on_trace)
                secret = await self.hub.secrets.get("light", device_id)
                if secret:
                    self.diagnostics.known_secrets.append(secret)
            else:
                made = self._source(device_id, self.diagnostics.on_trace)
                client = await made if inspect.isawaitable(made) else made
        except (LookupError, RuntimeError, DeviceError) as exc:
            self.connection.setText(tr("Cannot open {name}: {error}").format(
                name=self.light_name, error=exc))
            if not self.ready.done():
                self.ready.set_result(False)
            return
        self.diagnostics.attach(client)
        self.connection.setText(tr("Connected to {name} at {host}:{port}.").format(
            name=self.light_name, host=client.host, port=client.port))
        await asyncio.gather(self.info_tab.refresh(), self._load_methods(),
                             self.config_tab.reload(), return_exceptions=True)
        self.log_tab.start()
        if not self.ready.done():
            self.ready.set_result(True)

    async def _load_methods(self) -> None:
        with contextlib.suppress(DeviceError):
            self.console_tab.set_methods(await self.diagnostics.list_methods())

    def _on_task_error(self, exc: BaseException) -> None:
        self.connection.setText(tr("Something unexpected went wrong: {error}. Details are in "
                                   "the log.").format(error=exc))

    # --------------------------------------------------------------- export
    def _choose_export_path(self) -> None:
        dialog = QFileDialog(self, tr("Save the diagnostic report"))
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter(tr("Zip archives (*.zip)"))
        dialog.selectFile(f"{self.diagnostics.device_id}-report.zip")
        dialog.fileSelected.connect(self.export_report)
        dialog.open()

    def export_report(self, path: str) -> asyncio.Task[Any]:
        """Write the report zip to ``path`` (in an executor)."""
        self.export_button.setEnabled(False)
        self.export_status.setText(tr("Writing the report…"))
        return self.tasks.start(self._export(path), "diagnostics:export")

    async def _export(self, path: str) -> None:
        try:
            written = await self.diagnostics.export_report(path)
        except (OSError, RuntimeError) as exc:
            self.export_status.setText(tr("The report could not be written: {error}").format(
                error=exc))
            return
        finally:
            self.export_button.setEnabled(True)
        self.export_status.setText(tr("Report saved to {path}. It contains no passwords or "
                                      "keys.").format(path=written))
        self.reportExported.emit(str(written))

    # --------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.tasks.cancel_all()
        client = self.diagnostics.client
        if client is not None:
            self.diagnostics.client = None
            asyncio.get_event_loop().create_task(client.close())
        super().closeEvent(event)

    async def aclose(self) -> None:
        """Close and wait for everything to stop (tests, app shutdown)."""
        self.close()
        await self.tasks.wait_all()
        await asyncio.sleep(0)


def _broker_of(hub: Any) -> tuple[str, int] | None:
    settings = getattr(hub, "settings", None)
    if settings is None:
        return None
    backend = getattr(settings, "backend", "")
    if backend == "embedded":
        embedded = settings.embedded
        host = embedded.advertise_host or embedded.host
        return ("127.0.0.1" if host in ("", "0.0.0.0") else host, int(embedded.port))
    if backend == "mqtt":
        return (settings.mqtt.host, int(settings.mqtt.port))
    return None


__all__ = ["DiagnosticsWindow"]
