"""The whole LightApp on WasmBoard: boot, RPC of every method, Wi-Fi set-up, light, reboot, OTA.

Runs under the MicroPython WebAssembly port (run.mjs) and on CPython (test_mp_logic.py). The
WebAssembly port's asyncio has no ``asyncio.run``: its event loop is driven by JavaScript, and
run.mjs awaits each case from ``runPythonAsync`` inside a real task. So the cases are coroutines
that start ``LightApp.run()`` as a task and talk to it with ``app.rpc.dispatch(frame, ctx)``
(frame auth computed here, independently of hublight.auth) or over the firmware's own HTTP server
through the board's in-memory connections.
"""
# ruff: noqa: UP031, SIM105

import asyncio
import binascii
import hashlib
import json

from hublight.app import LightApp
from wasmboard import AP_IP, WasmBoard, WifiWorld, make_image, new_flash_dir, rmtree

SETUP_CODE = "ABCD2345"
HOME = "HomeNet"
HOME_PASS = "correct horse battery"
SECRET = "lan-secret-0123456789abcdef"
DEVICE_ID = "hublight-1a2b3c"
AP_SSID = "HubLight-1A2B3C"

PROTOCOL_METHODS = ["Config.Get", "Config.Save", "Config.Set", "Light.GetStatus", "Light.Set",
                    "Light.Toggle", "OTA.Commit", "OTA.GetBootState", "OTA.Revert",
                    "OTA.Update", "RPC.Describe", "RPC.List", "RPC.Ping", "Setup.Confirm",
                    "Sys.FactoryReset", "Sys.GetInfo", "Sys.GetLog", "Sys.Reboot",
                    "Wifi.GetStatus", "Wifi.Scan"]


def _sha256_hex(text):
    return binascii.hexlify(hashlib.sha256(text.encode()).digest()).decode()


async def wait_until(cond, what, steps=1000):
    """Poll ``cond`` between event loop turns (bounded; no wall-clock assertion)."""
    for _ in range(steps):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("gave up waiting for " + what)


def home_world():
    world = WifiWorld()
    world.add_network(HOME, HOME_PASS, auth=3, rssi=-48)
    world.add_network("Neighbour", "whatever-pass", auth=3, rssi=-80)
    world.add_network("Office", "", auth=5, rssi=-70)
    return world


class Rig:
    """One light on a WasmBoard: boot, reboot from the same flash, clean up."""

    def __init__(self, world=None):
        self.world = world if world is not None else home_world()
        self.flash = new_flash_dir()
        self.board = WasmBoard(self.flash, self.world, SETUP_CODE)
        self.app = None
        self.task = None
        self.notes = []

    async def boot(self):
        self.board.boot()
        self.board.events = []
        self.app = LightApp(self.board)
        self.notes = []
        self.app.notifier.subscribe(self.notes.append)
        self.task = asyncio.create_task(self.app.run())
        await wait_until(lambda: "started" in self.board.event_names(), "started")
        return self.app

    async def run_returns(self):
        """Wait for run() to return after a reboot request."""
        task = self.task
        await wait_until(lambda: task.done(), "run() to return")
        await task  # re-raises if run() crashed
        self.task = None

    async def reboot_into_new_app(self):
        await self.run_returns()
        return await self.boot()

    async def close(self):
        if self.task is not None and self.app is not None:
            try:
                await self.app.stop()
            except BaseException:
                pass
            try:
                await self.task
            except BaseException:
                pass
        for udp in self.board.udp:
            udp.close()
        rmtree(self.flash)

    def read_flash_json(self, name):
        with open(self.board.path(name)) as f:
            return json.loads(f.read())


class Client:
    """An RPC caller with frame digest auth (SHA-256, nonce reuse with growing nc)."""

    def __init__(self, rig, password=SETUP_CODE, iface="ap", transport="http"):
        self.rig = rig
        self.password = password
        self.iface = iface
        self.transport = transport
        self.nonce = None
        self.nc = 0
        self.next_id = 1
        self.last_frame = None

    def ctx(self):
        peer = "192.168.4.2" if self.iface == "ap" else "10.0.0.2"
        return {"transport": self.transport, "iface": self.iface, "peer": peer, "http": None}

    def auth_fields(self):
        self.nc += 1
        cnonce = "c%d" % self.nc
        ha1 = _sha256_hex("admin:%s:%s" % (DEVICE_ID, self.password))
        ha2 = _sha256_hex("dummy_method:dummy_uri")
        response = _sha256_hex("%s:%s:%08x:%s:auth:%s" % (ha1, self.nonce, self.nc, cnonce, ha2))
        return {"realm": DEVICE_ID, "username": "admin", "nonce": self.nonce, "cnonce": cnonce,
                "response": response, "algorithm": "SHA-256", "nc": self.nc}

    async def fetch_challenge(self):
        """An empty auth object gets a 401 with a fresh challenge (no failure counted)."""
        reply = await self.send({"id": 0, "method": "RPC.List", "auth": {}})
        assert reply["error"]["code"] == 401, reply
        self.nonce = json.loads(reply["error"]["message"])["nonce"]
        self.nc = 0

    async def send(self, frame):
        self.last_frame = frame
        return await self.rig.app.rpc.dispatch(frame, self.ctx())

    async def call(self, method, params=None, auth=True):
        """-> the reply frame (retries once on 401 with the fresh nonce, as clients do)."""
        if auth and self.nonce is None:
            await self.fetch_challenge()
        reply = None
        for attempt in (0, 1):
            frame = {"id": self.next_id, "src": "cases-client", "method": method}
            self.next_id += 1
            if params is not None:
                frame["params"] = params
            if auth and self.nonce is not None:
                frame["auth"] = self.auth_fields()
            reply = await self.send(frame)
            error = reply.get("error") if isinstance(reply, dict) else None
            if auth and attempt == 0 and error is not None and error["code"] == 401:
                challenge = json.loads(error["message"])
                self.nonce = challenge["nonce"]
                self.nc = 0
                continue
            return reply
        return reply

    async def result(self, method, params=None):
        reply = await self.call(method, params)
        assert "error" not in reply, "%s failed: %s" % (method, reply.get("error"))
        assert reply["src"] == DEVICE_ID and reply["dst"] == "cases-client"
        return reply["result"]

    async def error(self, method, params=None, auth=True):
        """-> (code, message) of an error reply (fails when the call succeeds)."""
        reply = await self.call(method, params, auth)
        assert "error" in reply, "%s should have failed, got %s" % (method, reply.get("result"))
        assert "result" not in reply
        return reply["error"]["code"], reply["error"]["message"]


