"""Simulator: N HubLights (the real firmware, ``hublight.app.LightApp``) in one asyncio loop.

Example (in a test or in the hub's demo mode)::

    sim = Simulator(WifiWorld(), count=3, flash_root=tmp_path)
    await sim.start()
    light = sim.lights[0]
    print(light.device_id, light.setup_code, light.ap_url)
    await light.wait_event("lan_joined")
    await sim.stop()

Each light has its own flash directory ``<flash_root>/light-<index>`` (persistent: the same
flash root gives the same ids and setup codes). Reboots are real: the app shuts its servers down,
``run()`` returns, and after ``reboot_delay_s`` a new ``LightApp`` boots from the same flash.
``power_cut()`` aborts every connection and task of the light without clean-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import secrets
from collections.abc import Callable
from typing import Any

from .board import DEFAULT_FW_VERSION, EventCallback, SimBoard
from .world import WifiWorld

_log = logging.getLogger(__name__)

EventPredicate = Callable[[dict[str, Any]], bool]


def _load_app_class() -> Any:
    # imported late: the simulator's modules load without the firmware app
    return importlib.import_module("hublight.app").LightApp


def load_or_make_seed(flash_root: str) -> str:
    """The simulator's MAC seed, kept in ``<flash_root>/seed`` so re-runs keep their ids."""
    path = os.path.join(flash_root, "seed")
    try:
        with open(path, encoding="utf-8") as handle:
            seed = handle.read().strip()
        if seed:
            return seed
    except OSError:
        pass
    seed = secrets.token_hex(8)
    os.makedirs(flash_root, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(seed + "\n")
    os.replace(tmp, path)
    return seed


class SimLight:
    """One simulated light: its board, its running firmware and its event history.

    ``status`` is the simulator's view: "off" (no power), "running", "rebooting" or "crashed";
    ``setup_state`` is the last one the firmware reported (events ``state_changed``).
    """

    def __init__(self, simulator: Simulator, board: SimBoard) -> None:
        self.simulator = simulator
        self.board = board
        self.status = "off"
        self.setup_state: str | None = None
        self.light_status: dict[str, Any] | None = None
        self.last_failure: str | None = None
        # events that wait for the light's server on that interface to listen
        self._pending: dict[str, tuple[str, dict[str, Any]]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.app: Any = None
        self.boots = 0
        self._task: asyncio.Task[Any] | None = None
        self._stopping = False
        self._booted = asyncio.Event()
        self._waiters: list[tuple[str, EventPredicate | None, asyncio.Future[dict[str, Any]]]] = []

    # --- identity and addresses ---------------------------------------------------------
    @property
    def index(self) -> int:
        """Position in ``Simulator.lights``."""
        return self.board.index

    @property
    def device_id(self) -> str:
        """``hublight-xxxxxx``."""
        return self.board.device_id

    @property
    def setup_code(self) -> str:
        """The 8-character setup code from the label (factory.json)."""
        return self.board.setup_code

    @property
    def mac(self) -> str:
        """``aa:bb:cc:dd:ee:ff``."""
        return self.board.mac_str

    @property
    def ap_ssid(self) -> str:
        """``HubLight-XXXXXX``."""
        return "HubLight-" + self.device_id[-6:].upper()

    @property
    def ap_url(self) -> str | None:
        """``http://127.4.<n>.1:<port>/rpc`` while the access point's RPC server is up."""
        if self.board.ap_ssid is None or self.board.ap_port is None or not self.board.powered:
            return None
        return f"http://{self.board.ap_ip}:{self.board.ap_port}/rpc"

    @property
    def lan_url(self) -> str | None:
        """``http://127.2.<n>.<m>:<port>/rpc`` while the light is on the LAN and serving."""
        if self.board.lan_ip is None or self.board.lan_port is None or not self.board.powered:
            return None
        return f"http://{self.board.lan_ip}:{self.board.lan_port}/rpc"

    @property
    def pixels(self) -> list[tuple[int, int, int]]:
        """The last frame the firmware showed on the strip."""
        return self.board.pixels

    # --- control ------------------------------------------------------------------------
    def press_button(self, seconds: float) -> None:
        """Hold the button for ``seconds`` (3 s or more: factory reset)."""
        self.board.press_button(seconds)

    def power_cut(self) -> None:
        """Cut the power: every socket and task of the light is aborted, nothing is cleaned up."""
        if self.status == "off":
            return
        self.board.power_cut()
        self._task = None
        self.status = "off"
        self.app = None
        self.simulator._emit(self.board, "power_cut", {})

    async def power_on(self) -> None:
        """Power on (after ``power_cut()``): boots the firmware from flash."""
        if self._task is not None and not self._task.done():
            return
        await self.board.wait_tasks_gone()
        self._stopping = False
        self._task = self.board.run_firmware(self._life())

    async def reboot(self, timeout_s: float = 30.0) -> None:
        """Reboot like ``Sys.Reboot`` does: the firmware shuts down cleanly and boots again.

        Uses the app's own reboot request when it has one, else resets the board (power cut and
        power on). Returns once the new firmware has been started."""
        boots = self.boots
        requested = False
        for name in ("request_reboot", "reboot"):
            method = getattr(self.app, name, None)
            if callable(method):
                result = method()
                if asyncio.iscoroutine(result):
                    await result
                requested = True
                break
        if not requested:
            self.power_cut()
            await self.power_on()
        while self.boots == boots:
            self._booted.clear()
            await asyncio.wait_for(self._booted.wait(), timeout_s)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the firmware down cleanly (as before unplugging it deliberately); falls back to a
        power cut when it does not stop in time."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            self.status = "off"
            return
        app = self.app
        stopper = getattr(app, "shutdown", None) or getattr(app, "stop", None)
        if callable(stopper):
            with contextlib.suppress(Exception):
                result = stopper()
                if asyncio.iscoroutine(result):
                    await asyncio.wait_for(result, timeout_s)
        else:
            task.cancel()
        done, _ = await asyncio.wait([task], timeout=timeout_s)
        if not done:
            self.power_cut()
        self.board.release_radio()
        self.status = "off"

    # --- events -------------------------------------------------------------------------
    async def wait_event(
        self, event: str, predicate: EventPredicate | None = None, timeout_s: float = 30.0,
        *, include_past: bool = False,
    ) -> dict[str, Any]:
        """Wait for the next ``event`` of this light (whose fields satisfy ``predicate``).
        With ``include_past`` an event already seen counts. Raises TimeoutError."""
        if include_past:
            for name, past in reversed(self.events):
                if name == event and (predicate is None or bool(predicate(past))):
                    return dict(past)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (event, predicate, future)
        self._waiters.append(entry)
        try:
            result: dict[str, Any] = await asyncio.wait_for(future, timeout_s)
            return result
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    def _record(self, event: str, fields: dict[str, Any]) -> None:
        self.events.append((event, fields))
        del self.events[:-500]
        if event == "state_changed" and isinstance(fields.get("status"), dict):
            self.light_status = fields["status"]
        if isinstance(fields.get("setup_state"), str):
            self.setup_state = fields["setup_state"]
        if event == "lan_failed":
            self.last_failure = fields.get("reason")
        for name, predicate, future in list(self._waiters):
            if name != event or future.done():
                continue
            try:
                matches = predicate is None or predicate(fields)
            except Exception:
                matches = False
            if matches:
                future.set_result(fields)

    # --- the firmware's life ------------------------------------------------------------
    async def _life(self) -> None:
        crashes = 0
        while not self._stopping:
            self.board.boot()
            self.boots += 1
            self._booted.set()
            self.status = "running"
            app_class = _load_app_class()
            self.app = app_class(self.board)
            try:
                await self.app.run()
                crashes = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # a real device would reset (watchdog / panic): the simulator reboots it too
                crashes += 1
                _log.exception("light %s crashed", self.device_id)
                self.status = "crashed"
                self.simulator._emit(self.board, "crashed", {"error": repr(exc)})
            self.board.release_radio()
            if self._stopping:
                break
            self.status = "rebooting"
            delay = self.simulator.reboot_delay_s
            if crashes:
                delay = max(delay, min(30.0, 0.5 * 2 ** min(crashes, 6)))
            await asyncio.sleep(delay)
        self.status = "off"


class Simulator:
    """Runs ``count`` simulated lights in the running asyncio loop.

    ``world``: the Wi-Fi world (default: ``WifiWorld()``). ``flash_root``: one directory per
    light below it. ``seed``: MAC seed (default: kept in ``<flash_root>/seed``).
    ``join_delay_s``: time a Wi-Fi join takes (0 for tests, ~2 s realistic). ``reboot_delay_s``:
    time between shutdown and the next boot. ``ap_port_base``/``lan_port_base``: light i listens on
    base+i (0: ephemeral ports, remembered across reboots). ``on_event(event, fields)``: every
    event of every light (fields have "id").
    """

    def __init__(
        self,
        world: WifiWorld | None = None,
        count: int = 1,
        flash_root: str | os.PathLike[str] = "sim-flash",
        *,
        seed: str | None = None,
        join_delay_s: float = 0.0,
        reboot_delay_s: float = 0.0,
        ap_port_base: int = 0,
        lan_port_base: int = 0,
        on_event: EventCallback | None = None,
        fw_version: str = DEFAULT_FW_VERSION,
    ) -> None:
        if not 1 <= count <= 250:
            raise ValueError("count must be 1..250")
        self.world = world if world is not None else WifiWorld()
        self.count = count
        self.flash_root = os.path.abspath(os.fspath(flash_root))
        self.seed = seed if seed is not None else load_or_make_seed(self.flash_root)
        self.join_delay_s = join_delay_s
        self.reboot_delay_s = reboot_delay_s
        self.on_event = on_event
        self.lights: list[SimLight] = []
        for index in range(count):
            board = SimBoard(
                index,
                os.path.join(self.flash_root, f"light-{index}"),
                self.world,
                seed=self.seed,
                join_delay_s=join_delay_s,
                ap_port=ap_port_base + index if ap_port_base else 0,
                lan_port=lan_port_base + index if lan_port_base else 0,
                fw_version=fw_version,
            )
            board.on_event = self._board_event_callback(board)
            board.on_server_started = self._server_started_callback(board)
            self.lights.append(SimLight(self, board))

    def light(self, device_id: str) -> SimLight:
        """The light with this device id (KeyError if none)."""
        for light in self.lights:
            if light.device_id == device_id:
                return light
        raise KeyError(device_id)

    async def start(self) -> None:
        """Power every light on (returns at once; wait for their "started" events if needed)."""
        for light in self.lights:
            await light.power_on()

    async def wait_started(self, timeout_s: float = 30.0) -> None:
        """Wait until every light has reported "started" since its last boot."""
        await asyncio.gather(*(
            light.wait_event("started", timeout_s=timeout_s, include_past=True)
            for light in self.lights
        ))

    async def stop(self) -> None:
        """Shut every light down cleanly."""
        await asyncio.gather(*(light.stop() for light in self.lights))

    def power_cut(self) -> None:
        """Cut the power of every light."""
        for light in self.lights:
            light.power_cut()

    # --- events -------------------------------------------------------------------------
    def _board_event_callback(self, board: SimBoard) -> EventCallback:
        def callback(event: str, fields: dict[str, Any]) -> None:
            self._emit(board, event, fields)

        return callback

    def _server_started_callback(self, board: SimBoard) -> Callable[[str], None]:
        def callback(iface: str) -> None:
            light = self.lights[board.index]
            pending = light._pending.pop(iface, None)
            if pending is not None:
                self._emit(board, pending[0], pending[1], deferred=True)

        return callback

    def _flush_pending(self, board: SimBoard, iface: str) -> None:
        light = self.lights[board.index]
        pending = light._pending.pop(iface, None)
        if pending is not None:
            self._emit(board, pending[0], pending[1], deferred=True)

    def _emit(
        self, board: SimBoard, event: str, fields: dict[str, Any], *, deferred: bool = False
    ) -> None:
        light = self.lights[board.index] if board.index < len(self.lights) else None
        payload = {"id": board.device_id}
        payload.update(fields)
        # "lan_joined" / "ap_started" come just before the server listens: hold them back until
        # it does, so that the event carries a usable URL (at most 2 s)
        iface = {"lan_joined": "lan", "ap_started": "ap"}.get(event)
        if light is not None and iface is not None and not deferred and (
            (iface == "lan" and light.lan_url is None) or (iface == "ap" and light.ap_url is None)
        ):
            light._pending[iface] = (event, payload)
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_later(2.0, self._flush_pending, board, iface)
            return
        if light is not None:
            self._enrich(light, event, payload)
            light._record(event, payload)
        if self.on_event is not None:
            try:
                self.on_event(event, payload)
            except Exception:
                _log.exception("on_event callback failed")

    @staticmethod
    def _enrich(light: SimLight, event: str, payload: dict[str, Any]) -> None:
        """Add what scripts need and the firmware cannot know (URLs, label data)."""
        if event == "started":
            payload.setdefault("setup_code", light.setup_code)
            payload.setdefault("ap_ssid", light.ap_ssid)
            payload.setdefault("ap_rpc_url", light.ap_url)
            payload.setdefault("lan_rpc_url", light.lan_url)
            payload.setdefault("mac", light.mac)
        elif event == "lan_joined":
            payload.setdefault("ip", light.board.lan_ip)
            payload.setdefault("lan_rpc_url", light.lan_url)
        elif event == "ap_started":
            payload.setdefault("ap_rpc_url", light.ap_url)
            payload.setdefault("ap_ssid", light.ap_ssid)
        elif event == "power_cut":
            light._pending.clear()
