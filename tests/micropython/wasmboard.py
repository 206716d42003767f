"""WasmBoard: a simulated HubLight hardware layer that runs under MicroPython (the WebAssembly
port, driven by run.mjs) and, unchanged, on CPython (the pytest bridge, test_mp_logic.py).

It is a real Board like ``hublight_sim.board.SimBoard``, only without host sockets (the
WebAssembly port has no ``socket`` module):

* flash: a directory (the port's in-memory Emscripten file system; a temporary directory on
  CPython) holding ``factory.json``, the light's own files and the OTA slots ``ota/slot0.bin`` /
  ``ota/slot1.bin`` with the boot record ``ota/boot.json`` (SimBoard's image format: one JSON
  header line, then the payload);
* clock: ``time.ticks_ms`` / ``time.ticks_diff`` (the wrapping MicroPython ticks);
* strip: ``pixels`` is the last frame shown (a list of (r, g, b)), ``frames`` counts frames;
* button: ``hold_button()`` / ``release_button()``;
* radio: a tiny in-memory Wi-Fi world (``WifiWorld``): networks with a password, an auth mode
  and a DHCP server (or not), join results as an ESP32 reports them;
* sockets: ``start_server`` returns a ``WasmServer`` that keeps the stream handler;
  ``board.connect(iface)`` opens an in-memory TCP-like stream pair to it (so the real HTTP server
  of the firmware can be driven), RPC can also be driven with ``app.rpc.dispatch(frame, ctx)``.
  ``open_connection`` reaches hosts registered in the world (``world.serve(host, port,
  handler)``), anything else fails with OSError as an unreachable host does;
* mDNS: ``udp_multicast`` returns a socket whose ``recv`` waits forever (no multicast here);
* OTA: slot files; ``reboot()`` records the reboot and the next ``boot()`` picks the slot from
  the boot record, as the ESP32 boot loader does.

Keep this file in the common subset of MicroPython and CPython: no typing, no f-strings, no
dataclasses, no os.path.
"""
# ruff: noqa: UP031, SIM105

import asyncio
import json
import os
import time

from hublight.board import Board

try:
    import gc
except ImportError:  # pragma: no cover - both have gc
    gc = None

MODEL = "HL-S1"
AP_IP = "192.168.4.1"
RPC_PORT = 80
FW_FORMAT = "hublight-sim-fw"
DEFAULT_FW_VERSION = "0.1.0"
DEFAULT_MAC = b"\x02\x11\x22\x1a\x2b\x3c"  # -> hublight-1a2b3c
EHOSTUNREACH = 113
ENETUNREACH = 101


def _ticks_ms(offset=0):
    ticks = getattr(time, "ticks_ms", None)
    if ticks is not None:  # MicroPython: ticks_add takes less than half the 2**30 period
        offset %= 1 << 30
        if offset >= 1 << 29:
            offset -= 1 << 30
        return time.ticks_add(ticks(), offset)
    return int(time.monotonic() * 1000) + offset


def _ticks_diff(a, b):
    diff = getattr(time, "ticks_diff", None)
    if diff is not None:
        return diff(a, b)
    return a - b


def _is_dir(path):
    try:
        return (os.stat(path)[0] & 0x4000) != 0
    except OSError:
        return False


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def makedirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            continue
        cur += "/" + part
        if not _is_dir(cur):
            os.mkdir(cur)


def rmtree(path):
    """Remove a directory tree (os only: MicroPython has no shutil)."""
    if not _is_dir(path):
        if _exists(path):
            os.remove(path)
        return
    for name in os.listdir(path):
        rmtree(path + "/" + name)
    os.rmdir(path)


_counter = [0]


def new_flash_dir(tag="light"):
    """A fresh, empty flash directory (in memory under the WebAssembly port)."""
    _counter[0] += 1
    try:
        import tempfile

        return tempfile.mkdtemp(prefix="wasmboard-%s-" % tag)
    except ImportError:  # MicroPython: the port's file system is in memory anyway
        path = "/tmp/wasmboard/%s-%d" % (tag, _counter[0])
        if _exists(path):
            rmtree(path)
        makedirs(path)
        return path


def make_image(version, payload=b""):
    """A firmware image of this board (SimBoard's format): JSON header line + payload."""
    header = json.dumps({"format": FW_FORMAT, "version": version})
    return header.encode() + b"\n" + payload


def read_image_version(data):
    first = data.split(b"\n", 1)[0]
    try:
        header = json.loads(first)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("format") != FW_FORMAT:
        return None
    version = header.get("version")
    return version if isinstance(version, str) else None


