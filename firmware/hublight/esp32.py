"""Esp32Board: the real hardware layer of a HubLight (MicroPython on an ESP32).

Thin on purpose: radio (``network.WLAN``), strip (``neopixel``, WS2812/WS2813 on GPIO19), button
(GPIO0, active low), OTA slots (``esp32.Partition``), factory data (``/factory.json``), the clock,
sockets (``asyncio`` streams, ``ssl``) and a non-blocking UDP socket for mDNS.
Type-checked against micropython-esp32-stubs by scripts/check_esp32_types.py.
"""

import asyncio
import gc
import json
import os
import socket
import ssl
import time

import esp32
import machine
import neopixel
import network

from hublight.board import Board

SETUP_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MODEL = "HL-S1"
FW_VERSION = "0.1.0"
FACTORY_FILE = "factory.json"
PIXEL_PIN = 19
BUTTON_PIN = 0
RPC_PORT = 80
EPOCH_2000_OFFSET = 946684800  # seconds from 1970-01-01 to 2000-01-01
OTA_BLOCK = 4096
APP_DESC_MAGIC = 0xABCD5432

# network.STAT_* codes (ESP-IDF wifi_err_reason_t) that mean "the network is not there"
_NOT_FOUND = (201, 212)
# "an AP is there, but with a security mode we cannot use" (e.g. WPA3-only, Enterprise)
_INCOMPATIBLE = (210, 211)
# wrong password: explicit, or a 4-way handshake that timed out (how a bad WPA2 key shows up)
_WRONG_PASSWORD = (202, 204, 15)


def make_setup_code():
    # type: () -> str
    """A fresh setup code from the hardware random number generator."""
    chars = []
    raw = os.urandom(16)
    for byte in raw:
        if byte < 248:  # 248 = 8 * 31: no modulo bias
            chars.append(SETUP_CODE_ALPHABET[byte % len(SETUP_CODE_ALPHABET)])
        if len(chars) == 8:
            break
    while len(chars) < 8:
        byte = os.urandom(1)[0]
        if byte < 248:
            chars.append(SETUP_CODE_ALPHABET[byte % len(SETUP_CODE_ALPHABET)])
    return "".join(chars)


def _inet_aton(address):
    # type: (str) -> bytes
    return bytes([int(part) for part in address.split(".")])


def _hex_mac(raw):
    # type: (bytes) -> str
    return ":".join("%02x" % b for b in raw)


class Esp32UdpSocket:
    """A non-blocking UDP socket, polled for datagrams (mDNS)."""

    def __init__(self, iface_ip, group, port):
        # type: (str, str, int) -> None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(socket.getaddrinfo("0.0.0.0", port)[0][-1])
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        _inet_aton(group) + _inet_aton(iface_ip))
        sock.setblocking(False)
        self._sock = sock

    async def recv(self):
        # type: () -> tuple[bytes, tuple[str, int]]
        """Wait for a datagram. -> (data, (host, port))."""
        while True:
            try:
                data, addr = self._sock.recvfrom(1500)
            except OSError:
                await asyncio.sleep_ms(20)
                continue
            host, port = socket.sockaddr(addr)[1:3] if hasattr(socket, "sockaddr") else (
                "0.0.0.0", 5353)
            return data, (str(host), int(port))

    def send(self, data, addr):
        # type: (bytes, tuple[str, int]) -> None
        """Send a datagram; dropped when the radio is busy."""
        try:
            self._sock.sendto(data, socket.getaddrinfo(addr[0], addr[1])[0][-1])
        except OSError:
            pass

    def close(self):
        # type: () -> None
        """Close the socket."""
        self._sock.close()


class Esp32OtaWriter:
    """Streams an image into an OTA partition, one erased 4 KiB block at a time."""

    def __init__(self, partition):
        # type: (esp32.Partition) -> None
        self._partition = partition
        self._buffer = bytearray()
        self._block = 0

    def write(self, data):
        # type: (bytes) -> None
        """Append a chunk."""
        self._buffer.extend(data)
        while len(self._buffer) >= OTA_BLOCK:
            self._partition.writeblocks(self._block, bytearray(self._buffer[:OTA_BLOCK]))
            self._buffer = self._buffer[OTA_BLOCK:]
            self._block += 1

    def close(self):
        # type: () -> None
        """Write the last (padded) block."""
        if self._buffer:
            padded = bytearray(self._buffer) + bytearray(b"\xff" * (OTA_BLOCK - len(self._buffer)))
            self._partition.writeblocks(self._block, padded)
            self._buffer = bytearray()
            self._block += 1


