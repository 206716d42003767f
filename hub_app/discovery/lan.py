"""LAN discovery of lights over mDNS / DNS-SD (python-zeroconf's async API).

``LanDiscovery`` browses ``_hublight._tcp``, ``_http._tcp`` (only Mongoose OS-looking services:
TXT ``id`` plus ``fw_id`` or ``arch``, or ``app=HubLight``) and ``_shelly._tcp``, resolves every
instance and keeps one ``DiscoveredLight`` per device id, merged over all its services and
addresses. Subscribers get ``DiscoveryEvent``s:

* ``added``   - the first service of a device id resolved;
* ``updated`` - anything but ``last_seen`` changed (``event.address_changed`` tells a new address:
  the registry uses it to follow a paired light to its new IP by itself);
* ``removed`` - the last service of the device id is gone (goodbye packet or expired records).

Malformed services (bad TXT, odd names) are skipped with a log line; they never stop discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .interfaces import resolve_interfaces

_log = logging.getLogger(__name__)

HUBLIGHT_TYPE = "_hublight._tcp.local."
HTTP_TYPE = "_http._tcp.local."
SHELLY_TYPE = "_shelly._tcp.local."
SERVICE_TYPES = (HUBLIGHT_TYPE, HTTP_TYPE, SHELLY_TYPE)

LightKind = Literal["hublight", "mongoose", "shelly"]
EventKind = Literal["added", "updated", "removed"]

_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_KIND_PRIORITY: dict[str, int] = {"hublight": 0, "shelly": 1, "mongoose": 2}
_TYPE_PRIORITY = {HUBLIGHT_TYPE: 0, SHELLY_TYPE: 1, HTTP_TYPE: 2}


class MalformedServiceError(ValueError):
    """A service that claims to be a light but cannot be used (the message says why)."""


@dataclass(frozen=True)
class DiscoveredLight:
    """One light on the LAN, merged over all its DNS-SD services.

    ``addresses`` lists IPv4 addresses first; ``port`` is the RPC/HTTP port of the preferred
    service (``_hublight`` over ``_shelly`` over ``_http``); ``paired`` is the TXT ``paired`` flag
    (None when the light does not say); ``last_seen`` is a UNIX time.
    """

    device_id: str
    kind: LightKind
    name: str
    model: str | None
    fw_version: str | None
    fw_id: str | None
    arch: str | None
    addresses: tuple[str, ...]
    port: int
    service_types: tuple[str, ...]
    txt: Mapping[str, str] = field(hash=False)
    paired: bool | None
    last_seen: float = field(compare=False)
    host: str | None = None

    @property
    def address(self) -> str | None:
        """The preferred address (the first IPv4 one), or None."""
        return self.addresses[0] if self.addresses else None

    @property
    def rpc_url(self) -> str | None:
        """``http://address:port/rpc`` (IPv6 in brackets), or None without an address."""
        address = self.address
        if address is None:
            return None
        host = f"[{address}]" if ":" in address else address
        return f"http://{host}:{self.port}/rpc"


@dataclass(frozen=True)
class DiscoveryEvent:
    """``kind`` happened to ``light``; ``previous`` is the light before an update."""

    kind: EventKind
    light: DiscoveredLight
    previous: DiscoveredLight | None = None

    @property
    def address_changed(self) -> bool:
        """True for an update whose addresses or port differ from before."""
        return (
            self.kind == "updated"
            and self.previous is not None
            and (self.previous.addresses, self.previous.port)
            != (self.light.addresses, self.light.port)
        )


@dataclass(frozen=True)
class _ServiceRecord:
    service_type: str
    instance: str
    device_id: str
    kind: LightKind
    name: str
    model: str | None
    fw_version: str | None
    fw_id: str | None
    arch: str | None
    addresses: tuple[str, ...]
    port: int
    txt: Mapping[str, str] = field(hash=False)
    paired: bool | None
    host: str | None