# --- boot, authentication, RPC basics -------------------------------------------------------
async def test_boot_unconfigured_serves_ap_and_authenticates():
    rig = Rig()
    try:
        app = await rig.boot()
        board = rig.board
        assert board.ap_ssid == AP_SSID and "ap" in board.servers and "lan" not in board.servers
        assert app.servers["ap"]["host"] == AP_IP and app.servers["ap"]["port"] == 80
        started = next(e[1] for e in board.events if e[0] == "started")
        assert started["setup_state"] == "unconfigured" and started["ap_ip"] == AP_IP
        # the strip shows the restored (default: off) state at boot
        await wait_until(lambda: board.frames > 0, "first frame")
        assert board.pixels == [(0, 0, 0)] * 30

        anon = Client(rig)
        assert await anon.result("RPC.Ping") == "pong"
        reduced = (await anon.call("Sys.GetInfo", auth=False))["result"]
        assert reduced == {"id": DEVICE_ID, "model": "HL-S1", "app": "HubLight",
                           "fw_version": "0.1.0", "auth_required": True,
                           "auth_domain": DEVICE_ID}
        code, message = await anon.error("RPC.List", auth=False)
        assert code == 401
        challenge = json.loads(message)
        assert challenge["auth_type"] == "digest" and challenge["realm"] == DEVICE_ID
        assert challenge["algorithm"] == "SHA-256" and challenge["nc"] == 1
        assert isinstance(challenge["nonce"], int)

        client = Client(rig)
        names = await client.result("RPC.List")
        assert names == PROTOCOL_METHODS, names
        info = await client.result("Sys.GetInfo")
        assert info["mac"] == "0211221A2B3C" and info["paired"] is False
        assert info["setup_state"] == "unconfigured" and info["arch"] == "sim"
        assert info["wifi"]["ap_ip"] == AP_IP and info["wifi"]["status"] == "idle"
        assert info["ota"] == {"active_slot": 0, "is_committed": True}
        assert info["ram_free"] > 0 and info["ram_size"] >= info["ram_free"]
        assert info["fs_size"] > 0 and isinstance(info["uptime"], int)
        assert info["mqtt"] == {"connected": False, "server": None}

        # the label's spelling with a dash, lower case, works too
        dashed = Client(rig, password="abcd-2345")
        assert (await dashed.result("Sys.GetInfo"))["id"] == DEVICE_ID
        # a wrong password is refused with a fresh challenge
        wrong = Client(rig, password="ZZZZ9999")
        code, message = await wrong.error("RPC.List")
        assert code == 401 and json.loads(message)["nonce"] != wrong.nonce
        # a replayed answer (same nc) is refused
        frame = dict(client.last_frame)
        frame["id"] = 999
        replay = await client.send(frame)
        assert replay["error"]["code"] == 401
        # nc given as the 8-hex-digit string works
        string_nc = client.auth_fields()
        string_nc["nc"] = "%08x" % string_nc["nc"]
        ok = await client.send({"id": 5, "method": "RPC.Ping", "auth": string_nc})
        assert ok["result"] == "pong"
    finally:
        await rig.close()


async def test_frames_errors_and_describe():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        assert await client.result("RPC.Describe", {"name": "Light.Set"}) == {
            "name": "Light.Set",
            "args_fmt": "{on: %B, brightness: %d, rgb: [%d, %d, %d], transition_ms: %d}"}
        assert (await client.error("RPC.Describe", {"name": "No.Such"}))[0] == 404
        assert (await client.error("RPC.Describe", {}))[0] == 400
        code, message = await client.error("No.Such")
        assert code == 404 and "No.Such" in message
        assert (await client.error("Light.Set", {"brightness": 101}))[0] == 400
        assert (await client.error("Light.Set", {}))[0] == 400
        assert (await client.error("Light.Set", {"on": True, "x": 1}))[0] == 400
        assert (await client.error("Sys.GetLog", {"lines": "many"}))[0] == 400
        # frames as JSON text and bytes; tag echoed; args as the old name of params
        app = rig.app
        ctx = client.ctx()
        reply = await app.rpc.dispatch('{"id": 7, "method": "RPC.Ping", "tag": "t"}', ctx)
        assert reply == {"id": 7, "src": DEVICE_ID, "tag": "t", "result": "pong"}
        reply = await app.rpc.dispatch(b'{"id": 8, "method": "RPC.Ping"}', ctx)
        assert reply["result"] == "pong"
        reply = await app.rpc.dispatch(b"\xff\xfe", ctx)
        assert reply["error"]["code"] == 400
        reply = await app.rpc.dispatch("{not json", ctx)
        assert reply["error"]["code"] == 400
        reply = await app.rpc.dispatch("[1]", ctx)
        assert reply["error"]["code"] == 400
        # addressed to another device: dropped; a notification (no id): no reply
        assert await app.rpc.dispatch({"id": 9, "dst": "hublight-ffffff",
                                       "method": "RPC.Ping"}, ctx) is None
        assert await app.rpc.dispatch({"method": "RPC.Ping"}, ctx) is None
        # params must be an object
        auth = client.auth_fields()
        reply = await app.rpc.dispatch({"id": 10, "method": "Light.GetStatus",
                                        "params": [1], "auth": auth}, ctx)
        assert reply["error"]["code"] == 400
        auth = client.auth_fields()
        reply = await app.rpc.dispatch({"id": 11, "method": "Light.Set", "auth": auth,
                                        "args": {"on": True, "transition_ms": 0}}, ctx)
        assert reply["result"]["on"] is True
    finally:
        await rig.close()


async def test_argument_checks_name_the_argument():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        for method in ("RPC.List", "RPC.Ping", "Sys.GetInfo", "Sys.FactoryReset",
                       "Setup.Confirm", "Wifi.Scan", "Wifi.GetStatus", "OTA.Commit",
                       "OTA.Revert", "OTA.GetBootState"):
            code, message = await client.error(method, {"bogus": 1})
            assert code == 400 and message == "bogus: unknown argument of %s" % method, \
                (method, code, message)
        assert rig.app.reboot_reason is None  # nothing was executed
        # Light.Set names an unknown argument even without on/brightness/rgb
        code, message = await client.error("Light.Set", {"foo": 1})
        assert code == 400 and message.startswith("foo:"), message
        # only the integer 0 (or null / absent) is light 0
        for bad in (False, 0.0, "0"):
            for method, params in (("Light.Set", {"id": bad, "on": True}),
                                   ("Light.Toggle", {"id": bad}),
                                   ("Light.GetStatus", {"id": bad})):
                code, message = await client.error(method, params)
                assert code == 400 and message.startswith("id:"), (method, bad, message)
        assert (await client.result("Light.Set", {"id": 0, "on": True}))["on"] is True
        assert (await client.result("Light.GetStatus", {"id": None}))["on"] is True
        assert (await client.error("Light.Toggle", {"id": 1}))[0] == 404
        # a commit_timeout of 0 would roll back at once: 1..86400
        digest = "ab" * 32
        for timeout in (0, 86401, -5):
            code, message = await client.error("OTA.Update", {
                "url": "http://10.0.0.1:8000/fw.bin", "sha256": digest,
                "commit_timeout": timeout})
            assert code == 400 and message.startswith("commit_timeout:"), message
        assert not rig.app.ota.busy
    finally:
        await rig.close()


