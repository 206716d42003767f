"""The Wi-Fi / set-up state machine (protocol.md, "Setup" and "Wifi").

setup_state: unconfigured (AP only) -> joining (AP+STA) -> awaiting_confirm (AP+STA, on the LAN)
-> confirmed (STA only; the AP never reopens except after a factory reset). A failed join or a
missing confirmation sends the light back to AP only, keeps the reason and the SSID and sets
``wifi.sta.enable = false``. A confirmed light that loses its network retries with a capped
backoff. The decisions are plain functions (``boot_plan``, ``backoff_ms``) so they can be tested
on MicroPython; ``WifiManager`` drives the board with them.
"""

import asyncio

from hublight.rpc import RpcError

try:
    from typing import TYPE_CHECKING, Any, Callable
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.board import Board
    from hublight.config import Config
    from hublight.logbuf import LogBuffer

UNCONFIGURED = "unconfigured"
JOINING = "joining"
AWAITING_CONFIRM = "awaiting_confirm"
CONFIRMED = "confirmed"
SETUP_STATES = (UNCONFIGURED, JOINING, AWAITING_CONFIRM, CONFIRMED)
REASONS = ("wrong_password", "network_not_found", "no_ip", "not_confirmed", "unsupported_network")
BACKOFF_FIRST_MS = 1000
BACKOFF_MAX_MS = 60000
LINK_POLL_MS = 1000


def boot_plan(setup_state: str, sta_enable: bool, ssid: str, ap_enable: bool) -> dict[str, Any]:
    """What to do at boot. -> {"mode": "ap" | "join" | "lan", "ap": bool}.

    "ap": AP only, waiting for set-up. "join": one attempt to join (AP+STA) and wait for the hub's
    confirmation. "lan": confirmed light: STA, retried forever; AP only if explicitly enabled.
    """
    if setup_state == CONFIRMED and sta_enable and ssid:
        return {"mode": "lan", "ap": bool(ap_enable)}
    if sta_enable and ssid:
        return {"mode": "join", "ap": True}
    return {"mode": "ap", "ap": True}


def backoff_ms(attempt: int) -> int:
    """Delay before retry number ``attempt`` (0-based): 1 s doubling, capped at 60 s."""
    delay = BACKOFF_FIRST_MS
    for _ in range(attempt):
        delay *= 2
        if delay >= BACKOFF_MAX_MS:
            return BACKOFF_MAX_MS
    return delay


def normalize_reason(reason: Any) -> str:
    return reason if reason in REASONS else "no_ip"


