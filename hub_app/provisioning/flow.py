"""The set-up flow of a new light: a Qt-free state machine in the style of Home Assistant's config
flows (``await flow.step(user_input) -> Form | Progress | Done | Abort``).

Steps: ``pick_light`` -> ``join_ap`` -> ``verify`` -> ``name`` -> ``choose_network``
(-> ``confirm_network``) -> ``send`` -> ``wait_lan`` -> ``pair`` -> done.

Driving it (the UI and the CLI do exactly this)::

    result = await flow.step(None)
    while not isinstance(result, (Done, Abort)):
        if isinstance(result, Progress):
            result = await flow.step(None)          # waits for the running step to finish
        else:
            result = await flow.step(ask_user(result))   # or flow.back() when can_go_back

``subscribe(cb)`` delivers every ``Progress`` update while a step runs. ``await flow.cancel()``
stops at any point: the running step is cancelled, the PC goes back to its previous network and
the light stays untouched or on its access point. Every automatic step has a time limit
(``FlowTimeouts``). Secrets (setup code, Wi-Fi password, LAN secret, broker password) live only in
a private holder that never prints; results, the state's repr, logs and the flight recorder export
carry none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from hub_app.device.client import DeviceClient
from hub_app.device.errors import (
    AuthError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    RpcError,
)
from hub_app.device.trace import RpcTrace
from hub_app.discovery.wifi.base import NetworkNotFound, WifiAdapter, WifiAdapterError, WifiEvent
from hub_app.registry.secrets import generate_light_secret
from hub_app.registry.store import Backend, PairedLight, format_address

from .messages import render_progress
from .networks import (
    AUTH_OPEN,
    NetworkOption,
    check_network_choice,
    is_light_ap,
    merge_scans,
)
from .recorder import FlightRecorder
from .results import Abort, Choice, Done, Field, FlowResult, Form, Progress
from .setup_code import normalize_setup_code

__all__ = ["FlowState", "FlowTimeouts", "PairingHook", "ProvisioningFlow"]

_log = logging.getLogger(__name__)

#: an async callable ``pairing(device_id) -> {"mqtt": {...}} | None`` (protocol.md config tree)
PairingHook = Callable[[str], Awaitable[dict[str, Any] | None]]

MODEL_NAMES = {"HL-S1": "Light strip"}
LIGHT_APPS = ("HubLight",)
RATE_LIMIT_WAIT_S = 30
#: Wifi.GetStatus reasons that send the user back to the network form (same light, no reset)
NETWORK_REASONS = ("wrong_password", "network_not_found", "no_ip", "unsupported_network")


@dataclass(frozen=True)
class FlowTimeouts:
    """Time limits, in seconds. The defaults are for real hardware: a first boot of an ESP32
    plus its 20 s Wi-Fi join time limit, DHCP and the mDNS announcement fit well inside
    ``wait_lan`` (pain point 8); ``wait_lan + diagnose + pair`` stays below the light's own
    300 s confirmation limit."""

    scan_lights: float = 45.0
    join_ap: float = 120.0
    rpc: float = 10.0
    verify: float = 45.0
    scan_networks: float = 45.0
    send: float = 45.0
    wait_lan: float = 90.0
    diagnose: float = 90.0
    pair: float = 60.0
    restore: float = 45.0
    retry_interval: float = 0.5
    probe_interval: float = 2.0


@dataclass
class FlowState:
    """What the flow knows so far (no secrets: safe to print and to record)."""

    step_id: str = "init"
    ap_ssid: str | None = None
    device_id: str | None = None
    model: str = ""
    app: str = ""
    fw_version: str = ""
    name: str = ""
    room: str = ""
    ssid: str | None = None
    remember_password: bool = False
    home_ssid: str | None = None
    pc_on_ap: bool = False
    sent: bool = False
    lan_address: tuple[str, int] | None = None
    light_status: dict[str, Any] | None = None
    lights_seen: list[tuple[str, int | None]] = field(default_factory=list)
    options: list[NetworkOption] = field(default_factory=list)
    light_scanned: bool = False
    network_errors: dict[str, str] = field(default_factory=dict)
    paired: dict[str, Any] | None = None


class _Secrets:
    """The flow's secrets. Never printed."""

    __slots__ = ("broker", "lan_secret", "setup_code", "wifi_password")

    def __init__(self) -> None:
        self.setup_code: str | None = None
        self.wifi_password: str = ""
        self.lan_secret: str | None = None
        self.broker: list[str] = []

    def __repr__(self) -> str:
        return "_Secrets(<redacted>)"


class _Step(Exception):
    """Raised inside a running step to end it with ``result``."""

    def __init__(self, result: FlowResult) -> None:
        super().__init__(type(result).__name__)
        self.result = result


class RegistryLike(Protocol):
    def get(self, device_id: str) -> PairedLight | None: ...
    def all(self) -> list[PairedLight]: ...
    def rooms(self) -> list[str]: ...
    async def add(self, light: PairedLight, *, replace: bool = False) -> None: ...


class SecretStoreLike(Protocol):
    async def get(self, kind: Any, key: str) -> str | None: ...
    async def set(self, kind: Any, key: str, value: str) -> None: ...


ClientFactory = Callable[[str, int, "str | None"], DeviceClient]
ProgressCallback = Callable[[Progress], None]