async def test_failed_logins_block_only_their_own_address():
    rig = Rig()
    try:
        await rig.boot()
        attacker = Client(rig, password="WRONG999")  # on the access point: 192.168.4.2
        for _ in range(5):  # two failed attempts each (the client retries once on 401)
            assert (await attacker.error("Light.GetStatus"))[0] == 401
        assert (await attacker.error("Light.GetStatus"))[0] == 429
        hub = Client(rig)
        hub.ctx = lambda: {"transport": "http", "iface": "ap", "peer": "192.168.4.3",
                           "http": None}
        assert (await hub.result("Light.GetStatus"))["rev"] == 0
        # the right password from the blocked address is refused too
        again = Client(rig)
        again.nonce = hub.nonce
        again.nc = hub.nc
        assert (await again.error("Light.GetStatus"))[0] == 429
    finally:
        await rig.close()


async def test_uptime_survives_the_ticks_wrap_around():
    """MicroPython's ticks_ms wraps every 2**30 ms (12.4 days) and ticks_diff only covers half
    of that: a light up for a week must still report a week."""
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        day_ms = 24 * 3600 * 1000
        for _ in range(8):  # a day at a time, the button loop polling in between
            rig.board.advance_clock(day_ms)
            await asyncio.sleep(0.12)
        uptime = (await client.result("Sys.GetInfo"))["uptime"]
        assert 8 * 86400 <= uptime < 8 * 86400 + 60, uptime
    finally:
        await rig.close()


# --- config ---------------------------------------------------------------------------------
async def test_config_get_set_save_and_redaction():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        tree = await client.result("Config.Get")
        assert tree["device"] == {"id": DEVICE_ID, "name": "", "room": ""}
        assert tree["wifi"]["sta"] == {"enable": False, "ssid": "", "pass_set": False}
        assert tree["wifi"]["ap"] == {"enable": True, "ssid": AP_SSID}
        assert tree["hub"] == {"secret_set": False} and tree["mqtt"]["pass_set"] is False
        assert tree["light"]["pixels"] == 30 and tree["sys"]["log_level"] == "info"

        result = await client.result("Config.Set", {"config": {
            "device": {"name": "Desk lamp", "room": "Study"},
            "wifi": {"sta": {"ssid": HOME, "pass": HOME_PASS}}}})
        assert result == {"saved": False, "restart_required": True}
        tree = await client.result("Config.Get")
        assert tree["wifi"]["sta"] == {"enable": False, "ssid": HOME, "pass_set": True}
        assert HOME_PASS not in json.dumps(tree)
        assert await client.result("Config.Get", {"key": "device.name"}) == "Desk lamp"
        assert await client.result("Config.Get", {"key": "wifi.sta"}) == {
            "enable": False, "ssid": HOME, "pass_set": True}
        assert (await client.error("Config.Get", {"key": "wifi.sta.pass"}))[0] == 403
        code, message = await client.error("Config.Get", {"key": "wifi.sta.sid"})
        assert code == 404 and "wifi.sta.sid" in message
        # a bad key anywhere fails the whole call, nothing is applied
        code, message = await client.error("Config.Set", {"config": {
            "device": {"name": "Other"}, "wifi": {"sta": {"sid": "x"}}}})
        assert code == 404 and "wifi.sta.sid" in message
        code, message = await client.error("Config.Set", {"config": {"device": {"id": "x"}}})
        assert code == 403 and "device.id" in message
        code, message = await client.error("Config.Set", {"config": {"light": {"pixels": 0}}})
        assert code == 400 and "light.pixels" in message
        code, _ = await client.error("Config.Set", {"config": {"hub": {"secret": "short"}}})
        assert code == 400
        assert (await client.error("Config.Set", {}))[0] == 400
        assert (await client.error("Config.Save", {"reboot": "yes"}))[0] == 400
        assert await client.result("Config.Get", {"key": "device.name"}) == "Desk lamp"

        # nothing saved yet; Config.Save writes config.json (write-only values included)
        try:
            rig.read_flash_json("config.json")
            raise AssertionError("config.json written before Config.Save")
        except OSError:
            pass
        assert await client.result("Config.Save", {}) == {"saved": True}
        saved = rig.read_flash_json("config.json")
        assert saved["device"]["name"] == "Desk lamp" and saved["wifi"]["sta"]["pass"] == HOME_PASS
        assert "id" not in saved["device"]
        result = await client.result("Config.Set", {"config": {"light": {"pixels": 8}},
                                                     "save": True})
        assert result == {"saved": True, "restart_required": False}
        assert rig.read_flash_json("config.json")["light"]["pixels"] == 8
        # light.pixels applies at once: the strip is re-rendered with 8 pixels
        await wait_until(lambda: len(rig.board.pixels) == 8, "8 pixels")
        events = [n["params"]["events"][0] for n in rig.notes if n["method"] == "NotifyEvent"]
        assert {"component": "sys", "event": "config_changed", "keys": ["light.pixels"]} in events
    finally:
        await rig.close()


# --- light ----------------------------------------------------------------------------------
async def test_light_set_toggle_render_and_notify():
    rig = Rig()
    try:
        await rig.boot()
        board = rig.board
        client = Client(rig)
        status = await client.result("Light.GetStatus")
        assert status == {"on": False, "brightness": 100, "rgb": [255, 255, 255],
                          "transition_ms": 300, "rev": 0, "source": "boot"}
        status = await client.result("Light.Set", {"on": True, "brightness": 50,
                                                   "rgb": [255, 0, 0], "transition_ms": 0})
        assert status == {"on": True, "brightness": 50, "rgb": [255, 0, 0],
                          "transition_ms": 0, "rev": 1, "source": "rpc"}
        # 50 % red: level 0.5, gamma 2 -> 255 * 0.25 = 63.75 -> 64
        await wait_until(lambda: board.pixels == [(64, 0, 0)] * 30, "50 % red")
        status = await client.result("Light.Toggle")
        assert status["on"] is False and status["rev"] == 2
        await wait_until(lambda: board.pixels == [(0, 0, 0)] * 30, "off after toggle")
        # brightness alone does not switch the light on
        status = await client.result("Light.Set", {"brightness": 100, "rgb": [0, 0, 255]})
        assert status["on"] is False and status["rev"] == 3
        # a transition renders intermediate frames and ends at the target
        frames_before = board.frames
        status = await client.result("Light.Set", {"on": True, "transition_ms": 200})
        assert status["transition_ms"] == 200
        await wait_until(lambda: board.pixels == [(0, 0, 255)] * 30, "full blue")
        assert board.frames - frames_before >= 3
        # Shelly's names: id 0 and transition_duration in seconds; another id is 404
        status = await client.result("Light.Set", {"id": 0, "brightness": 10,
                                                   "transition_duration": 0})
        assert status["brightness"] == 10 and status["transition_ms"] == 0
        assert (await client.error("Light.Set", {"id": 1, "on": True}))[0] == 404
        # a change without effect keeps rev
        again = await client.result("Light.Set", {"brightness": 10})
        assert again["rev"] == status["rev"]
        statuses = [n["params"]["light:0"] for n in rig.notes if n["method"] == "NotifyStatus"]
        assert [s["rev"] for s in statuses] == [1, 2, 3, 4, 5]
        assert all(n["src"] == DEVICE_ID for n in rig.notes)
        # the button toggles too (short press)
        board.hold_button()
        await asyncio.sleep(0.15)
        board.release_button()
        await wait_until(lambda: rig.app.light.on is False, "button toggle")
        assert rig.app.light.source == "button"
    finally:
        await rig.close()