def decode_txt(properties: Mapping[bytes, bytes | None], service: str = "") -> dict[str, str]:
    """TXT properties as text, keys lower-case (DNS-SD keys are case-insensitive).

    A key or value that is not UTF-8 is dropped with a log line; a key without ``=`` gets "".
    """
    decoded: dict[str, str] = {}
    for raw_key, raw_value in properties.items():
        try:
            key = raw_key.decode("utf-8").strip().lower()
            value = "" if raw_value is None else raw_value.decode("utf-8")
        except UnicodeDecodeError:
            _log.warning("mDNS: %s: dropping a TXT entry that is not UTF-8", service or "?")
            continue
        if not key or not key.isprintable():
            _log.warning("mDNS: %s: dropping a TXT entry with an unusable key", service or "?")
            continue
        decoded.setdefault(key, value)
    return decoded


def instance_label(full_name: str, service_type: str) -> str:
    """``hublight-1a2b3c`` from ``hublight-1a2b3c._hublight._tcp.local.``."""
    if full_name.endswith("." + service_type):
        return full_name[: -len(service_type) - 1]
    return full_name.split(".", 1)[0]


def _sort_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    unique: dict[str, None] = {}
    for address in addresses:
        unique.setdefault(address, None)

    def key(address: str) -> tuple[int, int, str]:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return (2, 0, address)
        # IPv4 first; within a family link-local and loopback last
        return (0 if ip.version == 4 else 1, int(ip.is_link_local or ip.is_loopback), address)

    return tuple(sorted(unique, key=key))


def parse_service(
    service_type: str,
    full_name: str,
    properties: Mapping[bytes, bytes | None],
    addresses: Iterable[str],
    port: int | None,
    server: str | None = None,
) -> _ServiceRecord | None:
    """Make a light out of one resolved service.

    Returns None for a service that is simply not a light (an ``_http`` printer); raises
    ``MalformedServiceError`` for one that looks like a light but is unusable.
    """
    txt = decode_txt(properties, full_name)
    label = instance_label(full_name, service_type)
    app = txt.get("app", "")
    if service_type == HTTP_TYPE:
        looks_mongoose = "id" in txt and ("fw_id" in txt or "arch" in txt)
        if not (looks_mongoose or app.lower() == "hublight"):
            return None
    raw_id = txt.get("id") or (label if service_type != HTTP_TYPE else "")
    device_id = raw_id.strip().lower()
    if not _DEVICE_ID.match(device_id):
        raise MalformedServiceError(f"unusable device id {raw_id[:80]!r}")
    if port is None or not 0 < port < 65536:
        raise MalformedServiceError(f"no usable port ({port!r})")
    addresses = _sort_addresses(addresses)
    if not addresses:
        raise MalformedServiceError("no address")
    kind: LightKind
    if service_type == HUBLIGHT_TYPE or app.lower() == "hublight":
        kind = "hublight"
    elif service_type == SHELLY_TYPE or "gen" in txt or device_id.startswith("shelly"):
        kind = "shelly"
    else:
        kind = "mongoose"
    paired_text = txt.get("paired")
    paired = {"1": True, "0": False, "true": True, "false": False}.get(
        (paired_text or "").lower()
    )
    if paired_text is not None and paired is None:
        _log.info("mDNS: %s: ignoring TXT paired=%r", device_id, paired_text[:20])
    model = txt.get("model") or (app if kind == "shelly" and app else None)
    return _ServiceRecord(
        service_type=service_type,
        instance=full_name,
        device_id=device_id,
        kind=kind,
        name=txt.get("name") or label,
        model=model or None,
        fw_version=txt.get("fw_version") or txt.get("ver") or None,
        fw_id=txt.get("fw_id") or None,
        arch=txt.get("arch") or None,
        addresses=addresses,
        port=port,
        txt=txt,
        paired=paired,
        host=server,
    )


def merge_records(records: list[_ServiceRecord], last_seen: float) -> DiscoveredLight:
    """One light from all services of one device id (preferred service first)."""
    ordered = sorted(records, key=lambda r: (_TYPE_PRIORITY.get(r.service_type, 9), r.instance))
    first = ordered[0]
    txt: dict[str, str] = {}
    for record in reversed(ordered):
        txt.update(record.txt)

    def pick(attribute: str) -> str | None:
        for record in ordered:
            value = getattr(record, attribute)
            if value:
                return str(value)
        return None

    kind = min((r.kind for r in ordered), key=lambda k: _KIND_PRIORITY[k])
    paired = next((r.paired for r in ordered if r.paired is not None), None)
    return DiscoveredLight(
        device_id=first.device_id,
        kind=kind,
        name=first.name,
        model=pick("model"),
        fw_version=pick("fw_version"),
        fw_id=pick("fw_id"),
        arch=pick("arch"),
        addresses=_sort_addresses(a for r in ordered for a in r.addresses),
        port=first.port,
        service_types=tuple(sorted({r.service_type for r in ordered},
                                   key=lambda t: _TYPE_PRIORITY.get(t, 9))),
        txt=txt,
        paired=paired,
        last_seen=last_seen,
        host=pick("host"),
    )


