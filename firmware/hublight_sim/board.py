"""SimBoard: the hardware layer of a simulated HubLight on CPython.

Everything a real board does, on loopback:

* flash: a directory (persistent across runs) with ``factory.json`` (setup code, model, MAC)
  and the OTA slots ``ota/slot0.bin`` / ``ota/slot1.bin`` plus ``ota/boot.json``;
* identity: a locally administered MAC, deterministic from the light's index and a seed;
* radio: backed by a ``WifiWorld``; the access point is a loopback address ``127.4.<n>.1`` and
  the LAN address (after a successful join) is ``127.2.<n>.<m>`` (``new_lan_address()`` moves it);
* strip and button: ``pixels`` (last frame shown), ``press_button(seconds)``;
* sockets: asyncio streams and a multicast UDP socket for mDNS on 127.0.0.1.

The board tracks every server, connection, socket and task the light opened so that
``power_cut()`` can abort them all without any clean-up (the MQTT broker sees a dropped TCP
connection and publishes the Last Will).

Sim firmware image format (OTA): one JSON header line, then any payload::

    {"format": "hublight-sim-fw", "version": "0.2.0", "build": "optional build id"}\\n<payload>

``make_sim_image(version)`` builds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import hashlib
import json
import os
import secrets
import socket
import ssl
import struct
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hublight.board import Board

from .world import Network, WifiWorld

SETUP_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MODEL = "HL-S1"
SIM_IMAGE_FORMAT = "hublight-sim-fw"
DEFAULT_FW_VERSION = "0.1.0"
FS_SIZE = 1_441_792  # what a 4 MB ESP32 with two OTA slots has left for the file system
RAM_SIZE = 327_680
MDNS_LOOPBACK = "127.0.0.1"

EventCallback = Callable[[str, dict[str, Any]], None]
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# The board that owns the code running now: tasks created while it is set belong to that light.
current_board: contextvars.ContextVar[SimBoard | None] = contextvars.ContextVar(
    "hublight_sim_current_board", default=None
)


class PowerCutError(OSError):
    """Raised by a board whose power was cut (the light's code should be gone by then)."""


def make_setup_code() -> str:
    """A fresh setup code: 8 characters from SETUP_CODE_ALPHABET."""
    return "".join(secrets.choice(SETUP_CODE_ALPHABET) for _ in range(8))


def mac_for(seed: str, index: int) -> bytes:
    """The locally administered unicast MAC of light ``index`` for this ``seed``."""
    digest = hashlib.sha256(f"hublight-sim:{seed}:{index}".encode()).digest()
    return bytes([(digest[0] & 0xFC) | 0x02]) + digest[1:6]


def device_id_for(mac: bytes) -> str:
    """``hublight-`` + last 6 hex digits of the MAC."""
    return "hublight-" + mac[3:].hex()


def make_sim_image(version: str, payload: bytes = b"", build: str | None = None) -> bytes:
    """A sim firmware image with this version (see the module docstring for the format)."""
    header = {"format": SIM_IMAGE_FORMAT, "version": version}
    if build:
        header["build"] = build
    return json.dumps(header).encode() + b"\n" + payload


def read_sim_image_header(data: bytes) -> dict[str, Any] | None:
    """The header of a sim image, or None when ``data`` is not one."""
    first_line = data.split(b"\n", 1)[0]
    try:
        header = json.loads(first_line)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("format") != SIM_IMAGE_FORMAT:
        return None
    if not isinstance(header.get("version"), str):
        return None
    return header


def atomic_write(path: str, data: bytes) -> None:
    """Write a file atomically (temporary file in the same directory, then rename)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def install_task_tracking(loop: asyncio.AbstractEventLoop) -> None:
    """Make every task created while ``current_board`` is set belong to that board, so that a
    power cut can cancel it. Idempotent; chains an existing task factory."""
    previous = loop.get_task_factory()
    if getattr(previous, "_hublight_sim", False):
        return

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Future[Any]:
        task: asyncio.Future[Any]
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        board = context.get(current_board) if context is not None else current_board.get()
        if board is not None:
            board._track_task(task)
        return task

    factory._hublight_sim = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


class SimOtaWriter:
    """Writes an OTA image into a slot file (the other slot than the running one)."""

    def __init__(self, path: str) -> None:
        self._path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._handle = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, data: bytes) -> None:
        """Append a chunk."""
        self._handle.write(data)

    def close(self) -> None:
        """Finish the slot (flush to disk)."""
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()


class SimUdpSocket:
    """A UDP socket joined to a multicast group on loopback (for mDNS)."""

    def __init__(self, board: SimBoard, group: str, port: int) -> None:
        self._board = board
        self._loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("", port))
            membership = struct.pack("4s4s", socket.inet_aton(group),
                                     socket.inet_aton(MDNS_LOOPBACK))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                            socket.inet_aton(MDNS_LOOPBACK))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    async def recv(self) -> tuple[bytes, tuple[str, int]]:
        """Wait for a datagram. -> (data, (host, port))."""
        data, addr = await self._loop.sock_recvfrom(self._sock, 9000)
        return data, (addr[0], addr[1])

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send a datagram (dropped silently when the socket buffer is full, like a radio, and
        when the PC cannot reach the light's network: ``WifiWorld.pc_reaches``)."""
        if not self._board.lan_reachable_from_pc():
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            self._sock.sendto(data, addr)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()
        self._board._udp_sockets.discard(self)


class SimServer:
    """What ``SimBoard.start_server`` returns: an asyncio server that also closes the light's
    access point in the world when it is closed."""

    def __init__(self, board: SimBoard, iface: str, server: asyncio.Server) -> None:
        self._board = board
        self.iface = iface
        self._server = server

    def close(self) -> None:
        """Stop listening (connections already open stay until the light closes them)."""
        self._server.close()
        self._board._servers.discard(self)
        if self.iface == "ap":
            self._board._world_close_ap()

    async def wait_closed(self) -> None:
        """Wait until the listening socket is closed."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)


def _load_client_cert(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """Load a client certificate and key given as PEM text. CPython's ssl reads them from files
    only: each goes to a private temp file (created 0600) that is deleted right after loading."""
    paths: list[str] = []
    try:
        for text in (cert_pem, key_pem):
            handle, path = tempfile.mkstemp(prefix="hublight-tls-", suffix=".pem")
            paths.append(path)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
        context.load_cert_chain(paths[0], paths[1])
    finally:
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)


class SimBoard(Board):
    """The simulated hardware of one light (index ``index`` of a simulator).

    Python API for tests and the runner: ``device_id``, ``setup_code``, ``pixels``,
    ``press_button(seconds)``, ``hold_button()``/``release_button()``, ``ap_ip``/``ap_port``,
    ``lan_ip``/``lan_port``, ``new_lan_address()``, ``power_cut()``, ``boot()``.
    """

    def __init__(
        self,
        index: int,
        flash_dir: str,
        world: WifiWorld,
        *,
        seed: str = "default",
        join_delay_s: float = 0.0,
        ap_port: int = 0,
        lan_port: int = 0,
        on_event: EventCallback | None = None,
        fw_version: str = DEFAULT_FW_VERSION,
    ) -> None:
        if not 0 <= index < 250:
            raise ValueError("a simulator runs lights 0..249")
        self.index = index
        self.flash_dir = os.path.abspath(flash_dir)
        self.world = world
        self.join_delay_s = join_delay_s
        self.ap_port_wanted = ap_port
        self.lan_port_wanted = lan_port
        self.on_event = on_event
        #: called with "ap" / "lan" once a server listens there (the runner completes events)
        self.on_server_started: Callable[[str], None] | None = None
        self.pixels: list[tuple[int, int, int]] = []
        self.frames_shown = 0
        self.reboot_requested = False
        self.powered = True
        os.makedirs(self.flash_dir, exist_ok=True)
        self._factory = self._load_or_make_factory(seed)
        self._mac = bytes.fromhex(self._factory["mac"].replace(":", ""))
        self.device_id = device_id_for(self._mac)
        self.setup_code: str = self._factory["setup_code"]
        self._ensure_factory_image(fw_version)
        # radio and addresses
        self.ap_ip = f"127.4.{index + 1}.1"
        self._lan_host_number = 1
        self.lan_ip: str | None = None
        self.sta_ssid: str | None = None
        self.ap_ssid: str | None = None
        self.ap_port: int | None = None
        self.lan_port: int | None = None
        self._last_port: dict[str, int] = {}
        # button
        self._button_until = 0.0
        self._button_held = False
        # resources of the running firmware
        self._servers: set[SimServer] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._udp_sockets: set[SimUdpSocket] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._min_free = RAM_SIZE
        self._boot_monotonic = time.monotonic()
        self._running_slot = self._boot_slot()

    # --- identity -------------------------------------------------------------------------
    def mac(self) -> bytes:
        return self._mac

    def factory(self) -> dict[str, Any]:
        return {"setup_code": self._factory["setup_code"], "model": self._factory["model"]}

    def arch(self) -> str:
        return "sim"

    def fw_version(self) -> str:
        return self.ota_image_version(self._running_slot) or DEFAULT_FW_VERSION

    def fw_id(self) -> str:
        header = self._slot_header(self._running_slot) or {}
        build = header.get("build")
        if isinstance(build, str) and build:
            return build
        return "sim-" + str(header.get("version", DEFAULT_FW_VERSION))

    @property
    def mac_str(self) -> str:
        """The MAC as ``aa:bb:cc:dd:ee:ff``."""
        return ":".join(f"{b:02x}" for b in self._mac)

    @property
    def ap_bssid(self) -> str:
        """The access point's BSSID (MAC + 1 in the last byte, as on an ESP32)."""
        mac = bytearray(self._mac)
        mac[5] = (mac[5] + 1) & 0xFF
        return ":".join(f"{b:02x}" for b in mac)

    def _load_or_make_factory(self, seed: str) -> dict[str, Any]:
        path = os.path.join(self.flash_dir, "factory.json")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if isinstance(data, dict) and all(
                isinstance(data.get(k), str) for k in ("setup_code", "model", "mac")
            ):
                return data
        except (OSError, ValueError):
            pass
        mac = mac_for(seed, self.index)
        data = {
            "setup_code": make_setup_code(),
            "model": MODEL,
            "mac": ":".join(f"{b:02x}" for b in mac),
        }
        atomic_write(path, json.dumps(data, indent=1).encode())
        return data

    # --- time -----------------------------------------------------------------------------
    def ticks_ms(self) -> int:
        return int((time.monotonic() - self._boot_monotonic) * 1000)

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def time(self) -> float:
        return time.time()

    # --- flash ----------------------------------------------------------------------------
    def path(self, name: str) -> str:
        if not self.powered:
            raise PowerCutError(errno.EIO, "power is off")
        return os.path.join(self.flash_dir, name)

    def sync(self) -> None:
        """Nothing to do: the simulator's files survive a kill -9 (the page cache stays)."""

    def fs_info(self) -> dict[str, int]:
        used = 0
        for root, _dirs, files in os.walk(self.flash_dir):
            if os.path.basename(root) == "ota":
                continue  # OTA slots are partitions, not files of the file system
            for name in files:
                with contextlib.suppress(OSError):
                    used += os.path.getsize(os.path.join(root, name))
        return {"fs_size": FS_SIZE, "fs_free": max(0, FS_SIZE - used - 16_384)}

    def mem_info(self) -> dict[str, int]:
        free = RAM_SIZE - 118_000 - 6_000 * len(self._writers) - 40 * len(self._tasks)
        free = max(free, 20_000)
        self._min_free = min(self._min_free, free)
        return {"ram_size": RAM_SIZE, "ram_free": free, "ram_min_free": self._min_free}

    # --- LED strip and button -------------------------------------------------------------
    def show(self, pixels: Any) -> None:
        if not self.powered:
            return
        self.pixels = [(int(p[0]), int(p[1]), int(p[2])) for p in pixels]
        self.frames_shown += 1

    def button_pressed(self) -> bool:
        return self.powered and (self._button_held or time.monotonic() < self._button_until)

    def press_button(self, seconds: float) -> None:
        """Hold the button down for ``seconds`` (3 s or more is a factory reset)."""
        self._button_until = time.monotonic() + seconds

    def hold_button(self) -> None:
        """Press the button and keep it down until ``release_button()``."""
        self._button_held = True

    def release_button(self) -> None:
        """Release the button."""
        self._button_held = False
        self._button_until = 0.0

    # --- Wi-Fi radio ----------------------------------------------------------------------
    async def wifi_scan(self) -> list[dict[str, Any]]:
        await asyncio.sleep(min(self.join_delay_s, 1.5))
        return self.world.scan_for_light()

    async def sta_connect(self, ssid: str, password: str, timeout_ms: int) -> tuple[str, str]:
        """Join ``ssid`` after the join delay. The DHCP timeout (reason no_ip) is waited only
        when the join delay is not zero (fast test mode skips it)."""
        self.sta_disconnect()
        await asyncio.sleep(self.join_delay_s)
        reason = self.world.join_result(ssid, password, esp32=True)
        if reason == "no_ip" and self.join_delay_s > 0:
            await asyncio.sleep(max(0.0, timeout_ms / 1000 - self.join_delay_s))
        if reason is not None:
            return ("failed", reason)
        self.sta_ssid = ssid
        self.lan_ip = f"127.2.{self.index + 1}.{self._lan_host_number}"
        return ("connected", self.lan_ip)

    def sta_disconnect(self) -> None:
        self.sta_ssid = None
        self.lan_ip = None

    def sta_is_connected(self) -> bool:
        """True while joined and the network still exists in the world (``remove_network``
        takes it away)."""
        return self.sta_ssid is not None and self.world.network(self.sta_ssid) is not None

    def sta_rssi(self) -> int | None:
        if self.sta_ssid is None:
            return None
        net: Network | None = self.world.network(self.sta_ssid)
        return net.rssi if net is not None else None

    def lan_reachable_from_pc(self) -> bool:
        """Whether the PC can reach the light on the network it joined (always True while it
        has not joined one). See ``WifiWorld.pc_reaches``."""
        return self.sta_ssid is None or self.world.pc_reaches(self.sta_ssid)

    def ap_start(self, ssid: str) -> str:
        self.ap_ssid = ssid
        self._world_open_ap()
        return self.ap_ip

    def ap_stop(self) -> None:
        self.ap_ssid = None
        self._world_close_ap()

    def new_lan_address(self) -> None:
        """Give the light a new LAN address at its next join (and a new LAN port when the port
        is ephemeral): a DHCP server handing out another lease."""
        self._lan_host_number = self._lan_host_number % 250 + 1
        self._last_port.pop("lan", None)

    def _world_open_ap(self) -> None:
        if self.ap_ssid is not None and self.ap_port is not None and self.powered:
            from .world import LightAccessPoint

            self.world.open_access_point(
                LightAccessPoint(self.ap_ssid, self.device_id, self.ap_ip, self.ap_port,
                                 self.ap_bssid)
            )

    def _world_close_ap(self) -> None:
        self.world.close_access_point(self.device_id)

    # --- sockets --------------------------------------------------------------------------
    async def start_server(self, iface: str, handler: StreamHandler) -> tuple[Any, str, int]:
        if iface == "ap":
            host = self.ap_ip
            wanted = self.ap_port_wanted
        elif iface == "lan":
            if self.lan_ip is None:
                raise OSError(errno.ENETUNREACH, "not connected to a network")
            host = self.lan_ip
            wanted = self.lan_port_wanted
        else:
            raise ValueError(f"unknown interface: {iface!r}")

        async def tracked_handler(reader: asyncio.StreamReader,
                                  writer: asyncio.StreamWriter) -> None:
            if not self.powered or (iface == "lan" and not self.lan_reachable_from_pc()):
                writer.transport.abort()  # the PC cannot get through: the connection is reset
                return
            self._writers.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._track_task(task)
            try:
                await handler(reader, writer)
            finally:
                self._writers.discard(writer)

        ports = [wanted] if wanted else [self._last_port.get(iface, 0), 0]
        server: asyncio.Server | None = None
        for port in ports:
            try:
                server = await asyncio.start_server(tracked_handler, host, port,
                                                    reuse_address=True)
                break
            except OSError:
                if port == ports[-1]:
                    raise
        assert server is not None
        bound = server.sockets[0].getsockname()[1]
        self._last_port[iface] = bound
        sim_server = SimServer(self, iface, server)
        self._servers.add(sim_server)
        if iface == "ap":
            self.ap_port = bound
            self._world_open_ap()
        else:
            self.lan_port = bound
        if self.on_server_started is not None:
            self.on_server_started(iface)
        return sim_server, host, bound

    async def open_connection(
        self, host: str, port: int, tls: dict[str, Any] | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not self.powered:
            raise PowerCutError(errno.EIO, "power is off")
        if self.lan_ip is None:
            raise OSError(errno.ENETUNREACH, "not connected to a network")
        context: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if tls is not None:
            ca = tls.get("ca") or ""
            context = ssl.create_default_context(cadata=ca) if ca else \
                ssl.create_default_context()
            cert = tls.get("cert") or ""
            key = tls.get("key") or ""
            if cert and key:
                _load_client_cert(context, cert, key)
            server_hostname = tls.get("server_hostname") or host
        local_addr = (self.lan_ip, 0) if host.startswith("127.") else None
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=server_hostname, local_addr=local_addr
        )
        self._writers.add(writer)
        return reader, writer

    def udp_multicast(self, iface_ip: str, group: str, port: int) -> SimUdpSocket:
        if not self.powered:
            raise PowerCutError(errno.EIO, "power is off")
        udp = SimUdpSocket(self, group, port)
        self._udp_sockets.add(udp)
        return udp

    # --- OTA slots ------------------------------------------------------------------------
    def _slot_path(self, slot: int) -> str:
        return os.path.join(self.flash_dir, "ota", f"slot{slot}.bin")

    def _boot_record_path(self) -> str:
        return os.path.join(self.flash_dir, "ota", "boot.json")

    def _slot_header(self, slot: int) -> dict[str, Any] | None:
        try:
            with open(self._slot_path(slot), "rb") as handle:
                first = handle.readline(4096)
        except OSError:
            return None
        return read_sim_image_header(first)

    def _ensure_factory_image(self, version: str) -> None:
        if self._slot_header(0) is None and self._slot_header(1) is None:
            atomic_write(self._slot_path(0), make_sim_image(version, b"factory image"))

    def _boot_slot(self) -> int:
        """The slot the boot loader picks: the boot record's, unless that image is invalid."""
        slot = 0
        try:
            with open(self._boot_record_path(), encoding="utf-8") as handle:
                record = json.load(handle)
            if isinstance(record, dict) and record.get("boot") in (0, 1):
                slot = int(record["boot"])
        except (OSError, ValueError):
            pass
        if self._slot_header(slot) is None and self._slot_header(1 - slot) is not None:
            slot = 1 - slot
        return slot

    def ota_running_slot(self) -> int:
        return self._running_slot

    def ota_begin(self) -> tuple[int, SimOtaWriter]:
        slot = 1 - self._running_slot
        return slot, SimOtaWriter(self._slot_path(slot))

    def ota_set_boot(self, slot: int) -> None:
        if slot not in (0, 1):
            raise ValueError("slot must be 0 or 1")
        atomic_write(self._boot_record_path(), json.dumps({"boot": slot}).encode())

    def ota_image_version(self, slot: int) -> str | None:
        header = self._slot_header(slot)
        return str(header["version"]) if header else None

    # --- system ---------------------------------------------------------------------------
    def emit(self, event: str, fields: dict[str, Any]) -> None:
        if not self.powered or self.on_event is None:
            return
        payload = {"id": self.device_id}
        payload.update(fields)
        try:
            self.on_event(event, payload)
        except Exception:  # an observer's bug must not break the light
            import logging

            logging.getLogger(__name__).exception("event callback failed")

    def reboot(self) -> None:
        """Note that the firmware wants to reboot; the runner boots it again from flash."""
        self.reboot_requested = True

    # --- power and lifecycle (simulator API) ----------------------------------------------
    def boot(self) -> None:
        """Power on / reset: the radio is off, the clock restarts, the boot loader picks a slot."""
        self.powered = True
        self.reboot_requested = False
        self.sta_disconnect()
        self.ap_ssid = None
        self.ap_port = None
        self.lan_port = None
        self._boot_monotonic = time.monotonic()
        self._running_slot = self._boot_slot()
        self._min_free = RAM_SIZE

    def run_firmware(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start the firmware's main coroutine as a task owned by this board (its child tasks
        are owned too, so ``power_cut()`` can cancel them)."""
        install_task_tracking(asyncio.get_running_loop())
        token = current_board.set(self)
        try:
            task = asyncio.get_running_loop().create_task(coro, name=f"light:{self.device_id}")
        finally:
            current_board.reset(token)
        self._track_task(task)
        return task

    def release_radio(self) -> None:
        """After a clean shutdown: whatever the firmware left open goes down with the reset."""
        self._world_close_ap()
        for server in list(self._servers):
            server.close()
        self.sta_disconnect()

    def power_cut(self) -> None:
        """Cut the power: abort every connection (no FIN handshake niceties, no MQTT
        DISCONNECT), close servers and sockets and cancel every task of the light."""
        self.powered = False
        self._world_close_ap()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        for server in list(self._servers):
            with contextlib.suppress(Exception):
                server._server.close()
        self._servers.clear()
        for udp in list(self._udp_sockets):
            with contextlib.suppress(Exception):
                udp.close()
        self._udp_sockets.clear()
        current = asyncio.current_task() if _loop_running() else None
        for task in list(self._tasks):
            if task is not current and not task.done():
                task.cancel()
        self.sta_disconnect()
        self.ap_ssid = None

    async def wait_tasks_gone(self, timeout_s: float = 5.0) -> None:
        """Wait until the tasks cancelled by a power cut have finished."""
        pending = [t for t in self._tasks if not t.done() and t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
        self._tasks = {t for t in self._tasks if not t.done()}

    def _track_task(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