async def test_light_state_restored_after_reboot():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        await client.result("Light.Set", {"on": True, "brightness": 40, "rgb": [10, 200, 30],
                                          "transition_ms": 0})
        await client.result("Light.Toggle")
        await client.result("Light.Toggle")
        assert await client.result("Sys.Reboot", {"delay_ms": 0}) is None
        # further requests get 418 until the light is gone
        assert (await client.error("Light.Toggle"))[0] == 418
        await rig.run_returns()
        assert rig.board.reboots == 1
        rebooting = [e[1] for e in rig.board.events if e[0] == "rebooting"]
        assert rebooting == [{"reason": "rpc"}]
        assert rig.read_flash_json("state.json")["light"] == {
            "on": True, "brightness": 40, "rgb": [10, 200, 30], "rev": 3, "rev_floor": 3}

        await rig.boot()
        client = Client(rig)
        status = await client.result("Light.GetStatus")
        assert status["on"] is True and status["brightness"] == 40
        assert status["rgb"] == [10, 200, 30] and status["rev"] == 3
        assert status["source"] == "boot"
        # restored without a fade-in: the first frame is already the target
        await wait_until(lambda: rig.board.frames > 0, "first frame")
        level_g = 200 / 255 * 0.4
        assert rig.board.pixels[0][1] == int(255 * level_g * level_g + 0.5)
        status = await client.result("Light.Toggle")
        assert status["rev"] == 4
        assert (await client.error("Sys.Reboot", {"delay_ms": -1}))[0] == 400
        assert (await client.error("Sys.Reboot", {"later": 1}))[0] == 400
    finally:
        await rig.close()


async def test_rev_never_repeats_after_a_power_cut():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        handed_out = []
        for level in (10, 20, 30, 40):
            handed_out.append((await client.result(
                "Light.Set", {"brightness": level, "transition_ms": 0}))["rev"])
        # the power cut: from now on nothing reaches the flash (the debounce may hold changes),
        # and run() is aborted without its shutdown
        rig.app.wiped = True
        rig.task.cancel()
        try:
            await rig.task
        except BaseException:
            pass
        rig.task = None
        await rig.boot()
        client = Client(rig)
        status = await client.result("Light.GetStatus")
        assert status["rev"] >= max(handed_out) and status["source"] == "boot"
        after = await client.result("Light.Set", {"brightness": 77, "transition_ms": 0})
        assert after["rev"] > max(handed_out), (handed_out, after["rev"])
        # the new block is on flash before the change was answered
        assert rig.read_flash_json("state.json")["light"]["rev_floor"] > after["rev"]
    finally:
        await rig.close()


# --- Wi-Fi set-up ---------------------------------------------------------------------------
async def _configure_wifi(client, password):
    result = await client.result("Config.Set", {"config": {"wifi": {"sta": {
        "enable": True, "ssid": HOME, "pass": password}}}})
    assert result == {"saved": False, "restart_required": True}
    assert await client.result("Config.Save", {"reboot": True}) == {"saved": True}


async def _pair_and_confirm(rig):
    """Boot after the Wi-Fi config, wait for awaiting_confirm, pair, confirm on the LAN."""
    app = await rig.boot()
    board = rig.board
    await wait_until(lambda: app.wifi.setup_state == "awaiting_confirm", "awaiting_confirm")
    assert board.joins[-1] == (HOME, HOME_PASS)
    assert "lan" in board.servers and "ap" in board.servers  # AP+STA while awaiting
    assert board.ap_ssid == AP_SSID and board.lan_ip is not None
    lan = Client(rig, iface="lan")
    status = await lan.result("Wifi.GetStatus")
    assert status["status"] == "connected" and status["ssid"] == HOME
    assert status["sta_ip"] == board.lan_ip and status["rssi"] == -48
    assert status["setup_state"] == "awaiting_confirm" and status["ap_enabled"] is True
    # mDNS was started on the LAN (silent network: nothing received)
    assert len(board.udp) == 1, ([u.tag for u in board.udp], board.events, rig.app.log.get(200))
    # not over the AP, and not before pairing
    ap = Client(rig, iface="ap")
    assert (await lan.error("Setup.Confirm"))[0] == 409
    await lan.result("Config.Set", {"config": {"hub": {"secret": SECRET}}, "save": True})
    assert (await ap.error("Setup.Confirm"))[0] == 401  # the setup code is no longer valid
    paired_ap = Client(rig, password=SECRET, iface="ap")
    assert (await paired_ap.error("Setup.Confirm"))[0] == 403
    paired = Client(rig, password=SECRET, iface="lan")
    assert await paired.result("Setup.Confirm") == {"confirmed": True}
    assert app.wifi.setup_state == "confirmed"
    await wait_until(lambda: board.ap_ssid is None, "AP off")
    assert "ap" not in app.servers and board.servers["ap"].closed
    assert await paired.result("Setup.Confirm") == {"confirmed": True}  # idempotent
    return paired


