"""Acceptance through the real main window (issue 5, "Done when"): diagnostics opened from the
main window's Diagnostics action on a selected demo light (the real firmware, the real embedded
broker): a firmware update from a file and its commit, a second update left to roll back, an RPC
console call, and the factory reset behind its confirmation. Plus the inbox keeping keyboard
focus while its list changes, and dark mode (palette roles, no fixed colours)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from conftest import wait_until
from hublight_sim.board import make_sim_image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from hub_app.hub import Hub
from hub_app.hub.inbox import Inbox
from hub_app.ui.diagnostics import DiagnosticsWindow
from hub_app.ui.inbox import InboxWidget


async def open_diagnostics(qtbot: QtBot, window: Any, device_id: str) -> DiagnosticsWindow:
    """Select the light in the list and trigger Light > Diagnostics (Ctrl+D)."""
    window.select_light(device_id)
    assert window.selected_device_id() == device_id
    assert window.diagnostics_action.isEnabled()
    window.diagnostics_action.trigger()
    found = [w for w in window.findChildren(DiagnosticsWindow)
             if w.diagnostics.device_id == device_id]
    assert len(found) == 1
    diagnostics = found[0]
    assert diagnostics.isVisible()
    assert await diagnostics.ready is True
    return diagnostics


def sim_version(hub: Hub, device_id: str) -> str:
    assert hub.demo is not None
    return str(hub.demo.simulator.light(device_id).board.fw_version())


async def test_firmware_update_commit_then_an_update_that_rolls_back(
    qtbot: QtBot, main_window: Any, demo_hub: Hub, tmp_path: Path
) -> None:
    device_id = demo_hub.lights[0].device_id
    old_version = sim_version(demo_hub, device_id)
    assert old_version != "0.9.0"
    diagnostics = await open_diagnostics(qtbot, main_window, device_id)
    tab = diagnostics.firmware_tab
    diagnostics.tabs.setCurrentWidget(tab)
    assert not tab.commit_button.isVisibleTo(diagnostics)

    # 1. an update from a file, committed in time
    image = tmp_path / "hublight-0.9.0.bin"
    image.write_bytes(make_sim_image("0.9.0", b"new firmware " * 500))
    tab.file_edit.setText(str(image))
    tab.commit_timeout.setValue(300)
    progress: list[int] = []
    tab.progress.valueChanged.connect(progress.append)
    qtbot.mouseClick(tab.update_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: tab.commit_button.isVisibleTo(diagnostics), 120)
    assert progress and progress[-1] == 100 and tab.progress.value() == 100
    assert "0.9.0" in tab.state_label.text() and "not committed" in tab.state_label.text()
    assert "Commit now or it rolls back in" in tab.commit_prompt.text()
    assert sim_version(demo_hub, device_id) == "0.9.0"  # the light runs it, uncommitted
    qtbot.mouseClick(tab.commit_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: "is committed" in tab.state_label.text(), 30)
    assert tab.state_label.text() == "Firmware 0.9.0 is committed: the light keeps it."
    assert not tab.commit_button.isVisibleTo(diagnostics)
    assert not tab.status.isVisibleTo(diagnostics)
    state = await diagnostics.diagnostics.get_boot_state()  # via the light
    assert state.fw_version == "0.9.0" and state.is_committed
    assert sim_version(demo_hub, device_id) == "0.9.0"
    diagnostics.info_tab.refresh()
    await wait_until(lambda: dict(diagnostics.info_tab.model.rows()).get("Firmware", "")
                     .startswith("0.9.0"), 30)

    # 2. another update, not committed: the countdown runs out and the light rolls back
    second = tmp_path / "hublight-0.9.1.bin"
    second.write_bytes(make_sim_image("0.9.1", b"newer firmware " * 500))
    tab.file_edit.setText(str(second))
    tab.commit_timeout.setValue(10)
    assert tab.commit_timeout.value() == 10
    qtbot.mouseClick(tab.update_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: tab.commit_button.isVisibleTo(diagnostics), 120)
    assert "0.9.1" in tab.state_label.text()
    await wait_until(lambda: tab.state_label.text().startswith("Rolled back"), 120)
    assert tab.state_label.text() == ("Rolled back: the update to 0.9.1 was not committed in "
                                      "time, so the light went back to firmware 0.9.0.")
    assert not tab.commit_button.isVisibleTo(diagnostics)
    assert not tab.status.isVisibleTo(diagnostics)
    state = await diagnostics.diagnostics.get_boot_state()
    assert state.fw_version == "0.9.0" and state.is_committed
    assert sim_version(demo_hub, device_id) == "0.9.0"
    await diagnostics.aclose()


async def test_console_call_and_factory_reset_from_the_main_window(
    qtbot: QtBot, main_window: Any, demo_hub: Hub
) -> None:
    assert demo_hub.demo is not None
    device_id = demo_hub.lights[0].device_id
    light = demo_hub.demo.simulator.light(device_id)
    name = demo_hub.lights.get(device_id).display_name  # type: ignore[union-attr]
    diagnostics = await open_diagnostics(qtbot, main_window, device_id)
    assert name in diagnostics.windowTitle()

    # an RPC console call
    console = diagnostics.console_tab
    diagnostics.tabs.setCurrentWidget(console)
    console.method_edit.setText("Sys.GetInfo")
    console.params_edit.setPlainText("")
    assert console.send_button.isEnabled()
    qtbot.mouseClick(console.send_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: console.calls.count() == 1)
    assert console.calls.item(0).text() == "Sys.GetInfo — ok"
    assert '"method": "Sys.GetInfo"' in console.request_view.toPlainText()
    assert device_id in console.reply_view.toPlainText()
    assert console.timing.text().startswith("Sys.GetInfo: ok in ")

    # factory reset: the confirmation names the light; "Keep it" leaves it alone
    tab = diagnostics.firmware_tab
    diagnostics.tabs.setCurrentWidget(tab)
    qtbot.mouseClick(tab.reset_button, Qt.MouseButton.LeftButton)
    box = tab.confirm_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert name in box.windowTitle() and name in box.text() and device_id in box.text()
    keep = next(b for b in box.buttons()
                if box.buttonRole(b) == QMessageBox.ButtonRole.RejectRole)
    assert box.defaultButton() is keep
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    await wait_until(lambda: tab.confirm_box is None)
    reply = await diagnostics.diagnostics.client.call("Sys.GetInfo")  # type: ignore[union-attr]
    assert reply["id"] == device_id  # still answers on the LAN with its pairing secret
    assert device_id in demo_hub.registry and demo_hub.lights.get(device_id) is not None
    assert main_window.model.index_of(device_id).isValid()

    # "Reset <name>": the light is reset, leaves the list, and waits in Discovered again
    qtbot.mouseClick(tab.reset_button, Qt.MouseButton.LeftButton)
    box = tab.confirm_box
    assert box is not None
    reset = box.findChild(QPushButton, "factory_reset_yes")
    assert reset is not None and reset.text() == f"Reset {name}"
    qtbot.mouseClick(reset, Qt.MouseButton.LeftButton)
    await wait_until(lambda: "removed from this hub" in tab.state_label.text(), 60)
    assert device_id not in demo_hub.registry
    await wait_until(lambda: not main_window.model.index_of(device_id).isValid(), 30)
    inbox = main_window.inbox
    await wait_until(lambda: inbox.card(device_id) is not None, 90)
    card = inbox.card(device_id)
    assert card is not None
    assert card.item.ap_ssid == light.ap_ssid  # a new light on its own access point
    assert card.setup_button.accessibleName() == f"Set up {light.ap_ssid}"
    await diagnostics.aclose()


def test_inbox_keeps_keyboard_focus_while_the_list_changes(qtbot: QtBot) -> None:
    """Cards are updated in place: a keyboard user on a card keeps focus while other lights
    come and go and its own facts change; Tab and Space still reach Set up / Ignore."""
    inbox = Inbox()
    inbox.merge("hublight-00000a", "hublight", device_id="hublight-00000a",
                ap_ssid="HubLight-00000A", signal_dbm=-60)
    inbox.merge("hublight-00000b", "hublight", device_id="hublight-00000b",
                ap_ssid="HubLight-00000B", signal_dbm=-50)
    host = QWidget()
    qtbot.addWidget(host)
    layout = QVBoxLayout(host)
    widget = InboxWidget(inbox, open_wizard=lambda _item: None, parent=host)
    layout.addWidget(widget)
    with qtbot.waitActive(host):
        host.show()
        host.activateWindow()
    card_a, card_b = widget.card("hublight-00000a"), widget.card("hublight-00000b")
    assert card_a is not None and card_b is not None
    card_b.setup_button.setFocus(Qt.FocusReason.TabFocusReason)
    assert QApplication.focusWidget() is card_b.setup_button

    # the list changes around and under the focused card
    inbox.merge("hublight-00000b", "hublight", signal_dbm=-40, fw_version="0.2.0")
    inbox.merge("hublight-00000c", "hublight", device_id="hublight-00000c",
                lan_address="127.0.0.9:8080")
    inbox.discard("hublight-00000a")
    assert widget.card("hublight-00000b") is card_b  # the same card, updated
    assert "signal -40 dBm" in card_b.detail_label.text()
    assert "firmware 0.2.0" in card_b.detail_label.text()
    assert QApplication.focusWidget() is card_b.setup_button
    assert [c.item.key for c in widget.cards] == ["hublight-00000b", "hublight-00000c"]
    assert widget.card("hublight-00000a") is None

    # Tab moves on to Ignore of the same card; Space there ignores the light of that card
    ignored: list[str] = []
    widget.ignoreRequested.connect(ignored.append)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is card_b.ignore_button
    qtbot.keyClick(card_b.ignore_button, Qt.Key.Key_Space)
    assert ignored == ["hublight-00000b"]
    assert [item.key for item in inbox] == ["hublight-00000c"]
    # focus lands on the next card rather than nowhere
    card_c = widget.card("hublight-00000c")
    assert card_c is not None and QApplication.focusWidget() is card_c.setup_button
    opened: list[str] = []
    widget.setupRequested.connect(lambda item: opened.append(item.key))
    qtbot.keyClick(card_c.setup_button, Qt.Key.Key_Space)
    assert opened == ["hublight-00000c"]
    widget.model.close()


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#2b2b2b"), (roles.WindowText, "#e6e6e6"),
                         (roles.Base, "#1d1d1d"), (roles.AlternateBase, "#262626"),
                         (roles.Text, "#ececec"), (roles.Button, "#353535"),
                         (roles.ButtonText, "#e6e6e6"), (roles.Highlight, "#2f65ca"),
                         (roles.HighlightedText, "#ffffff"), (roles.ToolTipBase, "#353535"),
                         (roles.ToolTipText, "#e6e6e6"), (roles.PlaceholderText, "#8a8a8a"),
                         (roles.Light, "#505050"), (roles.Midlight, "#404040"),
                         (roles.Mid, "#303030"), (roles.Dark, "#202020"),
                         (roles.Shadow, "#101010"), (roles.BrightText, "#ffffff"),
                         (roles.Link, "#6ea8fe")):
        palette.setColor(role, QColor(colour))
    return palette


def lightness_of(image: QImage, step: int = 3) -> list[int]:
    return [image.pixelColor(x, y).lightness()
            for y in range(0, image.height(), step) for x in range(0, image.width(), step)]


async def test_dark_mode_main_window_and_inbox_follow_the_palette(
    qtbot: QtBot, main_window: Any, demo_hub: Hub
) -> None:
    assert demo_hub.demo is not None
    waiting = demo_hub.demo.simulator.lights[2]
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    previous = app.palette()
    dark = dark_palette()
    app.setPalette(dark)
    try:
        inbox = main_window.inbox
        await wait_until(lambda: inbox.card(waiting.device_id) is not None, 60)
        card = inbox.card(waiting.device_id)
        assert card is not None
        await asyncio.sleep(0.1)  # let the palette change reach every widget
        # the card's background and texts are palette roles, not fixed colours
        assert card.autoFillBackground()
        assert card.palette().color(card.backgroundRole()) == dark.color(QPalette.ColorRole.Base)
        for label in (card.title_label, card.detail_label):
            assert label.palette().color(label.foregroundRole()) == \
                dark.color(QPalette.ColorRole.Text)
        # and it renders dark with light text
        card_image = card.grab().toImage()
        assert card_image.pixelColor(card_image.width() // 2, 4).lightness() < 60
        title = card.title_label.grab().toImage()
        assert max(lightness_of(title, 1)) > 180
        assert sorted(lightness_of(title, 1))[len(lightness_of(title, 1)) // 2] < 60
        # the whole main window is dark: no light background left anywhere
        shot = lightness_of(main_window.grab().toImage())
        bright = sum(1 for value in shot if value > 200) / len(shot)
        assert sum(shot) / len(shot) < 90, sum(shot) / len(shot)
        assert bright < 0.08, bright  # text, the light's colour swatches, the tray icon
    finally:
        app.setPalette(previous)


def test_no_hard_coded_colours_in_style_sheets() -> None:
    """Style sheets in hub_app/ui use palette(...) roles only; the only fixed colour is a
    light's own colour in its swatch (swatch_style)."""
    import re

    import hub_app.ui

    root = Path(hub_app.ui.__file__).parent
    fixed = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|\b(?:white|black|gray|grey|silver)\b")
    sheet = re.compile(r"setStyleSheet\(\s*f?([\"'])(.*?)\1", re.S)
    offenders = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for match in sheet.finditer(source):
            if fixed.search(match.group(2)):
                offenders.append(f"{path.name}: {match.group(2)}")
    assert offenders == []
    from hub_app.ui.panels import swatch_style

    assert "palette(mid)" in swatch_style((255, 255, 255))
