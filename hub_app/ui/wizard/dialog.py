"""The add-light wizard: a dialog whose pages the provisioning flow decides."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from hub_app.provisioning import Abort, Done, FlowResult, Form, Progress, ProvisioningFlow

from .form_view import BUTTON_FIELDS, ErrorLabel, FormView
from .tasks import TaskKeeper
from .texts import message, progress_text, step_title, tr

_log = logging.getLogger(__name__)

#: steps during which Cancel asks first (the light is receiving or applying its settings)
RISKY_STEPS = frozenset({"send", "pair"})


def _heading(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.3)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    return label


class ProgressPage(QWidget):
    """A spinner / progress bar and the live messages of the running step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("progress_page")
        layout = QVBoxLayout(self)
        self.title = _heading("", self)
        self.title.setObjectName("progress_title")
        self.message = QLabel(self)
        self.message.setObjectName("progress_message")
        self.message.setWordWrap(True)
        self.message.setAccessibleName(tr("Current step"))
        self.bar = QProgressBar(self)
        self.bar.setObjectName("progress_bar")
        self.bar.setAccessibleName(tr("Progress"))
        self.history = QListWidget(self)
        self.history.setObjectName("progress_history")
        self.history.setAccessibleName(tr("What happened so far"))
        self.history.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        layout.addWidget(self.title)
        layout.addWidget(self.message)
        layout.addWidget(self.bar)
        layout.addWidget(self.history, 1)

    def show_progress(self, progress: Progress) -> None:
        self.title.setText(step_title(progress.step_id))
        text = progress_text(progress.progress_key, progress.message_placeholders)
        self.message.setText(text + "…")
        if progress.fraction is None:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 100)
            self.bar.setValue(round(progress.fraction * 100))
        last = self.history.item(self.history.count() - 1) if self.history.count() else None
        if last is None or last.text() != text:
            self.history.addItem(text)
            self.history.scrollToBottom()


