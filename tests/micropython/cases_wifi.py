"""The Wi-Fi / set-up state machine with a scripted radio (the real radio cannot run here)."""
# ruff: noqa: SIM105, RUF059

import asyncio

from hublight.config import Config
from hublight.wifi import WifiManager, backoff_ms, boot_plan
from mpcheck import MemoryLog, expect_rpc_error


class RadioBoard:
    """Scripted radio: ``results`` are returned by successive sta_connect calls."""

    def __init__(self, results):
        self.results = list(results)
        self.joins = []
        self.ap = None
        self.events = []
        self.link_up = True

    async def sta_connect(self, ssid, password, timeout_ms):
        self.joins.append((ssid, password))
        await asyncio.sleep(0)
        return self.results.pop(0) if self.results else ("failed", "network_not_found")

    def sta_disconnect(self):
        pass

    def sta_rssi(self):
        return -50

    def sta_is_connected(self):
        return self.link_up

    def ap_start(self, ssid):
        self.ap = ssid
        return "192.168.4.1"

    def ap_stop(self):
        self.ap = None

    def emit(self, event, fields):
        self.events.append(event)

    def time(self):
        return 1700000000.0

    async def wifi_scan(self):
        return [{"ssid": "weak", "bssid": "aa", "auth": 3, "channel": 1, "rssi": -80},
                {"ssid": "strong", "bssid": "bb", "auth": 3, "channel": 6, "rssi": -40}]


def make(results, configured=True, confirm_ms=100000):
    cfg = Config("hublight-1a2b3c", "HubLight-1A2B3C")
    if configured:
        cfg.apply(cfg.validate({"wifi": {"sta": {"enable": True, "ssid": "Home",
                                                 "pass": "password123"},
                                         "confirm_timeout_ms": confirm_ms}}))
    board = RadioBoard(results)
    log = MemoryLog()
    wifi = WifiManager(board, cfg, log.buf)
    saved = []
    wifi.persist = lambda: saved.append(wifi.saved())
    lan = []

    async def lan_up(ip):
        lan.append(ip)

    wifi.on_lan_up = lan_up
    return wifi, board, cfg, saved, lan, log


def test_boot_plan():
    assert boot_plan("unconfigured", False, "", True) == {"mode": "ap", "ap": True}
    assert boot_plan("unconfigured", True, "Home", False) == {"mode": "join", "ap": True}
    assert boot_plan("confirmed", True, "Home", False) == {"mode": "lan", "ap": False}
    assert boot_plan("confirmed", False, "Home", False) == {"mode": "ap", "ap": True}


def test_backoff_is_capped():
    assert backoff_ms(0) == 1000 and backoff_ms(1) == 2000 and backoff_ms(3) == 8000
    assert backoff_ms(6) == 60000 and backoff_ms(100) == 60000


async def test_unconfigured_stays_on_ap():
    wifi, board, cfg, saved, lan, _ = make([], configured=False)
    await wifi.run()
    assert board.ap == "HubLight-1A2B3C" and wifi.setup_state == "unconfigured"
    assert board.joins == [] and wifi.get_status()["status"] == "idle"


async def test_wrong_password_goes_back_to_ap_keeping_reason_and_ssid():
    wifi, board, cfg, saved, lan, log = make([("failed", "wrong_password")])
    await wifi.run()
    status = wifi.get_status()
    assert status["status"] == "failed" and status["reason"] == "wrong_password"
    assert status["setup_state"] == "unconfigured" and status["ap_enabled"] is True
    assert cfg["wifi.sta.enable"] is False and cfg["wifi.sta.ssid"] == "Home"
    assert saved[-1]["reason"] == "wrong_password"
    assert "lan_failed" in board.events and lan == []
    assert "password123" not in log.text()


async def test_join_then_confirm_closes_ap():
    wifi, board, cfg, saved, lan, _ = make([("connected", "10.0.0.7")])
    task = asyncio.create_task(wifi.run())
    for _ in range(50):
        if wifi.setup_state == "awaiting_confirm":
            break
        await asyncio.sleep(0.01)
    assert wifi.setup_state == "awaiting_confirm" and board.ap is not None
    assert lan == ["10.0.0.7"]
    expect_rpc_error(403, lambda: _run_sync_error(wifi.confirm("ap")))
    result = await wifi.confirm("lan")
    assert result == {"confirmed": True}
    assert wifi.setup_state == "confirmed" and board.ap is None
    assert cfg["wifi.ap.enable"] is False and saved[-1]["setup_state"] == "confirmed"
    assert await wifi.confirm("lan") == {"confirmed": True}  # idempotent
    task.cancel()
    try:
        await task
    except BaseException:
        pass


def _run_sync_error(coro):
    """Drive a coroutine that raises before its first suspension."""
    try:
        coro.send(None)
    except StopIteration:
        return


async def test_not_confirmed_in_time():
    wifi, board, cfg, saved, lan, _ = make([("connected", "10.0.0.7")], confirm_ms=100)
    await asyncio.wait_for(wifi.run(), 10)
    status = wifi.get_status()
    assert status["reason"] == "not_confirmed" and status["setup_state"] == "unconfigured"
    assert cfg["wifi.sta.enable"] is False and board.ap is not None


async def test_confirmed_light_never_reopens_ap():
    wifi, board, cfg, saved, lan, _ = make([("failed", "network_not_found"),
                                            ("connected", "10.0.0.9")])
    wifi.restore({"setup_state": "confirmed"})
    cfg.set("wifi.ap.enable", False)  # what Setup.Confirm left behind
    task = asyncio.create_task(wifi.run())
    for _ in range(1000):
        if lan:
            break
        await asyncio.sleep(0.01)
    assert lan == ["10.0.0.9"] and board.ap is None
    assert wifi.setup_state == "confirmed" and len(board.joins) == 2
    task.cancel()
    try:
        await task
    except BaseException:
        pass


async def test_scan_sorted_strongest_first():
    wifi, board, cfg, saved, lan, _ = make([])
    found = await wifi.scan()
    assert [n["ssid"] for n in found] == ["strong", "weak"]


def test_restore_ignores_garbage():
    wifi, board, cfg, saved, lan, _ = make([])
    wifi.restore({"setup_state": "bogus", "reason": "alien"})
    assert wifi.setup_state == "unconfigured" and wifi.reason is None
    wifi.restore({"setup_state": "unconfigured", "reason": "wrong_password"})
    assert wifi.get_status()["reason"] == "wrong_password"