async def test_wifi_setup_join_pair_confirm_and_factory_reset():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        scan = await client.result("Wifi.Scan")
        assert [n["ssid"] for n in scan] == [HOME, "Office", "Neighbour"]
        assert scan[0]["auth"] == 3 and scan[0]["bssid"] == "02:00:00:00:00:01"
        await _configure_wifi(client, HOME_PASS)
        await rig.run_returns()
        assert rig.board.reboots == 1

        paired = await _pair_and_confirm(rig)
        info = await paired.result("Sys.GetInfo")
        assert info["paired"] is True and info["setup_state"] == "confirmed"
        assert info["wifi"]["ssid"] == HOME and info["wifi"]["ap_ip"] is None
        tree = await paired.result("Config.Get")
        assert tree["hub"] == {"secret_set": True} and tree["wifi"]["ap"]["enable"] is False
        assert SECRET not in json.dumps(tree)

        # a confirmed light boots straight onto the LAN, no AP
        assert await paired.result("Sys.Reboot", {"delay_ms": 0}) is None
        app = await rig.reboot_into_new_app()
        await wait_until(lambda: "lan" in rig.board.servers, "LAN server")
        assert rig.board.ap_ssid is None and "ap" not in rig.board.servers
        assert app.wifi.setup_state == "confirmed"
        lan = Client(rig, password=SECRET, iface="lan")
        assert (await lan.result("Wifi.GetStatus"))["status"] == "connected"
        assert (await Client(rig, iface="lan").error("Sys.GetLog"))[0] == 401

        # factory reset: back to the AP, the setup code works again, the secret does not
        await lan.result("Light.Set", {"on": True, "transition_ms": 0})
        assert await lan.result("Sys.FactoryReset", {}) is None
        await rig.run_returns()
        assert [e[1] for e in rig.board.events if e[0] == "factory_reset"] == [{"source": "rpc"}]
        assert [e[1] for e in rig.board.events if e[0] == "rebooting"] == [
            {"reason": "factory_reset"}]
        app = await rig.boot()
        assert app.wifi.setup_state == "unconfigured" and rig.board.ap_ssid == AP_SSID
        setup = Client(rig)
        tree = await setup.result("Config.Get")
        assert tree["hub"] == {"secret_set": False} and tree["wifi"]["sta"]["ssid"] == ""
        assert tree["wifi"]["ap"]["enable"] is True
        assert (await setup.result("Light.GetStatus"))["on"] is False
        assert (await Client(rig, password=SECRET).error("Sys.GetLog"))[0] == 401
        assert rig.board.factory()["setup_code"] == SETUP_CODE
    finally:
        await rig.close()


async def test_wrong_password_goes_back_to_ap_with_reason():
    rig = Rig()
    try:
        await rig.boot()
        await _configure_wifi(Client(rig), "not the password")
        app = await rig.reboot_into_new_app()
        await wait_until(lambda: app.wifi.status == "failed", "join failure")
        assert rig.board.ap_ssid == AP_SSID and "lan" not in rig.board.servers
        assert "lan_failed" in rig.board.event_names(), rig.board.events
        client = Client(rig)
        status = await client.result("Wifi.GetStatus")
        assert status["status"] == "failed" and status["reason"] == "wrong_password"
        assert status["setup_state"] == "unconfigured" and status["ssid"] == HOME
        assert status["ap_enabled"] is True and status["last_error_ts"] is not None
        tree = await client.result("Config.Get", {"key": "wifi.sta"})
        assert tree == {"enable": False, "ssid": HOME, "pass_set": True}
        log = await client.result("Sys.GetLog", {"lines": 200})
        assert "not the password" not in json.dumps(log)
        # the reason survives the reboot back to the AP
        await client.result("Sys.Reboot", {"delay_ms": 0})
        app = await rig.reboot_into_new_app()
        status = await Client(rig).result("Wifi.GetStatus")
        assert status["reason"] == "wrong_password" and status["status"] == "failed"
        # corrected credentials on the same light: it joins
        client = Client(rig)
        await _configure_wifi(client, HOME_PASS)
        await _pair_and_confirm_after_reboot(rig)
    finally:
        await rig.close()


async def _pair_and_confirm_after_reboot(rig):
    await rig.run_returns()
    await _pair_and_confirm(rig)


async def test_config_set_right_after_boot_does_not_join_without_reboot():
    """The boot decision is taken once: Wi-Fi config that arrives while the light starts (here
    at the very moment it reports "started") waits for the reboot, as protocol.md says."""
    rig = Rig()
    try:
        def configure_at_start(event, fields):
            if event == "started":
                config = rig.app.config
                config.apply(config.validate({"wifi": {"sta": {
                    "enable": True, "ssid": HOME, "pass": HOME_PASS}}}))

        rig.board.on_event = configure_at_start
        app = await rig.boot()
        rig.board.on_event = None
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert rig.board.joins == [] and app.wifi.setup_state == "unconfigured", (
            rig.board.joins, app.wifi.setup_state, rig.board.events)
        assert app.wifi.status == "idle" and rig.board.ap_ssid == AP_SSID
        # after Config.Save {reboot} it joins
        await Client(rig).result("Config.Save", {"reboot": True})
        app = await rig.reboot_into_new_app()
        await wait_until(lambda: app.wifi.setup_state == "awaiting_confirm", "awaiting_confirm")
        assert rig.board.joins == [(HOME, HOME_PASS)]
    finally:
        await rig.close()


async def test_sys_get_log_keeps_what_the_board_allows():
    rig = Rig()
    try:
        rig.board.log_lines = lambda: 100  # as the ESP32 board (RAM budget)
        app = await rig.boot()
        assert app.log.capacity == 100
        for i in range(150):
            app.log.info("line %d" % i)
        client = Client(rig)
        got = await client.result("Sys.GetLog", {"lines": 100})
        assert len(got["lines"]) == 100 and got["lines"][-1]["msg"].startswith("line 149")
        assert got["lines"][0]["seq"] == got["next"] - 100
        code, message = await client.error("Sys.GetLog", {"lines": 101})
        assert code == 400 and message.startswith("lines:") and "0..100" in message
        assert len((await client.result("Sys.GetLog"))["lines"]) == 100
    finally:
        await rig.close()
    rig = Rig()
    try:
        app = await rig.boot()  # the base Board's hint (and the simulator's): 200
        assert app.log.capacity == 200
    finally:
        await rig.close()


async def test_unsupported_network_reason():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        await client.result("Config.Set", {"config": {"wifi": {"sta": {
            "enable": True, "ssid": "Office", "pass": ""}}}, "reboot": True})
        app = await rig.reboot_into_new_app()
        await wait_until(lambda: app.wifi.status == "failed", "join failure")
        assert app.wifi.get_status()["reason"] == "unsupported_network"
    finally:
        await rig.close()


# --- log --------------------------------------------------------------------------------------
async def test_sys_get_log():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        await client.result("Config.Set", {"config": {"hub": {"secret": SECRET},
                                                      "wifi": {"sta": {"pass": HOME_PASS}}}})
        client = Client(rig, password=SECRET)  # paired now: the setup code is no longer valid
        log = await client.result("Sys.GetLog")
        lines = log["lines"]
        assert lines and log["next"] == lines[-1]["seq"] + 1
        assert [line["seq"] for line in lines] == list(range(lines[0]["seq"],
                                                              lines[-1]["seq"] + 1))
        for line in lines:
            assert set(line) == {"seq", "ts", "level", "msg"}
            assert line["level"] in ("debug", "info", "warn", "error")
        text = json.dumps(log)
        assert "boot: %s fw 0.1.0" % DEVICE_ID in text
        assert "config changed: " in text and "hub.secret" in text
        assert SECRET not in text and HOME_PASS not in text and SETUP_CODE not in text
        two = await client.result("Sys.GetLog", {"lines": 2})
        assert two["lines"] == lines[-2:]
        since = await client.result("Sys.GetLog", {"since": lines[1]["seq"], "lines": 1})
        assert since["lines"] == [lines[1]] and since["next"] == lines[1]["seq"] + 1
        assert (await client.result("Sys.GetLog", {"since": log["next"]}))["lines"] == []
        assert (await client.error("Sys.GetLog", {"lines": 201}))[0] == 400
        assert (await client.error("Sys.GetLog", {"since": -1}))[0] == 400
        # failed auth is logged without the attempted password
        await Client(rig, password="guessed-pass").error("Sys.GetLog")
        last = (await client.result("Sys.GetLog", {"lines": 1}))["lines"]
        text = json.dumps(await client.result("Sys.GetLog", {"lines": 200}))
        assert "auth: rejected (wrong password)" in text and "guessed-pass" not in text
        assert last
    finally:
        await rig.close()


