"""Demo mode: simulated lights (the real firmware code) and the embedded broker in this process.

``Hub.create_demo()`` builds a ``DemoEnvironment``: a ``WifiWorld`` with the default networks,
a ``Simulator`` whose lights run ``firmware/hublight``, the ``SimulatedWifiAdapter`` as the PC's
radio, and (unless told otherwise) an in-memory keyring so the demo never writes into the user's
keyring. At start the first ``paired`` lights are set up through the real ``ProvisioningFlow``;
the rest stay on their access points and show up in the Discovered inbox.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as _secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keyring
import keyring.errors
from yarl import URL

from hub_app.provisioning.results import Abort, Done, Form, Progress
from hub_app.registry.memory_keyring import MemoryKeyring

from .settings import EmbeddedSettings, HubSettings

if TYPE_CHECKING:
    from hublight_sim.runner import Simulator
    from hublight_sim.world import WifiWorld

    from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter

    from .core import Hub

_log = logging.getLogger(__name__)

HOME_SSID = "HomeNet"
HOME_PASSWORD = "correct horse battery"
DEMO_NAMES = [
    ("Desk lamp", "Office"),
    ("Sofa light", "Living room"),
    ("Shelf strip", "Living room"),
    ("Bedside", "Bedroom"),
    ("Porch", "Outside"),
]
#: (on, brightness, rgb) each demo light gets after its set-up
DEMO_LOOKS: list[tuple[bool, int, tuple[int, int, int]]] = [
    (True, 80, (255, 214, 170)),
    (True, 45, (90, 140, 255)),
    (False, 60, (255, 120, 40)),
    (True, 25, (255, 60, 120)),
]


def demo_settings() -> HubSettings:
    """The embedded broker on loopback (ephemeral port), mDNS on loopback, fast AP scans."""
    return HubSettings(
        backend="embedded",
        embedded=EmbeddedSettings(host="127.0.0.1", port=0, advertise_host="127.0.0.1"),
        discovery_interfaces=("127.0.0.1",),
        ap_scan_interval_s=2.0,
    )


class DemoEnvironment:
    """The simulated world of the demo (see the module docstring)."""

    def __init__(
        self,
        flash_root: Path,
        *,
        lights: int = 3,
        paired: int = 2,
        seed: str | None = None,
        use_memory_keyring: bool = True,
    ) -> None:
        from hublight_sim.runner import Simulator
        from hublight_sim.world import WifiWorld

        from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter

        self.seed = seed or _secrets.token_hex(6)
        self.world: WifiWorld = WifiWorld()
        self.simulator: Simulator = Simulator(
            self.world,
            count=lights,
            flash_root=flash_root,
            seed=self.seed,
            join_delay_s=0.0,
            reboot_delay_s=0.0,
        )
        self.adapter: SimulatedWifiAdapter = SimulatedWifiAdapter(self.world, home_ssid=HOME_SSID)
        self.paired = max(0, min(paired, lights))
        self.use_memory_keyring = use_memory_keyring
        self.ready = False
        self.pre_pair_errors: list[str] = []
        self._previous_keyring: Any = None
        self._started = False

    async def start(self) -> None:
        """Power the simulated lights on (and register the in-memory keyring)."""
        if self.use_memory_keyring:
            self._previous_keyring = keyring.get_keyring()
            keyring.set_keyring(MemoryKeyring())
        await self.simulator.start()
        await self.simulator.wait_started(timeout_s=60)
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self.simulator.stop()
        self.adapter.close()
        if self._previous_keyring is not None:
            keyring.set_keyring(self._previous_keyring)
            self._previous_keyring = None

    async def probe(self, device_id: str) -> tuple[str, int] | None:
        """Where a simulated light answers on the LAN (beside mDNS, for a quick demo start)."""
        try:
            url = self.simulator.light(device_id).lan_url
        except KeyError:
            return None
        if url is None:
            return None
        parsed = URL(url)
        if parsed.host is None or parsed.port is None:
            return None
        return parsed.host, parsed.port

    async def pre_pair(self, hub: Hub) -> None:
        """Set up the first ``paired`` lights through the real provisioning flow."""
        todo = [
            light
            for light in self.simulator.lights[: self.paired]
            if light.device_id not in hub.registry
        ]
        for number, light in enumerate(todo, start=1):
            name, room = DEMO_NAMES[light.index % len(DEMO_NAMES)]
            hub.set_activity(f"Demo: setting up {name} ({number} of {len(todo)})…")
            await light.wait_event("ap_started", timeout_s=60, include_past=True)
            flow = hub.start_provisioning(light.ap_ssid)
            try:
                result = await drive_flow(flow, light.setup_code, name, room)
            finally:
                await flow.close()
            if not isinstance(result, Done):
                self.pre_pair_errors.append(f"{light.device_id}: {result!r}")
                _log.error("demo set-up of %s ended with %r", light.device_id, result)
                continue
            on, brightness, rgb = DEMO_LOOKS[light.index % len(DEMO_LOOKS)]
            try:
                await _wait_online(hub, light.device_id, 20.0)
                await hub.set_light(light.device_id, on=on, brightness=brightness, rgb=rgb)
            except Exception as exc:  # the demo goes on with the light as it is
                _log.warning("demo: could not set the look of %s: %s", light.device_id, exc)
        self.ready = True
        hub.set_activity(None)


async def drive_flow(flow: Any, setup_code: str, name: str, room: str) -> Any:
    """Answer the flow's forms like a user would (demo and tests)."""
    result = await flow.step(None)
    for _ in range(30):
        while isinstance(result, Progress):
            result = await flow.step(None)
        if isinstance(result, Done | Abort):
            return result
        assert isinstance(result, Form)
        if result.errors:
            return result
        answers: dict[str, dict[str, Any]] = {
            "pick_light": {},
            "verify": {"setup_code": setup_code},
            "name": {"name": name, "room": room},
            "choose_network": {
                "ssid": HOME_SSID,
                "password": HOME_PASSWORD,
                "remember_password": False,
            },
            "confirm_network": {"confirm": True},
        }
        if result.step_id not in answers:
            return result
        result = await flow.step(answers[result.step_id])
    return result


async def _wait_online(hub: Hub, device_id: str, limit_s: float) -> None:
    """Wait until the light is online through the backend (TimeoutError otherwise)."""
    async with asyncio.timeout(limit_s):
        while True:
            view = hub.lights.get(device_id)
            if view is not None and view.online:
                return
            await asyncio.sleep(0.05)