class EndPage(QWidget):
    """Done or Abort: a heading, what happened, what to do next."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        layout = QVBoxLayout(self)
        self.title = _heading("", self)
        self.title.setObjectName(f"{name}_title")
        self.text = QLabel(self)
        self.text.setObjectName(f"{name}_text")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.next_step = QLabel(self)
        self.next_step.setObjectName(f"{name}_next_step")
        self.next_step.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.next_step)
        layout.addStretch(1)

    def show_texts(self, title: str, text: str, next_step: str) -> None:
        self.title.setText(title)
        self.title.setAccessibleName(title)
        self.text.setText(text)
        self.text.setAccessibleName(text)
        self.next_step.setText(next_step)
        self.next_step.setVisible(bool(next_step))


FlowFactory = Callable[..., Any]


class AddLightWizard(QDialog):
    """Sets up a new light: the Qt view of ``ProvisioningFlow``.

    ``hub_or_flow_factory``: a ``Hub`` (its ``start_provisioning(light=...)``) or a callable
    ``factory(light: str | None) -> ProvisioningFlow`` (may be async). ``discovered_item``: an
    inbox item (or an access-point SSID) to set up without the light list.

    Signals: ``setupFinished(dict)`` with the paired light's data when the light is set up;
    ``controlRequested(str)`` with its device id when the user presses "Control it now".
    """

    setupFinished = Signal(dict)
    controlRequested = Signal(str)

    def __init__(self, hub_or_flow_factory: Any, discovered_item: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("add_light_wizard")
        self.setWindowTitle(tr("Add a light"))
        self.setAccessibleName(tr("Add a light"))
        self.setModal(False)
        self.resize(560, 480)
        self._source = hub_or_flow_factory
        self._light = _ap_ssid_of(discovered_item)
        self.flow: ProvisioningFlow | None = None
        self.result_value: FlowResult | None = None
        self._tasks = TaskKeeper(self._on_task_error)
        self._unsubscribe: Callable[[], None] | None = None
        self._form_view: FormView | None = None
        self._closing = False
        self._finished_flow = False
        self.confirm_box: QMessageBox | None = None

        layout = QVBoxLayout(self)
        self.pages = QStackedWidget(self)
        self.pages.setObjectName("pages")
        self.form_holder = QWidget(self)
        self.form_holder.setObjectName("form_holder")
        self.form_layout = QVBoxLayout(self.form_holder)
        self.form_layout.setContentsMargins(0, 0, 0, 0)
        self.progress_page = ProgressPage(self)
        self.done_page = EndPage("done_page", self)
        self.abort_page = EndPage("abort_page", self)
        for page in (self.form_holder, self.progress_page, self.done_page, self.abort_page):
            self.pages.addWidget(page)
        layout.addWidget(self.pages, 1)
        self.internal_error = ErrorLabel("internal_error", self)
        layout.addWidget(self.internal_error)

        buttons = QHBoxLayout()
        self.back_button = QPushButton(tr("&Back"), self)
        self.back_button.setObjectName("back_button")
        self.back_button.setAccessibleName(tr("Back"))
        self.cancel_button = QPushButton(tr("Cancel"), self)
        self.cancel_button.setObjectName("cancel_button")
        self.cancel_button.setAccessibleName(tr("Cancel"))
        self.control_button = QPushButton(tr("&Control it now"), self)
        self.control_button.setObjectName("control_button")
        self.control_button.setAccessibleName(tr("Control it now"))
        self.next_button = QPushButton(tr("&Next"), self)
        self.next_button.setObjectName("next_button")
        self.next_button.setAccessibleName(tr("Next"))
        self.next_button.setDefault(True)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.control_button)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)
        self.back_button.clicked.connect(self._on_back)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.next_button.clicked.connect(self._on_next)
        self.control_button.clicked.connect(self._on_control)
        self._set_buttons(back=False, next_text=None, cancel=True)
        self.control_button.hide()
        self.progress_page.show_progress(Progress("init", "scanning_lights"))
        self.pages.setCurrentWidget(self.progress_page)
        self._tasks.start(self._start(), "wizard:start")

    # ================================================================ flow driving
    async def _start(self) -> None:
        flow = await self._make_flow()
        self.flow = flow
        self._unsubscribe = flow.subscribe(self._on_progress)
        await self._drive(flow.step(None))

    async def _make_flow(self) -> ProvisioningFlow:
        source = self._source
        start = getattr(source, "start_provisioning", None)
        made = start(light=self._light) if callable(start) else source(self._light)
        if inspect.isawaitable(made):
            made = await made
        assert isinstance(made, ProvisioningFlow)
        return made

    async def _drive(self, first: Any) -> None:
        """Await ``first`` (a flow call), then wait through Progress results and show the end."""
        flow = self.flow
        assert flow is not None
        result: FlowResult = await first
        while isinstance(result, Progress):
            self._show(result)
            result = await flow.step(None)
        self._show(result)

    def _run(self, coro: Any, name: str) -> None:
        self._set_buttons(back=False, next_text=None, cancel=True)
        self._tasks.start(self._drive(coro), name)

    # ================================================================ rendering
    def _show(self, result: FlowResult) -> None:
        self.result_value = result
        self.internal_error.show_text("")
        if isinstance(result, Progress):
            self._show_progress(result)
        elif isinstance(result, Form):
            self._show_form(result)
        elif isinstance(result, Done):
            self._show_done(result)
        else:
            self._show_abort(result)

    def _on_progress(self, progress: Progress) -> None:
        if isinstance(self.result_value, Progress) or self.pages.currentWidget() is \
                self.progress_page:
            self.result_value = progress
            self._show_progress(progress)

    def _show_progress(self, progress: Progress) -> None:
        self.progress_page.show_progress(progress)
        self.pages.setCurrentWidget(self.progress_page)
        self._set_buttons(back=False, next_text=None, cancel=True)

    def _show_form(self, form: Form) -> None:
        holder_layout = self.form_layout
        if self._form_view is not None:
            holder_layout.removeWidget(self._form_view)
            self._form_view.deleteLater()
        view = FormView(form, self.form_holder)
        holder_layout.addWidget(view)
        self._form_view = view
        self.pages.setCurrentWidget(self.form_holder)
        next_text = {
            "confirm_network": tr("Send &anyway"),
            "wait_lan": tr("&Try again"),
            "join_ap": tr("&Try again"),
            "choose_network": tr("&Send to the light"),
        }.get(form.step_id, tr("&Next"))
        if form.step_id == "pick_light" and not any(f.name == "light" for f in form.fields):
            next_text = tr("&Search again")
        self._set_buttons(back=form.can_go_back, next_text=next_text, cancel=True)
        if form.step_id == "confirm_network":
            self.back_button.setText(tr("&Change network"))
        target = view.first_input()
        (target or self.next_button).setFocus()

    def _show_done(self, done: Done) -> None:
        data = done.data
        name = str(data.get("name") or data.get("device_id") or "")
        room = str(data.get("room") or "")
        text = (tr("“{name}” is set up in {room} and paired with this hub.").format(
            name=name, room=room) if room else
            tr("“{name}” is set up and paired with this hub.").format(name=name))
        self.done_page.show_texts(tr("The light is ready"), text,
                                  tr("You can switch it on and change its colour now."))
        self.pages.setCurrentWidget(self.done_page)
        self._set_buttons(back=False, next_text=tr("&Finish"), cancel=False)
        self.control_button.show()
        self.control_button.setFocus()
        if not self._finished_flow:
            self._finished_flow = True
            notify = getattr(self._source, "on_setup_finished", None)
            if callable(notify):
                try:
                    notify(data)
                except Exception:
                    _log.exception("the hub failed to take the new light")
            self.setupFinished.emit(dict(data))

    def _show_abort(self, abort: Abort) -> None:
        what, next_step = message(abort.reason_key, abort.description_placeholders)
        title = tr("Set-up was cancelled") if abort.reason_key == "cancelled" else \
            tr("The light could not be set up")
        self.abort_page.show_texts(title, what, next_step)
        self.pages.setCurrentWidget(self.abort_page)
        self._set_buttons(back=False, next_text=tr("&Close"), cancel=False)
        self.next_button.setFocus()

    def _set_buttons(self, *, back: bool, next_text: str | None, cancel: bool) -> None:
        self.back_button.setText(tr("&Back"))
        self.back_button.setVisible(back)
        self.back_button.setEnabled(back)
        self.next_button.setVisible(next_text is not None)
        self.next_button.setEnabled(next_text is not None)
        if next_text is not None:
            self.next_button.setText(next_text)
            self.next_button.setAccessibleName(next_text.replace("&", ""))
        self.cancel_button.setVisible(cancel)
        self.control_button.hide()

    # ================================================================ user actions
    def _on_next(self) -> None:
        result = self.result_value
        flow = self.flow
        if isinstance(result, (Done, Abort)) or flow is None:
            self.accept() if isinstance(result, Done) else self.reject()
            return
        if not isinstance(result, Form) or self._form_view is None:
            return
        values = self._form_view.values()
        button_field = BUTTON_FIELDS.get(result.step_id)
        if button_field is not None:
            values[button_field] = True
        if result.step_id == "pick_light" and not values.get("light"):
            values["rescan"] = True
        self._run(flow.step(values), f"wizard:{result.step_id}")

    def _on_back(self) -> None:
        flow = self.flow
        if flow is None or not isinstance(self.result_value, Form):
            return
        try:
            self._show(flow.back())
        except RuntimeError:
            self.back_button.setEnabled(False)

    def _on_control(self) -> None:
        if isinstance(self.result_value, Done):
            self.controlRequested.emit(str(self.result_value.data.get("device_id") or ""))
        self.accept()

    def _risky(self) -> bool:
        result = self.result_value
        flow = self.flow
        step = flow.state.step_id if flow is not None else ""
        return isinstance(result, Progress) and (result.step_id in RISKY_STEPS
                                                 or step in RISKY_STEPS)

    def _on_cancel(self) -> None:
        if isinstance(self.result_value, (Done, Abort)):
            self.reject()
            return
        if self._risky():
            self._ask_before_cancel()
            return
        self._cancel_and_close()

    def _ask_before_cancel(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, tr("Stop setting up the light?"),
                          tr("The light is receiving its new settings right now. If you stop, "
                             "it may restart and go back to its own network; you can then set "
                             "it up again (no reset needed)."),
                          QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("confirm_cancel")
        stop = box.addButton(tr("Stop set-up"), QMessageBox.ButtonRole.DestructiveRole)
        stop.setObjectName("confirm_stop")
        keep = box.addButton(tr("Keep going"), QMessageBox.ButtonRole.RejectRole)
        keep.setObjectName("confirm_keep")
        box.setDefaultButton(keep)
        self.confirm_box = box

        def finished() -> None:
            self.confirm_box = None
            if box.clickedButton() is stop:
                self._cancel_and_close()

        box.finished.connect(finished)
        box.open()

    def _cancel_and_close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._set_buttons(back=False, next_text=None, cancel=False)
        self.progress_page.show_progress(Progress(self.result_value.step_id if isinstance(
            self.result_value, (Form, Progress)) else "init", "returning_pc",
            {"home": tr("its own network")}))
        self.pages.setCurrentWidget(self.progress_page)
        self._tasks.cancel_all()
        self._tasks.start(self._cancel_flow(), "wizard:cancel")

    async def _cancel_flow(self) -> None:
        flow = self.flow
        if flow is not None:
            result = await flow.cancel()
            self.result_value = result
            await flow.close()
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
        self.reject()

    def _on_task_error(self, exc: BaseException) -> None:
        self.internal_error.show_text(
            tr("Something unexpected went wrong ({error}). Close this window and try again; if "
               "it keeps happening, send the set-up report to support.").format(
                error=type(exc).__name__))
        self._set_buttons(back=False, next_text=tr("&Close"), cancel=False)
        self.result_value = Abort("unknown")

    # ================================================================ closing
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._on_cancel()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._needs_cancel():
            event.ignore()
            self._on_cancel()
            return
        super().closeEvent(event)

    def _needs_cancel(self) -> bool:
        return (not self._closing and self.flow is not None
                and not isinstance(self.result_value, (Done, Abort)))

    def reject(self) -> None:
        if self._needs_cancel():
            self._on_cancel()
            return
        self._release()
        super().reject()

    def accept(self) -> None:
        self._release()
        super().accept()

    def _release(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        flow = self.flow
        self._tasks.cancel_all()
        if flow is not None and not self._closing:
            self._closing = True
            # the flow has ended: closing it only releases its clients and subscriptions
            asyncio.get_event_loop().create_task(flow.close())

    async def wait_closed(self) -> None:
        """Wait until the flow's tasks have ended (for tests and the app's shutdown)."""
        await self._tasks.wait_all()
        if self.flow is not None:
            await self.flow.close()


def _ap_ssid_of(item: Any) -> str | None:
    if item is None:
        return None
    if isinstance(item, str):
        return item
    for name in ("ap_ssid", "ssid"):
        value = getattr(item, name, None)
        if isinstance(value, str) and value:
            return value
    return None
