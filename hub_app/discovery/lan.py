"""LAN discovery of lights over mDNS / DNS-SD (python-zeroconf's async API).

``LanDiscovery`` browses ``_hublight._tcp``, ``_http._tcp`` (only Mongoose OS-looking services:
TXT ``id`` plus ``fw_id`` or ``arch``, or ``app=HubLight``) and ``_shelly._tcp``, resolves every
instance and keeps one ``DiscoveredLight`` per device id, merged over all its services and
addresses. Subscribers get ``DiscoveryEvent``s:

* ``added``   - the first service of a device id resolved;
* ``updated`` - anything but ``last_seen`` changed (``event.address_changed`` tells a new address:
  the registry uses it to follow a paired light to its new IP by itself);
* ``removed`` - the last service of the device id is gone (goodbye packet or expired records:
  ``event.reason == "mdns"``), or the light's records linger but it no longer answers at its
  address (a power cut sends no goodbye: ``event.reason == "unreachable"``).

Beyond waiting for announcements: ``resolve(device_id)`` asks the LAN for one light now, and
``check(device_id)`` probes a light's address (``POST /rpc`` ``RPC.Ping``, no auth). Lights given
to ``watch()`` are checked every ``liveness_interval_s``; a light found unreachable is dropped
from python-zeroconf's cache too (so no later lookup revives the stale records) and is reported
``added`` again as soon as it answers or announces itself.

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
RemovedReason = Literal["mdns", "unreachable"]

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
    """``kind`` happened to ``light``; ``previous`` is the light before an update; ``reason``
    says why a light was removed ("mdns": goodbye or expired records, "unreachable": records
    linger but the light does not answer)."""

    kind: EventKind
    light: DiscoveredLight
    previous: DiscoveredLight | None = None
    reason: RemovedReason | None = None

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


async def probe_rpc(host: str, port: int, timeout_s: float) -> bool:
    """Whether something answers HTTP at host:port: ``POST /rpc`` with ``RPC.Ping`` (needs no
    auth on a HubLight; any HTTP status line counts, so Mongoose OS and Shelly devices pass)."""
    body = b'{"id":1,"src":"hub-liveness","method":"RPC.Ping"}'
    host_header = f"[{host}]" if ":" in host else host
    request = (f"POST /rpc HTTP/1.1\r\nHost: {host_header}:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
               "Connection: close\r\n\r\n").encode() + body
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
    return status_line.startswith(b"HTTP/1.")


class DiscoveryStoppedError(RuntimeError):
    """``wait_for`` was pending when discovery stopped."""


EventCallback = Callable[[DiscoveryEvent], None]


class LanDiscovery:
    """Finds lights on the LAN; see the module docstring for the events.

    ``interfaces``: None for every interface, or names / IPv4 addresses (``list_interfaces()``
    shows the choices). ``zeroconf``: share an ``AsyncZeroconf`` (then ``interfaces`` is ignored
    and it is not closed by ``stop()``). ``liveness_interval_s``: how often watched lights are
    probed (0: only when ``check()`` is called); ``probe_timeout_s``: how long one probe waits.
    """

    def __init__(
        self,
        interfaces: list[str] | None = None,
        zeroconf: AsyncZeroconf | None = None,
        *,
        service_types: Iterable[str] = SERVICE_TYPES,
        resolve_timeout_s: float = 3.0,
        settle_delay_s: float = 1.5,
        liveness_interval_s: float = 30.0,
        probe_timeout_s: float = 3.0,
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
        self.liveness_interval_s = liveness_interval_s
        self.probe_timeout_s = probe_timeout_s
        self._watched: set[str] = set()
        #: lights found unreachable: their last merged light and service records
        self._gone: dict[str, tuple[DiscoveredLight, list[_ServiceRecord]]] = {}
        self._check_locks: dict[str, asyncio.Lock] = {}
        self._liveness_task: asyncio.Task[None] | None = None

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
        if self.liveness_interval_s > 0:
            self._liveness_task = asyncio.get_running_loop().create_task(
                self._liveness_loop(), name="lan-discovery:liveness")

    async def stop(self) -> None:
        """Stop browsing, cancel pending resolutions, close our zeroconf, fail waiters."""
        self._running = False
        if self._liveness_task is not None:
            self._liveness_task.cancel()
            await asyncio.gather(self._liveness_task, return_exceptions=True)
            self._liveness_task = None
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

    async def resolve(
        self,
        device_id: str,
        timeout: float,  # noqa: ASYNC109 - one lookup with its own limit, like wait_for
    ) -> DiscoveredLight | None:
        """Ask the LAN now for ``device_id`` (``<id>._hublight._tcp`` and ``<id>._http._tcp``)
        instead of waiting for it to announce itself. The answer updates ``lights`` and the
        events as an announcement would. -> the light, or None when nothing answered within
        ``timeout`` seconds (or the light's records linger but it does not answer)."""
        device_id = device_id.lower()
        if not self._running or self._zc is None or not _DEVICE_ID.match(device_id):
            return None
        names = [(t, f"{device_id}.{t}") for t in (HUBLIGHT_TYPE, HTTP_TYPE)]
        answers = await asyncio.gather(*(self._query(t, n, timeout) for t, n in names))
        found = False
        for (service_type, name), (_, record) in zip(names, answers, strict=True):
            if record is not None and record.device_id == device_id and self._running:
                self._records[(service_type, name)] = record
                found = True
        if not found:
            return self._lights.get(device_id)
        if device_id in self._gone:
            # the records may be the stale ones: believe them only if the light answers
            if not await self._answers(merge_records(self._records_of(device_id), time.time())):
                self._drop_records(device_id)
                return None
            del self._gone[device_id]
        self._recompute(device_id)
        return self._lights.get(device_id)

    def watch(self, device_id: str) -> Callable[[], None]:
        """Probe this light every ``liveness_interval_s`` (a light the user cares about, e.g. a
        paired one). -> a function that stops watching it."""
        device_id = device_id.lower()
        self._watched.add(device_id)

        def unwatch() -> None:
            self._watched.discard(device_id)

        return unwatch

    @property
    def unreachable(self) -> dict[str, DiscoveredLight]:
        """Lights whose mDNS records linger but which did not answer their last probe."""
        return {device_id: light for device_id, (light, _) in self._gone.items()}

    async def check(self, device_id: str) -> bool | None:
        """Probe the light now. -> True when it answers (a light found unreachable before is
        ``added`` again), False when it does not (a light on the list is ``removed`` with reason
        "unreachable"), None for a light this discovery knows nothing about."""
        device_id = device_id.lower()
        lock = self._check_locks.setdefault(device_id, asyncio.Lock())
        async with lock:
            known = self._lights.get(device_id)
            if known is None and device_id in self._gone:
                known = self._gone[device_id][0]
            if known is None:
                return None
            alive = await self._answers(known)
            if not self._running:
                return alive
            light = self._lights.get(device_id)
            if alive:
                if light is None and device_id in self._gone:
                    await self._revive(device_id)
                return True
            if light is not None:
                _log.info("liveness: %s does not answer at %s:%s", device_id,
                          ", ".join(light.addresses), light.port)
                records = self._records_of(device_id)
                self._gone[device_id] = (light, records)
                self._drop_records(device_id)
                self._forget_cached(device_id, records)
                del self._lights[device_id]
                self._emit(DiscoveryEvent("removed", light, reason="unreachable"))
            return False

    # --- liveness ----------------------------------------------------------------------------
    async def _answers(self, light: DiscoveredLight) -> bool:
        if not light.addresses:
            return False
        results = await asyncio.gather(*(
            probe_rpc(address, light.port, self.probe_timeout_s) for address in light.addresses
        ))
        return any(results)

    async def _revive(self, device_id: str) -> None:
        """A light found unreachable answers again: take fresh records, else its last ones."""
        records = self._gone[device_id][1]
        fresh = await self.resolve(device_id, self.resolve_timeout_s)
        if fresh is not None or device_id not in self._gone:
            self._gone.pop(device_id, None)
            return
        del self._gone[device_id]
        for record in records:
            self._records[(record.service_type, record.instance)] = record
        self._recompute(device_id)

    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.liveness_interval_s)
            for device_id in sorted(self._watched):
                try:
                    await self.check(device_id)
                except Exception:
                    _log.exception("liveness: checking %s failed", device_id)

    def _records_of(self, device_id: str) -> list[_ServiceRecord]:
        return [r for r in self._records.values() if r.device_id == device_id]

    def _drop_records(self, device_id: str) -> None:
        for key, record in list(self._records.items()):
            if record.device_id == device_id:
                del self._records[key]
                for task in self._resolvers.pop(key, set()):
                    task.cancel()

    def _forget_cached(self, device_id: str, records: list[_ServiceRecord]) -> None:
        """Drop the light's SRV, TXT and address records from python-zeroconf's cache, so a
        later lookup asks the network instead of reviving them (the PTR stays for the browser,
        which then reports the light's next announcement as an update)."""
        if self._zc is None:
            return
        cache = self._zc.zeroconf.cache
        names = {r.instance for r in records}
        names.update(f"{device_id}.{t}" for t in (HUBLIGHT_TYPE, HTTP_TYPE))
        entries = [e for name in names for e in cache.async_entries_with_name(name)]
        hosts = {r.host for r in records if r.host} | {f"{device_id}.local."}
        entries += [e for host in hosts for e in cache.async_entries_with_server(host)]
        entries += [e for host in hosts for e in cache.async_entries_with_name(host)]
        if entries:
            cache.async_remove_records(list(dict.fromkeys(entries)))

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

    async def _query(self, service_type: str, name: str,
                     timeout_s: float) -> tuple[bool, _ServiceRecord | None]:
        """Resolve one service (python-zeroconf's cache, else a query). -> (whether it answered
        usably, its record or None when it is not a light)."""
        assert self._zc is not None
        info = AsyncServiceInfo(service_type, name)
        try:
            found = await info.async_request(self._zc.zeroconf, timeout_s * 1000)
        except Exception:
            _log.warning("mDNS: resolving %r failed", name, exc_info=True)
            return False, None
        if not found:
            _log.info("mDNS: %r did not answer with its address in time", name)
            return False, None
        try:
            record = parse_service(
                service_type, name, info.properties, info.parsed_scoped_addresses(), info.port,
                info.server,
            )
        except MalformedServiceError as exc:
            _log.warning("mDNS: skipping %r: %s", name[:120], exc)
            return False, None
        except Exception:  # never let one odd packet stop discovery
            _log.exception("mDNS: skipping %r: could not parse it", name[:120])
            return False, None
        if record is None:
            _log.debug("mDNS: %r is not a light", name)
        return True, record

    async def _resolve(self, service_type: str, name: str, delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        answered, record = await self._query(service_type, name, self.resolve_timeout_s)
        key = (service_type, name)
        if record is None:
            if answered:  # not a light (any more)
                self._forget(service_type, name)
            return
        if not self._running:
            return
        if record.device_id in self._gone:
            # it announced itself again (the records were dropped from the cache, so these are
            # fresh): back, unless it still does not answer
            gone_light = merge_records([record], time.time())
            if not await self._answers(gone_light) or not self._running:
                return
            self._gone.pop(record.device_id, None)
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
                self._emit(DiscoveryEvent("removed", previous, reason="mdns"))
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
    "probe_rpc",
]
