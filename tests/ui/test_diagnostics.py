"""The diagnostics window on a paired demo light (real firmware over real HTTP)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from conftest import wait_until
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from hub_app.hub import Hub
from hub_app.ui.diagnostics import DiagnosticsWindow


async def open_window(qtbot: QtBot, hub: Hub) -> tuple[DiagnosticsWindow, QWidget]:
    host = QWidget()
    qtbot.addWidget(host)
    host.show()
    paired = hub.registry.all()[0]
    window = DiagnosticsWindow(hub, paired.device_id, parent=host)
    window.show()
    assert await window.ready is True
    return window, host


async def test_info_console_config_log_and_export(qtbot: QtBot, demo_hub: Hub,
                                                  qtmodeltester, tmp_path: Path) -> None:
    window, _host = await open_window(qtbot, demo_hub)
    device_id = window.diagnostics.device_id
    rows = dict(window.info_tab.model.rows())
    assert rows["Device id"] == device_id and "dBm" in rows["Wi-Fi signal"]
    qtmodeltester.check(window.info_tab.model)

    console = window.console_tab
    window.tabs.setCurrentWidget(console)
    assert "Config.Get" in console.methods_model.stringList()
    console.method_edit.setText("Config.Get")
    console.params_edit.setPlainText('{"key": ')
    assert not console.send_button.isEnabled() and console.params_error.isVisibleTo(window)
    assert "Not valid JSON" in console.params_error.text()
    console.params_edit.setPlainText('{"key": "device"}')
    assert console.send_button.isEnabled() and not console.params_error.isVisibleTo(window)
    qtbot.mouseClick(console.send_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: console.calls.count() == 1)
    assert '"method": "Config.Get"' in console.request_view.toPlainText()
    assert device_id in console.reply_view.toPlainText()
    assert "ms" in console.timing.text()

    config = window.config_tab
    window.tabs.setCurrentWidget(config)
    qtmodeltester.check(config.model)
    row = config.model.row_of("device.room")
    assert config.model.setData(config.model.index(row, 1), "Workshop")
    qtbot.mouseClick(config.review_button, Qt.MouseButton.LeftButton)
    assert config.diff_view.toPlainText() == 'device.room: "Office" -> "Workshop"' or \
        config.diff_view.toPlainText().endswith('-> "Workshop"')
    assert config.diff_view.toPlainText().count("\n") == 0  # only the changed key
    qtbot.mouseClick(config.apply_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: "Applied" in config.diff_view.toPlainText())
    applied = await window.diagnostics.client.call("Config.Get", {"key": "device.room"})
    assert applied == "Workshop"
    # a key the light refuses is named inline
    row = config.model.row_of("light.pixels")
    assert config.model.setData(config.model.index(row, 1), "5000")
    qtbot.mouseClick(config.review_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(config.apply_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: config.error.isVisibleTo(window))
    assert "light.pixels" in config.error.text()

    await wait_until(lambda: window.log_tab.view.toPlainText().strip() != "", 30)

    target = tmp_path / "report.zip"
    window.export_report(str(target))
    await wait_until(lambda: "Report saved" in window.export_status.text(), 30)
    secret = await demo_hub.secrets.get("light", device_id)
    assert secret
    with zipfile.ZipFile(target) as archive:
        text = "".join(archive.read(n).decode() for n in archive.namelist())
        names = archive.namelist()
    assert {"info.json", "config.json", "log.txt", "rpc-console.json"} <= set(names)
    assert device_id in text and secret not in text
    await window.aclose()