class DiscoveryStoppedError(RuntimeError):
    """``wait_for`` was pending when discovery stopped."""


EventCallback = Callable[[DiscoveryEvent], None]


class LanDiscovery:
    """Finds lights on the LAN; see the module docstring for the events.

    ``interfaces``: None for every interface, or names / IPv4 addresses (``list_interfaces()``
    shows the choices). ``zeroconf``: share an ``AsyncZeroconf`` (then ``interfaces`` is ignored
    and it is not closed by ``stop()``).
    """

    def __init__(
        self,
        interfaces: list[str] | None = None,
        zeroconf: AsyncZeroconf | None = None,
        *,
        service_types: Iterable[str] = SERVICE_TYPES,
        resolve_timeout_s: float = 3.0,
        settle_delay_s: float = 1.5,
    ) -> None:
        self.interfaces = interfaces
        self.service_types = tuple(service_types)
        self.resolve_timeout_s = resolve_timeout_s
        #: re-resolve this long after an update, once the old records flushed from the cache
        self.settle_delay_s = settle_delay_s
        self._zc = zeroconf
        self._owns_zc = zeroconf is None
        self._browser: AsyncServiceBrowser | None = None
        self._records: dict[tuple[str, str], _ServiceRecord] = {}
        self._lights: dict[str, DiscoveredLight] = {}
        self._subscribers: list[EventCallback] = []
        self._resolvers: dict[tuple[str, str], set[asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: list[tuple[str, Callable[[DiscoveredLight], bool] | None,
                                  asyncio.Future[DiscoveredLight]]] = []
        self._running = False

    # --- public API --------------------------------------------------------------------------
    @property
    def lights(self) -> dict[str, DiscoveredLight]:
        """The lights seen now, by device id (a copy)."""
        return dict(self._lights)

    @property
    def running(self) -> bool:
        """Whether ``start()`` ran and ``stop()`` did not."""
        return self._running

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(DiscoveryEvent)`` for every event. -> unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    async def start(self) -> None:
        """Open mDNS on the chosen interfaces and start browsing."""
        if self._running:
            return
        if self._zc is None:
            if self.interfaces:
                addresses = resolve_interfaces(self.interfaces)
                v4_only = all(":" not in a for a in addresses)
                self._zc = AsyncZeroconf(
                    interfaces=addresses, ip_version=IPVersion.V4Only if v4_only else None
                )
            else:
                self._zc = AsyncZeroconf(interfaces=InterfaceChoice.All)
        self._browser = AsyncServiceBrowser(
            self._zc.zeroconf, list(self.service_types), handlers=[self._on_state_change]
        )
        self._running = True

    async def stop(self) -> None:
        """Stop browsing, cancel pending resolutions, close our zeroconf, fail waiters."""
        self._running = False
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._resolvers.clear()
        if self._zc is not None and self._owns_zc:
            await self._zc.async_close()
            self._zc = None
        for _, _, future in self._waiters:
            if not future.done():
                future.set_exception(DiscoveryStoppedError("LAN discovery stopped"))
        self._waiters.clear()

    async def wait_for(
        self,
        device_id: str,
        timeout: float,  # noqa: ASYNC109 - the provisioning flow's step has its own time limit
        where: Callable[[DiscoveredLight], bool] | None = None,
    ) -> DiscoveredLight:
        """The light ``device_id`` as soon as it is on the LAN (and ``where(light)`` holds).

        Raises TimeoutError after ``timeout`` seconds.
        """
        device_id = device_id.lower()
        light = self._lights.get(device_id)
        if light is not None and (where is None or where(light)):
            return light
        future: asyncio.Future[DiscoveredLight] = asyncio.get_running_loop().create_future()
        entry = (device_id, where, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    async def refresh(self) -> None:
        """Resolve every known service again now (e.g. after the PC changed networks)."""
        for key in list(self._records):
            self._schedule_resolve(*key)

    # --- browsing ----------------------------------------------------------------------------
    def _on_state_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if not self._running:
            return
        if state_change is ServiceStateChange.Removed:
            self._forget(service_type, name)
        else:
            self._schedule_resolve(service_type, name)
            if state_change is ServiceStateChange.Updated and self.settle_delay_s > 0:
                self._schedule_resolve(service_type, name, delay_s=self.settle_delay_s,
                                       replace_pending=False)

    def _schedule_resolve(self, service_type: str, name: str, *, delay_s: float = 0.0,
                          replace_pending: bool = True) -> None:
        key = (service_type, name)
        pending = self._resolvers.setdefault(key, set())
        if replace_pending:
            for task in pending:
                task.cancel()
            pending.clear()
        task = asyncio.get_running_loop().create_task(self._resolve(service_type, name, delay_s))
        self._tasks.add(task)
        pending.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            tasks = self._resolvers.get(key)
            if tasks is not None:
                tasks.discard(finished)
                if not tasks:
                    del self._resolvers[key]

        task.add_done_callback(done)

    async def _resolve(self, service_type: str, name: str, delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        assert self._zc is not None
        info = AsyncServiceInfo(service_type, name)
        try:
            found = await info.async_request(self._zc.zeroconf, self.resolve_timeout_s * 1000)
        except Exception:
            _log.warning("mDNS: resolving %r failed", name, exc_info=True)
            return
        if not found:
            _log.info("mDNS: %r did not answer with its address in time", name)
            return
        try:
            record = parse_service(
                service_type, name, info.properties, info.parsed_scoped_addresses(), info.port,
                info.server,
            )
        except MalformedServiceError as exc:
            _log.warning("mDNS: skipping %r: %s", name[:120], exc)
            return
        except Exception:  # never let one odd packet stop discovery
            _log.exception("mDNS: skipping %r: could not parse it", name[:120])
            return
        key = (service_type, name)
        if record is None:
            _log.debug("mDNS: %r is not a light", name)
            self._forget(service_type, name)
            return
        if not self._running:
            return
        previous = self._records.get(key)
        self._records[key] = record
        if previous is not None and previous.device_id != record.device_id:
            self._recompute(previous.device_id)
        self._recompute(record.device_id)

    def _forget(self, service_type: str, name: str) -> None:
        key = (service_type, name)
        for task in self._resolvers.pop(key, set()):
            task.cancel()
        record = self._records.pop(key, None)
        if record is not None:
            self._recompute(record.device_id)

    def _recompute(self, device_id: str) -> None:
        records = [r for r in self._records.values() if r.device_id == device_id]
        previous = self._lights.get(device_id)
        if not records:
            if previous is not None:
                del self._lights[device_id]
                self._emit(DiscoveryEvent("removed", previous))
            return
        light = merge_records(records, time.time())
        self._lights[device_id] = light
        if previous is None:
            self._emit(DiscoveryEvent("added", light))
        elif light != previous:
            self._emit(DiscoveryEvent("updated", light, previous))
        self._wake_waiters(light)

    def _emit(self, event: DiscoveryEvent) -> None:
        _log.info("mDNS: %s %s at %s", event.kind, event.light.device_id,
                  ", ".join(event.light.addresses))
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                _log.exception("discovery subscriber failed")

    def _wake_waiters(self, light: DiscoveredLight) -> None:
        for device_id, where, future in list(self._waiters):
            if device_id != light.device_id or future.done():
                continue
            try:
                matches = where is None or where(light)
            except Exception:
                _log.exception("wait_for condition failed")
                continue
            if matches:
                future.set_result(light)


__all__ = [
    "HTTP_TYPE",
    "HUBLIGHT_TYPE",
    "SERVICE_TYPES",
    "SHELLY_TYPE",
    "DiscoveredLight",
    "DiscoveryEvent",
    "DiscoveryStoppedError",
    "LanDiscovery",
    "MalformedServiceError",
    "decode_txt",
    "merge_records",
    "parse_service",
]
