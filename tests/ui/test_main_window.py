"""The real main window, offscreen, over simulated lights running the real firmware and the real
embedded broker (see conftest.py for the loop and the fixtures)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import wait_until
from PySide6.QtCore import QModelIndex, QTimer
from PySide6.QtWidgets import QApplication

from hub_app.hub import Hub
from hub_app.ui.models import DEVICE_ID_ROLE, EventedListModel, LightTreeModel


def sim_status(hub: Hub, device_id: str) -> dict[str, Any]:
    assert hub.demo is not None
    status = hub.demo.simulator.light(device_id).light_status
    assert status is not None
    return status


def state_cell(window: Any, device_id: str) -> str:
    model: LightTreeModel = window.model
    return str(model.index_of(device_id).siblingAtColumn(1).data())


def visible_lights(window: Any) -> list[str]:
    proxy = window.proxy
    found = []
    for room_row in range(proxy.rowCount()):
        room = proxy.index(room_row, 0)
        for row in range(proxy.rowCount(room)):
            found.append(proxy.index(row, 0, room).data(DEVICE_ID_ROLE))
    return found


async def test_lights_appear_with_the_state_the_lights_report(
    main_window: Any, demo_hub: Hub, qtmodeltester: Any
) -> None:
    window = main_window
    assert demo_hub.demo is not None
    paired = [light.device_id for light in demo_hub.demo.simulator.lights[:2]]
    assert sorted(visible_lights(window)) == sorted(paired)
    for device_id in paired:
        status = sim_status(demo_hub, device_id)
        index = window.model.index_of(device_id)
        expected = "On" if status["on"] else "Off"
        assert index.siblingAtColumn(1).data() == expected
        assert index.siblingAtColumn(2).data() == f"{status['brightness']} %"
        assert index.siblingAtColumn(3).data() == "#{:02x}{:02x}{:02x}".format(*status["rgb"])
    rooms = {window.model.index(r, 0).data() for r in range(window.model.rowCount())}
    assert rooms == {"Office", "Living room"}
    qtmodeltester.check(window.model, force_py=True)
    qtmodeltester.check(window.proxy, force_py=True)
    assert "connected" in window.connection_label.text()


async def test_toggle_shows_pending_until_the_light_confirms(
    main_window: Any, demo_hub: Hub
) -> None:
    window = main_window
    device_id = demo_hub.lights[0].device_id
    before = sim_status(demo_hub, device_id)["on"]
    seen: list[str] = []
    window.model.dataChanged.connect(
        lambda *_: seen.append(state_cell(window, device_id)))
    window.select_light(device_id)
    assert window.light_panel.device_id == device_id
    window.light_panel.toggle_button.click()
    want = "Off" if before else "On"
    await wait_until(lambda: state_cell(window, device_id) == want
                     and not demo_hub.lights.get(device_id).pending)  # type: ignore[union-attr]
    pending_text = "Turning off…" if before else "Turning on…"
    assert pending_text in seen, seen
    assert seen.index(pending_text) < len(seen) - 1
    assert sim_status(demo_hub, device_id)["on"] is (not before)  # the light really changed
    assert window.light_panel.toggle_button.text() == ("Turn on" if before else "Turn off")


async def test_brightness_slider_changes_coalesce(main_window: Any, demo_hub: Hub) -> None:
    window = main_window
    device_id = demo_hub.lights[0].device_id
    window.select_light(device_id)
    panel = window.light_panel
    rev_before = sim_status(demo_hub, device_id)["rev"]
    for value in range(10, 71):  # a drag: 61 values without giving the loop a turn
        panel.brightness.setValue(value)
    await wait_until(lambda: sim_status(demo_hub, device_id)["brightness"] == 70
                     and not demo_hub.lights.get(device_id).pending)  # type: ignore[union-attr]
    assert panel.sent_brightness[-1] == 70
    assert len(panel.sent_brightness) <= 3, panel.sent_brightness
    assert sim_status(demo_hub, device_id)["rev"] - rev_before <= 3
    assert window.model.index_of(device_id).siblingAtColumn(2).data() == "70 %"


async def test_light_going_offline_and_back(main_window: Any, demo_hub: Hub) -> None:
    window = main_window
    assert demo_hub.demo is not None
    light = demo_hub.demo.simulator.light(demo_hub.lights[0].device_id)
    notices: list[str] = []
    demo_hub.subscribe_notices(lambda n: notices.append(n.kind))
    light.power_cut()
    await wait_until(lambda: state_cell(window, light.device_id) == "Offline", 60)
    assert "light_offline" in notices
    window.select_light(light.device_id)
    assert not window.light_panel.toggle_button.isEnabled()
    window.state_filter.setCurrentIndex(window.state_filter.findData("offline"))
    assert visible_lights(window) == [light.device_id]
    await light.power_on()
    await wait_until(lambda: state_cell(window, light.device_id) in ("On", "Off"), 60)
    # The view follows state reports in batches (at most every 50 ms): it converges, then holds.
    await wait_until(lambda: visible_lights(window) == [], 5)
    assert "light_online" in notices


async def test_room_switching_switches_only_that_room(main_window: Any, demo_hub: Hub) -> None:
    window = main_window
    office = next(v for v in demo_hub.lights if v.room == "Office")
    living = next(v for v in demo_hub.lights if v.room == "Living room")
    living_before = sim_status(demo_hub, living.device_id)["on"]
    panel = window.rooms_panel
    panel.room_box.setCurrentIndex(panel.room_box.findData("Office"))
    panel.room_off.click()
    await wait_until(lambda: "confirmed" in panel.result.text())
    assert sim_status(demo_hub, office.device_id)["on"] is False
    assert sim_status(demo_hub, living.device_id)["on"] is living_before
    assert state_cell(window, office.device_id) == "Off"
    panel.room_on.click()
    await wait_until(lambda: sim_status(demo_hub, office.device_id)["on"] is True
                     and state_cell(window, office.device_id) == "On")


async def test_scene_saved_and_applied(
    main_window: Any, demo_hub: Hub, qtmodeltester: Any
) -> None:
    window = main_window
    panel = window.rooms_panel
    device_id = demo_hub.lights[0].device_id
    saved = sim_status(demo_hub, device_id)
    panel.save_name.setText("Evening")
    panel.save_button.click()
    await wait_until(lambda: panel.scene_model.rowCount() == 1)
    qtmodeltester.check(panel.scene_model, force_py=True)
    await demo_hub.set_light(device_id, on=True, brightness=5, rgb=(0, 0, 255))
    assert sim_status(demo_hub, device_id)["brightness"] == 5
    panel.scene_list.setCurrentIndex(panel.scene_model.index(0))
    panel.apply_button.click()
    await wait_until(lambda: "confirmed" in panel.result.text())
    now = sim_status(demo_hub, device_id)
    assert now["on"] == saved["on"]
    if saved["on"]:
        assert (now["brightness"], now["rgb"]) == (saved["brightness"], saved["rgb"])
    assert (demo_hub.data_dir / "scenes.json").exists()


async def test_search_filter(main_window: Any, demo_hub: Hub) -> None:
    window = main_window
    desk = next(v for v in demo_hub.lights if v.name == "Desk lamp")
    window.search.setText("desk")
    assert visible_lights(window) == [desk.device_id]
    window.search.setText("living")  # rooms match too
    assert desk.device_id not in visible_lights(window) and len(visible_lights(window)) == 1
    window.search.setText("no such light")
    assert visible_lights(window) == []
    window.search.clear()
    assert len(visible_lights(window)) == 2


async def test_inbox_lists_the_unprovisioned_light(
    main_window: Any, demo_hub: Hub, qtmodeltester: Any
) -> None:
    assert demo_hub.demo is not None
    third = demo_hub.demo.simulator.lights[2]
    await wait_until(lambda: demo_hub.inbox.get(third.device_id) is not None)
    model = EventedListModel(demo_hub.inbox, lambda item: item.title)
    qtmodeltester.check(model, force_py=True)
    assert model.index(0).data() == third.ap_ssid
    model.close()


@pytest.mark.qt_no_exception_capture
async def test_unexpected_exception_shows_a_message_not_a_traceback(
    main_window: Any, qapp: QApplication
) -> None:
    window = main_window
    window.errors.install(asyncio.get_running_loop())

    def broken_slot() -> None:
        raise RuntimeError("injected failure")

    QTimer.singleShot(0, broken_slot)
    await wait_until(lambda: len(window.errors.dialogs) == 1)
    box = window.errors.dialogs[0]
    shown = box.text() + box.informativeText()
    assert "Traceback" not in shown and "RuntimeError" in shown
    assert "injected failure" in box.property("details")

    async def failing() -> None:
        raise ValueError("task failure nobody awaited")

    task = asyncio.ensure_future(failing())
    await asyncio.sleep(0.05)
    del task
    import gc

    gc.collect()
    await wait_until(lambda: len(window.errors.dialogs) == 2)
    texts = [b.text() for b in box.buttons()]
    copy = next((b for b in box.buttons() if b.text() == "Copy details"), None)
    assert copy is not None, texts
    copy.click()
    assert "injected failure" in QApplication.clipboard().text()
    for dialog in list(window.errors.dialogs):
        dialog.close()


async def test_geometry_is_remembered(main_window: Any, demo_hub: Hub) -> None:
    from hub_app.ui.main_window import MainWindow

    main_window.resize(777, 555)
    main_window.save_geometry()
    again = MainWindow(demo_hub, show_error_dialogs=False)
    try:
        assert again._geometry_restored
        assert again.size().width() == 777
    finally:
        again.shutdown()
        again.deleteLater()


def test_models_without_rows_are_valid(qtmodeltester: Any) -> None:
    from hub_app.hub.lights import LightList

    model = LightTreeModel(LightList())
    qtmodeltester.check(model, force_py=True)
    assert model.parent(QModelIndex()) == QModelIndex()
