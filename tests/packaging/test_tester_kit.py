"""The tester kit: the plugin loads without Qt, its fixtures and `provision()` drive real
simulated lights, and the documented example file runs green under plain pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from hublight_sim.runner import SimLight

from hub_app.broker_client import Availability, EmbeddedBackend, MqttBackend
from hub_app.testing.mosquitto import MosquittoBroker
from hub_app.testing.scenario import provision, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "test_example_scenario.py"


def plugin_is_installed() -> bool:
    """True when the `home_hub` pytest11 entry point is installed (pyproject lines merged)."""
    return any(ep.name == "home_hub" for ep in entry_points(group="pytest11"))


def test_plugin_loads_without_importing_qt() -> None:
    code = (
        "import sys, hub_app.testing.plugin\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "assert not loaded, loaded\n"
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    subprocess.run([sys.executable, "-c", code], check=True, env=environment, timeout=60)


async def test_provision_without_broker_then_switch_on_over_the_lan(
    sim_lights: object,
) -> None:
    light: SimLight = (await sim_lights(1))[0]  # type: ignore[operator]
    provisioned = await provision(light)
    wifi = await provisioned.call("Wifi.GetStatus")
    assert wifi["setup_state"] == "confirmed" and light.ap_url is None
    assert provisioned.lan_secret not in repr(provisioned)
    status = await provisioned.call("Light.Set", {"on": True, "brightness": 40, "rgb": [255, 0, 0]})
    assert status["on"] is True and status["brightness"] == 40
    await wait_until(lambda: any(r > 0 and g == b == 0 for r, g, b in light.pixels),
                     what="red pixels")


async def test_provision_reports_a_wrong_wifi_password(sim_lights: object) -> None:
    light: SimLight = (await sim_lights(1))[0]  # type: ignore[operator]
    with pytest.raises(AssertionError, match="wrong_password"):
        await provision(light, password="not the password")


async def test_sim_lights_share_one_fresh_world(sim_lights: object, sim_world: object) -> None:
    first, second = await sim_lights(2)  # type: ignore[operator]
    assert first.simulator.world is sim_world and first.device_id != second.device_id
    assert {ap.ssid for ap in sim_world.access_points()} == {  # type: ignore[attr-defined]
        first.ap_ssid, second.ap_ssid,
    }


async def test_embedded_broker_fixture_is_connected(embedded_broker: EmbeddedBackend) -> None:
    assert embedded_broker.connection.kind == "connected"
    assert embedded_broker.server_address.startswith("127.0.0.1:")


@pytest.mark.mosquitto
async def test_provision_on_mosquitto_and_power_cut(
    sim_lights: object, mosquitto: MosquittoBroker, mosquitto_backend: MqttBackend,
) -> None:
    light: SimLight = (await sim_lights(1))[0]  # type: ignore[operator]
    await provision(light, mosquitto, backend=mosquitto_backend)
    state = await mosquitto_backend.set_light(light.device_id, on=True, transition_ms=0)
    assert state.on
    light.power_cut()
    await wait_until(
        lambda: mosquitto_backend.availability(light.device_id) is Availability.OFFLINE,
        what="the Last Will",
    )


@pytest.mark.slow
def test_example_file_runs_green_under_plain_pytest(tmp_path: Path) -> None:
    """The documented example, copied into a tester's project with default pytest settings."""
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", EXAMPLE.name]
    if not plugin_is_installed():
        command[3:3] = ["-p", "hub_app.testing.plugin"]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout


@pytest.mark.hub(lights=2, paired=1)
async def test_hub_and_main_window_fixtures(hub: object, main_window: object) -> None:
    from hub_app.hub import Hub

    assert isinstance(hub, Hub) and hub.demo is not None
    assert len(hub.demo.simulator.lights) == 2
    assert main_window.isVisible() and main_window.hub is hub  # type: ignore[attr-defined]
    view = hub.lights[0]
    state = await hub.set_light(view.device_id, on=not view.on)
    await wait_until(lambda: hub.lights[0].on == state.on, what="the list to follow")
