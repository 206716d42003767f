"""The right-hand panels of the main window: the selected light, rooms and scenes, schedules."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import time
from typing import Any

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSlider,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from hub_app.hub import Hub, LightView, Schedule
from hub_app.hub.schedules import WEEKDAY_NAMES

from .models import ITEM_ROLE, EventedListModel, room_title, state_text

Runner = Callable[[Coroutine[Any, Any, Any], str], None]

PRESETS: list[tuple[str, tuple[int, int, int]]] = [
    ("Warm white", (255, 214, 170)),
    ("Cool white", (225, 235, 255)),
    ("Red", (255, 40, 30)),
    ("Orange", (255, 140, 20)),
    ("Green", (40, 220, 80)),
    ("Blue", (40, 90, 255)),
    ("Purple", (170, 60, 255)),
    ("Pink", (255, 70, 160)),
]



STRUCTURAL = frozenset({"inserted", "removed", "reset"})

def swatch_style(rgb: tuple[int, int, int]) -> str:
    return "background-color: #{:02x}{:02x}{:02x}; border: 1px solid palette(mid);".format(*rgb)


class LightPanel(QWidget):
    """Controls for one light: toggle, brightness (rapid changes coalesce), colour."""

    def __init__(self, hub: Hub, run: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._run = run
        self.device_id: str | None = None
        self._brightness_target: int | None = None
        self._brightness_busy = False
        self.sent_brightness: list[int] = []  # what was sent (tests look at the coalescing)

        layout = QVBoxLayout(self)
        self.title = QLabel(self.tr("Select a light"))
        self.title.setAccessibleName(self.tr("Selected light"))
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.state = QLabel("")
        self.state.setAccessibleName(self.tr("Light state"))
        self.state.setWordWrap(True)
        self.toggle_button = QPushButton(self.tr("Turn on"))
        self.toggle_button.setAccessibleName(self.tr("Turn the light on or off"))
        self.toggle_button.clicked.connect(self._toggle)
        self.brightness = QSlider(Qt.Orientation.Horizontal)
        self.brightness.setRange(0, 100)
        self.brightness.setPageStep(10)
        self.brightness.setAccessibleName(self.tr("Brightness"))
        self.brightness.valueChanged.connect(self._brightness_changed)
        self.brightness_label = QLabel("–")
        self.swatch = QLabel()
        self.swatch.setFixedSize(28, 28)
        self.swatch.setAccessibleName(self.tr("Current colour"))
        self.colour_button = QPushButton(self.tr("Choose colour…"))
        self.colour_button.setAccessibleName(self.tr("Choose a colour"))
        self.colour_button.clicked.connect(self._choose_colour)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setAccessibleName(self.tr("Last problem"))
        self.diagnostics_button = QPushButton(self.tr("Diagnostics…"))
        self.diagnostics_button.setAccessibleName(self.tr("Open diagnostics for this light"))

        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addWidget(self.toggle_button)
        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Brightness")))
        row.addWidget(self.brightness, 1)
        row.addWidget(self.brightness_label)
        layout.addLayout(row)
        colour_row = QHBoxLayout()
        colour_row.addWidget(self.swatch)
        colour_row.addWidget(self.colour_button, 1)
        layout.addLayout(colour_row)
        grid = QGridLayout()
        self.preset_buttons: list[QPushButton] = []
        for number, (name, rgb) in enumerate(PRESETS):
            button = QPushButton()
            button.setFixedSize(32, 24)
            button.setStyleSheet(swatch_style(rgb))
            button.setToolTip(self.tr(name))
            button.setAccessibleName(self.tr("Colour preset: %1").replace("%1", self.tr(name)))
            button.clicked.connect(lambda _=False, c=rgb: self.set_colour(c))
            grid.addWidget(button, number // 4, number % 4)
            self.preset_buttons.append(button)
        layout.addLayout(grid)
        layout.addWidget(self.error)
        layout.addWidget(self.diagnostics_button)
        layout.addStretch(1)
        self.show_light(None)

    # --- showing -----------------------------------------------------------------------
    def show_light(self, view: LightView | None) -> None:
        """Show ``view`` (None: nothing selected). Never moves a slider the user holds."""
        if view is None or view.device_id != self.device_id:
            self._brightness_target = None
        self.device_id = view.device_id if view is not None else None
        enabled = view is not None and view.online is not False
        for widget in (self.toggle_button, self.brightness, self.colour_button,
                       *self.preset_buttons):
            widget.setEnabled(enabled)
        self.diagnostics_button.setEnabled(view is not None)
        if view is None:
            self.title.setText(self.tr("Select a light"))
            self.state.setText(self.tr("Pick a light in the list to control it."))
            self.error.setText("")
            return
        self.title.setText(view.display_name)
        room = room_title(view.room)
        self.state.setText(f"{state_text(view)} · {room}")
        wanted_on = view.desired_value("on")
        is_on = wanted_on if isinstance(wanted_on, bool) else bool(view.on)
        self.toggle_button.setText(self.tr("Turn off") if is_on else self.tr("Turn on"))
        if not self.brightness.isSliderDown() and self._brightness_target is None:
            self.brightness.blockSignals(True)
            self.brightness.setValue(view.brightness or 0)
            self.brightness.blockSignals(False)
        self.brightness_label.setText(
            f"{view.brightness} %" if view.brightness is not None else "–"
        )
        if view.rgb is not None:
            self.swatch.setStyleSheet(swatch_style(view.rgb))
        self.error.setText(view.last_error or "")

    # --- actions -----------------------------------------------------------------------
    def _toggle(self) -> None:
        if self.device_id is not None:
            self._run(self.hub.toggle(self.device_id), self.tr("switch the light"))

    def _brightness_changed(self, value: int) -> None:
        if self.device_id is None:
            return
        self._brightness_target = value
        if not self._brightness_busy:
            self._brightness_busy = True  # now, not when the task starts: one sender at a time
            self._run(self._send_brightness(self.device_id), self.tr("change the brightness"))

    async def _send_brightness(self, device_id: str) -> None:
        """One command on the wire at a time; the slider's latest value follows (coalescing)."""
        try:
            while self._brightness_target is not None and self.device_id == device_id:
                target = self._brightness_target
                self.sent_brightness.append(target)
                try:
                    await self.hub.set_light(device_id, brightness=target)
                finally:
                    if self._brightness_target == target:
                        self._brightness_target = None
        finally:
            self._brightness_busy = False

    def _choose_colour(self) -> None:
        if self.device_id is None:
            return
        view = self.hub.lights.get(self.device_id)
        initial = QColor(*view.rgb) if view is not None and view.rgb else QColor(255, 255, 255)
        dialog = QColorDialog(initial, self)
        dialog.setWindowTitle(self.tr("Colour of the light"))
        dialog.colorSelected.connect(
            lambda c: self.set_colour((c.red(), c.green(), c.blue()))
        )
        dialog.open()

    def set_colour(self, rgb: tuple[int, int, int]) -> None:
        if self.device_id is not None:
            self._run(self.hub.set_light(self.device_id, rgb=rgb, on=True),
                      self.tr("change the colour"))