class Esp32Board(Board):
    """The HubLight hardware: ESP32 + WS2813 strip on ``pixel_pin`` + button on ``button_pin``."""

    def log_lines(self):
        # type: () -> int
        return 100  # ~100 bytes a line: keep the RAM for TLS and the HTTP server

    def __init__(self, pixel_pin=PIXEL_PIN, button_pin=BUTTON_PIN, root="/"):
        # type: (int, int, str) -> None
        self._root = root if root.endswith("/") else root + "/"
        self._sta = network.WLAN(network.STA_IF)
        self._ap = network.WLAN(network.AP_IF)
        self._pixel_pin = machine.Pin(pixel_pin, machine.Pin.OUT)
        self._strip = None  # type: neopixel.NeoPixel | None
        self._button = machine.Pin(button_pin, machine.Pin.IN, machine.Pin.PULL_UP)
        self._factory = None  # type: dict[str, str] | None
        self._min_free = gc.mem_free()

    # --- identity -------------------------------------------------------------------------
    def mac(self):
        # type: () -> bytes
        return bytes(self._sta.config("mac"))

    def factory(self):
        # type: () -> dict[str, str]
        if self._factory is None:
            self._factory = self._load_factory()
        return {"setup_code": self._factory["setup_code"], "model": self._factory["model"]}

    def _load_factory(self):
        # type: () -> dict[str, str]
        path = self.path(FACTORY_FILE)
        try:
            with open(path) as handle:
                data = json.load(handle)
            if isinstance(data, dict) and isinstance(data.get("setup_code"), str):
                if not isinstance(data.get("model"), str):
                    data["model"] = MODEL
                return data
        except (OSError, ValueError):
            pass
        # first boot without factory data: make it once (the label is printed from the log)
        data = {"setup_code": make_setup_code(), "model": MODEL, "mac": _hex_mac(self.mac())}
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(data, handle)
        os.rename(tmp, path)
        self.sync()
        # the setup code belongs on the label: printed once, at the moment it is made
        print("hublight: new factory data, setup code", data["setup_code"])
        return data

    def arch(self):
        # type: () -> str
        return "esp32"

    def fw_version(self):
        # type: () -> str
        return FW_VERSION

    def fw_id(self):
        # type: () -> str
        try:
            return str(os.uname().version).replace(" ", "-")[:48]
        except Exception:
            return "esp32-" + FW_VERSION

    # --- time -----------------------------------------------------------------------------
    def ticks_ms(self):
        # type: () -> int
        # the stubs make ticks opaque; at run time they are small ints (use ticks_diff)
        return time.ticks_ms()  # type: ignore[return-value]

    def ticks_diff(self, a, b):
        # type: (int, int) -> int
        return time.ticks_diff(a, b)

    def time(self):
        # type: () -> float
        # Whole seconds as an int: the ESP32 build's floats are single precision (24-bit
        # mantissa), so float(now) would round today's unix time to a multiple of 128 s and JSON
        # would print it as 1.7638e+09.
        now = int(time.time())
        if time.gmtime(0)[0] == 2000:
            now += EPOCH_2000_OFFSET
        if now < 1700000000:  # clock never set (no NTP yet)
            return 0
        return now

    # --- flash ----------------------------------------------------------------------------
    def path(self, name):
        # type: (str) -> str
        return self._root + name

    def sync(self):
        # type: () -> None
        sync = getattr(os, "sync", None)
        if sync is not None:
            sync()

    def fs_info(self):
        # type: () -> dict[str, int]
        stat = os.statvfs(self._root)
        return {"fs_size": stat[0] * stat[2], "fs_free": stat[0] * stat[3]}

    def mem_info(self):
        # type: () -> dict[str, int]
        free = gc.mem_free()
        if free < self._min_free:
            self._min_free = free
        return {"ram_size": free + gc.mem_alloc(), "ram_free": free,
                "ram_min_free": self._min_free}

    # --- LED strip and button -------------------------------------------------------------
    def show(self, pixels):
        # type: (list[tuple[int, int, int]]) -> None
        count = len(pixels)
        if self._strip is None or self._strip.n != count:
            # WS2812/WS2813: 800 kHz timing (timing=1)
            self._strip = neopixel.NeoPixel(self._pixel_pin, count, 3, 1)
        strip = self._strip
        for index in range(count):
            strip[index] = pixels[index]
        strip.write()

    def button_pressed(self):
        # type: () -> bool
        return self._button.value() == 0  # pulled up, pressed connects to ground

    # --- Wi-Fi radio ----------------------------------------------------------------------
    async def wifi_scan(self):
        # type: () -> list[dict[str, object]]
        self._sta.active(True)
        await asyncio.sleep_ms(0)
        results = []  # type: list[dict[str, object]]
        seen = {}  # type: dict[str, int]
        for entry in self._sta.scan():
            ssid = bytes(entry[0]).decode("utf-8", "replace")
            if not ssid or entry[5]:  # hidden networks are not listed
                continue
            item = {"ssid": ssid, "bssid": _hex_mac(bytes(entry[1])), "auth": int(entry[4]),
                    "channel": int(entry[2]), "rssi": int(entry[3])}
            if ssid in seen:
                if int(entry[3]) > int(results[seen[ssid]]["rssi"]):  # type: ignore[call-overload]
                    results[seen[ssid]] = item
                continue
            seen[ssid] = len(results)
            results.append(item)
        results.sort(key=lambda item: -int(item["rssi"]))  # type: ignore[call-overload]
        return results

    async def sta_connect(self, ssid, password, timeout_ms):
        # type: (str, str, int) -> tuple[str, str]
        sta = self._sta
        sta.active(True)
        try:
            sta.disconnect()
        except OSError:
            pass
        sta.connect(ssid, password)
        start = time.ticks_ms()
        associated = False
        while True:
            status = sta.status()
            if status == network.STAT_GOT_IP or sta.isconnected():
                self._sync_clock()
                return ("connected", str(sta.ifconfig()[0]))
            if status in _WRONG_PASSWORD:
                sta.disconnect()
                return ("failed", "wrong_password")
            if status in _INCOMPATIBLE:
                sta.disconnect()
                return ("failed", "unsupported_network")
            if status in _NOT_FOUND:
                sta.disconnect()
                return ("failed", await self._classify_missing(ssid))
            if status == network.STAT_CONNECTING:
                associated = associated or self._sta_rssi_or_none() is not None
            if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                sta.disconnect()
                return ("failed", "no_ip" if associated else "network_not_found")
            await asyncio.sleep_ms(100)

    async def _classify_missing(self, ssid):
        # type: (str) -> str
        """network_not_found, unless a scan shows the network with a mode we cannot join."""
        try:
            for entry in await self.wifi_scan():
                if entry["ssid"] == ssid and entry["auth"] in (5, 6):
                    return "unsupported_network"
        except OSError:
            pass
        return "network_not_found"

    def _sync_clock(self):
        # type: () -> None
        try:
            import ntptime

            ntptime.settime()
        except Exception:
            pass  # no internet, or no NTP: time() stays 0 ("unknown")

    def sta_disconnect(self):
        # type: () -> None
        try:
            self._sta.disconnect()
        except OSError:
            pass
        self._sta.active(False)

    def _sta_rssi_or_none(self):
        # type: () -> int | None
        try:
            return int(self._sta.status("rssi"))
        except (OSError, ValueError, TypeError):
            return None

    def sta_is_connected(self):
        # type: () -> bool
        return bool(self._sta.isconnected())

    def sta_rssi(self):
        # type: () -> int | None
        if not self._sta.isconnected():
            return None
        return self._sta_rssi_or_none()

    def ap_start(self, ssid):
        # type: (str) -> str
        ap = self._ap
        ap.active(True)
        ap.config(essid=ssid, authmode=0)  # open: set-up is protected by digest auth
        return str(ap.ifconfig()[0])

    def ap_stop(self):
        # type: () -> None
        self._ap.active(False)

    # --- sockets --------------------------------------------------------------------------
    async def start_server(self, iface, handler):
        # type: (str, object) -> tuple[object, str, int]
        if iface == "ap":
            host = str(self._ap.ifconfig()[0])
        elif iface == "lan":
            host = str(self._sta.ifconfig()[0])
        else:
            raise ValueError("unknown interface: " + iface)
        server = await asyncio.start_server(handler, host, RPC_PORT)  # type: ignore[arg-type]
        return server, host, RPC_PORT

    async def open_connection(self, host, port, tls=None):
        # type: (str, int, dict[str, str] | None) -> tuple[object, object]
        if tls is None:
            return await asyncio.open_connection(host, port)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        setattr(context, "verify_mode", ssl.CERT_REQUIRED)  # noqa: B010 - missing in the stubs
        ca = tls.get("ca") or ""
        if ca:
            context.load_verify_locations(cadata=ca.encode())
        cert = tls.get("cert") or ""
        key = tls.get("key") or ""
        if cert and key:
            # MicroPython extension: bytes are the certificate / key data themselves (PEM, or
            # DER), never a file on flash
            context.load_cert_chain(cert.encode(), key.encode())
        # without a CA the handshake fails: the ESP32 has no platform trust store, and an
        # unverified broker connection is never made silently
        return await asyncio.open_connection(
            host, port, ssl=context, server_hostname=tls.get("server_hostname") or host
        )

    def udp_multicast(self, iface_ip, group, port):
        # type: (str, str, int) -> Esp32UdpSocket
        return Esp32UdpSocket(iface_ip, group, port)

    # --- OTA slots ------------------------------------------------------------------------
    def _running(self):
        # type: () -> esp32.Partition
        # Partition() takes RUNNING / BOOT or a label; the stubs only know the label form
        return esp32.Partition(esp32.Partition.RUNNING)  # type: ignore[arg-type]

    def _slot_partition(self, slot):
        # type: (int) -> esp32.Partition
        found = esp32.Partition.find(esp32.Partition.TYPE_APP, label="ota_%d" % slot)
        if not found:
            raise OSError("no partition ota_%d" % slot)
        return found[0]

    @staticmethod
    def _slot_of(partition):
        # type: (esp32.Partition) -> int
        label = str(partition.info()[4])
        return 1 if label.endswith("1") else 0

    def ota_running_slot(self):
        # type: () -> int
        return self._slot_of(self._running())

    def ota_begin(self):
        # type: () -> tuple[int, Esp32OtaWriter]
        target = self._running().get_next_update()
        return self._slot_of(target), Esp32OtaWriter(target)

    def ota_set_boot(self, slot):
        # type: (int) -> None
        if slot == self.ota_running_slot():
            # staying on (or committing) the running image: tell the boot loader it is good
            try:
                esp32.Partition.mark_app_valid_cancel_rollback()
            except OSError:
                pass  # boot-loader rollback not enabled in this build
        self._slot_partition(slot).set_boot()

    def ota_image_version(self, slot):
        # type: (int) -> str | None
        """The version string of the ESP-IDF app description in the slot's image."""
        try:
            block = bytearray(OTA_BLOCK)
            self._slot_partition(slot).readblocks(0, block)
        except OSError:
            return None
        if block[0] != 0xE9:  # ESP image magic
            return None
        desc = 24 + 8  # image header + first segment header
        magic = int.from_bytes(bytes(block[desc:desc + 4]), "little")
        if magic != APP_DESC_MAGIC:
            return None
        raw = bytes(block[desc + 16:desc + 48])
        end = raw.find(b"\x00")
        return raw[:end if end >= 0 else len(raw)].decode("utf-8", "replace") or None

    # --- system ---------------------------------------------------------------------------
    def emit(self, event, fields):
        # type: (str, dict[str, object]) -> None
        record = {"event": event}
        record.update(fields)  # type: ignore[arg-type]
        try:
            print(json.dumps(record))
        except Exception:
            pass

    def reboot(self):
        # type: () -> None
        machine.reset()
