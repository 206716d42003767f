"""``Hub``: the Qt-free application core (see the package docstring for the API)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from hub_app.broker_client.base import (
    Availability,
    Backend,
    BackendError,
    CommandError,
    ConnectionKind,
    ConnectionState,
    LightEvent,
    LightEventKind,
    LightState,
)
from hub_app.device.client import DeviceClient
from hub_app.discovery.ap import ApDiscovery, ApEvent
from hub_app.discovery.lan import DiscoveryEvent, LanDiscovery
from hub_app.discovery.wifi.base import WifiAdapter
from hub_app.provisioning.flow import FlowTimeouts, ProvisioningFlow
from hub_app.provisioning.recorder import FlightRecorder
from hub_app.registry.secrets import SecretStore
from hub_app.registry.store import (
    PairedLight,
    Registry,
    RegistryError,
    RegistryEvent,
    RegistryFileError,
    parse_address,
)

from .inbox import Inbox
from .jsonfile import read_json_async, write_json_async
from .lights import LightList, LightView
from .scenes import Scene, SceneLight, SceneList
from .schedules import Clock, Firing, Schedule, ScheduleList, Scheduler, local_now
from .settings import SETTINGS_FILE, HubSettings, default_config_dir, load_settings, save_settings

if TYPE_CHECKING:
    from .demo import DemoEnvironment

_log = logging.getLogger(__name__)

BROKER_PASSWORD_KEY = "mqtt"


# --- values the UI shows ------------------------------------------------------------------
class ControlError(Exception):
    """A light did not take a change. ``message`` and ``next_step`` are plain words for the user;
    ``reason`` is the backend's (offline, timeout, rejected, disconnected, unavailable)."""

    def __init__(self, message: str, next_step: str, reason: str, device_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step
        self.reason = reason
        self.device_id = device_id

    def __str__(self) -> str:
        return f"{self.message} {self.next_step}".strip()


@dataclass(frozen=True)
class HubStatus:
    """The backend connection and what the hub is busy with (``activity`` None: idle)."""

    connection: ConnectionState
    backend_label: str
    activity: str | None = None


NoticeKind = Literal["light_offline", "light_online", "setup_finished", "schedule", "problem"]


@dataclass(frozen=True)
class Notice:
    """Something worth a tray notification or a status-bar message."""

    kind: NoticeKind
    title: str
    text: str
    device_id: str = ""


@dataclass(frozen=True)
class GroupResult:
    """The outcome of a room switch or a scene: which lights confirmed, which failed and why."""

    confirmed: tuple[str, ...]
    failed: tuple[tuple[str, ControlError], ...]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class ConnectionTest:
    """The result of ``Hub.test_connection``."""

    ok: bool
    message: str
    next_step: str = ""


def describe_command_error(err: CommandError, name: str) -> ControlError:
    """A backend ``CommandError`` in plain words with the next step."""
    if err.reason == "offline":
        return ControlError(
            f"{name} is offline.",
            "Check that it has power and is within reach of your Wi-Fi, then try again.",
            err.reason,
            err.device_id,
        )
    if err.reason == "timeout":
        return ControlError(
            f"{name} did not confirm the change in time.",
            "Its Wi-Fi signal may be weak. Try again, or open Diagnostics to check it.",
            err.reason,
            err.device_id,
        )
    if err.reason == "rejected":
        detail = f" ({err.message})" if err.message else ""
        return ControlError(
            f"{name} refused the change{detail}.",
            "Open Diagnostics to see the light's log.",
            err.reason,
            err.device_id,
        )
    return ControlError(
        "Home Hub has no connection to the broker, so the change was not sent.",
        "Check the connection in Settings > Backend.",
        err.reason,
        err.device_id,
    )


# --- the hub ------------------------------------------------------------------------------
class Hub:
    """The application core. Create, ``await start()``, use, ``await stop()``.

    ``data_dir``: registry, broker data, scenes, schedules, ignored lights (default: the
    registry's data dir). ``config_dir``: settings.json (default: the user config dir).
    ``wifi_adapter``: the PC's radio for access-point discovery and set-up (None: chosen for
    this platform at start). ``clock``: for the scheduler (tests inject one).
    ``secret_service``: the keyring service name.
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        config_dir: Path | str | None = None,
        settings: HubSettings | None = None,
        wifi_adapter: WifiAdapter | None = None,
        secret_service: str = "home-hub",
        clock: Clock = local_now,
        command_timeout: float = 10.0,
        flow_timeouts: FlowTimeouts | None = None,
        run_scheduler: bool = True,
    ) -> None:
        from hub_app.registry.store import default_data_dir

        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.config_dir = Path(config_dir) if config_dir is not None else default_config_dir()
        self.settings = settings or HubSettings()
        self._settings_given = settings is not None
        self.registry = Registry(self.data_dir / "registry.json")
        self.secrets = SecretStore(service=secret_service)
        self.lights = LightList()
        self.inbox = Inbox()
        self.scenes = SceneList()
        self.schedules = ScheduleList()
        self.scheduler = Scheduler(
            self.schedules, self._run_schedule, clock=clock, on_firing=self._on_firing
        )
        self.wifi_adapter = wifi_adapter
        self.backend: Backend | None = None
        self.lan_discovery: LanDiscovery | None = None
        self.ap_discovery: ApDiscovery | None = None
        self.session: aiohttp.ClientSession | None = None
        self.demo: DemoEnvironment | None = None
        self.command_timeout = command_timeout
        self.flow_timeouts = flow_timeouts
        self.run_scheduler = run_scheduler
        self.ignored: set[str] = set()
        self.last_firings: list[Firing] = []
        self._status = HubStatus(
            ConnectionState(ConnectionKind.DISCONNECTED, "not started"), "none"
        )
        self._status_subscribers: list[Callable[[HubStatus], None]] = []
        self._notice_subscribers: list[Callable[[Notice], None]] = []
        self._unsubscribers: list[Callable[[], None]] = []
        self._backend_unsubscribers: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flows: list[ProvisioningFlow] = []
        self._probe: Callable[[str], Awaitable[tuple[str, int] | None]] | None = None
        self._started = False
        self._stopped = False
        self._temp_dir: Path | None = None

    def __repr__(self) -> str:
        return f"Hub({str(self.data_dir)!r}, lights={len(self.lights)}, {self._status.connection})"

    # --- demo ------------------------------------------------------------------------------
    @classmethod
    def create_demo(
        cls,
        *,
        lights: int = 3,
        paired: int = 2,
        data_dir: Path | str | None = None,
        seed: str | None = None,
        use_memory_keyring: bool = True,
        **options: Any,
    ) -> Hub:
        """A hub over simulated lights (the real firmware) and the embedded broker, in this
        process. ``paired`` of the ``lights`` are set up at start through the real provisioning
        flow; the others wait in the inbox. Data lives in a temporary directory unless
        ``data_dir`` is given. ``use_memory_keyring`` registers an in-memory keyring (the demo
        must not write into the user's keyring)."""
        from .demo import DemoEnvironment, demo_settings

        temp = None
        if data_dir is None:
            temp = Path(tempfile.mkdtemp(prefix="home-hub-demo-"))
            data_dir = temp
        data_path = Path(data_dir)
        environment = DemoEnvironment(
            data_path / "sim-flash", lights=lights, paired=paired, seed=seed,
            use_memory_keyring=use_memory_keyring,
        )
        options.setdefault("settings", demo_settings())
        options.setdefault("config_dir", data_path / "config")
        options.setdefault("secret_service", f"home-hub-demo-{environment.seed}")
        hub = cls(data_path / "hub", wifi_adapter=environment.adapter, **options)
        hub.demo = environment
        hub._temp_dir = temp
        hub._probe = environment.probe
        return hub

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load everything, start the backend and discovery (and the demo's lights)."""
        if self._started:
            return
        self._started = True
        self._set_status(activity="Starting…")
        if not self._settings_given:
            self.settings = await load_settings(self.config_dir / SETTINGS_FILE)
        await self.secrets.probe()
        if self.secrets.warning:
            self._notice("problem", "Passwords are not remembered", self.secrets.warning)
        await self._load_registry()
        await self._load_extras()
        for light in self.registry.all():
            self.lights.put(LightView.from_paired(light))
        self._unsubscribers.append(self.registry.subscribe(self._on_registry_event))
        self.session = aiohttp.ClientSession()
        if self.demo is not None:
            await self.demo.start()
        await self._start_backend()
        await self._start_discovery()
        if self.run_scheduler:
            self._spawn(self.scheduler.run(), "scheduler")
        if self.demo is not None:
            self._spawn(self.demo.pre_pair(self), "demo-pre-pair")
        else:
            self._set_status(activity=None)

    async def stop(self) -> None:
        """Stop everything the hub started (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        for flow in list(self._flows):
            with contextlib.suppress(Exception):
                await flow.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        await self._stop_discovery()
        await self._stop_backend()
        with contextlib.suppress(Exception):
            await self.registry.flush()
        if self.demo is not None:
            await self.demo.stop()
        if self.session is not None:
            await self.session.close()
        self.secrets.close()
        if self._temp_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._temp_dir, True)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                _log.error("background task %s failed", name, exc_info=finished.exception())
                self._notice("problem", "Something went wrong", f"{name}: {finished.exception()}")

        task.add_done_callback(done)
        return task

    async def _load_registry(self) -> None:
        try:
            await self.registry.load()
        except RegistryFileError as exc:
            await self.registry.start_empty()
            self._notice(
                "problem",
                "The list of lights could not be read",
                f"{exc} A copy was kept at {exc.backup_path}. Set up your lights again, or "
                "import the copy from the command line (hub-cli).",
            )

    async def _load_extras(self) -> None:
        self.scenes.reset(SceneList.parse(await read_json_async(self.data_dir / "scenes.json")))
        self.schedules.reset(
            ScheduleList.parse(await read_json_async(self.data_dir / "schedules.json"))
        )
        ignored = await read_json_async(self.data_dir / "ignored.json")
        if isinstance(ignored, dict) and isinstance(ignored.get("ignored"), list):
            self.ignored = {str(key) for key in ignored["ignored"]}

    # --- status and notices ----------------------------------------------------------------
    @property
    def status(self) -> HubStatus:
        return self._status

    def subscribe_status(self, callback: Callable[[HubStatus], None]) -> Callable[[], None]:
        """Call ``callback(HubStatus)`` on every change; returns the unsubscribe function."""
        return _add(self._status_subscribers, callback)

    def subscribe_notices(self, callback: Callable[[Notice], None]) -> Callable[[], None]:
        """Call ``callback(Notice)`` for tray/status messages; returns the unsubscribe function."""
        return _add(self._notice_subscribers, callback)

    _KEEP = object()

    def _set_status(
        self,
        *,
        connection: ConnectionState | None = None,
        label: str | None = None,
        activity: str | object | None = _KEEP,
    ) -> None:
        status = self._status
        if connection is not None:
            status = replace(status, connection=connection)
        if label is not None:
            status = replace(status, backend_label=label)
        if activity is not Hub._KEEP:
            status = replace(status, activity=activity)  # type: ignore[arg-type]
        if status == self._status:
            return
        self._status = status
        _call_all(self._status_subscribers, status)

    def set_activity(self, text: str | None) -> None:
        """Show what the hub is busy with (None: idle)."""
        self._set_status(activity=text)

    def _notice(self, kind: NoticeKind, title: str, text: str, device_id: str = "") -> None:
        _call_all(self._notice_subscribers, Notice(kind, title, text, device_id))

    # --- backend ---------------------------------------------------------------------------
    def _make_backend(self, settings: HubSettings, password: str | None) -> tuple[Backend, str]:
        if settings.backend == "embedded":
            from hub_app.broker_client.embedded import EmbeddedBackend

            embedded = settings.embedded
            backend: Backend = EmbeddedBackend(
                self.data_dir / "broker",
                host=embedded.host,
                port=embedded.port,
                tls=embedded.tls,
                plain_port=embedded.plain_port if embedded.plain_listener else None,
                tls_names=embedded.tls_name_list(),
                advertise_host=embedded.advertise_host or None,
                command_timeout=self.command_timeout,
            )
            return backend, "Built-in broker"
        if settings.backend == "mqtt":
            from hub_app.broker_client.mqtt import MqttBackend, MqttConfig

            mqtt = settings.mqtt
            config = MqttConfig(
                host=mqtt.host,
                port=mqtt.port,
                protocol=mqtt.protocol,
                username=mqtt.username or None,
                password=password,
                tls=mqtt.tls,
                ca_file=mqtt.ca_file or None,
                cert_file=mqtt.cert_file or None,
                key_file=mqtt.key_file or None,
                keepalive=mqtt.keepalive,
            )
            return MqttBackend(config, command_timeout=self.command_timeout), (
                f"MQTT broker {mqtt.host}:{mqtt.port}"
            )
        raise BackendError(
            f"The {settings.backend.upper()} backend is not available in this version yet."
        )

    async def _start_backend(self) -> None:
        password = None
        if self.settings.backend == "mqtt":
            password = await self.secrets.get("broker", BROKER_PASSWORD_KEY)
        try:
            backend, label = self._make_backend(self.settings, password)
        except BackendError as exc:
            self._set_status(
                connection=ConnectionState(ConnectionKind.DISCONNECTED, str(exc)),
                label=self.settings.backend,
            )
            return
        self.backend = backend
        self._set_status(label=label)
        self._backend_unsubscribers = [
            backend.subscribe_connection(lambda state: self._set_status(connection=state)),
            backend.subscribe_light(self._on_light_event),
        ]
        for light in self.registry.all():
            self._follow(light)
        try:
            await backend.start()
        except (BackendError, OSError) as exc:
            _log.warning("backend did not start: %s", exc)
            self._set_status(
                connection=ConnectionState(ConnectionKind.DISCONNECTED, _plain(exc))
            )
            return
        self._set_status(connection=backend.connection)

    async def _stop_backend(self) -> None:
        for unsubscribe in self._backend_unsubscribers:
            unsubscribe()
        self._backend_unsubscribers = []
        backend, self.backend = self.backend, None
        if backend is not None:
            with contextlib.suppress(Exception):
                await backend.close()
        self._set_status(connection=ConnectionState(ConnectionKind.DISCONNECTED, "stopped"))

    def _follow(self, light: PairedLight) -> None:
        if self.backend is not None and light.backend in ("mqtt", "embedded", "aws"):
            self.backend.add_light(light.device_id)
            self._on_twin(light.device_id)

    def _on_twin(self, device_id: str) -> None:
        view = self.lights.get(device_id)
        if view is None or self.backend is None or device_id not in self.backend.lights:
            return
        self.lights.put(view.with_twin(self.backend.twin(device_id)))

    def _on_light_event(self, event: LightEvent) -> None:
        view = self.lights.get(event.device_id)
        if view is None:
            return
        updated = view.with_twin(event.twin)
        if event.kind is LightEventKind.STATE and updated.last_error and not updated.pending:
            updated = replace(updated, last_error=None)
        self.lights.put(updated)
        if event.kind is LightEventKind.AVAILABILITY:
            if view.online is True and updated.online is False:
                self._notice(
                    "light_offline",
                    f"{view.display_name} went offline",
                    "It may have lost power or Wi-Fi. Home Hub will show it again when it is back.",
                    view.device_id,
                )
            elif view.online is False and updated.online is True:
                self._notice(
                    "light_online", f"{view.display_name} is back online", "", view.device_id
                )

    # --- registry and discovery ------------------------------------------------------------
    def _on_registry_event(self, event: RegistryEvent) -> None:
        light = event.light
        if event.kind == "removed":
            self.lights.discard(light.device_id)
            if self.backend is not None:
                self.backend.remove_light(light.device_id)
            # a forgotten light already waiting on its access point (e.g. after a factory
            # reset) is offered again: discovery reports an access point only once
            if self.ap_discovery is not None:
                for ap in self.ap_discovery.access_points.values():
                    if ap.device_id == light.device_id:
                        self._on_ap_event(ApEvent("added", ap))
            return
        view = self.lights.get(light.device_id)
        self.lights.put(
            view.with_paired(light) if view is not None else LightView.from_paired(light)
        )
        self._follow(light)
        if event.kind == "added":
            self.inbox.discard(light.device_id)
            if light.backend in ("mqtt", "aws"):
                self._spawn(self._ensure_broker_link(light.device_id), "broker-link")
            if light.extra.get("ssid") is not None:
                self._remember_from_flows(light.device_id)
            self._notice(
                "setup_finished",
                f"{light.display_name} is set up",
                f"It is in {light.room}." if light.room else "",
                light.device_id,
            )

    async def _ensure_broker_link(self, device_id: str) -> None:
        """A freshly paired light applies its new broker settings only after a restart (the
        firmware starts MQTT when it joins the LAN; ``mqtt.*`` keys are ``restart_required``).
        If it has not come online through the broker shortly after pairing, restart it once."""
        backend = self.backend
        if backend is None:
            return
        try:
            client = await self.device_client(device_id, transport="http", reconnect=False)
        except LookupError:
            return
        try:
            for _ in range(10):
                if backend.availability(device_id) is Availability.ONLINE:
                    return
                info = await client.get_info()
                mqtt = info.get("mqtt") if isinstance(info, dict) else None
                if not isinstance(mqtt, dict) or mqtt.get("connected"):
                    return
                await asyncio.sleep(0.1)
            _log.info("%s: restarting it so it uses its new broker settings", device_id)
            await client.call("Sys.Reboot", {"delay_ms": 200})
        except Exception as exc:  # the light may be busy or gone: it shows offline then
            _log.warning("%s: could not check its broker link: %s", device_id, exc)
        finally:
            await client.close()

    def _remember_from_flows(self, device_id: str) -> None:
        for flow in self._flows:
            state = flow.state
            if (
                state.device_id == device_id
                and state.remember_password
                and state.ssid
                and state.ssid not in self.settings.remembered_networks
            ):
                self.settings = replace(
                    self.settings,
                    remembered_networks=(*self.settings.remembered_networks, state.ssid),
                )
                self._spawn(self._save_settings(), "save-settings")

    async def _start_discovery(self) -> None:
        interfaces = list(self.settings.discovery_interfaces) or None
        lan = LanDiscovery(interfaces=interfaces)
        try:
            await lan.start()
        except Exception as exc:  # zeroconf raises OSError and its own errors
            _log.warning("LAN discovery did not start: %s", exc)
            self._notice(
                "problem",
                "Lights on your network cannot be found automatically",
                f"mDNS did not start ({_plain(exc)}). Choose another network interface in "
                "Settings > Discovery.",
            )
        else:
            self.lan_discovery = lan
            self._unsubscribers.append(lan.subscribe(self._on_lan_event))
            self._unsubscribers.append(self.registry.attach_discovery(lan))
        if self.wifi_adapter is None:
            from hub_app.discovery.wifi import choose_adapter

            self.wifi_adapter = choose_adapter()
        ap = ApDiscovery(self.wifi_adapter, interval_s=self.settings.ap_scan_interval_s)
        self.ap_discovery = ap
        self._unsubscribers.append(ap.subscribe(self._on_ap_event))
        await ap.start()

    async def _stop_discovery(self) -> None:
        if self.ap_discovery is not None:
            await self.ap_discovery.stop()
        if self.lan_discovery is not None:
            await self.lan_discovery.stop()

    def _wanted_in_inbox(self, key: str, device_id: str | None) -> bool:
        if key in self.ignored or (device_id is not None and device_id in self.ignored):
            return False
        return device_id is None or device_id not in self.registry

    def _on_lan_event(self, event: DiscoveryEvent) -> None:
        light = event.light
        if event.kind == "removed":
            self.inbox.drop_fact(light.device_id, "lan_address")
            return
        if light.paired is True or not self._wanted_in_inbox(light.device_id, light.device_id):
            return
        address = light.address
        self.inbox.merge(
            light.device_id,
            light.kind,
            device_id=light.device_id,
            lan_address=f"{address}:{light.port}" if address else None,
            model=light.model,
            fw_version=light.fw_version,
        )

    def _on_ap_event(self, event: ApEvent) -> None:
        ap = event.ap
        key = ap.device_id or ap.ssid
        if event.kind == "removed":
            self.inbox.drop_fact(key, "ap_ssid")
            return
        if not self._wanted_in_inbox(key, ap.device_id):
            return
        self.inbox.merge(
            key, ap.kind, device_id=ap.device_id, ap_ssid=ap.ssid,
            signal_dbm=ap.network.signal_dbm,
        )

    async def ignore(self, key: str) -> None:
        """Hide a discovered light from the inbox (remembered across restarts)."""
        self.ignored.add(key)
        self.inbox.discard(key)
        await write_json_async(self.data_dir / "ignored.json", {"ignored": sorted(self.ignored)})

    async def unignore_all(self) -> None:
        """Show ignored lights again (they return with the next scan)."""
        self.ignored.clear()
        await write_json_async(self.data_dir / "ignored.json", {"ignored": []})
        if self.ap_discovery is not None:
            await self.ap_discovery.scan_once()

    async def scan_now(self) -> None:
        """Scan for access points now (the inbox's Refresh)."""
        if self.ap_discovery is not None:
            await self.ap_discovery.scan_once()
        if self.lan_discovery is not None:
            await self.lan_discovery.refresh()

    # --- provisioning and diagnostics ------------------------------------------------------
    def start_provisioning(
        self, light: str | None = None, *, timeouts: FlowTimeouts | None = None
    ) -> ProvisioningFlow:
        """A new set-up flow (``light``: an access point's SSID to skip picking it), wired with
        the backend's pairing hook so the paired light appears in ``lights``. The caller drives
        it and calls ``await flow.close()``; ``stop()`` closes any left open."""
        if self.session is None or self.wifi_adapter is None or self.lan_discovery is None:
            raise RuntimeError("the hub is not started (or LAN discovery is unavailable)")
        flow = ProvisioningFlow(
            self.session,
            self.wifi_adapter,
            self.lan_discovery,
            self.registry,
            self.secrets,
            pairing=self._pairing_hook(),
            light=light,
            timeouts=timeouts or self.flow_timeouts,
            probe=self._probe,
        )
        self._flows.append(flow)
        del self._flows[:-20]
        return flow

    def flight_recorder(self, device_id: str) -> FlightRecorder | None:
        """The flight recorder of the latest set-up of ``device_id`` in this session (for the
        diagnostic report), or None."""
        for flow in reversed(self._flows):
            if flow.state.device_id == device_id:
                return flow.recorder
        return None

    def _pairing_hook(self) -> Callable[[str], Awaitable[dict[str, Any] | None]] | None:
        backend = self.backend
        pair = getattr(backend, "pair_light", None)
        if pair is not None:
            return pair  # type: ignore[no-any-return]
        if self.settings.backend == "mqtt":
            mqtt = self.settings.mqtt

            async def external(device_id: str) -> dict[str, Any]:
                config: dict[str, Any] = {
                    "mqtt.enable": True,
                    "mqtt.server": f"{mqtt.host}:{mqtt.port}",
                    "mqtt.tls": mqtt.tls,
                    "mqtt.client_id": device_id,
                }
                if mqtt.tls and mqtt.ca_file:
                    config["mqtt.ca"] = await asyncio.to_thread(
                        Path(mqtt.ca_file).read_text, encoding="utf-8"
                    )
                return config

            return external
        return None

    async def device_client(self, device_id: str, **options: Any) -> DeviceClient:
        """A ``DeviceClient`` to the light's LAN address with its LAN secret (for diagnostics).
        The caller closes it. LookupError for an unknown light or one without an address."""
        light = self.registry.get(device_id)
        if light is None:
            raise LookupError(f"{device_id} is not paired")
        if not light.addresses:
            raise LookupError(f"{light.display_name} has no known address on the network")
        if self.session is None:
            raise RuntimeError("the hub is not started")
        host, port = parse_address(light.addresses[0])
        secret = await self.secrets.get("light", device_id)
        return DeviceClient(self.session, host, port, password=secret, **options)

    async def forget_light(self, device_id: str) -> None:
        """Remove a light from the hub (registry, secrets, broker account)."""
        unpair = getattr(self.backend, "unpair_light", None)
        if unpair is not None:
            await unpair(device_id)
        with contextlib.suppress(RegistryError):
            await self.registry.remove(device_id)
        await self.secrets.forget_light(device_id)

    async def rename_light(self, device_id: str, *, name: str, room: str) -> None:
        """Change a light's name and room (in the hub's registry)."""
        await self.registry.update(device_id, name=name.strip(), room=room.strip())

    # --- control ---------------------------------------------------------------------------
    def _name(self, device_id: str) -> str:
        view = self.lights.get(device_id)
        return view.display_name if view is not None else device_id

    async def set_light(
        self,
        device_id: str,
        *,
        on: bool | None = None,
        brightness: int | None = None,
        rgb: tuple[int, int, int] | None = None,
    ) -> LightState:
        """Change a light; returns once the light confirmed it (the list shows it pending
        meanwhile). Rapid calls coalesce (the backend keeps one command on the wire). Raises
        ``ControlError`` in plain words."""
        backend = self.backend
        if backend is None or device_id not in backend.lights:
            raise ControlError(
                f"{self._name(device_id)} cannot be controlled right now.",
                "Check the backend in Settings; lights set up without a broker need the direct "
                "LAN backend.",
                "unavailable",
                device_id,
            )
        try:
            return await backend.set_light(device_id, on=on, brightness=brightness, rgb=rgb)
        except CommandError as exc:
            error = describe_command_error(exc, self._name(device_id))
            view = self.lights.get(device_id)
            if view is not None:
                self.lights.put(replace(view, last_error=str(error)))
            raise error from None

    async def toggle(self, device_id: str) -> LightState:
        """Switch a light over (from what it last reported, or asked for while pending)."""
        view = self.lights.get(device_id)
        current = view.desired_value("on") if view is not None else None
        if current is None and view is not None:
            current = view.on
        return await self.set_light(device_id, on=not bool(current))

    def lights_in_room(self, room: str) -> list[LightView]:
        return [view for view in self.lights if view.room == room]

    async def set_room(
        self,
        room: str,
        *,
        on: bool | None = None,
        brightness: int | None = None,
        rgb: tuple[int, int, int] | None = None,
    ) -> GroupResult:
        """Switch every light of a room together; offline ones are reported, not waited for."""
        ids = [view.device_id for view in self.lights_in_room(room)]
        return await self._group(
            [(device_id, {"on": on, "brightness": brightness, "rgb": rgb}) for device_id in ids]
        )

    async def _group(self, commands: Iterable[tuple[str, dict[str, Any]]]) -> GroupResult:
        items = list(commands)

        async def one(device_id: str, fields: dict[str, Any]) -> ControlError | None:
            try:
                await self.set_light(device_id, **fields)
            except ControlError as exc:
                return exc
            return None

        results = await asyncio.gather(*(one(d, f) for d, f in items))
        confirmed = tuple(d for (d, _), r in zip(items, results, strict=True) if r is None)
        failed = tuple(
            (d, r) for (d, _), r in zip(items, results, strict=True) if r is not None
        )
        return GroupResult(confirmed, failed)

    # --- scenes ----------------------------------------------------------------------------
    async def save_scene(self, name: str, device_ids: Iterable[str] | None = None) -> Scene:
        """Save the confirmed state of ``device_ids`` (default: every light with a known state)
        as a scene called ``name`` (replacing one of that name)."""
        name = name.strip()
        if not name:
            raise ValueError("a scene needs a name")
        wanted = set(device_ids) if device_ids is not None else None
        lights = tuple(
            SceneLight(view.device_id, bool(view.on), view.brightness, view.rgb)
            for view in self.lights
            if (wanted is None or view.device_id in wanted) and view.on is not None
        )
        if not lights:
            raise ValueError("none of these lights has reported its state yet")
        scene = Scene(name, lights)
        self.scenes.put(scene)
        await self._save_scenes()
        return scene

    async def delete_scene(self, name: str) -> None:
        if self.scenes.discard(name):
            await self._save_scenes()

    async def apply_scene(self, name: str) -> GroupResult:
        """Put every light of the scene in its saved state; returns per-light results."""
        scene = self.scenes.get(name)
        if scene is None:
            raise LookupError(f"no scene called {name!r}")
        commands = []
        for light in scene.lights:
            if light.device_id not in self.lights_by_id():
                continue
            fields: dict[str, Any] = {"on": light.on}
            if light.on:
                fields["brightness"] = light.brightness
                fields["rgb"] = light.rgb
            commands.append((light.device_id, fields))
        return await self._group(commands)

    def lights_by_id(self) -> dict[str, LightView]:
        return {view.device_id: view for view in self.lights}

    async def _save_scenes(self) -> None:
        await write_json_async(self.data_dir / "scenes.json", self.scenes.to_json())

    # --- schedules -------------------------------------------------------------------------
    async def put_schedule(self, schedule: Schedule) -> None:
        """Add or replace (same ``schedule_id``) a schedule."""
        self.schedules.put(schedule)
        await write_json_async(self.data_dir / "schedules.json", self.schedules.to_json())

    async def delete_schedule(self, schedule_id: str) -> None:
        if self.schedules.discard(schedule_id):
            await write_json_async(self.data_dir / "schedules.json", self.schedules.to_json())

    async def _run_schedule(self, schedule: Schedule) -> None:
        ids = list(schedule.device_ids)
        if schedule.room:
            in_room = self.lights_in_room(schedule.room)
            ids += [v.device_id for v in in_room if v.device_id not in ids]
        fields: dict[str, Any]
        if schedule.action == "on":
            fields = {"on": True}
        elif schedule.action == "off":
            fields = {"on": False}
        else:
            fields = {"on": True, "rgb": schedule.rgb, "brightness": schedule.brightness}
        result = await self._group([(d, dict(fields)) for d in ids if d in self.lights_by_id()])
        if result.failed:
            names = ", ".join(self._name(d) for d, _ in result.failed)
            raise RuntimeError(f"not confirmed by {names}")

    def _on_firing(self, firing: Firing) -> None:
        self.last_firings = [*self.last_firings[-19:], firing]
        if not firing.ran:
            self._notice(
                "schedule",
                f"Schedule {firing.schedule.name!r} was skipped",
                f"It was due at {firing.due:%H:%M} while Home Hub was not running or the PC "
                "was asleep.",
            )
        elif firing.error:
            self._notice(
                "schedule", f"Schedule {firing.schedule.name!r} did not finish", firing.error
            )

    # --- settings --------------------------------------------------------------------------
    async def _save_settings(self) -> None:
        await save_settings(self.config_dir / SETTINGS_FILE, self.settings)

    async def apply_settings(
        self, settings: HubSettings, *, broker_password: str | None = None
    ) -> None:
        """Save new settings and restart what they affect (backend, discovery)."""
        old = self.settings
        self.settings = settings
        if broker_password is not None:
            if broker_password:
                await self.secrets.set("broker", BROKER_PASSWORD_KEY, broker_password)
            else:
                await self.secrets.delete("broker", BROKER_PASSWORD_KEY)
        await self._save_settings()
        backend_changed = (old.backend, old.embedded, old.mqtt) != (
            settings.backend,
            settings.embedded,
            settings.mqtt,
        )
        if backend_changed or broker_password is not None:
            await self._stop_backend()
            await self._start_backend()
        if old.discovery_interfaces != settings.discovery_interfaces:
            await self._stop_discovery()
            await self._start_discovery()

    async def test_connection(
        self, settings: HubSettings, broker_password: str | None = None
    ) -> ConnectionTest:
        """Try the backend ``settings`` describe without changing the running one."""
        if settings.backend == "embedded":
            embedded = settings.embedded
            running = self.backend
            if (
                running is not None
                and self.settings.backend == "embedded"
                and self.settings.embedded == embedded
                and running.connection.kind is ConnectionKind.CONNECTED
            ):
                return ConnectionTest(True, "The built-in broker is running.")
            try:
                await asyncio.to_thread(_try_bind, embedded.host, embedded.port)
            except OSError as exc:
                return ConnectionTest(
                    False,
                    f"Port {embedded.port} cannot be used ({_plain(exc)}).",
                    "Another broker may be running: choose another port or use it as an "
                    "external MQTT broker.",
                )
            return ConnectionTest(True, f"Port {embedded.port} is free for the built-in broker.")
        if settings.backend != "mqtt":
            return ConnectionTest(
                False,
                f"The {settings.backend.upper()} backend is not available in this version yet.",
                "Use the built-in broker or an external MQTT broker.",
            )
        if broker_password is None:
            broker_password = await self.secrets.get("broker", BROKER_PASSWORD_KEY)
        try:
            backend, label = self._make_backend(settings, broker_password)
        except BackendError as exc:
            return ConnectionTest(False, _plain(exc), "Check the settings.")
        try:
            await backend.start()
            await backend.wait_connected(timeout=8.0)
        except TimeoutError:
            reason = backend.connection.reason or "no answer"
            return ConnectionTest(
                False,
                f"Could not connect to {label}: {reason}.",
                "Check the host, port, user name, password and TLS files.",
            )
        except (BackendError, OSError) as exc:
            return ConnectionTest(
                False, f"Could not connect: {_plain(exc)}.", "Check the settings."
            )
        finally:
            with contextlib.suppress(Exception):
                await backend.close()
        return ConnectionTest(True, f"Connected to {label}.")

    async def remember_network(self, ssid: str, password: str) -> None:
        """Keep a Wi-Fi password in the keyring for the set-up wizard."""
        await self.secrets.set("wifi", ssid, password)
        if ssid not in self.settings.remembered_networks:
            self.settings = replace(
                self.settings, remembered_networks=(*self.settings.remembered_networks, ssid)
            )
        await self._save_settings()

    async def forget_network(self, ssid: str) -> None:
        """Delete a remembered Wi-Fi password."""
        await self.secrets.delete("wifi", ssid)
        self.settings = replace(
            self.settings,
            remembered_networks=tuple(n for n in self.settings.remembered_networks if n != ssid),
        )
        await self._save_settings()


def _try_bind(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host or "0.0.0.0", port))


def _plain(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _add(subscribers: list[Any], callback: Any) -> Callable[[], None]:
    subscribers.append(callback)

    def unsubscribe() -> None:
        if callback in subscribers:
            subscribers.remove(callback)

    return unsubscribe


def _call_all(subscribers: list[Any], value: Any) -> None:
    for callback in list(subscribers):
        try:
            callback(value)
        except Exception:
            _log.exception("hub subscriber failed")
