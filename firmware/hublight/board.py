"""The hardware layer: everything the firmware needs from the world goes through a Board.

The firmware logic (this package) runs unchanged on MicroPython (``board_esp32.Esp32Board``) and on
CPython as the simulator (``hublight_sim.board.SimBoard``). A Board is thin: no policy lives here,
only access to the radio, the strip, the button, the clock, sockets, flash and OTA slots.

This module is the contract. Implementations subclass ``Board`` and override every method that
raises ``NotImplementedError``. Keep this file MicroPython-compatible (no typing imports at run
time, no ABCs).
"""

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are not evaluated there
    pass


class Board:
    """Base class of hardware layers. Override everything that raises NotImplementedError."""

    # --- identity -------------------------------------------------------------------------
    def mac(self) -> bytes:  # 6 bytes
        raise NotImplementedError

    def factory(self) -> "dict[str, Any]":  # {"setup_code": str, "model": str}
        """Factory data, written once at manufacture, kept apart from user config; survives
        factory reset. Never returns None: a board without factory data raises."""
        raise NotImplementedError

    def arch(self) -> str:  # "esp32" or "sim"
        raise NotImplementedError

    def fw_version(self) -> str:  # version of the running firmware image
        raise NotImplementedError

    def fw_id(self) -> str:  # build id of the running firmware image
        raise NotImplementedError

    # --- time -----------------------------------------------------------------------------
    def ticks_ms(self) -> int:  # monotonic milliseconds (may wrap on MicroPython: use ticks_diff)
        raise NotImplementedError

    def ticks_diff(self, a: int, b: int) -> int:  # a - b in ms
        return a - b

    def time(self) -> float:  # wall-clock unix seconds (0 when unknown)
        raise NotImplementedError

    # --- flash ----------------------------------------------------------------------------
    def path(self, name: str) -> str:  # absolute path of a file in the flash root
        raise NotImplementedError

    def sync(self) -> None:
        """Flush the file system (os.sync on MicroPython)."""

    def fs_info(self) -> "dict[str, int]":  # {"fs_size": int, "fs_free": int}
        raise NotImplementedError

    def log_lines(self) -> int:
        """How many log lines to keep for ``Sys.GetLog`` (RAM budget): 200 unless overridden."""
        return 200

    def mem_info(self) -> "dict[str, int]":
        """-> {"ram_size": int, "ram_free": int, "ram_min_free": int}"""
        raise NotImplementedError

    # --- LED strip and button -------------------------------------------------------------
    def show(self, pixels: "list[tuple[int, int, int]]") -> None:
        """Write a list of (r, g, b) tuples (0..255) to the strip."""
        raise NotImplementedError

    def button_pressed(self) -> bool:  # polled by the firmware every ~50 ms
        return False

    # --- Wi-Fi radio ----------------------------------------------------------------------
    async def wifi_scan(self) -> "list[dict[str, Any]]":
        """-> list of {"ssid", "bssid", "auth", "channel", "rssi"} the radio can see."""
        raise NotImplementedError

    async def sta_connect(self, ssid: str, password: str,
                          timeout_ms: int) -> "tuple[str, str]":
        """Join a network. -> ("connected", ip) or ("failed", reason) with reason one of
        "wrong_password", "network_not_found", "no_ip", "unsupported_network"."""
        raise NotImplementedError

    def sta_disconnect(self) -> None:
        raise NotImplementedError

    def sta_rssi(self) -> "int | None":
        return None

    def sta_is_connected(self) -> bool:
        """Whether the station link is still up (polled about once a second while on the LAN;
        False makes the firmware report the loss and rejoin with backoff). Default: always up."""
        return True

    def ap_start(self, ssid: str) -> str:  # the access point's own IP (192.168.4.1 on a device)
        raise NotImplementedError

    def ap_stop(self) -> None:
        raise NotImplementedError

    # --- sockets --------------------------------------------------------------------------
    async def start_server(self, iface: str, handler: Any) -> "tuple[Any, str, int]":
        """Serve TCP on interface "ap" or "lan" (the RPC port).

        handler(reader, writer) is an asyncio stream callback. -> (server, host, port);
        server has close() and (awaitable) wait_closed().
        """
        raise NotImplementedError

    async def open_connection(self, host: str, port: int,
                              tls: "dict[str, str] | None" = None) -> "tuple[Any, Any]":
        """Open a TCP (or TLS) stream. tls: None, or {"ca": pem_str or "", "server_hostname": str,
        "cert": pem_str, "key": pem_str} (an empty ca verifies against the platform's default
        trust; "cert" and "key", when present and non-empty, are the client certificate and its
        private key to present: secrets, never logged or left on disk). -> (reader, writer)."""
        raise NotImplementedError

    def udp_multicast(self, iface_ip: str, group: str, port: int) -> Any:
        """A UDP socket joined to a multicast group on the given interface address, for mDNS.
        -> object with: async recv() -> (bytes, (host, port)); send(bytes, (host, port));
        close()."""
        raise NotImplementedError

    # --- OTA slots ------------------------------------------------------------------------
    def ota_running_slot(self) -> int:
        raise NotImplementedError

    def ota_begin(self) -> "tuple[int, Any]":
        """Start writing the other slot. -> (slot, writer) where writer has write(bytes) and
        close(); abort by simply not calling ota_set_boot."""
        raise NotImplementedError

    def ota_set_boot(self, slot: int) -> None:
        """Boot from this slot at the next reboot."""
        raise NotImplementedError

    def ota_image_version(self, slot: int) -> "str | None":
        raise NotImplementedError

    # --- system ---------------------------------------------------------------------------
    def emit(self, event: str, fields: "dict[str, Any]") -> None:
        """Report an event to the outside (the simulator prints it as a JSON line; a device logs
        it on the serial console). event: "started", "lan_joined", "lan_failed",
        "state_changed", "ap_started", "ap_stopped", "rebooting", "factory_reset"."""

    def reboot(self) -> None:
        """Called by the firmware after it has shut down cleanly; a device resets here and never
        returns. The simulator returns and boots the light again from its flash."""
        raise NotImplementedError