# --- in-memory streams ----------------------------------------------------------------------
class _Pipe:
    """One direction of a connection: bytes written by one end, read by the other."""

    def __init__(self):
        self.buf = b""
        self.eof = False
        self.event = asyncio.Event()

    def put(self, data):
        if not self.eof:
            self.buf += bytes(data)
        self.event.set()

    def close(self):
        self.eof = True
        self.event.set()

    async def wait_data(self):
        while not self.buf and not self.eof:
            self.event.clear()
            await self.event.wait()


class MemoryReader:
    """The subset of asyncio.StreamReader the firmware uses."""

    def __init__(self, pipe):
        self._pipe = pipe

    async def read(self, n=-1):
        pipe = self._pipe
        await pipe.wait_data()
        if n < 0 or n > len(pipe.buf):
            n = len(pipe.buf)
        data = pipe.buf[:n]
        pipe.buf = pipe.buf[n:]
        return data

    async def readline(self):
        pipe = self._pipe
        while True:
            end = pipe.buf.find(b"\n")
            if end >= 0:
                data = pipe.buf[: end + 1]
                pipe.buf = pipe.buf[end + 1 :]
                return data
            if pipe.eof:
                data = pipe.buf
                pipe.buf = b""
                return data
            pipe.event.clear()
            await pipe.event.wait()

    async def readexactly(self, n):
        pipe = self._pipe
        while len(pipe.buf) < n:
            if pipe.eof:
                raise EOFError("stream ended after %d of %d bytes" % (len(pipe.buf), n))
            pipe.event.clear()
            await pipe.event.wait()
        data = pipe.buf[:n]
        pipe.buf = pipe.buf[n:]
        return data


class MemoryWriter:
    """The subset of asyncio.StreamWriter the firmware uses."""

    def __init__(self, out_pipe, in_pipe, peer):
        self._out = out_pipe
        self._in = in_pipe
        self._peer = peer
        self.closed = False

    def write(self, data):
        if self.closed:
            raise OSError(32, "write on a closed stream")
        self._out.put(data)

    async def drain(self):
        await asyncio.sleep(0)

    def write_eof(self):
        self._out.close()

    def close(self):
        self.closed = True
        self._out.close()
        self._in.close()

    async def wait_closed(self):
        await asyncio.sleep(0)

    def get_extra_info(self, name, default=None):
        if name == "peername":
            return self._peer
        return default


def stream_pair(client_peer, server_peer):
    """-> ((client_reader, client_writer), (server_reader, server_writer))."""
    up = _Pipe()
    down = _Pipe()
    client = (MemoryReader(down), MemoryWriter(up, down, server_peer))
    server = (MemoryReader(up), MemoryWriter(down, up, client_peer))
    return client, server


# --- the Wi-Fi world ------------------------------------------------------------------------
class WifiWorld:
    """Networks the light can see (and hosts reachable on them), in memory."""

    def __init__(self):
        self.networks = {}
        self.hosts = {}  # (host, port) -> handler(reader, writer)

    def add_network(self, ssid, password="", auth=3, rssi=-52, channel=6, dhcp=True):
        """auth as in Wifi.Scan (0 open, 3 WPA2-PSK, 5 WPA2-Enterprise, 6 WPA3-PSK, ...)."""
        index = len(self.networks) + 1
        self.networks[ssid] = {"ssid": ssid, "password": password, "auth": auth, "rssi": rssi,
                               "channel": channel, "dhcp": dhcp,
                               "bssid": "02:00:00:00:00:%02x" % index}

    def remove_network(self, ssid):
        self.networks.pop(ssid, None)

    def scan(self):
        out = []
        for net in self.networks.values():
            out.append({"ssid": net["ssid"], "bssid": net["bssid"], "auth": net["auth"],
                        "channel": net["channel"], "rssi": net["rssi"]})
        return out

    def join_result(self, ssid, password):
        """-> None when the join works, else the reason an ESP32 reports."""
        net = self.networks.get(ssid)
        if net is None:
            return "network_not_found"
        if net["auth"] in (5, 6):
            return "unsupported_network"
        if net["auth"] != 0 and password != net["password"]:
            return "wrong_password"
        if not net["dhcp"]:
            return "no_ip"
        return None

    def serve(self, host, port, handler):
        """Make ``handler(reader, writer)`` answer TCP connections to host:port."""
        self.hosts[(host, port)] = handler


