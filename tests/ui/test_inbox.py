"""The discovered inbox over the demo hub's inbox (a light waiting on its access point)."""

from __future__ import annotations

from conftest import wait_until
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from hub_app.hub import Hub
from hub_app.hub.inbox import DiscoveredItem, Inbox
from hub_app.ui.inbox import InboxModel, InboxWidget, KeyRole


def test_inbox_model_follows_the_list(qtmodeltester) -> None:
    inbox = Inbox()
    model = InboxModel(inbox)
    inbox.merge("hublight-000001", "hublight", device_id="hublight-000001",
                ap_ssid="HubLight-000001", signal_dbm=-50)
    inbox.merge("hublight-000002", "hublight", device_id="hublight-000002",
                lan_address="127.2.1.1:8080", fw_version="0.1.0")
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    assert model.index(0, 0).data() == "HubLight-000001"
    assert "signal -50 dBm" in model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "127.2.1.1:8080" in model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)
    inbox.discard("hublight-000001")
    assert [model.index(r, 0).data(KeyRole) for r in range(model.rowCount())] == \
        ["hublight-000002"]
    qtmodeltester.check(model)
    model.close()


async def test_inbox_set_up_and_ignore(qtbot: QtBot, demo_hub: Hub) -> None:
    assert demo_hub.demo is not None
    light = demo_hub.demo.simulator.lights[2]
    opened: list[DiscoveredItem] = []
    host = QWidget()
    qtbot.addWidget(host)
    widget = InboxWidget(demo_hub, open_wizard=opened.append, parent=host)
    host.show()
    await wait_until(lambda: widget.card(light.device_id) is not None, 60)
    card = widget.card(light.device_id)
    assert card is not None and not widget.empty_label.isVisibleTo(widget)
    assert card.setup_button.accessibleName() == f"Set up {light.ap_ssid}"
    qtbot.mouseClick(card.setup_button, Qt.MouseButton.LeftButton)
    assert opened and opened[0].ap_ssid == light.ap_ssid
    qtbot.mouseClick(card.ignore_button, Qt.MouseButton.LeftButton)
    await wait_until(lambda: widget.card(light.device_id) is None)
    assert light.device_id in demo_hub.ignored
    # other lights on the shared loopback mDNS may be in the inbox too
    assert widget.empty_label.isVisibleTo(widget) == (not widget.cards)