class WifiManager:
    """Drives the radio through the set-up states. The app supplies hooks:

    ``on_lan_up(ip)`` / ``on_lan_down()`` (async: start/stop LAN services), ``on_ap(started)``
    (async: start/stop the AP RPC server) and ``persist()`` (save config and state now).
    """

    def __init__(self, board: "Board", config: "Config", log: "LogBuffer") -> None:
        self.board = board
        self.config = config
        self.log = log
        self.setup_state = UNCONFIGURED
        self.status = "idle"
        self.reason: "str | None" = None
        self.last_error_ts: "float | None" = None
        self.sta_ip: "str | None" = None
        self.ap_ip: "str | None" = None
        self.ap_enabled = False
        self.scanning = False
        self.confirmed_event = asyncio.Event()
        self.on_lan_up: "Callable[[str], Any] | None" = None
        self.on_lan_down: "Callable[[], Any] | None" = None
        self.on_ap: "Callable[[bool], Any] | None" = None
        self.persist: "Callable[[], None] | None" = None

    # --- persisted part -------------------------------------------------------------------
    def saved(self) -> dict[str, Any]:
        return {"setup_state": self.setup_state, "reason": self.reason,
                "last_error_ts": self.last_error_ts}

    def restore(self, saved: Any) -> None:
        if not isinstance(saved, dict):
            return
        if saved.get("setup_state") in SETUP_STATES:
            self.setup_state = saved["setup_state"]
        if saved.get("reason") in REASONS:
            self.reason = saved["reason"]
            self.status = "failed"
        if isinstance(saved.get("last_error_ts"), (int, float)):
            self.last_error_ts = saved["last_error_ts"]

    def get_status(self) -> dict[str, Any]:
        """``Wifi.GetStatus`` result."""
        return {"status": self.status, "reason": self.reason if self.status == "failed" else None,
                "ssid": self.config["wifi.sta.ssid"] or None, "sta_ip": self.sta_ip,
                "ap_ip": self.ap_ip, "ap_enabled": self.ap_enabled,
                "rssi": self.board.sta_rssi() if self.status == "connected" else None,
                "setup_state": self.setup_state, "last_error_ts": self.last_error_ts}

    # --- hooks ----------------------------------------------------------------------------
    async def _call(self, hook: Any, *args: Any) -> None:
        if hook is None:
            return
        try:
            result = hook(*args)
            if hasattr(result, "send"):
                await result
        except Exception as exc:
            self.log.exception("wifi: hook failed", exc)

    def _persist(self) -> None:
        if self.persist is not None:
            try:
                self.persist()
            except Exception as exc:
                self.log.exception("wifi: saving state failed", exc)

    # --- access point ---------------------------------------------------------------------
    async def start_ap(self) -> None:
        if self.ap_enabled:
            return
        self.ap_ip = self.board.ap_start(self.config["wifi.ap.ssid"])
        self.ap_enabled = True
        self.log.info("wifi: access point %s up at %s" % (self.config["wifi.ap.ssid"],
                                                          self.ap_ip))
        self.board.emit("ap_started", {"ssid": self.config["wifi.ap.ssid"], "ip": self.ap_ip})
        await self._call(self.on_ap, True)

    async def stop_ap(self) -> None:
        if not self.ap_enabled:
            return
        await self._call(self.on_ap, False)
        self.board.ap_stop()
        self.ap_enabled = False
        self.ap_ip = None
        self.log.info("wifi: access point off")
        self.board.emit("ap_stopped", {})

    # --- main logic -----------------------------------------------------------------------
    async def run(self, plan: "dict[str, Any] | None" = None) -> None:
        """Boot decision and then the whole life of the Wi-Fi side (returns only in AP mode).

        ``plan``: the ``boot_plan`` the app took at boot (the config may have changed since: a
        ``Config.Set`` without reboot must not start a join); None takes it now."""
        if plan is None:
            plan = boot_plan(self.setup_state, self.config["wifi.sta.enable"],
                             self.config["wifi.sta.ssid"], self.config["wifi.ap.enable"])
        if self.setup_state == CONFIRMED and plan["mode"] != "lan":
            self.log.warn("wifi: confirmed but no usable network config, back to set-up")
            self.setup_state = UNCONFIGURED
        if plan["ap"]:
            await self.start_ap()
        if plan["mode"] == "ap":
            if self.setup_state != UNCONFIGURED:
                self.setup_state = UNCONFIGURED
                self._persist()
            return
        if plan["mode"] == "join":
            await self._join_and_await_confirm()
            if self.setup_state != CONFIRMED:
                return
        await self._stay_connected()

    async def _join_and_await_confirm(self) -> None:
        self.setup_state = JOINING
        self.status = "connecting"
        self.reason = None
        self._persist()
        ssid = self.config["wifi.sta.ssid"]
        self.log.info("wifi: joining %s" % ssid)
        result = await self._connect()
        if result[0] != "connected":
            await self._give_up(normalize_reason(result[1]))
            return
        await self._lan_up(result[1])
        self.setup_state = AWAITING_CONFIRM
        self._persist()
        # A timer task instead of wait_for: CPython 3.11's wait_for can swallow a cancellation
        # that arrives together with the event, and MicroPython's wait_for is fussy too.
        timer = asyncio.create_task(self._confirm_timer(self.config["wifi.confirm_timeout_ms"]))
        try:
            await self.confirmed_event.wait()
        finally:
            timer.cancel()
        if self.setup_state == CONFIRMED:
            return
        self.log.warn("wifi: the hub did not confirm within %d ms" %
                      self.config["wifi.confirm_timeout_ms"])
        await self._call(self.on_lan_down)
        self.board.sta_disconnect()
        self.sta_ip = None
        await self._give_up("not_confirmed")

    async def _confirm_timer(self, timeout_ms: int) -> None:
        await asyncio.sleep(timeout_ms / 1000)
        self.confirmed_event.set()

    async def _connect(self) -> "tuple[str, Any]":
        try:
            result = await self.board.sta_connect(self.config["wifi.sta.ssid"],
                                                  self.config["wifi.sta.pass"],
                                                  self.config["wifi.join_timeout_ms"])
        except Exception as exc:
            self.log.exception("wifi: sta_connect failed", exc)
            return ("failed", "no_ip")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return ("failed", "no_ip")
        return (result[0], result[1])

    async def _lan_up(self, ip: str) -> None:
        self.status = "connected"
        self.sta_ip = ip
        self.log.info("wifi: on the LAN at %s" % ip)
        self.board.emit("lan_joined", {"ip": ip})
        await self._call(self.on_lan_up, ip)

    async def _give_up(self, reason: str) -> None:
        """Back to AP only: keep the reason and the SSID, disable STA, persist."""
        try:
            self.board.sta_disconnect()
        except Exception as exc:
            self.log.exception("wifi: sta_disconnect failed", exc)
        self.status = "failed"
        self.reason = reason
        self.last_error_ts = self.board.time()
        self.sta_ip = None
        self.setup_state = UNCONFIGURED
        self.config.set("wifi.sta.enable", False)
        self.log.warn("wifi: joining failed: %s" % reason)
        self.board.emit("lan_failed", {"reason": reason})
        self._persist()
        await self.start_ap()

    async def _stay_connected(self) -> None:
        """Confirmed light: keep the link up forever, retrying with a capped backoff."""
        attempt = 0
        while True:
            if self.status != "connected":
                self.status = "connecting"
                result = await self._connect()
                if result[0] == "connected":
                    attempt = 0
                    await self._lan_up(result[1])
                else:
                    self.status = "failed"
                    self.reason = normalize_reason(result[1])
                    self.last_error_ts = self.board.time()
                    delay = backoff_ms(attempt)
                    attempt += 1
                    self.log.warn("wifi: reconnect failed (%s), retrying in %d ms" %
                                  (self.reason, delay))
                    await asyncio.sleep(delay / 1000)
                    continue
            await asyncio.sleep(LINK_POLL_MS / 1000)
            if not self.board.sta_is_connected():
                self.log.warn("wifi: lost the network")
                self.status = "connecting"
                self.sta_ip = None
                self.board.emit("lan_failed", {"reason": "link_lost"})
                await self._call(self.on_lan_down)

    # --- Setup.Confirm / Wifi.Scan --------------------------------------------------------
    async def confirm(self, iface: "str | None") -> dict[str, Any]:
        """``Setup.Confirm``: only on the LAN; idempotent once confirmed."""
        if self.setup_state == CONFIRMED:
            return {"confirmed": True}
        if self.setup_state != AWAITING_CONFIRM or iface != "lan":
            raise RpcError(403, "Setup.Confirm must come over the LAN while awaiting_confirm "
                                "(setup_state is %s)" % self.setup_state)
        self.setup_state = CONFIRMED
        self.reason = None
        self.config.set("wifi.ap.enable", False)
        self._persist()
        self.confirmed_event.set()
        self.log.info("wifi: set-up confirmed by the hub")
        await self.stop_ap()
        return {"confirmed": True}

    async def scan(self) -> list[dict[str, Any]]:
        """``Wifi.Scan``: strongest first; 503 while a scan runs."""
        if self.scanning:
            raise RpcError(503, "a scan is already running")
        self.scanning = True
        try:
            found = await self.board.wifi_scan()
        finally:
            self.scanning = False
        out = []
        for item in found:
            if isinstance(item, dict):
                out.append({"ssid": item.get("ssid"), "bssid": item.get("bssid"),
                            "auth": item.get("auth"), "channel": item.get("channel"),
                            "rssi": item.get("rssi")})
        out.sort(key=lambda entry: -(entry["rssi"] if isinstance(entry["rssi"], int) else -999))
        return out