# --- OTA --------------------------------------------------------------------------------------
def _firmware_server(image, requests):
    """An HTTP/1.1 file server on the simulated LAN (handler for WifiWorld.serve)."""

    async def handle(reader, writer):
        line = await reader.readline()
        requests.append(line.decode().strip())
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
        if line.startswith(b"GET /old "):
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: /fw.bin\r\nContent-Length: 0\r\n\r\n")
        elif line.startswith(b"GET /fw.bin "):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(image))
            writer.write(image)
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    return handle


async def _confirmed_light(rig):
    await rig.boot()
    await _configure_wifi(Client(rig), HOME_PASS)
    await rig.run_returns()
    return await _pair_and_confirm(rig)


async def test_ota_errors_and_failed_download():
    rig = Rig()
    try:
        await rig.boot()
        client = Client(rig)
        state = await client.result("OTA.GetBootState")
        assert state == {"active_slot": 0, "is_committed": True, "revert_slot": None,
                         "commit_timeout": 0, "fw_version": "0.1.0", "last_error": None}
        assert (await client.error("OTA.Commit"))[0] == 409
        assert (await client.error("OTA.Revert"))[0] == 409
        digest = "ab" * 32
        assert (await client.error("OTA.Update", {"url": "ftp://x/y", "sha256": digest}))[0] \
            == 400
        assert (await client.error("OTA.Update", {"url": "http://x/y", "sha256": "12"}))[0] \
            == 400
        assert (await client.error("OTA.Update", {"url": "http://h:99999/", "sha256": digest}))[0] \
            == 400
        # not on any network (AP only): the download fails cleanly and is reported
        result = await client.result("OTA.Update", {"url": "http://10.0.0.1:8000/fw.bin",
                                                    "sha256": digest})
        assert result == {"started": True}
        await wait_until(lambda: not rig.app.ota.busy, "OTA to finish")
        state = await client.result("OTA.GetBootState")
        assert state["last_error"].startswith("OSError") and state["is_committed"] is True
        assert state["active_slot"] == 0 and rig.board.reboots == 0
        events = [n["params"]["events"][0] for n in rig.notes if n["method"] == "NotifyEvent"]
        failed = [e for e in events if e["event"] == "ota_failed"]
        assert len(failed) == 1 and failed[0]["message"] == state["last_error"]
        log = json.dumps(await client.result("Sys.GetLog", {"lines": 5}))
        assert "ota: update failed" in log
        assert await client.result("RPC.Ping") == "pong"  # still serving
    finally:
        await rig.close()


async def test_ota_update_commit_and_revert_on_the_lan():
    rig = Rig()
    image = make_image("0.2.0", b"new firmware payload " * 300)
    requests = []
    rig.world.serve("10.0.0.1", 8000, _firmware_server(image, requests))
    try:
        paired = await _confirmed_light(rig)
        reboots = rig.board.reboots
        digest = _sha256_hex_bytes(image)
        # a wrong checksum is refused, nothing staged
        result = await paired.result("OTA.Update", {"url": "http://10.0.0.1:8000/fw.bin",
                                                    "sha256": "00" * 32})
        assert result == {"started": True}
        await wait_until(lambda: not rig.app.ota.busy, "bad OTA to finish")
        state = await paired.result("OTA.GetBootState")
        assert state["last_error"] == "sha256 mismatch: got " + digest, state
        assert rig.board.reboots == reboots and state["is_committed"] is True
        # a wrong path: HTTP 404
        await paired.result("OTA.Update", {"url": "http://10.0.0.1:8000/nope", "sha256": digest})
        await wait_until(lambda: not rig.app.ota.busy, "404 OTA to finish")
        assert (await paired.result("OTA.GetBootState"))["last_error"] == \
            "download failed: HTTP 404"
        # through a redirect, with progress, staged in slot 1, reboot into it
        rig.notes.clear()
        await paired.result("OTA.Update", {"url": "http://10.0.0.1:8000/old", "sha256": digest,
                                           "commit_timeout": 600})
        await rig.run_returns()
        assert requests[-2:] == ["GET /old HTTP/1.1", "GET /fw.bin HTTP/1.1"]
        progress = [n["params"]["events"][0].get("progress") for n in rig.notes
                    if n["method"] == "NotifyEvent"
                    and n["params"]["events"][0]["event"] == "ota_progress"]
        assert progress and progress[-1] == 100 and progress == sorted(progress)
        await rig.boot()
        lan = Client(rig, password=SECRET, iface="lan")
        state = await lan.result("OTA.GetBootState")
        assert state == {"active_slot": 1, "is_committed": False, "revert_slot": 0,
                         "commit_timeout": 600, "fw_version": "0.2.0", "last_error": None}
        assert (await lan.result("Sys.GetInfo"))["fw_version"] == "0.2.0"
        assert (await lan.error("OTA.Update", {"url": "http://10.0.0.1:8000/fw.bin",
                                               "sha256": digest}))[0] == 409
        assert await lan.result("OTA.Commit") == {"committed": True}
        assert (await lan.error("OTA.Commit"))[0] == 409
        assert (await lan.result("OTA.GetBootState"))["is_committed"] is True
        # revert to the previous slot
        assert await lan.result("OTA.Revert") is None
        await rig.run_returns()
        await rig.boot()
        lan = Client(rig, password=SECRET, iface="lan")
        state = await lan.result("OTA.GetBootState")
        assert state["active_slot"] == 0 and state["fw_version"] == "0.1.0"
        assert state["last_error"] == "reverted by request"
    finally:
        await rig.close()


def _sha256_hex_bytes(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


# --- the firmware's HTTP server over the board's in-memory connection -------------------------
async def _http(board, request):
    reader, writer = board.connect("ap")
    writer.write(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await reader.read(1)
        assert chunk, "connection closed: " + repr(head)
        head += chunk
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1].strip())
    body = await reader.readexactly(length) if length else b""
    writer.close()
    return head.decode(), body


