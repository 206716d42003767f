"""docs/protocol.md against the firmware, over real HTTP/WebSocket to a simulated light.

(a) the doc's method list and config-key table equal ``RPC.List`` and the config schema;
(b) every method is called with valid params (its result checked against the documented shape)
    and with one invalid param (400/404 naming the problem);
(c) Mongoose OS / Shelly compatibility points of device-protocol-facts.md.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight import config as config_mod
from hublight_sim.runner import SimLight
from yarl import URL

from .helpers import LightRpc, RpcFailure, eventually, frame_auth, sha256_hex

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


# --- reading the doc ----------------------------------------------------------------------------
def _section(text: str, start: str, end: str) -> str:
    begin = text.index(start)
    return text[begin:text.index(end, begin)]


def _bullets(section: str) -> list[str]:
    """Markdown bullets of a section, continuation lines joined."""
    out: list[str] = []
    in_bullet = False
    for line in section.splitlines():
        if line.startswith("- "):
            out.append(line)
            in_bullet = True
        elif in_bullet and line.startswith("  "):
            out[-1] += " " + line.strip()
        else:
            in_bullet = False
    return out


METHOD_RE = re.compile(r"^- `(?P<name>[A-Z][A-Za-z]*\.[A-Za-z]+)(?: \{(?P<args>[^`]*)\})?`"
                       r" -> `(?P<result>[^`]+)`")


def doc_methods() -> dict[str, dict[str, Any]]:
    """name -> {"args": [names], "result": shape text} from the Methods section."""
    text = DOC.read_text(encoding="utf-8")
    section = _section(text, "\n## Methods", "\n## DNS-SD")
    methods: dict[str, dict[str, Any]] = {}
    for bullet in _bullets(section):
        match = METHOD_RE.match(bullet)
        if match is None:
            continue
        args = [a.strip().split("?")[0].split("=")[0] for a in (match["args"] or "").split(",")]
        assert match["name"] not in methods, f"{match['name']} documented twice"
        methods[match["name"]] = {"args": [a for a in args if a], "result": match["result"]}
    return methods


def doc_named_shapes() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return {m[1]: m[2] for m in re.finditer(r"^`(\w+)` = `([^`]+)`$", text, re.M)}


def doc_config_rows() -> dict[str, dict[str, str]]:
    """key -> {"type", "flags", "default", "limits", "notes"} from the config key table."""
    text = DOC.read_text(encoding="utf-8")
    section = _section(text, "| key | type | default | limits | notes |", "\n\n")
    rows: dict[str, dict[str, str]] = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 5, line
        key = cells[0].strip("`")
        kind, *flags = cells[1].split()
        rows[key] = {"type": kind, "flags": " ".join(flags), "default": cells[2],
                     "limits": cells[3], "notes": cells[4]}
    return rows


# --- result shapes ("{a: int, b: [str], c: str|null}") -----------------------------------------
class _Shape:
    def __init__(self, text: str, named: dict[str, str]) -> None:
        self.text = text
        self.pos = 0
        self.named = named

    def parse(self) -> Any:
        node = self._union()
        self._skip()
        assert self.pos == len(self.text), f"trailing text in shape {self.text!r}"
        return node

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def _union(self) -> Any:
        options = [self._atom()]
        self._skip()
        while self.text.startswith("|", self.pos):
            self.pos += 1
            options.append(self._atom())
            self._skip()
        return options[0] if len(options) == 1 else ("union", options)

    def _atom(self) -> Any:
        self._skip()
        ch = self.text[self.pos]
        if ch == "{":
            self.pos += 1
            fields: dict[str, Any] = {}
            while True:
                self._skip()
                match = re.compile(r"(\w+)\s*:").match(self.text, self.pos)
                assert match, f"field expected at {self.text[self.pos:]!r}"
                self.pos = match.end()
                fields[match[1]] = self._union()
                self._skip()
                sep = self.text[self.pos]
                self.pos += 1
                if sep == "}":
                    return ("object", fields)
                assert sep == ",", self.text
        if ch == "[":
            self.pos += 1
            item = self._union()
            self._skip()
            assert self.text[self.pos] == "]", self.text
            self.pos += 1
            return ("array", item)
        if ch == '"':
            end = self.text.index('"', self.pos + 1)
            value = json.loads(self.text[self.pos:end + 1])
            self.pos = end + 1
            return ("literal", value)
        match = re.compile(r"\w+").match(self.text, self.pos)
        assert match, f"type expected at {self.text[self.pos:]!r}"
        self.pos = match.end()
        word = match[0]
        if word in self.named:
            return _Shape(self.named[word], self.named).parse()
        assert word in ("str", "int", "number", "bool", "null", "any"), word
        return ("type", word)


def parse_shape(text: str) -> Any:
    return _Shape(text, doc_named_shapes()).parse()


def shape_problems(value: Any, shape: Any, path: str = "result") -> list[str]:
    kind = shape[0]
    if kind == "union":
        found = [shape_problems(value, option, path) for option in shape[1]]
        return [] if any(not f for f in found) else found[0]
    if kind == "literal":
        return [] if value == shape[1] else [f"{path}: {value!r} != {shape[1]!r}"]
    if kind == "type":
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool),
              "null": value is None, "any": True}[shape[1]]
        return [] if ok else [f"{path}: {value!r} is not {shape[1]}"]
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not an array"]
        return [p for i, item in enumerate(value) for p in shape_problems(item, shape[1],
                                                                           f"{path}[{i}]")]
    assert kind == "object"
    if not isinstance(value, dict):
        return [f"{path}: {value!r} is not an object"]
    problems = []
    if set(value) != set(shape[1]):
        problems.append(f"{path}: keys {sorted(value)} != documented {sorted(shape[1])}")
    for key, sub in shape[1].items():
        if key in value:
            problems += shape_problems(value[key], sub, f"{path}.{key}")
    return problems


def assert_documented(method: str, result: Any) -> None:
    shape = parse_shape(doc_methods()[method]["result"])
    assert shape_problems(result, shape) == [], (method, result)


def test_doc_parses_and_shape_checker_can_fail() -> None:
    methods = doc_methods()
    assert len(methods) >= 20
    status = parse_shape("LightStatus")
    good = {"on": True, "brightness": 5, "rgb": [1, 2, 3], "transition_ms": 0, "rev": 1,
            "source": "rpc"}
    assert shape_problems(good, status) == []
    assert shape_problems({**good, "extra": 1}, status)
    assert shape_problems({**good, "rgb": [1, "2", 3]}, status)
    assert shape_problems({**good, "on": 1}, status)
    assert shape_problems(None, parse_shape("{a: int|null}"))
    assert shape_problems({"a": None}, parse_shape("{a: int|null}")) == []
    assert shape_problems("ping", parse_shape('"pong"'))


# --- (a) method list and config table -----------------------------------------------------------
async def test_doc_method_list_equals_rpc_list(ap_rpc: LightRpc) -> None:
    listed = await ap_rpc.call("RPC.List")
    assert listed == sorted(listed)
    assert set(doc_methods()) == set(listed)
    assert set(METHOD_CASES) == set(listed), "add a conformance case for every method"


def test_doc_config_table_equals_schema() -> None:
    rows = doc_config_rows()
    assert list(rows) == [spec[0] for spec in config_mod.SCHEMA]
    for key, kind, default, flags, _check in config_mod.SCHEMA:
        row = rows[key]
        assert row["type"] == kind, key
        assert row["flags"] == flags, key
        if flags == config_mod.RO:
            assert row["default"] in ("device id", "AP SSID"), key
        else:
            assert json.loads(row["default"].strip("`")) == default, key


async def test_config_tree_types_limits_and_flags(ap_rpc: LightRpc, light: SimLight) -> None:
    rows = doc_config_rows()
    tree = await ap_rpc.call("Config.Get")
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, value in node.items():
            if isinstance(value, dict):
                walk(value, prefix + name + ".")
            else:
                flat[prefix + name] = value

    walk(tree, "")
    expected = {k + "_set" if r["flags"] == "wo" else k for k, r in rows.items()}
    assert set(flat) == expected
    assert flat["device.id"] == light.device_id and flat["wifi.ap.ssid"] == light.ap_ssid
    wrong_type = {"str": 1, "int": "1", "bool": 1}
    for key, row in rows.items():
        patch: dict[str, Any] = {}
        node = patch
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})

        async def set_value(value: Any, node: dict[str, Any] = node,
                            leaf: str = parts[-1], patch: dict[str, Any] = patch) -> None:
            node[leaf] = value
            await ap_rpc.call("Config.Set", {"config": patch})

        async def refused(value: Any, code: int, key: str = key) -> None:
            with pytest.raises(RpcFailure) as failure:
                await set_value(value)
            assert failure.value.code == code and key in failure.value.message, (key, value)

        if row["flags"] == "ro":
            await refused(flat[key], 403)
            continue
        if row["flags"] == "wo":
            assert flat[key + "_set"] is False
            with pytest.raises(RpcFailure) as failure:
                await ap_rpc.call("Config.Get", {"key": key})
            assert failure.value.code == 403 and key in failure.value.message
            with pytest.raises(RpcFailure) as failure:
                await ap_rpc.call("Config.Set", {"config": {key.split(".")[0]: {}} | _nest(
                    key + "_set", True)})
            assert failure.value.code == 403
        else:
            assert json.dumps(flat[key]) == row["default"].strip("`"), key
        await refused(wrong_type[row["type"]], 400)
        limits = row["limits"]
        default = config_mod.SPECS[key][2]
        if match := re.fullmatch(r"(\d+)\.\.(\d+)", limits):
            low, high = int(match[1]), int(match[2])
            await refused(low - 1, 400)
            await refused(high + 1, 400)
            await set_value(low)
            await set_value(high)
            assert await ap_rpc.call("Config.Get", {"key": key}) == high
            await set_value(default)
        elif match := re.fullmatch(r"at most (\d+) characters", limits):
            most = int(match[1])
            await refused("x" * (most + 1), 400)
            await set_value("x" * most)
            await set_value(default)
        elif "one of" in limits:
            for allowed in re.findall(r"`(\w+)`", limits):
                await set_value(allowed)
            await refused("verbose", 400)
            await set_value(default)
    assert await ap_rpc.call("Config.Get") == tree  # everything back at its default


def _nest(key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


# --- (b) every method: valid and invalid params ------------------------------------------------
NOT_OBJECT: Any = [1]  # params that are not an object: every method answers 400 "params: ..."

# name -> (valid params, or the test that covers the destructive call; invalid params, code,
# text the error message must contain)
METHOD_CASES: dict[str, tuple[Any, Any, int, str]] = {
    "RPC.List": ({}, NOT_OBJECT, 400, "params"),
    "RPC.Describe": ({"name": "Light.Set"}, {"name": "No.Such"}, 404, "No.Such"),
    "RPC.Ping": ({}, NOT_OBJECT, 400, "params"),
    "Sys.GetInfo": ({}, NOT_OBJECT, 400, "params"),
    # covered by test_wifi_lifecycle.py::test_reboot_restores_light_state (and the WebSocket test
    # below, which reboots at its end)
    "Sys.Reboot": ("destructive", {"delay_ms": -1}, 400, "delay_ms"),
    # covered by test_wifi_lifecycle.py::test_factory_reset_rpc_keeps_setup_code
    "Sys.FactoryReset": ("destructive", NOT_OBJECT, 400, "params"),
    "Sys.GetLog": ({"lines": 5}, {"lines": 201}, 400, "lines"),
    "Config.Get": ({"key": "device"}, {"key": "device.nam"}, 404, "device.nam"),
    "Config.Set": ({"config": {"device": {"room": "Hall"}}},
                   {"config": {"device": {"rooom": "Hall"}}}, 404, "device.rooom"),
    "Config.Save": ({}, {"reboot": "yes"}, 400, "reboot"),
    # a successful confirm needs the LAN: test_wifi_lifecycle.py::
    # test_pairing_closes_ap_and_lan_needs_secret (conftest.provision)
    "Setup.Confirm": ("needs the LAN", {}, 409, "hub.secret"),
    "Wifi.Scan": ({}, NOT_OBJECT, 400, "params"),
    "Wifi.GetStatus": ({}, NOT_OBJECT, 400, "params"),
    "Light.Set": ({"on": True, "brightness": 40, "rgb": [1, 2, 3], "transition_ms": 0},
                  {"on": True, "brightness": 101}, 400, "brightness"),
    "Light.Toggle": ({}, {"id": 1}, 404, "id"),
    "Light.GetStatus": ({}, {"brigthness": 1}, 400, "brigthness"),
    # on the access point the download fails at once (no network): ota_failed, no reboot
    "OTA.Update": ({"url": "http://127.0.0.1:9/fw.bin", "sha256": "0" * 64},
                   {"url": "http://127.0.0.1:9/fw.bin", "sha256": "abc"}, 400, "sha256"),
    # success needs a staged update: test_wifi_lifecycle.py::test_ota_commit; here 409
    "OTA.Commit": ("needs an update", NOT_OBJECT, 400, "params"),
    # success (reboot into the previous slot) is not covered by any test yet; here 409
    "OTA.Revert": ("needs an update", NOT_OBJECT, 400, "params"),
    "OTA.GetBootState": ({}, NOT_OBJECT, 400, "params"),
}


async def test_every_method_valid_and_invalid(ap_rpc: LightRpc) -> None:
    documented = doc_methods()
    for name, (valid, invalid, code, needle) in METHOD_CASES.items():
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call(name, invalid)
        assert failure.value.code == code and needle in failure.value.message, \
            (name, failure.value)
        if isinstance(valid, str):
            continue
        for arg in valid:
            assert arg in documented[name]["args"], (name, arg)
        result = await ap_rpc.call(name, valid)
        assert_documented(name, result)
        if name == "OTA.Update":
            async def failed() -> Any:
                state = await ap_rpc.call("OTA.GetBootState")
                return state if state["last_error"] else None

            assert_documented("OTA.GetBootState", await eventually(failed))
    # the documented errors of the calls that are not made for real here
    for name, code in (("OTA.Commit", 409), ("OTA.Revert", 409)):
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call(name, {})
        assert failure.value.code == code
    described = await ap_rpc.call("RPC.Describe", {"name": "Sys.Reboot"})
    assert described == {"name": "Sys.Reboot", "args_fmt": "{delay_ms: %d}"}
    # no Wifi.Scan args, Light.Set's documented Shelly args, unknown args refused
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("Sys.Reboot", {"delay": 5})
    assert failure.value.code == 400 and "delay" in failure.value.message
    # every method names an unknown argument, those without arguments too
    for name in sorted(documented):
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call(name, {"bogus": 1})
        assert failure.value.code == 400, (name, failure.value)
        assert failure.value.message == f"bogus: unknown argument of {name}", (name, failure.value)
    # Setup.Confirm with a secret but over the access point: 403 naming the state; the
    # password is the secret at once, the setup code gets 401
    secret = "conformance-secret-" + secrets.token_hex(4)
    await ap_rpc.call("Config.Set", {"config": {"hub": {"secret": secret}}})
    with pytest.raises(RpcFailure) as failure:
        await ap_rpc.call("Light.GetStatus")
    assert failure.value.code == 401
    paired = LightRpc(ap_rpc.session, ap_rpc.url, secret)
    with pytest.raises(RpcFailure) as failure:
        await paired.call("Setup.Confirm", {})
    assert failure.value.code == 403 and "unconfigured" in failure.value.message


async def test_sys_getinfo_and_auth_points(session: aiohttp.ClientSession, light: SimLight,
                                           ap_rpc: LightRpc) -> None:
    full = await ap_rpc.call("Sys.GetInfo")
    assert_documented("Sys.GetInfo", full)
    reduced = await ap_rpc.call("Sys.GetInfo", auth=False)
    assert reduced == {key: full[key] for key in ("id", "model", "app", "fw_version",
                                                  "auth_required", "auth_domain")}
    # an empty auth object asks for a challenge
    reply = await ap_rpc.frame({"id": 1, "src": "t", "method": "Sys.GetInfo", "auth": {}})
    challenge = json.loads(reply["error"]["message"])
    assert reply["error"]["code"] == 401
    assert challenge == {"auth_type": "digest", "nonce": challenge["nonce"], "nc": 1,
                         "realm": light.device_id, "algorithm": "SHA-256"}
    # RPC.Ping ignores credentials, even wrong ones
    bogus = {"realm": "x", "username": "admin", "nonce": 1, "cnonce": "c", "response": "r",
             "algorithm": "SHA-256", "nc": 1}
    assert (await ap_rpc.frame({"id": 2, "method": "RPC.Ping", "auth": bogus}))["result"] == "pong"
    # the setup code as printed, without the dash, in lower case
    code = light.setup_code.replace("-", "")
    for typed in (code[:4] + "-" + code[4:], code.lower()):
        assert light.ap_url is not None
        assert (await LightRpc(session, light.ap_url, typed).call("Light.GetStatus"))["rev"] >= 0


# --- (c) Mongoose OS / Shelly compatibility ------------------------------------------------------
async def test_mg_rpc_frames(ap_rpc: LightRpc, light: SimLight) -> None:
    before = await ap_rpc.call("Light.GetStatus")
    assert ap_rpc.challenge is not None

    def auth() -> dict[str, Any]:
        ap_rpc.nc += 1
        assert ap_rpc.challenge is not None
        return frame_auth(ap_rpc.challenge, light.setup_code, ap_rpc.nc)

    # args as params; params wins over args
    reply = await ap_rpc.frame({"id": 7, "src": "mos", "method": "Config.Get",
                                "args": {"key": "device.id"}, "auth": auth()})
    assert reply == {"id": 7, "src": light.device_id, "dst": "mos", "result": light.device_id}
    reply = await ap_rpc.frame({"id": 8, "src": "mos", "method": "Config.Get", "auth": auth(),
                                "params": {"key": "wifi.ap.ssid"}, "args": {"key": "device.id"}})
    assert reply["result"] == light.ap_ssid
    # numeric and string ids echoed, tag echoed, no src -> no dst
    for fid in (12345678901, 7.5, "abc"):
        reply = await ap_rpc.frame({"id": fid, "src": "mos", "tag": {"t": [1]},
                                    "method": "RPC.Ping"})
        assert reply == {"id": fid, "src": light.device_id, "dst": "mos", "tag": {"t": [1]},
                         "result": "pong"}
    assert await ap_rpc.frame({"id": 3, "method": "RPC.Ping"}) == {
        "id": 3, "src": light.device_id, "result": "pong"}
    # errors carry id, src, dst, tag
    reply = await ap_rpc.frame({"id": 4, "src": "mos", "tag": "x", "method": "No.Such"})
    assert reply == {"id": 4, "src": light.device_id, "dst": "mos", "tag": "x",
                     "error": {"code": 404, "message": "no such method: No.Such"}}

    async def post_raw(frame: dict[str, Any]) -> tuple[int, bytes]:
        async with ap_rpc.session.post(ap_rpc.url, data=json.dumps(frame)) as response:
            return response.status, await response.read()

    # another dst: dropped (no reply, not executed); our own dst and "" are served
    on = not before["on"]
    assert await post_raw({"id": 5, "src": "mos", "dst": "hublight-000000", "method": "Light.Set",
                           "params": {"on": on}, "auth": auth()}) == (200, b"")
    assert (await ap_rpc.call("Light.GetStatus"))["rev"] == before["rev"]
    for dst in (light.device_id, ""):
        reply = await ap_rpc.frame({"id": 6, "src": "mos", "dst": dst, "method": "RPC.Ping"})
        assert reply["result"] == "pong"
    # no id: executed, no reply (not even for an error)
    assert await post_raw({"src": "mos", "method": "Light.Set", "params": {"on": on},
                           "auth": auth()}) == (200, b"")
    assert (await ap_rpc.call("Light.GetStatus"))["on"] is on
    assert await post_raw({"src": "mos", "method": "No.Such"}) == (200, b"")
    # a bad id type: 400 with id null
    reply = await ap_rpc.frame({"id": True, "src": "mos", "method": "RPC.Ping"})
    assert reply["id"] is None and reply["error"]["code"] == 400


def _digest_header(www_authenticate: str, password: str, method: str, uri: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', www_authenticate))
    cnonce = secrets.token_hex(8)
    ha1 = sha256_hex(f"admin:{fields['realm']}:{password}")
    ha2 = sha256_hex(f"{method}:{uri}")
    response = sha256_hex(f"{ha1}:{fields['nonce']}:00000001:{cnonce}:auth:{ha2}")
    return (f'Digest username="admin", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
            f'uri="{uri}", qop=auth, nc=00000001, cnonce="{cnonce}", response="{response}", '
            f"algorithm=SHA-256")


async def test_rest_mode_get_query_and_cors(session: aiohttp.ClientSession,
                                            light: SimLight) -> None:
    assert light.ap_url is not None
    base = light.ap_url
    root = base[:-len("/rpc")]

    async def request(method: str, target: str, body: str | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        url = URL(root + target, encoded=True)  # sent exactly as written (the digest covers it)
        async with session.request(method, url, data=body, headers=headers or {},
                                   skip_auto_headers=["Content-Type"]) as response:
            raw = await response.read()
            return response.status, json.loads(raw) if raw else None, response.headers

    # bare results and bare error objects with the error code as HTTP status
    status, body, headers = await request("POST", "/rpc/RPC.Ping")
    assert (status, body, headers["Access-Control-Allow-Origin"]) == (200, "pong", "*")
    assert (await request("POST", "/rpc/RPC.Ping", "{}"))[:2] == (200, "pong")
    status, body, _ = await request("POST", "/rpc/No.Such", "{}")
    assert (status, body) == (404, {"code": 404, "message": "no such method: No.Such"})
    status, body, _ = await request("POST", "/rpc/Light.Set", "[1]")
    assert status == 400 and body["code"] == 400 and "params" in body["message"]
    status, body, headers = await request("POST", "/rpc/OTA.Commit", "{}")
    assert status == 401 and body["code"] == 401
    challenge = headers["WWW-Authenticate"]
    assert challenge.startswith(f'Digest qop="auth", realm="{light.device_id}"')
    assert "WWW-Authenticate" in headers["Access-Control-Expose-Headers"]
    auth = _digest_header(challenge, light.setup_code, "POST", "/rpc/OTA.Commit")
    status, body, _ = await request("POST", "/rpc/OTA.Commit", "{}", {"Authorization": auth})
    assert (status, body) == (409, {"code": 409, "message": "nothing to commit"})
    # GET with a query: JSON values, `+` is a space, %XX decoded; digest over HTTP headers
    query = "?config=%7B%22device%22%3A%7B%22name%22%3A%22Desk+lamp%21%22%7D%7D&save=false"
    status, _, headers = await request("GET", "/rpc/Config.Set" + query)
    assert status == 401
    auth = _digest_header(headers["WWW-Authenticate"], light.setup_code, "GET",
                          "/rpc/Config.Set" + query)
    status, body, _ = await request("GET", "/rpc/Config.Set" + query, None,
                                    {"Authorization": auth})
    assert (status, body) == (200, {"saved": False, "restart_required": False})
    rpc = LightRpc(session, base, light.setup_code)
    assert await rpc.call("Config.Get", {"key": "device.name"}) == "Desk lamp!"
    status, body, _ = await request("GET", "/rpc/Sys.GetInfo")
    assert status == 200 and body["auth_required"] is True and "mac" not in body
    status, body, _ = await request("GET", "/rpc/RPC.Describe?name=%ZZ")
    assert status == 400
    # CORS preflight
    status, body, headers = await request("OPTIONS", "/rpc/Light.Set", None, {
        "Origin": "http://example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204 and body is None
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    # other paths and methods
    assert (await request("GET", "/rpc"))[0] == 426
    assert (await request("PUT", "/rpc/RPC.Ping", "{}"))[0] == 405
    assert (await request("GET", "/index.html"))[0] == 404


async def test_shelly_light_aliases(ap_rpc: LightRpc) -> None:
    status = await ap_rpc.call("Light.Set", {"id": 0, "on": True, "brightness": 30,
                                             "transition_duration": 1.5})
    assert status["transition_ms"] == 1500 and status["on"] is True
    assert_documented("Light.Set", status)
    status = await ap_rpc.call("Light.Set", {"id": 0, "brightness": 31, "transition_ms": 20,
                                             "transition_duration": 9})
    assert status["transition_ms"] == 20
    assert (await ap_rpc.call("Light.Toggle", {"id": 0}))["on"] is False
    assert_documented("Light.GetStatus", await ap_rpc.call("Light.GetStatus", {"id": 0}))
    for method, params in (("Light.Set", {"id": 1, "on": True}), ("Light.Toggle", {"id": 1}),
                           ("Light.GetStatus", {"id": 2})):
        with pytest.raises(RpcFailure) as failure:
            await ap_rpc.call(method, params)
        assert failure.value.code == 404 and "id" in failure.value.message, method
    # a Set that changes nothing keeps rev
    again = await ap_rpc.call("Light.Set", {"on": False})
    assert (await ap_rpc.call("Light.Set", {"on": False}))["rev"] == again["rev"]


async def test_websocket_notifications_and_events(session: aiohttp.ClientSession,
                                                  light: SimLight, ap_rpc: LightRpc) -> None:
    assert light.ap_url is not None

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
        message = await ws.receive(timeout=20)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        return frame

    async def next_event(ws: aiohttp.ClientWebSocketResponse, method: str) -> dict[str, Any]:
        while True:
            frame = await receive(ws)
            if frame.get("method") == method:
                assert frame["src"] == light.device_id and frame["dst"] == "ws-1"
                assert "id" not in frame
                return frame

    async with session.ws_connect(light.ap_url, autoclose=False) as ws:
        # no notifications before a request with src
        await ws.send_str(json.dumps({"id": 1, "method": "RPC.Ping"}))
        assert (await receive(ws))["result"] == "pong"
        await ap_rpc.call("Light.Set", {"on": True, "brightness": 9})
        await ws.send_str("not json")
        assert (await receive(ws)) == {"error": {"code": 400,
                                                 "message": "message is not a JSON frame"}}
        await ws.send_str(json.dumps({"id": 2, "src": "ws-1", "method": "RPC.Ping"}))
        assert await receive(ws) == {"id": 2, "src": light.device_id, "dst": "ws-1",
                                     "result": "pong"}
        # NotifyStatus with light:0
        await ap_rpc.call("Light.Set", {"brightness": 11})
        frame = await next_event(ws, "NotifyStatus")
        assert isinstance(frame["params"]["ts"], (int, float))
        assert_documented("Light.GetStatus", frame["params"]["light:0"])
        assert frame["params"]["light:0"]["brightness"] == 11
        # config_changed with the keys
        await ap_rpc.call("Config.Set", {"config": {"device": {"name": "WS", "room": "Hall"}}})
        frame = await next_event(ws, "NotifyEvent")
        assert frame["params"]["events"] == [{"component": "sys", "event": "config_changed",
                                              "keys": ["device.name", "device.room"]}]
        # ota_failed (the access point has no network to download from)
        await ap_rpc.call("OTA.Update", {"url": "http://127.0.0.1:9/fw", "sha256": "a" * 64})
        frame = await next_event(ws, "NotifyEvent")
        event = frame["params"]["events"][0]
        assert event["event"] == "ota_failed" and event["message"]
        # reboot_pending, then the socket is closed with 1001
        assert await ap_rpc.call("Sys.Reboot", {"delay_ms": 0}) is None
        frame = await next_event(ws, "NotifyEvent")
        assert frame["params"]["events"] == [{"component": "sys", "event": "reboot_pending"}]
        while True:
            message = await ws.receive(timeout=20)
            if message.type != aiohttp.WSMsgType.TEXT:
                break
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1001
        await ws.close()