class RoomsPanel(QWidget):
    """Switch a room at once; save and apply scenes."""

    def __init__(self, hub: Hub, run: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._run = run
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr("<b>Rooms</b>")))
        self.room_box = QComboBox()
        self.room_box.setAccessibleName(self.tr("Room"))
        row = QHBoxLayout()
        self.room_on = QPushButton(self.tr("All on"))
        self.room_on.setAccessibleName(self.tr("Turn every light of the room on"))
        self.room_off = QPushButton(self.tr("All off"))
        self.room_off.setAccessibleName(self.tr("Turn every light of the room off"))
        self.room_on.clicked.connect(lambda: self.switch_room(True))
        self.room_off.clicked.connect(lambda: self.switch_room(False))
        row.addWidget(self.room_box, 1)
        row.addWidget(self.room_on)
        row.addWidget(self.room_off)
        layout.addLayout(row)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setAccessibleName(self.tr("Result"))
        layout.addWidget(self.result)

        layout.addWidget(QLabel(self.tr("<b>Scenes</b>")))
        self.scene_model = EventedListModel(
            hub.scenes, lambda s: self.tr("%1 (%2 lights)").replace("%1", s.name).replace(
                "%2", str(len(s.lights)))
        )
        self.scene_list = QListView()
        self.scene_list.setModel(self.scene_model)
        self.scene_list.setAccessibleName(self.tr("Scenes"))
        self.scene_list.doubleClicked.connect(lambda _: self.apply_selected())
        layout.addWidget(self.scene_list, 1)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton(self.tr("Apply"))
        self.apply_button.setAccessibleName(self.tr("Apply the selected scene"))
        self.apply_button.clicked.connect(self.apply_selected)
        self.save_name = QLineEdit()
        self.save_name.setPlaceholderText(self.tr("Scene name"))
        self.save_name.setAccessibleName(self.tr("Name of the new scene"))
        self.save_button = QPushButton(self.tr("Save current"))
        self.save_button.setAccessibleName(self.tr("Save the lights as they are now as a scene"))
        self.save_button.clicked.connect(self.save_current)
        self.delete_button = QPushButton(self.tr("Delete"))
        self.delete_button.setAccessibleName(self.tr("Delete the selected scene"))
        self.delete_button.clicked.connect(self.delete_selected)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_name, 1)
        save_row.addWidget(self.save_button)
        layout.addLayout(save_row)
        # Rooms change only when lights come, go or move (a move is a remove plus an insert):
        # not on the state reports that arrive every second from every light.
        self._unsubscribe = hub.lights.subscribe(
            lambda event: self.refresh_rooms() if event.kind in STRUCTURAL else None
        )
        self.refresh_rooms()

    def close_models(self) -> None:
        self._unsubscribe()
        self.scene_model.close()

    def refresh_rooms(self) -> None:
        rooms = self.hub.lights.rooms()
        current = self.room_box.currentData()
        if [self.room_box.itemData(i) for i in range(self.room_box.count())] == rooms:
            return
        self.room_box.clear()
        for room in rooms:
            self.room_box.addItem(room_title(room), room)
        if current in rooms:
            self.room_box.setCurrentIndex(rooms.index(current))

    def switch_room(self, on: bool) -> None:
        room = self.room_box.currentData()
        if room is None:
            return

        async def go() -> None:
            self.result.setText(self.tr("Switching %1…").replace("%1", room_title(room)))
            result = await self.hub.set_room(room, on=on)
            self.result.setText(_group_text(self, result, len(result.confirmed)))

        self._run(go(), self.tr("switch the room"))

    def _selected_scene(self) -> Any:
        index = self.scene_list.currentIndex()
        return index.data(ITEM_ROLE) if index.isValid() else None

    def apply_selected(self) -> None:
        scene = self._selected_scene()
        if scene is None:
            return

        async def go() -> None:
            self.result.setText(self.tr("Applying %1…").replace("%1", scene.name))
            result = await self.hub.apply_scene(scene.name)
            self.result.setText(_group_text(self, result, len(result.confirmed)))

        self._run(go(), self.tr("apply the scene"))

    def save_current(self) -> None:
        name = self.save_name.text().strip()
        if not name:
            self.result.setText(self.tr("Type a name for the scene first."))
            self.save_name.setFocus()
            return

        async def go() -> None:
            await self.hub.save_scene(name)
            self.save_name.clear()
            self.result.setText(self.tr("Scene %1 saved.").replace("%1", name))

        self._run(go(), self.tr("save the scene"))

    def delete_selected(self) -> None:
        scene = self._selected_scene()
        if scene is not None:
            self._run(self.hub.delete_scene(scene.name), self.tr("delete the scene"))


