"""The hardware layer: everything the firmware needs from the world goes through a Board.

The firmware logic (this package) runs unchanged on MicroPython (``board_esp32.Esp32Board``) and on
CPython as the simulator (``hublight_sim.board.SimBoard``). A Board is thin: no policy lives here,
only access to the radio, the strip, the button, the clock, sockets, flash and OTA slots.

This module is the contract. Implementations subclass ``Board`` and override every method that
raises ``NotImplementedError``. Keep this file MicroPython-compatible (no typing imports at run
time, no ABCs).
"""


class Board:
    """Base class of hardware layers. Override everything that raises NotImplementedError."""

    # --- identity -------------------------------------------------------------------------
    def mac(self):  # -> bytes (6)
        raise NotImplementedError

    def factory(self):  # -> dict: {"setup_code": str, "model": str}
        """Factory data, written once at manufacture, kept apart from user config; survives
        factory reset. Never returns None: a board without factory data raises."""
        raise NotImplementedError

    def arch(self):  # -> str: "esp32" or "sim"
        raise NotImplementedError

    def fw_version(self):  # -> str, version of the running firmware image
        raise NotImplementedError

    def fw_id(self):  # -> str, build id of the running firmware image
        raise NotImplementedError

    # --- time -----------------------------------------------------------------------------
    def ticks_ms(self):  # -> int, monotonic milliseconds (may wrap on MicroPython: use ticks_diff)
        raise NotImplementedError

    def ticks_diff(self, a, b):  # -> int, a - b in ms
        return a - b

    def time(self):  # -> float, wall-clock unix seconds (0 when unknown)
        raise NotImplementedError

    # --- flash ----------------------------------------------------------------------------
    def path(self, name):  # -> str, absolute path of a file in the flash root
        raise NotImplementedError

    def sync(self):
        """Flush the file system (os.sync on MicroPython)."""

    def fs_info(self):  # -> {"fs_size": int, "fs_free": int}
        raise NotImplementedError

    def mem_info(self):  # -> {"ram_size": int, "ram_free": int, "ram_min_free": int}
        raise NotImplementedError

    # --- LED strip and button -------------------------------------------------------------
    def show(self, pixels):
        """Write a list of (r, g, b) tuples (0..255) to the strip."""
        raise NotImplementedError

    def button_pressed(self):  # -> bool, polled by the firmware every ~50 ms
        return False

    # --- Wi-Fi radio ----------------------------------------------------------------------
    async def wifi_scan(self):
        """-> list of {"ssid", "bssid", "auth", "channel", "rssi"} the radio can see."""
        raise NotImplementedError

    async def sta_connect(self, ssid, password, timeout_ms):
        """Join a network. -> ("connected", ip) or ("failed", reason) with reason one of
        "wrong_password", "network_not_found", "no_ip", "unsupported_network"."""
        raise NotImplementedError

    def sta_disconnect(self):
        raise NotImplementedError

    def sta_rssi(self):  # -> int or None
        return None

    def ap_start(self, ssid):  # -> str, the access point's own IP (192.168.4.1 on a device)
        raise NotImplementedError

    def ap_stop(self):
        raise NotImplementedError

    # --- sockets --------------------------------------------------------------------------
    async def start_server(self, iface, handler):
        """Serve TCP on interface "ap" or "lan" (the RPC port).

        handler(reader, writer) is an asyncio stream callback. -> (server, host, port);
        server has close() and (awaitable) wait_closed().
        """
        raise NotImplementedError

    async def open_connection(self, host, port, tls=None):
        """Open a TCP (or TLS) stream. tls: None, or {"ca": pem_str or "", "server_hostname": str}
        (an empty ca verifies against the platform's default trust). -> (reader, writer)."""
        raise NotImplementedError

    def udp_multicast(self, iface_ip, group, port):
        """A UDP socket joined to a multicast group on the given interface address, for mDNS.
        -> object with: async recv() -> (bytes, (host, port)); send(bytes, (host, port)); close()."""
        raise NotImplementedError

    # --- OTA slots ------------------------------------------------------------------------
    def ota_running_slot(self):  # -> int
        raise NotImplementedError

    def ota_begin(self):
        """Start writing the other slot. -> (slot, writer) where writer has write(bytes) and
        close(); abort by simply not calling ota_set_boot."""
        raise NotImplementedError

    def ota_set_boot(self, slot):
        """Boot from this slot at the next reboot."""
        raise NotImplementedError

    def ota_image_version(self, slot):  # -> str or None
        raise NotImplementedError

    # --- system ---------------------------------------------------------------------------
    def emit(self, event, fields):
        """Report an event to the outside (the simulator prints it as a JSON line; a device logs
        it on the serial console). event: "started", "lan_joined", "lan_failed",
        "state_changed", "ap_started", "ap_stopped", "rebooting", "factory_reset"."""

    def reboot(self):
        """Called by the firmware after it has shut down cleanly; a device resets here and never
        returns. The simulator returns and boots the light again from its flash."""
        raise NotImplementedError