# --- board ----------------------------------------------------------------------------------
class WasmServer:
    """What start_server returns: close() and wait_closed(), like asyncio.Server."""

    def __init__(self, board, iface, host, port, handler):
        self.board = board
        self.iface = iface
        self.host = host
        self.port = port
        self.handler = handler
        self.closed = False
        self.tasks = []

    def close(self):
        self.closed = True

    async def wait_closed(self):
        for task in self.tasks:
            if not task.done():
                task.cancel()
        for task in self.tasks:
            try:
                await task
            except BaseException:
                pass
        self.tasks = []


class SilentUdp:
    """A multicast socket on a network without any other mDNS speaker: recv waits forever."""

    def __init__(self, tag=None):
        self.tag = tag
        self.sent = []
        self.closed = False
        self._never = asyncio.Event()

    async def recv(self):
        while True:
            await self._never.wait()

    def send(self, data, addr):
        self.sent.append((bytes(data), addr))

    def close(self):
        self.closed = True


class SlotWriter:
    def __init__(self, path):
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, data):
        self.handle.write(data)

    def close(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class WasmBoard(Board):
    """One simulated HubLight. ``boot()`` before each ``LightApp(board)`` (power on / reset)."""

    def __init__(self, flash_dir, world, setup_code="ABCD2345", mac=DEFAULT_MAC,
                 join_delay_ms=5):
        self.flash_dir = flash_dir
        self.world = world
        self.join_delay_ms = join_delay_ms
        self._mac = mac
        makedirs(flash_dir + "/ota")
        if not _exists(flash_dir + "/factory.json"):
            with open(flash_dir + "/factory.json", "w") as f:
                f.write(json.dumps({"setup_code": setup_code, "model": MODEL}))
        if self.ota_image_version(0) is None and self.ota_image_version(1) is None:
            with open(self._slot_path(0), "wb") as f:
                f.write(make_image(DEFAULT_FW_VERSION, b"factory image"))
        self.events = []  # (event, fields)
        self.on_event = None  # on_event(event, fields): a test's observer
        self.reboots = 0
        self.boots = 0
        self.pixels = []
        self.frames = 0
        self.servers = {}
        self.udp = []
        self.connect_attempts = []
        self.host_tasks = []  # tasks of world hosts serving the light's outgoing connections
        self.joins = []  # (ssid, password)
        self.ap_ssid = None
        self.sta_ssid = None
        self.lan_ip = None
        self._button = False
        self.ticks_offset = 0
        self._running_slot = 0
        self._boot_ms = _ticks_ms()
        self._min_free = None

    # --- simulator API ----------------------------------------------------------------------
    def boot(self):
        """Power on / reset: radio off, the boot loader picks the slot of the boot record."""
        self.boots += 1
        self.ap_ssid = None
        self.sta_ssid = None
        self.lan_ip = None
        self.servers = {}
        self._boot_ms = _ticks_ms()
        slot = 0
        try:
            with open(self._boot_record_path()) as f:
                record = json.loads(f.read())
            if record.get("boot") in (0, 1):
                slot = record["boot"]
        except (OSError, ValueError):
            pass
        if self.ota_image_version(slot) is None and self.ota_image_version(1 - slot) is not None:
            slot = 1 - slot
        self._running_slot = slot

    def event_names(self):
        return [e[0] for e in self.events]

    def hold_button(self):
        self._button = True

    def release_button(self):
        self._button = False

    def connect(self, iface, peer="192.168.4.2"):
        """Open a connection to the RPC server on ``iface``. -> (reader, writer)."""
        server = self.servers.get(iface)
        if server is None or server.closed:
            raise OSError(111, "connection refused")
        client, side = stream_pair((peer, 50000), (server.host, server.port))
        server.tasks.append(asyncio.create_task(server.handler(side[0], side[1])))
        return client

    # --- identity ---------------------------------------------------------------------------
    def mac(self):
        return self._mac

    def factory(self):
        with open(self.path("factory.json")) as f:
            data = json.loads(f.read())
        if not isinstance(data, dict) or not isinstance(data.get("setup_code"), str):
            raise ValueError("factory.json is damaged")
        return {"setup_code": data["setup_code"], "model": data.get("model") or MODEL}

    def arch(self):
        return "sim"

    def fw_version(self):
        return self.ota_image_version(self._running_slot) or DEFAULT_FW_VERSION

    def fw_id(self):
        return "wasm-" + self.fw_version()

    # --- time -------------------------------------------------------------------------------
    def ticks_ms(self):
        return _ticks_ms(self.ticks_offset)

    def advance_clock(self, ms):
        """Move the monotonic clock forward by ``ms`` (MicroPython: with the ticks wrap-around,
        2**30 ms, as on a device)."""
        self.ticks_offset += ms

    def ticks_diff(self, a, b):
        return _ticks_diff(a, b)

    def time(self):
        return time.time()

    # --- flash ------------------------------------------------------------------------------
    def path(self, name):
        return self.flash_dir + "/" + name

    def sync(self):
        sync = getattr(os, "sync", None)
        if sync is not None:
            sync()

    def fs_info(self):
        stat = os.statvfs(self.flash_dir)
        return {"fs_size": stat[0] * stat[2], "fs_free": stat[0] * stat[3]}

    def mem_info(self):
        mem_free = getattr(gc, "mem_free", None)
        if mem_free is None:  # CPython: no heap figures, report an ESP32-like heap
            free, alloc = 200000, 100000
        else:
            free, alloc = mem_free(), gc.mem_alloc()
        if self._min_free is None or free < self._min_free:
            self._min_free = free
        return {"ram_size": free + alloc, "ram_free": free, "ram_min_free": self._min_free}

    # --- strip and button -------------------------------------------------------------------
    def show(self, pixels):
        frame = []
        for p in pixels:
            frame.append((int(p[0]), int(p[1]), int(p[2])))
        self.pixels = frame
        self.frames += 1

    def button_pressed(self):
        return self._button

    # --- radio ------------------------------------------------------------------------------
    async def wifi_scan(self):
        await asyncio.sleep(0.001)
        return self.world.scan()

    async def sta_connect(self, ssid, password, timeout_ms):
        self.sta_disconnect()
        self.joins.append((ssid, password))
        await asyncio.sleep(self.join_delay_ms / 1000)
        reason = self.world.join_result(ssid, password)
        if reason is not None:
            return ("failed", reason)
        self.sta_ssid = ssid
        self.lan_ip = "10.0.0.%d" % (40 + self.boots % 200)
        return ("connected", self.lan_ip)

    def sta_disconnect(self):
        self.sta_ssid = None
        self.lan_ip = None

    def sta_is_connected(self):
        return self.sta_ssid is not None and self.sta_ssid in self.world.networks

    def sta_rssi(self):
        net = self.world.networks.get(self.sta_ssid) if self.sta_ssid else None
        return net["rssi"] if net else None

    def ap_start(self, ssid):
        self.ap_ssid = ssid
        return AP_IP

    def ap_stop(self):
        self.ap_ssid = None

    # --- sockets ----------------------------------------------------------------------------
    async def start_server(self, iface, handler):
        if iface == "ap":
            host = AP_IP
        elif iface == "lan":
            if self.lan_ip is None:
                raise OSError(ENETUNREACH, "not connected to a network")
            host = self.lan_ip
        else:
            raise ValueError("unknown interface: %s" % iface)
        server = WasmServer(self, iface, host, RPC_PORT, handler)
        self.servers[iface] = server
        return server, host, RPC_PORT

    async def open_connection(self, host, port, tls=None):
        self.connect_attempts.append((host, port, tls))
        if self.lan_ip is None:
            raise OSError(ENETUNREACH, "not connected to a network")
        handler = self.world.hosts.get((host, port))
        if handler is None or tls is not None:
            raise OSError(EHOSTUNREACH, "no route to %s:%d" % (host, port))
        client, side = stream_pair((self.lan_ip, 40000), (host, port))
        self.host_tasks.append(asyncio.create_task(handler(side[0], side[1])))
        return client

    def udp_multicast(self, iface_ip, group, port):
        udp = SilentUdp((self.boots, iface_ip, group, port))
        self.udp.append(udp)
        return udp

    # --- OTA slots --------------------------------------------------------------------------
    def _slot_path(self, slot):
        return self.flash_dir + "/ota/slot%d.bin" % slot

    def _boot_record_path(self):
        return self.flash_dir + "/ota/boot.json"

    def ota_running_slot(self):
        return self._running_slot

    def ota_begin(self):
        slot = 1 - self._running_slot
        return slot, SlotWriter(self._slot_path(slot))

    def ota_set_boot(self, slot):
        if slot not in (0, 1):
            raise ValueError("slot must be 0 or 1")
        with open(self._boot_record_path(), "w") as f:
            f.write(json.dumps({"boot": slot}))

    def ota_image_version(self, slot):
        try:
            with open(self._slot_path(slot), "rb") as f:
                head = f.read(4096)
        except OSError:
            return None
        return read_image_version(head)

    # --- system -----------------------------------------------------------------------------
    def emit(self, event, fields):
        self.events.append((event, fields))
        if self.on_event is not None:
            self.on_event(event, fields)

    def reboot(self):
        self.reboots += 1