async def test_http_rpc_over_the_board_connection():
    rig = Rig()
    try:
        await rig.boot()
        head, body = await _http(rig.board, b"GET /rpc/RPC.Ping HTTP/1.1\r\nHost: x\r\n"
                                            b"Connection: close\r\n\r\n")
        assert head.startswith("HTTP/1.1 200 ") and json.loads(body) == "pong"
        assert "Access-Control-Allow-Origin: *" in head
        head, body = await _http(rig.board, b"POST /rpc/Light.Toggle HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        assert head.startswith("HTTP/1.1 401 ")
        assert 'WWW-Authenticate: Digest qop="auth", realm="%s"' % DEVICE_ID in head
        assert json.loads(body)["code"] == 401
        frame = json.dumps({"id": 3, "src": "web", "method": "Sys.GetInfo"}).encode()
        head, body = await _http(rig.board, b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                 + str(len(frame)).encode() + b"\r\nConnection: close\r\n\r\n"
                                 + frame)
        reply = json.loads(body)
        assert head.startswith("HTTP/1.1 200 ") and reply["dst"] == "web"
        assert reply["result"]["auth_required"] is True and "mac" not in reply["result"]
    finally:
        await rig.close()


# --- mDNS, WebSocket and MQTT on the simulated LAN ---------------------------------------------
def _records(sent):
    from hublight.mdns import decode_message

    out = []
    for data, _ in sent:
        out += decode_message(data)["answers"]
    return out


async def test_mdns_announces_and_says_goodbye():
    rig = Rig()
    try:
        await _confirmed_light(rig)
        udp = rig.board.udp[-1]
        assert udp.tag[1] == rig.board.lan_ip and udp.tag[2:] == ("224.0.0.251", 5353)
        await wait_until(lambda: udp.sent, "an mDNS announcement")
        await wait_until(lambda: any(r["type"] == 1 for r in _records(udp.sent)), "A record")
        records = _records(udp.sent)
        names = [(r["name"].lower(), r["type"]) for r in records]
        assert ("_hublight._tcp.local", 12) in names and ("_http._tcp.local", 12) in names
        a_record = next(r for r in records if r["type"] == 1)
        assert a_record["name"].lower() == DEVICE_ID + ".local" and a_record["ttl"] > 0
        srv = next(r for r in records if r["type"] == 33)
        assert srv["port"] == 80 and srv["target"].lower() == DEVICE_ID + ".local"
        # paired after the announcement started: the TXT record follows (paired=1)
        await wait_until(lambda: [r for r in _records(udp.sent) if r["type"] == 16
                                  and r["txt"].get("paired") == "1"], "paired=1 in TXT")
        assert all(addr == ("224.0.0.251", 5353) for _, addr in udp.sent)
        sent_before = len(udp.sent)
        await rig.app.stop()
        await rig.task
        rig.task = None
        assert udp.closed and len(udp.sent) > sent_before
        goodbye = _records(udp.sent[sent_before:])
        assert goodbye and all(r["ttl"] == 0 for r in goodbye)
        assert [r for r in goodbye if r["type"] == 1]
    finally:
        await rig.close()


def _client_frame(text):
    from hublight.wsproto import encode_frame

    return encode_frame(1, text.encode(), mask=b"\x01\x02\x03\x04")


async def _read_server_frame(reader):
    """-> (opcode, payload) of one unmasked server frame."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        ext = await reader.readexactly(2)
        length = (ext[0] << 8) | ext[1]
    assert head[1] & 0x80 == 0 and length < 65536
    payload = await reader.readexactly(length) if length else b""
    return head[0] & 0x0F, payload


async def test_websocket_session_replies_and_pushes_notifications():
    rig = Rig()
    try:
        await rig.boot()
        reader, writer = rig.board.connect("ap")
        writer.write(b"GET /rpc HTTP/1.1\r\nHost: 192.168.4.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += await reader.read(1)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        # a request with src: reply on the socket (401 with the challenge first)
        writer.write(_client_frame(json.dumps({"id": 1, "src": "ws-hub",
                                               "method": "Light.Toggle"})))
        opcode, payload = await _read_server_frame(reader)
        reply = json.loads(payload)
        assert opcode == 1 and reply["id"] == 1 and reply["error"]["code"] == 401
        client = Client(rig)
        client.nonce = json.loads(reply["error"]["message"])["nonce"]
        writer.write(_client_frame(json.dumps({"id": 2, "src": "ws-hub", "method": "Light.Set",
                                               "params": {"on": True, "transition_ms": 0},
                                               "auth": client.auth_fields()})))
        seen = []
        while len(seen) < 2:
            opcode, payload = await _read_server_frame(reader)
            seen.append(json.loads(payload))
        replies = [f for f in seen if f.get("id") == 2]
        notes = [f for f in seen if f.get("method") == "NotifyStatus"]
        assert replies and replies[0]["result"]["on"] is True
        assert notes and notes[0]["dst"] == "ws-hub" and "id" not in notes[0]
        assert notes[0]["params"]["light:0"]["on"] is True
        # a change made elsewhere (the button, another transport) is pushed too
        rig.app.light.toggle("button")
        opcode, payload = await _read_server_frame(reader)
        note = json.loads(payload)
        assert note["method"] == "NotifyStatus" and note["params"]["light:0"]["source"] == "button"
        # ping answered with pong
        from hublight.wsproto import encode_frame

        writer.write(encode_frame(9, b"hi", mask=b"\x05\x06\x07\x08"))
        assert await _read_server_frame(reader) == (10, b"hi")
        writer.close()
    finally:
        await rig.close()


class MemoryBroker:
    """A minimal MQTT 3.1.1 broker on the simulated LAN (one client: the light)."""

    def __init__(self):
        self.connects = 0
        self.subscriptions = []
        self.published = []  # (topic, payload, retain, qos)
        self.retained = {}
        self.writer = None
        self.disconnects = 0

    async def _read_packet(self, reader):
        first = await reader.readexactly(1)
        length = 0
        shift = 0
        while True:
            byte = (await reader.readexactly(1))[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = await reader.readexactly(length) if length else b""
        return first[0], body

    async def handle(self, reader, writer):
        self.writer = writer
        try:
            while True:
                first, body = await self._read_packet(reader)
                kind = first >> 4
                if kind == 1:  # CONNECT
                    self.connects += 1
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 8:  # SUBSCRIBE
                    pid = body[:2]
                    size = (body[2] << 8) | body[3]
                    self.subscriptions.append(body[4 : 4 + size].decode())
                    writer.write(b"\x90\x03" + pid + b"\x01")
                elif kind == 3:  # PUBLISH
                    qos = (first >> 1) & 3
                    size = (body[0] << 8) | body[1]
                    topic = body[2 : 2 + size].decode()
                    rest = body[2 + size :]
                    if qos:
                        writer.write(b"\x40\x02" + rest[:2])
                        rest = rest[2:]
                    retain = bool(first & 1)
                    self.published.append((topic, bytes(rest), retain, qos))
                    if retain:
                        self.retained[topic] = bytes(rest)
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT
                    self.disconnects += 1
                    break
                await writer.drain()
        except (EOFError, OSError):
            pass
        writer.close()

    def send(self, topic, payload, retain=False):
        """Publish to the light (QoS 0)."""
        body = bytes([len(topic) >> 8, len(topic) & 0xFF]) + topic.encode() + payload
        self.writer.write(bytes([0x31 if retain else 0x30, len(body)]) + body)

    def messages(self, topic):
        return [json.loads(p[1]) for p in self.published if p[0] == topic]


async def test_mqtt_rpc_state_and_availability():
    rig = Rig()
    broker = MemoryBroker()
    rig.world.serve("10.0.0.1", 1883, broker.handle)
    try:
        paired = await _confirmed_light(rig)
        await paired.result("Config.Set", {"config": {"mqtt": {"enable": True,
                                                               "server": "10.0.0.1:1883"}},
                                           "reboot": True})
        app = await rig.reboot_into_new_app()
        await wait_until(lambda: app.mqtt_connected() and broker.retained.get(
            DEVICE_ID + "/state"), "MQTT connected with state")
        assert broker.connects == 1 and broker.subscriptions == [DEVICE_ID + "/rpc"]
        assert broker.retained[DEVICE_ID + "/online"] == b"online"
        assert json.loads(broker.retained[DEVICE_ID + "/state"])["on"] is False
        # RPC over MQTT: authorised by the broker, reply to <src>/rpc
        broker.send(DEVICE_ID + "/rpc", json.dumps({"id": 5, "src": "hub-1",
                                                    "method": "Light.Toggle"}).encode())
        await wait_until(lambda: broker.messages("hub-1/rpc"), "the MQTT reply")
        reply = broker.messages("hub-1/rpc")[0]
        assert reply["id"] == 5 and reply["result"]["on"] is True
        assert reply["result"]["source"] == "mqtt"
        await wait_until(lambda: json.loads(broker.retained[DEVICE_ID + "/state"])["on"],
                         "retained state on")
        # a retained request is ignored
        broker.send(DEVICE_ID + "/rpc", json.dumps({"id": 6, "src": "hub-1",
                                                    "method": "Light.Toggle"}).encode(), True)
        broker.send(DEVICE_ID + "/rpc", json.dumps({"id": 7, "src": "hub-1",
                                                    "method": "RPC.Ping"}).encode())
        await wait_until(lambda: len(broker.messages("hub-1/rpc")) == 2, "the ping reply")
        assert broker.messages("hub-1/rpc")[1] == {"id": 7, "src": DEVICE_ID, "dst": "hub-1",
                                                   "result": "pong"}
        assert app.light.on is True
        info = await Client(rig, password=SECRET, iface="lan").result("Sys.GetInfo")
        assert info["mqtt"] == {"connected": True, "server": "10.0.0.1:1883"}
        # a clean reboot publishes offline (retained) and disconnects
        await Client(rig, password=SECRET, iface="lan").result("Sys.Reboot", {"delay_ms": 0})
        await rig.run_returns()
        assert broker.retained[DEVICE_ID + "/online"] == b"offline"
        assert broker.disconnects == 1
    finally:
        await rig.close()


async def test_aws_shadow_reports_only_when_needed_and_ignores_old_deltas():
    rig = Rig()
    broker = MemoryBroker()
    rig.world.serve("10.0.0.1", 1883, broker.handle)
    shadow = "$aws/things/%s/shadow/" % DEVICE_ID
    try:
        paired = await _confirmed_light(rig)
        await paired.result("Config.Set", {"config": {
            "mqtt": {"enable": True, "server": "10.0.0.1:1883"}, "aws": {"enable": True}},
            "reboot": True})
        app = await rig.reboot_into_new_app()
        await wait_until(lambda: broker.messages(shadow + "update"), "the first report")
        assert shadow + "get/accepted" in broker.subscriptions

        async def settle(n):
            # a ping answered after the shadow messages: everything they caused is queued
            broker.send(DEVICE_ID + "/rpc", json.dumps(
                {"id": n, "src": "hub-1", "method": "RPC.Ping"}).encode())
            await wait_until(lambda: any(r.get("id") == n for r in broker.messages("hub-1/rpc")),
                             "ping %d" % n)

        def reports():
            return [m["state"]["reported"] for m in broker.messages(shadow + "update")]

        await settle(1)
        assert len(reports()) == 1
        # a get/accepted whose desired state is the current one: no new report
        broker.send(shadow + "get/accepted", json.dumps(
            {"state": {"desired": {"on": False}}, "version": 7}).encode())
        await settle(2)
        assert len(reports()) == 1, reports()
        # a delta (newer) is applied and reported once
        broker.send(shadow + "update/delta", json.dumps(
            {"state": {"brightness": 30}, "version": 9}).encode())
        await settle(3)
        assert app.light.brightness == 30 and app.light.source == "shadow"
        assert len(reports()) == 2 and reports()[-1]["brightness"] == 30
        # an older delta (arriving late) is ignored
        broker.send(shadow + "update/delta", json.dumps(
            {"state": {"brightness": 90}, "version": 8}).encode())
        await settle(4)
        assert app.light.brightness == 30 and len(reports()) == 2
        # a get/accepted that changes the light reports the new state
        broker.send(shadow + "get/accepted", json.dumps(
            {"state": {"desired": {"on": True}}, "version": 10}).encode())
        await settle(5)
        assert app.light.on is True and len(reports()) == 3 and reports()[-1]["on"] is True
    finally:
        await rig.close()


async def test_mqtt_settings_restart_the_link_without_a_reboot():
    rig = Rig()
    broker = MemoryBroker()
    rig.world.serve("10.0.0.1", 1883, broker.handle)
    try:
        paired = await _confirmed_light(rig)
        app = rig.app
        reboots = rig.board.reboots
        result = await paired.result("Config.Set", {"config": {
            "mqtt": {"enable": True, "server": "10.0.0.1:1883"}}})
        assert result == {"saved": False, "restart_required": False}
        await wait_until(lambda: app.mqtt_connected() and broker.retained.get(
            DEVICE_ID + "/online") == b"online", "MQTT up without a reboot")
        await paired.result("Config.Set", {"config": {"mqtt": {"topic_prefix": "lamps/a"}}})
        await wait_until(lambda: broker.retained.get("lamps/a/online") == b"online",
                         "MQTT up under the new prefix")
        assert broker.retained[DEVICE_ID + "/online"] == b"offline"
        assert broker.connects == 2 and broker.disconnects == 1
        await paired.result("Config.Set", {"config": {"mqtt": {"enable": False}}})
        await wait_until(lambda: broker.disconnects == 2, "MQTT stopped")
        assert broker.retained["lamps/a/online"] == b"offline" and not app.mqtt_connected()
        assert rig.board.reboots == reboots and rig.app is app and app.mqtt_link is None
    finally:
        await rig.close()
