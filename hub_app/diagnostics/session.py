"""``DeviceDiagnostics``: everything the diagnostics window does with one light, Qt-free.

It talks to the light through a ``DeviceClient`` whose ``trace`` callback is ``self.on_trace``
(so the RPC console shows the raw frames and timings), keeps the console history, the log, the
ping and signal statistics, and builds the diagnostic report.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub_app.device.client import DeviceClient, Notification
from hub_app.device.errors import DeviceError, RpcError
from hub_app.device.trace import RpcTrace
from hub_app.discovery.wifi.base import tcp_reachable

from .config_diff import ConfigChange, to_partial_tree
from .firmware_server import FirmwareServer, local_address_towards, sha256_file
from .history import ConsoleEntry, RpcLog
from .latency import LatencyStats, SignalSeries
from .logs import LogLine, LogStore
from .params import check_params
from .report import ReportContent, build_members, find_secrets, write_report

__all__ = ["BootState", "DeviceDiagnostics", "SecretLeakError", "config_error_key"]

_KEY_IN_MESSAGE = re.compile(r"([a-z_]+(?:\.[a-z0-9_]+)+)")


def config_error_key(message: str) -> str | None:
    """The dotted config key a Config.Set error message names (None when none)."""
    match = _KEY_IN_MESSAGE.search(message)
    return match.group(1) if match else None


class SecretLeakError(RuntimeError):
    """A report would have contained a secret; it was deleted."""


@dataclass(frozen=True)
class BootState:
    """OTA.GetBootState in a few fields."""

    fw_version: str
    active_slot: int | None
    is_committed: bool
    commit_timeout: int
    last_error: str | None

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> BootState:
        return cls(str(reply.get("fw_version") or ""), reply.get("active_slot"),
                   bool(reply.get("is_committed", True)), int(reply.get("commit_timeout") or 0),
                   reply.get("last_error"))


ProgressCallback = Callable[[int, str], None]


class DeviceDiagnostics:
    """Diagnostics of one light.

    ``client``: a DeviceClient made with ``trace=diagnostics.on_trace`` (use ``attach`` when it
    is created afterwards). ``lan_discovery``: a ``LanDiscovery`` for the mDNS check.
    ``broker``: ``(host, port)`` of the hub's MQTT broker, or None for a direct-LAN backend.
    ``known_secrets``: values that must never appear in a report (the light's key, passwords).
    """

    def __init__(self, device_id: str, client: DeviceClient | None = None, *,
                 lan_discovery: Any = None, broker: tuple[str, int] | None = None,
                 backend: str | None = None, paired: Any = None,
                 flight_recorder_json: Callable[[], str | None] | None = None,
                 known_secrets: Iterable[str] = ()) -> None:
        self.device_id = device_id
        self.client = client
        self.lan_discovery = lan_discovery
        self.broker = broker
        self.backend = backend
        self.paired = paired
        self.flight_recorder_json = flight_recorder_json
        self.known_secrets = [s for s in known_secrets if s]
        self.rpc_log = RpcLog()
        self.log = LogStore()
        self.signal = SignalSeries()
        self.info: dict[str, Any] | None = None
        self.wifi: dict[str, Any] | None = None
        self.config: dict[str, Any] | None = None
        self.boot_state: BootState | None = None
        self.last_ping: LatencyStats | None = None
        self.methods: list[str] = []
        self._collecting: list[RpcTrace] | None = None
        self._t0 = time.monotonic()

    def attach(self, client: DeviceClient) -> None:
        self.client = client

    def _client(self) -> DeviceClient:
        if self.client is None:
            raise RuntimeError("no client attached")
        return self.client

    def on_trace(self, trace: RpcTrace) -> None:
        """The DeviceClient's ``trace`` callback."""
        if self._collecting is not None:
            self._collecting.append(trace)

    # --------------------------------------------------------------- info
    async def refresh_info(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Sys.GetInfo (full) and Wifi.GetStatus."""
        client = self._client()
        self.info = await client.get_info()
        with contextlib.suppress(DeviceError):
            self.wifi = await client.wifi_status()
        rssi = (self.wifi or {}).get("rssi", (self.info.get("wifi") or {}).get("rssi"))
        self.signal.add(time.monotonic() - self._t0, rssi)
        return self.info, self.wifi

    # --------------------------------------------------------------- console
    async def list_methods(self) -> list[str]:
        """RPC.List, sorted."""
        result = await self._client().call("RPC.List")
        self.methods = sorted(str(m) for m in result) if isinstance(result, list) else []
        return self.methods

    async def console_call(self, method: str, params_text: str) -> ConsoleEntry:
        """One console call. Invalid JSON params raise ValueError (nothing is sent)."""
        method = method.strip()
        if not method:
            raise ValueError("Type a method name, for example Sys.GetInfo.")
        check = check_params(params_text)
        if not check.ok:
            raise ValueError(check.error)
        entry = ConsoleEntry(method, params_text)
        self._collecting = entry.traces
        try:
            entry.result = await self._client().call(method, check.params)
        except DeviceError as exc:
            entry.error = str(exc)
        finally:
            self._collecting = None
        self.rpc_log.add(entry)
        return entry

    # --------------------------------------------------------------- log
    async def poll_log(self) -> list[LogLine]:
        """Sys.GetLog from where the last poll stopped. -> the new lines."""
        params: dict[str, Any] = {"lines": 100}
        if self.log.since is not None:
            params["since"] = self.log.since
        reply = await self._client().call("Sys.GetLog", params)
        return self.log.add_reply(reply if isinstance(reply, Mapping) else {})

    # --------------------------------------------------------------- config
    async def get_config(self) -> dict[str, Any]:
        result = await self._client().config_get()
        self.config = dict(result) if isinstance(result, Mapping) else {}
        return self.config

    async def apply_config(self, changes: list[ConfigChange], *, save: bool = True,
                           ) -> dict[str, Any]:
        """Config.Set with only the changed keys. RpcError names the bad key (see
        ``config_error_key``)."""
        result = await self._client().call(
            "Config.Set", {"config": to_partial_tree(changes), "save": save})
        await self.get_config()
        return dict(result) if isinstance(result, Mapping) else {}

    # --------------------------------------------------------------- connectivity
    async def ping(self, count: int = 20, interval_s: float = 0.05,
                   on_sample: Callable[[LatencyStats], None] | None = None) -> LatencyStats:
        """RPC.Ping ``count`` times; round-trip times in ms."""
        stats = LatencyStats()
        client = self._client()
        for index in range(count):
            started = time.perf_counter()
            try:
                await client.call("RPC.Ping", timeout=3.0)
            except DeviceError:
                stats.add_lost()
            else:
                stats.add((time.perf_counter() - started) * 1000.0)
            if on_sample is not None:
                on_sample(stats)
            if index + 1 < count:
                await asyncio.sleep(interval_s)
        self.last_ping = stats
        return stats

    async def broker_check(self) -> tuple[bool | None, str]:
        """Whether the hub's MQTT broker accepts TCP connections. (None, why) when the backend
        uses no broker."""
        if self.broker is None:
            return None, "This light is controlled directly on the LAN; no broker is used."
        host, port = self.broker
        ok = await tcp_reachable(host, port, 3.0)
        where = f"{host}:{port}"
        return ok, (f"The broker at {where} accepts connections." if ok else
                    f"The broker at {where} cannot be reached: check that it runs and that no "
                    "firewall blocks the port.")

    def mdns_check(self) -> tuple[bool | None, str]:
        """Whether LAN discovery (mDNS) currently sees the light."""
        if self.lan_discovery is None:
            return None, "LAN discovery is not running in this hub."
        lights = getattr(self.lan_discovery, "lights", {}) or {}
        light = lights.get(self.device_id)
        if light is None:
            return False, ("The light is not visible over mDNS. It may be offline, on another "
                           "network or VLAN, or a firewall may block multicast (UDP 5353).")
        addresses = ", ".join(getattr(light, "addresses", ()) or ())
        return True, f"Visible over mDNS at {addresses} port {getattr(light, 'port', '?')}."

    async def sample_signal(self) -> int | None:
        """One Wifi.GetStatus rssi sample (added to ``signal``)."""
        status = await self._client().wifi_status()
        rssi = status.get("rssi")
        self.signal.add(time.monotonic() - self._t0, rssi if isinstance(rssi, int) else None)
        return rssi if isinstance(rssi, int) else None

    # --------------------------------------------------------------- firmware
    async def get_boot_state(self) -> BootState:
        reply = await self._client().call("OTA.GetBootState")
        self.boot_state = BootState.from_reply(reply if isinstance(reply, Mapping) else {})
        return self.boot_state

    async def update_firmware(self, *, path: str | Path | None = None, url: str | None = None,
                              sha256: str | None = None, commit_timeout: int = 300,
                              on_progress: ProgressCallback | None = None,
                              restart_timeout_s: float = 120.0) -> BootState:
        """Send a firmware image (a local file served by a small HTTP server, or a URL with its
        sha256) and wait until the light runs it. -> the boot state (``is_committed`` False:
        call ``commit()`` within ``commit_timeout`` seconds or the light rolls back)."""
        client = self._client()
        report = on_progress or (lambda _pct, _text: None)
        loop = asyncio.get_running_loop()
        server: FirmwareServer | None = None
        failure: asyncio.Future[str] = loop.create_future()
        rebooting = asyncio.Event()

        def on_notification(note: Notification) -> None:
            for event in (note.params.get("events") or []) if note.method == "NotifyEvent" \
                    else []:
                name = event.get("event") if isinstance(event, dict) else None
                if name == "ota_progress":
                    report(int(event.get("progress") or 0), "Downloading")
                elif name == "ota_failed" and not failure.done():
                    failure.set_result(str(event.get("message") or "update failed"))
                elif name == "reboot_pending":
                    rebooting.set()

        unsubscribe = client.subscribe(on_notification)
        try:
            before = await self.get_boot_state()
            if path is not None:
                report(0, "Checking the file")
                sha256 = await loop.run_in_executor(None, sha256_file, path)
                server = FirmwareServer(path, local_address_towards(client.host, client.port))
                url = await server.start()
            if not url or not sha256:
                raise ValueError("Give a firmware file, or a URL with its SHA-256.")
            with contextlib.suppress(DeviceError):
                await client.connect_ws(timeout=5.0)  # ota_progress comes over the WebSocket
            await client.call("OTA.Update", {"url": url, "sha256": sha256.lower(),
                                             "commit_timeout": commit_timeout})
            report(0, "The light is downloading the firmware")
            async with asyncio.timeout(restart_timeout_s):
                state = await self._wait_new_image(before, failure, rebooting, report)
            report(100, "Running the new firmware")
            return state
        finally:
            unsubscribe()
            if server is not None:
                await server.stop()

    async def _wait_new_image(self, before: BootState, failure: asyncio.Future[str],
                              rebooting: asyncio.Event, report: ProgressCallback) -> BootState:
        """Poll OTA.GetBootState until the light runs an uncommitted new image."""
        seen_down = False
        while True:
            if failure.done():
                raise RpcError(500, failure.result(), "OTA.Update")
            try:
                state = await self._client().call("OTA.GetBootState", timeout=3.0)
            except DeviceError:
                if not seen_down:
                    report(100, "The light is restarting")
                seen_down = True
                await asyncio.sleep(0.3)
                continue
            current = BootState.from_reply(state if isinstance(state, Mapping) else {})
            if not current.is_committed and (seen_down or rebooting.is_set()
                                             or current.active_slot != before.active_slot):
                self.boot_state = current
                return current
            if current.last_error and current.last_error != before.last_error:
                raise RpcError(500, current.last_error, "OTA.Update")
            await asyncio.sleep(0.3)

    async def commit(self) -> BootState:
        await self._client().call("OTA.Commit", {})
        return await self.get_boot_state()

    async def revert(self) -> None:
        await self._client().call("OTA.Revert", {})

    async def reboot(self) -> None:
        await self._client().call("Sys.Reboot", {})

    async def factory_reset(self) -> None:
        await self._client().call("Sys.FactoryReset", {})

    # --------------------------------------------------------------- report
    def report_content(self) -> ReportContent:
        connectivity: dict[str, Any] = {}
        if self.last_ping is not None:
            connectivity["ping"] = self.last_ping.summary()
        if self.signal.points:
            connectivity["signal_dbm"] = list(self.signal.points)
        recorder = self.flight_recorder_json() if self.flight_recorder_json else None
        boot = self.boot_state.__dict__ if self.boot_state else None
        return ReportContent(device_id=self.device_id, info=self.info, wifi_status=self.wifi,
                             boot_state=boot, config=self.config, log_text=self.log.text(),
                             flight_recorder_json=recorder, rpc_history=self.rpc_log.to_json(),
                             connectivity=connectivity or None)

    async def export_report(self, path: str | Path) -> Path:
        """Write the report zip (in an executor) and check it for every known secret.
        Raises SecretLeakError (and deletes the file) if one is found."""
        members = build_members(self.report_content(), self.known_secrets)
        loop = asyncio.get_running_loop()
        written = await loop.run_in_executor(None, write_report, path, members)
        hits = await loop.run_in_executor(None, find_secrets, written, self.known_secrets)
        if hits:
            await loop.run_in_executor(None, lambda: Path(written).unlink(missing_ok=True))
            raise SecretLeakError(f"secret found in {', '.join(hits)}; report not written")
        return written