def _group_text(widget: QWidget, result: Any, confirmed: int) -> str:
    if result.ok:
        return widget.tr("Done: %n light(s) confirmed.").replace("%n", str(confirmed))
    problems = "; ".join(error.message for _, error in result.failed)
    return widget.tr("%n confirmed. Not confirmed: %2").replace("%n", str(confirmed)).replace(
        "%2", problems)


def describe_schedule(schedule: Schedule) -> str:
    target = room_title(schedule.room) if schedule.room else ", ".join(schedule.device_ids)
    action = {"on": "on", "off": "off", "colour": "colour"}[schedule.action]
    state = "" if schedule.enabled else " (paused)"
    return f"{schedule.at:%H:%M} {schedule.describe_days()}: {target} {action}{state}"


class SchedulesPanel(QWidget):
    """The schedules (run by the hub while it runs; see docs/schedules.md)."""

    def __init__(self, hub: Hub, run: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._run = run
        layout = QVBoxLayout(self)
        note = QLabel(self.tr(
            "Schedules run on this PC while Home Hub is running. If the PC was asleep, a "
            "schedule missed by less than 15 minutes still runs when it wakes."))
        note.setWordWrap(True)
        layout.addWidget(note)
        self.model = EventedListModel(hub.schedules, describe_schedule)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setAccessibleName(self.tr("Schedules"))
        layout.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton(self.tr("Add…"))
        self.add_button.setAccessibleName(self.tr("Add a schedule"))
        self.add_button.clicked.connect(self.add)
        self.delete_button = QPushButton(self.tr("Delete"))
        self.delete_button.setAccessibleName(self.tr("Delete the selected schedule"))
        self.delete_button.clicked.connect(self.delete_selected)
        row.addWidget(self.add_button)
        row.addWidget(self.delete_button)
        layout.addLayout(row)

    def close_models(self) -> None:
        self.model.close()

    def add(self) -> None:
        dialog = ScheduleDialog(self.hub, self)
        dialog.accepted_schedule.connect(
            lambda s: self._run(self.hub.put_schedule(s), self.tr("save the schedule"))
        )
        dialog.open()

    def delete_selected(self) -> None:
        index = self.view.currentIndex()
        schedule = index.data(ITEM_ROLE) if index.isValid() else None
        if schedule is not None:
            self._run(self.hub.delete_schedule(schedule.schedule_id),
                      self.tr("delete the schedule"))


class ScheduleDialog(QDialog):
    """Make a schedule: name, time, days, room, action, colour."""

    accepted_schedule = Signal(object)

    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("New schedule"))
        form = QFormLayout(self)
        self.name = QLineEdit(self.tr("Evening"))
        self.name.setAccessibleName(self.tr("Schedule name"))
        self.at = QTimeEdit(QTime(19, 0))
        self.at.setDisplayFormat("HH:mm")
        self.at.setAccessibleName(self.tr("Time"))
        self.room = QComboBox()
        self.room.setAccessibleName(self.tr("Room"))
        for room in hub.lights.rooms():
            self.room.addItem(room_title(room), room)
        self.action = QComboBox()
        self.action.setAccessibleName(self.tr("Action"))
        for key, label in (("on", self.tr("Turn on")), ("off", self.tr("Turn off")),
                           ("colour", self.tr("Set colour"))):
            self.action.addItem(label, key)
        self.brightness = QSpinBox()
        self.brightness.setRange(1, 100)
        self.brightness.setValue(60)
        self.brightness.setSuffix(" %")
        self.brightness.setAccessibleName(self.tr("Brightness for the colour"))
        days = QHBoxLayout()
        self.days: list[QCheckBox] = []
        for number, name in enumerate(WEEKDAY_NAMES):
            box = QCheckBox(self.tr(name))
            box.setChecked(True)
            box.setAccessibleName(self.tr("Run on %1").replace("%1", self.tr(name)))
            self.days.append(box)
            days.addWidget(box)
            del number
        self.colour = QColor(255, 214, 170)
        self.colour_button = QPushButton(self.tr("Colour…"))
        self.colour_button.setAccessibleName(self.tr("Colour of the schedule"))
        self.colour_button.clicked.connect(self._pick_colour)
        self.error = QLabel("")
        form.addRow(self.tr("Name"), self.name)
        form.addRow(self.tr("Time"), self.at)
        form.addRow(self.tr("Days"), days)
        form.addRow(self.tr("Room"), self.room)
        form.addRow(self.tr("Action"), self.action)
        form.addRow(self.tr("Colour"), self.colour_button)
        form.addRow(self.tr("Brightness"), self.brightness)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _pick_colour(self) -> None:
        dialog = QColorDialog(self.colour, self)
        dialog.colorSelected.connect(lambda c: setattr(self, "colour", c))
        dialog.open()

    def schedule(self) -> Schedule:
        qt = self.at.time()
        action = self.action.currentData()
        return Schedule(
            name=self.name.text().strip() or self.tr("Schedule"),
            at=time(qt.hour(), qt.minute()),
            action=action,
            weekdays=frozenset(i for i, box in enumerate(self.days) if box.isChecked()),
            room=self.room.currentData() or "",
            rgb=(self.colour.red(), self.colour.green(), self.colour.blue())
            if action == "colour" else None,
            brightness=self.brightness.value() if action == "colour" else None,
        )

    def _accept(self) -> None:
        try:
            schedule = self.schedule()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accepted_schedule.emit(schedule)
        self.accept()
