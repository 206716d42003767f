"""The add-light wizard driven like a user, offscreen, against a demo hub of simulated lights
(the real firmware, real HTTP and mDNS on loopback); only the PC's radio is simulated."""

from __future__ import annotations

from conftest import wait_until
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot
from test_wizard_support import SHORT_LAN_TIMEOUTS, form_step

from hub_app.hub import Hub
from hub_app.provisioning import Abort, Done, Form
from hub_app.ui.wizard import AddLightWizard

WRONG = "wrong password!"
RIGHT = "correct horse battery"


def host_window(qtbot: QtBot) -> QWidget:
    """A shown window standing in for the main window: closing the wizard must not close the
    last window (that would quit the app and stop the qasync loop)."""
    host = QWidget()
    qtbot.addWidget(host)
    host.show()
    return host


def unpaired(hub: Hub):
    """The demo's light still on its access point (the third one)."""
    assert hub.demo is not None
    return hub.demo.simulator.lights[2]


def click(qtbot: QtBot, wizard: AddLightWizard, name: str) -> None:
    button = wizard.findChild(QPushButton, name)
    assert button is not None and button.isVisible() and button.isEnabled(), name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def field(wizard: AddLightWizard, kind: type, name: str):
    widget = wizard.findChild(kind, f"field_{name}")
    assert widget is not None, name
    return widget


async def test_set_up_a_light_end_to_end_with_a_wrong_password_first(
    qtbot: QtBot, demo_hub: Hub,
) -> None:
    hub = demo_hub
    light = unpaired(hub)
    finished: list[dict] = []
    # the hub's flow with a short LAN wait (the wrong password is reported at once)
    host = host_window(qtbot)
    wizard = AddLightWizard(lambda ap: hub.start_provisioning(ap, timeouts=SHORT_LAN_TIMEOUTS),
                            parent=host)
    wizard.setupFinished.connect(finished.append)
    wizard.show()

    await wait_until(lambda: form_step(wizard) == "pick_light")
    lights = field(wizard, QComboBox, "light")
    lights.setCurrentIndex(lights.findData(light.ap_ssid))
    click(qtbot, wizard, "next_button")

    await wait_until(lambda: form_step(wizard) == "verify")
    code = field(wizard, QLineEdit, "setup_code")
    assert code.echoMode() == QLineEdit.EchoMode.Password
    code.setText("ABCD-2345")  # a well-formed code that is not this light's
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "verify" and
                     wizard.findChild(QLabel, "error_setup_code").isVisibleTo(wizard))
    assert "not the one of this light" in wizard.findChild(QLabel, "error_setup_code").text()
    field(wizard, QLineEdit, "setup_code").setText(light.setup_code.lower())
    click(qtbot, wizard, "next_button")

    await wait_until(lambda: form_step(wizard) == "name")
    field(wizard, QLineEdit, "name").setText("Desk lamp")
    field(wizard, QLineEdit, "room").setText("Office")
    click(qtbot, wizard, "next_button")

    await wait_until(lambda: form_step(wizard) == "choose_network")
    networks = field(wizard, QComboBox, "ssid")
    assert networks.currentText() == "HomeNet"  # the PC's own network, pre-selected
    details = wizard.findChild(QLabel, "network_details").text()
    assert "the light sees it" in details
    field(wizard, QLineEdit, "password").setText(WRONG)
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: wizard.pages.currentWidget() is wizard.progress_page, 10)

    # the light tries, fails and is back on its access point: the error is on the network page
    await wait_until(lambda: form_step(wizard) == "choose_network", 90)
    error = wizard.findChild(QLabel, "error_password")
    assert error.isVisibleTo(wizard)
    assert "password is wrong" in error.text() and "no reset is needed" in error.text()
    networks = field(wizard, QComboBox, "ssid")
    assert networks.currentText() == "HomeNet"
    assert field(wizard, QLineEdit, "password").text() == ""  # never pre-filled
    history = [wizard.progress_page.history.item(i).text()
               for i in range(wizard.progress_page.history.count())]
    assert any("Sending the network settings" in line for line in history)

    field(wizard, QLineEdit, "password").setText(RIGHT)
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: isinstance(wizard.result_value, (Done, Abort)), 120)
    assert isinstance(wizard.result_value, Done), wizard.result_value
    assert wizard.pages.currentWidget() is wizard.done_page
    assert "Desk lamp" in wizard.done_page.text.text() and "Office" in wizard.done_page.text.text()
    assert finished and finished[0]["device_id"] == light.device_id
    await wait_until(lambda: hub.lights.get(light.device_id) is not None, 30)
    view = hub.lights.get(light.device_id)
    assert view is not None and view.name == "Desk lamp" and view.room == "Office"

    controlled: list[str] = []
    wizard.controlRequested.connect(controlled.append)
    click(qtbot, wizard, "control_button")
    assert controlled == [light.device_id]
    await wizard.wait_closed()