class ProvisioningFlow:
    """Sets up one light. See the module docstring for how to drive it.

    ``session``: aiohttp session (owned by the caller). ``adapter``: the PC's Wi-Fi
    (``WifiAdapter``). ``lan_discovery``: ``LanDiscovery`` (``wait_for(device_id, timeout)``).
    ``registry`` / ``secrets``: where the paired light and its LAN secret go. ``pairing``: optional
    hook giving broker settings (``mqtt.*``) for the light. ``light``: the access-point SSID of
    the light to set up (skips ``pick_light``). ``probe``: extra direct probe
    ``probe(device_id) -> (host, port) | None`` tried beside mDNS while waiting on the LAN.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        adapter: WifiAdapter,
        lan_discovery: Any,
        registry: RegistryLike,
        secrets: SecretStoreLike,
        *,
        pairing: PairingHook | None = None,
        recorder: FlightRecorder | None = None,
        timeouts: FlowTimeouts | None = None,
        light: str | None = None,
        probe: Callable[[str], Awaitable[tuple[str, int] | None]] | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self._session = session
        self._adapter = adapter
        self._lan = lan_discovery
        self._registry = registry
        self._secret_store = secrets
        self._pairing = pairing
        self.recorder = recorder if recorder is not None else FlightRecorder()
        self.timeouts = timeouts or FlowTimeouts()
        self._given_light = light
        self._probe = probe
        self._client_factory = client_factory
        self.state = FlowState()
        self._secrets = _Secrets()
        self._current: FlowResult | None = None
        self._task: asyncio.Task[FlowResult] | None = None
        self._helpers: set[asyncio.Task[Any]] = set()
        self._clients: list[DeviceClient] = []
        self._ap_client: DeviceClient | None = None
        self._lan_client: DeviceClient | None = None
        self._using_secret = False
        self._failed_probes = 0
        self._ap_joined = False
        self._searching_again = False
        self._subscribers: list[ProgressCallback] = []
        self._lock = asyncio.Lock()
        self._cancelling = False
        self._closed = False
        self._unsubscribe_adapter = adapter.subscribe(self._on_adapter_event)
        self._unsubscribe_lan: Callable[[], None] | None = None
        lan_subscribe = getattr(lan_discovery, "subscribe", None)
        if callable(lan_subscribe):
            with contextlib.suppress(Exception):
                self._unsubscribe_lan = lan_subscribe(self._on_lan_event)

    def __repr__(self) -> str:
        return f"ProvisioningFlow(step={self.state.step_id!r}, light={self.state.device_id!r})"

    # ============================================================== public interface
    @property
    def current(self) -> FlowResult | None:
        """The last result (None before the first ``step()``)."""
        return self._current

    def subscribe(self, callback: ProgressCallback) -> Callable[[], None]:
        """Call ``callback(Progress)`` on every progress update. -> unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    async def step(self, user_input: Mapping[str, Any] | None = None) -> FlowResult:
        """Advance the flow. ``None`` starts it, or waits for a running step (after a
        ``Progress``); a mapping answers the current ``Form``."""
        async with self._lock:
            if self._task is not None:
                return await self._await_task()
            current = self._current
            if isinstance(current, (Done, Abort)):
                return current
            if current is None:
                return self._set(await self._begin())
            assert isinstance(current, Form)
            data = dict(user_input or {})
            self.recorder.user_action(current.step_id, "submit", data,
                                      secret_fields=("password", "setup_code"))
            handler = getattr(self, f"_submit_{current.step_id}")
            result: FlowResult = await handler(data)
            return self._set(result)

    def back(self) -> FlowResult:
        """Go back one form (only when the current ``Form`` has ``can_go_back``)."""
        current = self._current
        if not isinstance(current, Form) or not current.can_go_back or self._task is not None:
            raise RuntimeError("Back is not possible here")
        self.recorder.user_action(current.step_id, "back")
        target = {
            "join_ap": "pick_light",
            "verify": "pick_light",
            "name": "verify",
            "choose_network": "name",
            "confirm_network": "choose_network",
        }[current.step_id]
        if target == "pick_light":
            result = self._pick_light_form()
        elif target == "verify":
            result = self._verify_form()
        elif target == "name":
            result = self._name_form()
        else:
            result = self._network_form()
        return self._set(result)

    async def cancel(self) -> FlowResult:
        """Stop: cancel the running step, put the PC back on its network. -> Abort("cancelled")
        (or the Done / Abort the flow already ended with)."""
        if isinstance(self._current, (Done, Abort)) and self._task is None:
            return self._current
        self._cancelling = True
        self.recorder.user_action(self.state.step_id, "cancel")
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            self._task = None
        await self._cancel_helpers()
        await self._restore_pc()
        await self._close_clients()
        return self._set(Abort("cancelled"))

    async def close(self) -> None:
        """Release everything (cancels a running flow first)."""
        if self._closed:
            return
        if not isinstance(self._current, (Done, Abort)) or self._task is not None:
            await self.cancel()
        self._closed = True
        await self._cancel_helpers()
        await self._close_clients()
        self._unsubscribe_adapter()
        if self._unsubscribe_lan is not None:
            self._unsubscribe_lan()

    # ============================================================== machinery
    def _set(self, result: FlowResult) -> FlowResult:
        step_id = self._step_id_of(result)
        if step_id != self.state.step_id:
            self.recorder.step(self.state.step_id, step_id)
            _log.info("provisioning %s: %s -> %s", self.state.device_id or "-",
                      self.state.step_id, step_id)
            self.state.step_id = step_id
        if isinstance(result, Form) and result.errors:
            self.recorder.event("flow", "form_errors", step_id=result.step_id,
                                errors=dict(result.errors))
        elif isinstance(result, Abort):
            self.recorder.event("flow", "abort", reason=result.reason_key)
        self._current = result
        return result

    @staticmethod
    def _step_id_of(result: FlowResult) -> str:
        if isinstance(result, (Form, Progress)):
            return result.step_id
        return "done" if isinstance(result, Done) else "abort"

    async def _await_task(self) -> FlowResult:
        task = self._task
        assert task is not None
        await asyncio.wait({task})
        if self._task is task:
            self._task = None
        if task.cancelled():
            return self._current if isinstance(self._current, Abort) else Abort("cancelled")
        exc = task.exception()
        if exc is not None:
            _log.error("provisioning step failed: %s", self.recorder.redact_text(repr(exc)))
            self.recorder.event("flow", "internal_error", error=repr(exc))
            await self._restore_pc()
            return self._set(Abort("unknown", {"detail": type(exc).__name__}))
        result = task.result()
        if isinstance(result, Progress) and self._task is not None:
            return result  # the next step is already running
        return self._set(result)

    def _start(self, step_id: str, key: str, body: Callable[[], Awaitable[FlowResult]],
               limit: float, placeholders: Mapping[str, str] | None = None) -> Progress:
        """Run ``body`` as the step ``step_id`` (within ``limit`` seconds). -> its first
        Progress."""

        async def run() -> FlowResult:
            try:
                async with asyncio.timeout(limit):
                    return await body()
            except _Step as done:
                return done.result
            except TimeoutError:
                self.recorder.event("flow", "step_timeout", step_id=step_id, limit_s=limit)
                return await self._on_timeout(step_id)

        progress = Progress(step_id, key, dict(placeholders or {}))
        self._set(progress)
        self._notify(progress)
        self._task = asyncio.get_running_loop().create_task(run(), name=f"provisioning:{step_id}")
        return progress

    def _progress(self, key: str, placeholders: Mapping[str, str] | None = None,
                  fraction: float | None = None) -> None:
        step_id = self.state.step_id
        progress = Progress(step_id, key, dict(placeholders or {}), fraction)
        previous = self._current
        self._current = progress
        if not (isinstance(previous, Progress) and previous.progress_key == key
                and previous.message_placeholders == progress.message_placeholders):
            self.recorder.event("flow", "progress", step_id=step_id, key=key,
                                text=render_progress(key, placeholders))
        self._notify(progress)

    def _notify(self, progress: Progress) -> None:
        for callback in list(self._subscribers):
            try:
                callback(progress)
            except Exception:
                _log.exception("progress subscriber failed")

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro, name=name)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)
        return task

    async def _cancel_helpers(self) -> None:
        tasks = list(self._helpers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _on_adapter_event(self, event: WifiEvent) -> None:
        self.recorder.event("adapter", event.kind, ssid=event.ssid, message=event.message)
        if event.kind == "join_requested" and isinstance(self._current, Progress):
            self._progress("join_ap_manual", {"light": event.ssid or "", "message": event.message})

    def _on_lan_event(self, event: Any) -> None:
        light = getattr(event, "light", None)
        device_id = getattr(light, "device_id", None)
        if device_id is not None and device_id == self.state.device_id:
            self.recorder.event("discovery", str(getattr(event, "kind", "event")),
                                device_id=device_id,
                                addresses=list(getattr(light, "addresses", ()) or ()),
                                port=getattr(light, "port", None))

    # ---------------------------------------------------------------- clients
    def _new_client(self, host: str, port: int, password: str | None) -> DeviceClient:
        if self._client_factory is not None:
            client = self._client_factory(host, port, password)
        else:
            client = DeviceClient(self._session, host, port, password=password,
                                  timeout=self.timeouts.rpc, trace=self._trace,
                                  transport="http", reconnect=False)
        self._clients.append(client)
        return client

    def _trace(self, trace: RpcTrace) -> None:
        self.recorder.rpc(trace)

    async def _close_clients(self) -> None:
        clients, self._clients = self._clients, []
        self._ap_client = self._lan_client = None
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()

    async def _ap(self) -> DeviceClient:
        """The client on the light's access point (rejoining it when the PC has dropped off)."""
        ap_ssid = self.state.ap_ssid
        assert ap_ssid is not None
        current = await self._adapter.current_ssid()
        if current != ap_ssid or not self.state.pc_on_ap:
            if self.state.pc_on_ap:  # the PC dropped off the light's access point
                self.recorder.event("flow", "pc_off_ap", expected=ap_ssid, current=current)
            await self._join_ap_network(rejoin=self.state.pc_on_ap)
        host, port = self._adapter.ap_endpoint(ap_ssid)
        client = self._ap_client
        if client is None or (client.host, client.port) != (host, port):
            client = self._new_client(host, port, self._secrets.setup_code)
            self._ap_client = client
        return client

    async def _join_ap_network(self, *, rejoin: bool, key: str | None = None) -> None:
        ap_ssid = self.state.ap_ssid
        assert ap_ssid is not None
        if key is not None:
            self._progress(key, {"light": ap_ssid, "ssid": self.state.ssid or ""})
        elif self._adapter.is_automatic:
            self._progress("rejoining_ap" if rejoin else "joining_ap", {"light": ap_ssid})
        else:
            self._progress("join_ap_manual", {"light": ap_ssid})
        self.state.pc_on_ap = True  # from here on, a cancel must restore the PC's network
        self._ap_joined = False
        await self._adapter.connect(ap_ssid)
        self._ap_joined = True
        self.recorder.event("flow", "pc_on_ap", ssid=ap_ssid)

    @staticmethod
    async def _call(client: DeviceClient, method: str, params: dict[str, Any] | None) -> Any:
        if method == "Sys.GetInfo" and client.has_password:
            return await client.get_info()  # authenticated: the full info
        return await client.call(method, params)

    async def _ap_call(self, method: str, params: dict[str, Any] | None = None, *,
                       retry_busy: bool = False) -> Any:
        """Call on the access point; on a lost connection check whether the PC dropped off the
        AP (rejoin) and retry until the step's time limit."""
        delay = self.timeouts.retry_interval
        while True:
            client = await self._ap()
            try:
                return await self._call(client, method, params)
            except (DeviceConnectionError, DeviceTimeoutError) as exc:
                self.recorder.event("flow", "ap_call_retry", method=method, error=str(exc))
            except RpcError as exc:
                if not (retry_busy and exc.code == 503):
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)

    async def _restore_pc(self) -> None:
        if not self.state.pc_on_ap:
            return
        self.state.pc_on_ap = False
        self._ap_client = None
        try:
            async with asyncio.timeout(self.timeouts.restore):
                await self._adapter.restore_previous()
            self.recorder.event("flow", "pc_restored",
                                ssid=await self._adapter.current_ssid())
        except (WifiAdapterError, TimeoutError) as exc:
            self.recorder.event("flow", "pc_restore_failed", error=str(exc))

    async def _on_timeout(self, step_id: str) -> FlowResult:
        placeholders = {"step": step_id, "light": self.state.ap_ssid or "",
                        "ssid": self.state.ssid or ""}
        if step_id in ("join_ap", "verify_reach"):
            # joined but the light did not answer, or the join itself never completed
            key = "ap_unreachable" if self._ap_joined else "timeout"
            placeholders["step"] = f"joining {self.state.ap_ssid or ''}".strip()
            return Form("join_ap", errors={"base": key},
                        description_placeholders=placeholders, can_go_back=True)
        if step_id == "pick_light":
            return Form("pick_light", fields=(Field("rescan", "bool", required=False),),
                        errors={"base": "timeout"}, description_placeholders=placeholders)
        if step_id == "verify":
            return self._verify_form({"base": "timeout"})
        if step_id == "choose_network":
            self.state.light_scanned = False
            return self._network_form({"base": "timeout"})
        if step_id == "send":
            return self._network_form({"base": "timeout"})
        await self._restore_pc()
        if step_id == "pair":
            return self._lan_failed_form("pairing_failed")
        return self._lan_failed_form("light_not_found_on_lan")

    # ============================================================== 1. pick_light
    async def _begin(self) -> FlowResult:
        self.recorder.event("flow", "start", automatic_wifi=self._adapter.is_automatic)
        with contextlib.suppress(WifiAdapterError):
            current = await self._adapter.current_ssid()
            if current and not is_light_ap(current):
                self.state.home_ssid = current
        if self._given_light:
            return self._select_light(self._given_light)
        return self._start("pick_light", "scanning_lights", self._scan_lights,
                           self.timeouts.scan_lights)

    async def _scan_lights(self) -> FlowResult:
        try:
            networks = await self._adapter.scan()
        except WifiAdapterError as exc:
            self.recorder.event("flow", "pc_scan_failed", error=str(exc))
            networks = []
        seen: dict[str, int | None] = {}
        for net in networks:
            if net.ssid and is_light_ap(net.ssid):
                rssi = net.signal_dbm
                if net.ssid not in seen or (rssi or -100) > (seen[net.ssid] or -100):
                    seen[net.ssid] = rssi
        self.state.lights_seen = sorted(seen.items(), key=lambda kv: -(kv[1] or -100))
        self.recorder.event("flow", "lights_found", ssids=[s for s, _ in self.state.lights_seen])
        return self._pick_light_form()

    def _pick_light_form(self, errors: dict[str, str] | None = None) -> Form:
        choices = tuple(
            Choice(ssid, ssid, {"rssi": rssi}) for ssid, rssi in self.state.lights_seen
        )
        fields: tuple[Field, ...] = (Field("rescan", "bool", required=False, default=False),)
        errors = dict(errors or {})
        if choices:
            fields = (Field("light", "choice", required=False, default=choices[0].value,
                            choices=choices, allow_custom=not self._adapter.is_automatic),
                      *fields)
        elif not self._adapter.is_automatic:
            fields = (Field("light", "str", required=False), *fields)
        else:
            errors.setdefault("base", "no_lights_found")
        return Form("pick_light", fields, errors=errors,
                    description_placeholders={"count": str(len(choices))})

    async def _submit_pick_light(self, data: dict[str, Any]) -> FlowResult:
        light = data.get("light")
        if data.get("rescan") or not light:
            return self._start("pick_light", "scanning_lights", self._scan_lights,
                               self.timeouts.scan_lights)
        return self._select_light(str(light))

    def _select_light(self, ap_ssid: str) -> FlowResult:
        if ap_ssid != self.state.ap_ssid:
            self.state.device_id = None
            self._secrets.setup_code = None
            self._ap_client = None
        self.state.ap_ssid = ap_ssid
        return self._start("join_ap", "joining_ap", self._run_join_ap, self.timeouts.join_ap,
                           {"light": ap_ssid})

    # ============================================================== 2. join_ap
    async def _run_join_ap(self) -> FlowResult:
        ap_ssid = self.state.ap_ssid
        assert ap_ssid is not None
        try:
            await self._join_ap_network(rejoin=False)
        except NetworkNotFound:
            return self._pick_light_form({"base": "light_gone"})
        except WifiAdapterError as exc:
            self.recorder.event("flow", "ap_join_failed", error=str(exc))
            return Form("join_ap", errors={"base": "ap_join_failed"},
                        description_placeholders={"light": ap_ssid}, can_go_back=True)
        self._progress("reaching_light", {"light": ap_ssid})
        info = await self._ap_call("Sys.GetInfo")
        if not isinstance(info, dict):
            return Form("join_ap", errors={"base": "device_error"},
                        description_placeholders={"light": ap_ssid, "detail": "Sys.GetInfo"},
                        can_go_back=True)
        app = str(info.get("app") or "")
        if app not in LIGHT_APPS:
            return self._pick_light_form({"base": "not_a_hublight"})
        device_id = str(info.get("id") or "")
        if device_id != self.state.device_id:
            self._secrets.setup_code = None
        self.state.device_id = device_id
        self.state.model = str(info.get("model") or "")
        self.state.app = app
        self.state.fw_version = str(info.get("fw_version") or "")
        self.recorder.event("flow", "light_identified", device_id=device_id,
                            model=self.state.model, fw_version=self.state.fw_version,
                            auth_required=info.get("auth_required"))
        return self._verify_form()

    async def _submit_join_ap(self, data: dict[str, Any]) -> FlowResult:
        """The join failed: any submit tries again."""
        assert self.state.ap_ssid is not None
        return self._select_light(self.state.ap_ssid)

    # ============================================================== 3. verify
    def _verify_form(self, errors: dict[str, str] | None = None,
                     extra: Mapping[str, str] | None = None) -> Form:
        placeholders = {"device_id": self.state.device_id or "", "model": self.state.model,
                        "fw_version": self.state.fw_version, "light": self.state.ap_ssid or ""}
        placeholders.update(extra or {})
        return Form("verify", (Field("setup_code", "secret", max_length=16),),
                    errors=dict(errors or {}), description_placeholders=placeholders,
                    can_go_back=True)

    async def _submit_verify(self, data: dict[str, Any]) -> FlowResult:
        code = normalize_setup_code(str(data.get("setup_code") or ""))
        self.recorder.add_secret(str(data.get("setup_code") or ""))
        if code is None:
            return self._verify_form({"setup_code": "setup_code_format"})
        self.recorder.add_secret(code)
        self._secrets.setup_code = code
        return self._start("verify", "checking_code", self._run_verify, self.timeouts.verify)

    async def _run_verify(self) -> FlowResult:
        client = await self._ap()
        client.set_password(self._secrets.setup_code)
        try:
            info = await self._ap_call("Sys.GetInfo")
        except AuthError as exc:
            self._secrets.setup_code = None
            client.set_password(None)
            if exc.reason == "rate_limited":
                return self._verify_form({"setup_code": "setup_code_rate_limited"},
                                         {"seconds": str(RATE_LIMIT_WAIT_S)})
            return self._verify_form({"setup_code": "setup_code_invalid"})
        except RpcError as exc:
            if exc.code == 429:
                return self._verify_form({"setup_code": "setup_code_rate_limited"},
                                         {"seconds": str(RATE_LIMIT_WAIT_S)})
            raise
        if isinstance(info, dict):
            self.state.fw_version = str(info.get("fw_version") or self.state.fw_version)
            self.recorder.event("flow", "code_accepted", setup_state=info.get("setup_state"),
                                paired=info.get("paired"))
        if not self.state.name:
            with contextlib.suppress(DeviceError):
                device = await self._ap_call("Config.Get", {"key": "device"})
                if isinstance(device, dict):
                    self.state.name = str(device.get("name") or "")
                    self.state.room = str(device.get("room") or "")
        return self._name_form()

    # ============================================================== 4. name
    def _default_name(self) -> str:
        base = MODEL_NAMES.get(self.state.model, "Light")
        taken = {light.name for light in self._registry.all()}
        number = 1
        while f"{base} {number}" in taken:
            number += 1
        return f"{base} {number}"

    def _name_form(self, errors: dict[str, str] | None = None) -> Form:
        rooms = tuple(self._registry.rooms())
        lights = self._registry.all()
        default_room = self.state.room or (lights[-1].room if lights else "")
        return Form(
            "name",
            (Field("name", "str", default=self.state.name or self._default_name(),
                   max_length=64),
             Field("room", "str", required=False, default=default_room, suggestions=rooms,
                   max_length=64)),
            errors=dict(errors or {}),
            description_placeholders={"device_id": self.state.device_id or "",
                                      "model": self.state.model},
            can_go_back=True,
        )

    async def _submit_name(self, data: dict[str, Any]) -> FlowResult:
        name = str(data.get("name") or "").strip()
        room = str(data.get("room") or "").strip()
        errors: dict[str, str] = {}
        if not name:
            errors["name"] = "name_required"
        elif len(name) > 64:
            errors["name"] = "name_too_long"
        if len(room) > 64:
            errors["room"] = "room_too_long"
        if errors:
            return self._name_form(errors)
        self.state.name, self.state.room = name, room
        return self._start("choose_network", "scanning_networks", self._run_scan_networks,
                           self.timeouts.scan_networks)

    # ============================================================== 5. choose_network
    async def _run_scan_networks(self) -> FlowResult:
        light_scan: list[Any] = []
        try:
            result = await self._ap_call("Wifi.Scan", retry_busy=True)
            light_scan = result if isinstance(result, list) else []
            self.state.light_scanned = True
        except RpcError as exc:
            self.recorder.event("flow", "light_scan_failed", error=str(exc))
            self.state.light_scanned = False
        try:
            pc_scan = await self._adapter.scan()
        except WifiAdapterError as exc:
            self.recorder.event("flow", "pc_scan_failed", error=str(exc))
            pc_scan = []
        self.state.options = merge_scans(light_scan, pc_scan)
        self.recorder.event("flow", "networks", options=[
            {"ssid": o.ssid, **o.info()} for o in self.state.options])
        return self._network_form()

    def _network_form(self, errors: dict[str, str] | None = None, detail: str = "") -> Form:
        errors = dict(errors if errors is not None else self.state.network_errors)
        choices = tuple(Choice(o.ssid, o.ssid, o.info()) for o in self.state.options)
        preselect = self.state.ssid or self.state.home_ssid
        if preselect is None and choices:
            preselect = choices[0].value
        return Form(
            "choose_network",
            (Field("ssid", "choice", default=preselect, choices=choices, allow_custom=True),
             Field("password", "secret", required=False),
             Field("remember_password", "bool", required=False,
                   default=self.state.remember_password)),
            errors=errors,
            description_placeholders={"ssid": self.state.ssid or preselect or "",
                                      "home": self.state.home_ssid or "",
                                      "device_id": self.state.device_id or "",
                                      "detail": detail},
            can_go_back=not self.state.sent,
        )

    async def _submit_choose_network(self, data: dict[str, Any]) -> FlowResult:
        ssid = str(data.get("ssid") or "")
        password = str(data.get("password") or "")
        self.recorder.add_secret(password)
        remember = bool(data.get("remember_password"))
        if not password:
            option = next((o for o in self.state.options if o.ssid == ssid), None)
            if option is None or option.auth != AUTH_OPEN:
                with contextlib.suppress(Exception):
                    saved = await self._secret_store.get("wifi", ssid)
                    if saved:
                        self.recorder.add_secret(saved)
                        password = saved
                        self.recorder.event("flow", "saved_password_used", ssid=ssid)
        check = check_network_choice(ssid, password, self.state.options,
                                     light_scanned=self.state.light_scanned)
        self.state.ssid = ssid or None
        self.state.remember_password = remember
        self.state.network_errors = {}
        if check.errors:
            return self._network_form(check.errors)
        self._secrets.wifi_password = check.password
        if check.warnings:
            return Form("confirm_network", (Field("confirm", "bool", default=False),),
                        warnings=check.warnings,
                        description_placeholders={"ssid": ssid}, can_go_back=True)
        return self._start_send()

    async def _submit_confirm_network(self, data: dict[str, Any]) -> FlowResult:
        if not data.get("confirm"):
            return self._network_form({})
        return self._start_send()

    # ============================================================== 6. send
    def _start_send(self) -> FlowResult:
        return self._start("send", "sending", self._run_send, self.timeouts.send,
                           {"ssid": self.state.ssid or ""})

    async def _run_send(self) -> FlowResult:
        ssid = self.state.ssid
        assert ssid is not None
        config = {
            "wifi": {"sta": {"ssid": ssid, "pass": self._secrets.wifi_password, "enable": True}},
            "device": {"name": self.state.name, "room": self.state.room},
        }
        try:
            await self._ap_call("Config.Set", {"config": config})
        except RpcError as exc:
            if exc.code in (400, 403, 404):
                detail = self.recorder.redact_text(exc.message)
                key = "unsupported_characters" if "ascii" in detail.lower() else \
                    "rejected_by_light"
                return self._network_form({"base": key}, detail)
            raise
        try:
            await self._ap_call("Config.Save", {"reboot": True})
        except RpcError as exc:
            if exc.code != 418:  # 418: a reboot is already pending, which is what we want
                raise
        self.state.sent = True
        self.recorder.event("flow", "sent", ssid=ssid)
        if self.state.remember_password and self._secrets.wifi_password:
            try:
                await self._secret_store.set("wifi", ssid, self._secrets.wifi_password)
            except Exception as exc:
                self.recorder.event("flow", "remember_password_failed", error=type(exc).__name__)
        return self._start_wait_lan()

    # ============================================================== 7. wait_lan
    def _start_wait_lan(self, *, again: bool = False) -> Progress:
        self._searching_again = again
        return self._start("wait_lan", "looking_on_lan" if again else "light_restarting",
                           self._run_wait_lan,
                           self.timeouts.wait_lan + self.timeouts.diagnose
                           + self.timeouts.wait_lan + self.timeouts.restore,
                           {"ssid": self.state.ssid or ""})

    async def _run_wait_lan(self) -> FlowResult:
        ssid = self.state.ssid or ""
        if self.state.pc_on_ap:
            self._progress("returning_pc", {"home": self.state.home_ssid or ssid, "ssid": ssid})
            await self._restore_pc()
        if not self._searching_again:
            self._progress("joining_network", {"ssid": ssid})
        found = await self._search_lan(self.timeouts.wait_lan)
        if found is None:
            self.recorder.event("flow", "not_found_on_lan", failed_probes=self._failed_probes)
            return await self._diagnose()
        return await self._found_on_lan(*found)

    async def _search_lan(self, limit: float) -> tuple[str, int] | None:
        """mDNS (LanDiscovery.wait_for announcements and LanDiscovery.resolve queries) and direct
        probes in parallel. -> (host, port) or None."""
        device_id = self.state.device_id
        assert device_id is not None
        ssid = self.state.ssid or ""
        loop = asyncio.get_running_loop()
        started = loop.time()
        result: asyncio.Future[tuple[str, int]] = loop.create_future()

        def found(host: str, port: int, how: str) -> None:
            if not result.done():
                self.recorder.event("flow", "found_on_lan", how=how, host=host, port=port)
                result.set_result((host, port))

        async def by_mdns() -> None:
            tried: set[tuple[tuple[str, ...], int]] = set()

            def fresh(light: Any) -> bool:
                return (tuple(light.addresses), int(light.port)) not in tried

            while True:
                try:
                    light = await self._lan.wait_for(device_id, limit, fresh)
                except (TimeoutError, RuntimeError):
                    return
                key = (tuple(light.addresses), int(light.port))
                tried.add(key)
                for address in light.addresses:
                    if await self._is_light_at(str(address), int(light.port), device_id):
                        found(str(address), int(light.port), "mdns")
                        return

        async def by_probe() -> None:
            while True:
                for host, port in await self._probe_candidates(device_id):
                    if await self._is_light_at(host, port, device_id):
                        found(host, port, "probe")
                        return
                await asyncio.sleep(self.timeouts.probe_interval)

        async def by_query() -> None:
            """Ask mDNS for the light by name now and then, instead of only waiting for its
            announcement (which the PC misses while it is still on the light's access point)."""
            resolve = getattr(self._lan, "resolve", None)
            if not callable(resolve):
                return
            while True:
                with contextlib.suppress(Exception):
                    light = await resolve(device_id, min(3.0, limit))
                    if light is not None:
                        for address in light.addresses:
                            if await self._is_light_at(str(address), int(light.port),
                                                       device_id):
                                found(str(address), int(light.port), "mdns_query")
                                return
                await asyncio.sleep(self.timeouts.probe_interval)

        async def ticker() -> None:
            while True:
                elapsed = loop.time() - started
                key = "joining_network" if elapsed < min(5.0, limit / 3) and \
                    not self._searching_again else "looking_on_lan"
                self._progress(key, {"ssid": ssid}, min(elapsed / limit, 1.0))
                await asyncio.sleep(1.0)

        tasks = [self._spawn(by_mdns(), "provisioning:mdns"),
                 self._spawn(by_probe(), "provisioning:probe"),
                 self._spawn(by_query(), "provisioning:mdns-query"),
                 self._spawn(ticker(), "provisioning:ticker")]
        try:
            async with asyncio.timeout(limit):
                while not result.done():
                    waiting = {t for t in tasks[:3] if not t.done()}
                    if not waiting:
                        break
                    await asyncio.wait({*waiting, result}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        return result.result() if result.done() else None

    async def _probe_candidates(self, device_id: str) -> list[tuple[str, int]]:
        candidates: list[tuple[str, int]] = []
        if self._probe is not None:
            with contextlib.suppress(Exception):
                hit = await self._probe(device_id)
                if hit is not None:
                    candidates.append(hit)
        known = self._registry.get(device_id)
        if known is not None:
            for address in known.addresses:
                host, _, port_text = address.rpartition(":")
                with contextlib.suppress(ValueError):
                    candidates.append((host.strip("[]"), int(port_text)))
        lights = getattr(self._lan, "lights", None)
        light = lights.get(device_id) if isinstance(lights, Mapping) else None
        if light is not None:
            port = int(getattr(light, "port", 80) or 80)
            candidates.extend((str(a), port) for a in getattr(light, "addresses", ()))
        sta_ip = (self.state.light_status or {}).get("sta_ip")
        if isinstance(sta_ip, str) and sta_ip:
            candidates.append((sta_ip, 80))
        return list(dict.fromkeys(candidates))

    async def _is_light_at(self, host: str, port: int, device_id: str) -> bool:
        """Whether ``device_id`` answers at host:port (failed probes are counted, not traced)."""
        traces: list[RpcTrace] = []
        client = DeviceClient(self._session, host, port, timeout=min(3.0, self.timeouts.rpc),
                              transport="http", reconnect=False, trace=traces.append)
        try:
            info = await client.call("Sys.GetInfo")
        except DeviceError:
            self._failed_probes += 1
            return False
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        for trace in traces:
            self._trace(trace)
        return isinstance(info, dict) and info.get("id") == device_id

    async def _diagnose(self) -> FlowResult:
        """The light did not show up: is the PC on the home network? Is the light back on its
        access point, and why?"""
        ssid = self.state.ssid or ""
        self._progress("checking_light_ap", {"ssid": ssid, "light": self.state.ap_ssid or ""})
        pc_ssid: str | None = None
        with contextlib.suppress(WifiAdapterError):
            pc_ssid = await self._adapter.current_ssid()
        pc_on_home = pc_ssid == ssid
        self.recorder.event("flow", "diagnose", pc_ssid=pc_ssid, pc_on_home=pc_on_home)
        status = await self._status_on_ap()
        self.state.light_status = status
        if status is None:  # the light's access point is gone too
            await self._restore_pc()
            key = "light_not_found_on_lan" if pc_on_home or pc_ssid is None else \
                "pc_not_on_home_network"
            return self._lan_failed_form(key)
        reason = status.get("reason")
        if status.get("status") == "failed" and reason in NETWORK_REASONS:
            # the light is back on its AP: same light, corrected settings, no reset
            self.state.sent = False
            field_name = "password" if reason == "wrong_password" else "ssid"
            if reason == "no_ip":
                field_name = "base"
            self.state.network_errors = {field_name: str(reason)}
            form = self._network_form()
            self.state.network_errors = {}
            return form
        if status.get("status") == "failed":  # not_confirmed or unknown: resend as is
            self.state.sent = False
            return self._lan_failed_form("not_confirmed")
        # joined (awaiting_confirm) but not found from here
        await self._restore_pc()
        if pc_ssid is not None and pc_ssid != ssid:
            # the PC is on another network: no point in looking again until the user moves it
            return self._lan_failed_form("pc_not_on_home_network")
        # go back and look once more
        self._progress("looking_on_lan", {"ssid": ssid})
        found = await self._search_lan(self.timeouts.wait_lan)
        if found is not None:
            return await self._found_on_lan(*found)
        with contextlib.suppress(WifiAdapterError):
            pc_ssid = await self._adapter.current_ssid()
        return self._lan_failed_form(
            "pc_not_on_home_network" if pc_ssid not in (None, ssid) else "not_confirmed")

    async def _status_on_ap(self) -> dict[str, Any] | None:
        """Wifi.GetStatus on the light's access point, waiting while it is still joining.
        None when the access point cannot be reached."""
        try:
            async with asyncio.timeout(self.timeouts.diagnose):
                await self._join_ap_network(rejoin=False, key="checking_light_ap")
                while True:
                    status = await self._ap_call("Wifi.GetStatus")
                    if not isinstance(status, dict):
                        return None
                    self.recorder.event("flow", "light_wifi_status", status=status)
                    if status.get("status") != "connecting":
                        return status
                    await asyncio.sleep(self.timeouts.retry_interval)
        except (WifiAdapterError, TimeoutError, AuthError, RpcError) as exc:
            self.recorder.event("flow", "light_ap_unreachable", error=str(exc))
            return None

    def _lan_failed_form(self, key: str) -> Form:
        return Form("wait_lan", (Field("retry", "bool", required=False, default=True),),
                    errors={"base": key},
                    description_placeholders={"ssid": self.state.ssid or "",
                                              "light": self.state.ap_ssid or "",
                                              "device_id": self.state.device_id or ""})

    async def _submit_wait_lan(self, data: dict[str, Any]) -> FlowResult:
        """Try again: resend when the light is back on its AP, else look on the LAN again."""
        if not self.state.sent:
            return self._start_send()
        return self._start_wait_lan(again=True)

    # ============================================================== 8. pair
    async def _found_on_lan(self, host: str, port: int) -> FlowResult:
        self.state.lan_address = (host, port)
        self._lan_client = self._new_client(host, port, self._secrets.setup_code)
        return self._start("pair", "pairing", self._run_pair, self.timeouts.pair)

    async def _lan_call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call on the LAN; when the light refuses the password, try the other one (a lost
        reply may have left the light with the LAN secret already, or not yet)."""
        client = self._lan_client
        assert client is not None
        delay = self.timeouts.retry_interval
        while True:
            try:
                return await self._call(client, method, params)
            except AuthError as exc:
                if exc.reason != "wrong_credentials":
                    raise
                other = (self._secrets.setup_code
                         if self._using_secret else self._secrets.lan_secret)
                if other is None:
                    raise
                self._using_secret = not self._using_secret
                client.set_password(other)
                return await self._call(client, method, params)
            except (DeviceConnectionError, DeviceTimeoutError) as exc:
                self.recorder.event("flow", "lan_call_retry", method=method, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)

    async def _run_pair(self) -> FlowResult:
        device_id = self.state.device_id
        host_port = self.state.lan_address
        assert device_id is not None and host_port is not None and self._lan_client is not None
        info = await self._lan_call("Sys.GetInfo")
        if isinstance(info, dict) and info.get("id") not in (None, device_id):
            return self._lan_failed_form("light_not_found_on_lan")
        secret = self._secrets.lan_secret or generate_light_secret()
        self._secrets.lan_secret = secret
        self.recorder.add_secret(secret)
        try:
            await self._secret_store.set("light", device_id, secret)
        except Exception as exc:
            self.recorder.event("flow", "keyring_failed", error=type(exc).__name__)
            return self._lan_failed_form("keyring_failed")
        config: dict[str, Any] = {"hub": {"secret": secret}}
        backend: Backend = "lan"
        if self._pairing is not None:
            extra = await self._pairing(device_id)
            if extra:
                extra = _nested(extra)
                self._remember_nested_secrets(extra)
                for key, value in extra.items():
                    config.setdefault(key, {})
                    if isinstance(value, dict):
                        config[key].update(value)
                mqtt = extra.get("mqtt")
                if isinstance(mqtt, dict) and mqtt.get("enable"):
                    backend = "aws" if extra.get("aws", {}).get("enable") else "mqtt"
        self._progress("pairing", {"device_id": device_id})
        if not self._using_secret:
            await self._lan_call("Config.Set", {"config": config, "save": True})
            self._lan_client.set_password(secret)
            self._using_secret = True
        await self._lan_call("Setup.Confirm", {})
        full = await self._lan_call("Sys.GetInfo")
        fw_version = self.state.fw_version
        if isinstance(full, dict):
            fw_version = str(full.get("fw_version") or fw_version)
        host, port = host_port
        existing = self._registry.get(device_id)
        light = PairedLight(device_id=device_id, name=self.state.name, room=self.state.room,
                            model=self.state.model, fw_version=fw_version,
                            addresses=(format_address(host, port),),
                            backend=backend,
                            extra={"ssid": self.state.ssid or ""})
        await self._registry.add(light, replace=existing is not None)
        self.state.paired = light.to_json()
        self.recorder.event("flow", "paired", device_id=device_id, address=f"{host}:{port}",
                            backend=backend)
        await self._close_clients()
        return Done(light.to_json())

    def _remember_nested_secrets(self, tree: Mapping[str, Any]) -> None:
        for key, value in tree.items():
            if isinstance(value, Mapping):
                self._remember_nested_secrets(value)
            elif isinstance(value, str) and key in ("pass", "password", "secret"):
                self.recorder.add_secret(value)
                self._secrets.broker.append(value)


def _nested(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"mqtt.server": ..}`` or ``{"mqtt": {"server": ..}}`` -> the nested form."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, Mapping) and parts[-1] in node:
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = dict(value) if isinstance(value, Mapping) else value
    return out
