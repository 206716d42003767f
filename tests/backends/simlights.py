"""Real simulated lights (the firmware under hublight_sim) pre-configured as paired MQTT lights.

The flash of each light gets what pairing would have left there: confirmed set-up on a home
network of the simulated Wi-Fi world, and the `mqtt.*` keys from the backend's pairing glue (or
given explicitly for an external broker). Then the lights boot and join the broker themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hublight_sim import Network, WifiWorld
from hublight_sim.runner import Simulator

HOME_SSID = "HomeNet"
HOME_PASS = "home-password-1"


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def make_simulator(tmp_path: Path, count: int, seed: str) -> Simulator:
    world = WifiWorld()
    world.add_network(Network(HOME_SSID, HOME_PASS))
    return Simulator(
        world,
        count=count,
        flash_root=tmp_path / "sim-flash",
        seed=seed,
        join_delay_s=0,
        reboot_delay_s=0,
    )


def configure(
    sim: Simulator, mqtt_config: Callable[[str], Mapping[str, Any]], keepalive: int = 5
) -> None:
    """Write each light's flash as if it had been paired with these `mqtt.*` keys."""
    for light in sim.lights:
        flat: dict[str, Any] = {
            "wifi.sta.enable": True,
            "wifi.sta.ssid": HOME_SSID,
            "wifi.sta.pass": HOME_PASS,
            "wifi.ap.enable": False,
            "hub.secret": "lan-secret-0123456789abcdef",
            "mqtt.keepalive": keepalive,
        }
        flat.update(mqtt_config(light.device_id))
        flash = Path(light.board.flash_dir)
        flash.mkdir(parents=True, exist_ok=True)
        (flash / "config.json").write_text(json.dumps(_nest(flat)))
        (flash / "state.json").write_text(json.dumps({"wifi": {"setup_state": "confirmed"}}))
        os.chmod(flash / "config.json", 0o600)