async def test_cancel_before_sending_asks_nothing_and_restores_the_pc(
    qtbot: QtBot, demo_hub: Hub,
) -> None:
    hub = demo_hub
    light = unpaired(hub)
    host = host_window(qtbot)
    wizard = AddLightWizard(hub, light.ap_ssid, host)  # from the inbox: no light list
    wizard.show()
    await wait_until(lambda: form_step(wizard) == "verify")
    assert await hub.demo.adapter.current_ssid() == light.ap_ssid
    rejected: list[int] = []
    wizard.rejected.connect(lambda: rejected.append(1))
    click(qtbot, wizard, "cancel_button")
    assert wizard.confirm_box is None  # harmless step: no question
    await wait_until(lambda: rejected)
    assert isinstance(wizard.result_value, Abort) and wizard.result_value.reason_key == "cancelled"
    assert await hub.demo.adapter.current_ssid() == "HomeNet"
    assert hub.lights.get(light.device_id) is None
    await wizard.wait_closed()


async def test_back_and_warning_confirm_step(qtbot: QtBot, demo_hub: Hub) -> None:
    hub = demo_hub
    light = unpaired(hub)
    host = host_window(qtbot)
    wizard = AddLightWizard(hub, light.ap_ssid, host)
    wizard.show()
    await wait_until(lambda: form_step(wizard) == "verify")
    field(wizard, QLineEdit, "setup_code").setText(light.setup_code)
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "name")
    click(qtbot, wizard, "back_button")
    assert form_step(wizard) == "verify"
    field(wizard, QLineEdit, "setup_code").setText(light.setup_code)
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "name")
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "choose_network")
    remember = field(wizard, QCheckBox, "remember_password")
    assert remember.text() and not remember.isChecked()
    networks = field(wizard, QComboBox, "ssid")
    networks.setEditText("FastLane-5G")  # the PC sees it on 5 GHz only
    field(wizard, QLineEdit, "password").setText("fastlane-pass")
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "confirm_network")
    warning = wizard.findChild(QLabel, "warning")
    assert warning is not None and "5 GHz" in warning.text()
    assert wizard.next_button.text().replace("&", "") == "Send anyway"
    click(qtbot, wizard, "back_button")  # "Change network"
    assert form_step(wizard) == "choose_network"
    assert isinstance(wizard.result_value, Form)
    click(qtbot, wizard, "cancel_button")
    await wait_until(lambda: isinstance(wizard.result_value, Abort))
    await wizard.wait_closed()


async def test_cancel_while_sending_asks_first(qtbot: QtBot, demo_hub: Hub) -> None:
    hub = demo_hub
    light = unpaired(hub)
    host = host_window(qtbot)
    wizard = AddLightWizard(hub, light.ap_ssid, host)
    wizard.show()
    await wait_until(lambda: form_step(wizard) == "verify")
    field(wizard, QLineEdit, "setup_code").setText(light.setup_code)
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "name")
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: form_step(wizard) == "choose_network")
    field(wizard, QLineEdit, "password").setText(RIGHT)
    click(qtbot, wizard, "next_button")
    await wait_until(lambda: wizard._risky(), 30)  # sending, or waiting for the pairing
    click(qtbot, wizard, "cancel_button")
    box = wizard.confirm_box
    assert isinstance(box, QMessageBox) and "receiving its new settings" in box.text()
    keep = box.findChild(QPushButton, "confirm_keep")
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    assert not wizard._closing  # "Keep going": set-up goes on
    await wait_until(lambda: isinstance(wizard.result_value, (Done, Abort)), 120)
    assert isinstance(wizard.result_value, Done)
    await wizard.wait_closed()
