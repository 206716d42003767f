"""Unit tests of the pure parts: network checks, setup codes, messages, the flight recorder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hub_app.device.trace import RpcTrace
from hub_app.discovery.wifi.base import WifiNetwork
from hub_app.provisioning import (
    MESSAGES,
    PROGRESS,
    REDACTED,
    FlightRecorder,
    check_network_choice,
    format_setup_code,
    merge_scans,
    normalize_setup_code,
    render,
    render_progress,
)
from hub_app.provisioning.networks import check_password, check_ssid, is_light_ap

LIGHT_SCAN = [
    {"ssid": "HomeNet", "bssid": "aa", "auth": 3, "channel": 6, "rssi": -48},
    {"ssid": "Secure3", "bssid": "bb", "auth": 6, "channel": 11, "rssi": -60},
    {"ssid": "Far", "bssid": "cc", "auth": 3, "channel": 1, "rssi": -85},
    {"ssid": "Open", "bssid": "dd", "auth": 0, "channel": 1, "rssi": -70},
    {"ssid": "HubLight-ABCDEF", "bssid": "ee", "auth": 0, "channel": 6, "rssi": -40},
]
PC_SCAN = [
    WifiNetwork("HomeNet", signal_dbm=-50, band="2.4", channel=6, auth_code=3),
    WifiNetwork("HomeNet", signal_dbm=-54, band="5", channel=36, auth_code=3),
    WifiNetwork("Only5", signal_dbm=-52, band="5", channel=40, auth_code=3),
    WifiNetwork("PcOnly24", signal_dbm=-75, band="2.4", channel=3, auth_code=3),
    WifiNetwork("Office", signal_dbm=-65, band="2.4", channel=1, auth_code=5),
    WifiNetwork("", signal_dbm=-70, hidden=True),
    WifiNetwork("HubLight-ABCDEF", signal_dbm=-42, band="2.4", auth_code=0),
]


def test_merge_scans_combines_both_radios() -> None:
    options = merge_scans(LIGHT_SCAN, PC_SCAN)
    by_ssid = {o.ssid: o for o in options}
    assert "HubLight-ABCDEF" not in by_ssid and "" not in by_ssid
    assert options[0].ssid == "HomeNet"  # seen by the light, strongest first
    home = by_ssid["HomeNet"]
    assert home.light_rssi == -48 and home.pc_rssi == -50 and home.pc_bands == {"2.4", "5"}
    assert not home.five_ghz_only
    assert by_ssid["Only5"].five_ghz_only
    assert by_ssid["Office"].auth == 5 and not by_ssid["Office"].seen_by_light
    assert [o.seen_by_light for o in options] == sorted(
        (o.seen_by_light for o in options), reverse=True)


@pytest.mark.parametrize(("ssid", "password", "errors", "warnings"), [
    ("HomeNet", "correct horse", {}, {}),
    ("HomeNet", "", {"password": "password_required"}, {}),
    ("HomeNet", "short", {"password": "password_length"}, {}),
    ("HomeNet", "x" * 64, {"password": "password_length"}, {}),
    ("HomeNet", "ab12" * 16, {}, {}),
    ("HomeNet", "x" * 63, {}, {}),
    ("HomeNet", "mötley crüe pass", {"password": "unsupported_characters"}, {}),
    ("HomeNet", "tab\there-pass", {"password": "unsupported_characters"}, {}),
    ("Secure3", "some-password", {"ssid": "ssid_wpa3_only"}, {}),
    ("Office", "some-password", {"ssid": "ssid_enterprise"}, {}),
    ("Only5", "some-password", {}, {"ssid": "ssid_5ghz_only"}),
    ("PcOnly24", "some-password", {}, {"ssid": "ssid_not_seen_by_light"}),
    ("Far", "some-password", {}, {"ssid": "weak_signal"}),
    ("Typed-Hidden", "some-password", {}, {"ssid": "ssid_hidden"}),
    ("Open", "", {}, {}),
    ("Open", "some-password", {}, {"password": "password_for_open_network"}),
    ("", "some-password", {"ssid": "ssid_required"}, {}),
    ("Ä" * 17, "some-password", {"ssid": "ssid_too_long"}, {}),
    ("bad\x00ssid", "some-password", {"ssid": "unsupported_characters"}, {}),
    ("Café & Bar's \"Wi-Fi\"", "p@ss w=rd+&'\"", {}, {"ssid": "ssid_hidden"}),
])
def test_network_choice(ssid: str, password: str, errors: dict[str, str],
                        warnings: dict[str, str]) -> None:
    options = merge_scans(LIGHT_SCAN, PC_SCAN)
    check = check_network_choice(ssid, password, options)
    assert check.errors == errors
    assert check.warnings == warnings


def test_open_network_password_is_not_sent() -> None:
    check = check_network_choice("Open", "some-password", merge_scans(LIGHT_SCAN, PC_SCAN))
    assert check.password == ""


def test_light_scan_failed_means_no_not_seen_warning() -> None:
    check = check_network_choice("PcOnly24", "some-password", merge_scans([], PC_SCAN),
                                 light_scanned=False)
    assert check.ok


def test_ssid_and_password_rules_match_the_firmware() -> None:
    from hublight.config import check_ssid as fw_ssid
    from hublight.config import check_wifi_pass as fw_pass

    for ssid in ["a", "x" * 32, "x" * 33, "Ä" * 16, "Ä" * 17, "Café & Bar's \"Wi-Fi\""]:
        assert (check_ssid(ssid) is None) == (fw_ssid(ssid) is None), ssid
    for password in ["", "1234567", "12345678", "x" * 63, "x" * 64, "ab" * 32, "é" * 10,
                     "p@ss w=rd+&'\"", "new\nline-pass"]:
        assert (check_password(password) is None) == (fw_pass(password) is None), password


def test_light_ap_names() -> None:
    assert is_light_ap("HubLight-1A2B3C")
    assert is_light_ap("Mongoose-OS-Smart-Light-1A2B3C")
    assert is_light_ap("shellyplus1-abc")
    assert not is_light_ap("HomeNet")


@pytest.mark.parametrize(("typed", "code"), [
    ("ABCD-2345", "ABCD2345"), ("abcd2345", "ABCD2345"), (" abcd - 2345 ", "ABCD2345"),
    ("ABCD–2345", "ABCD2345"), ("ABCD234", None), ("ABCD-23450", None), ("ABCD-0123", None),
    ("OILL-2345", None), ("", None),
])
def test_setup_code_normalisation(typed: str, code: str | None) -> None:
    assert normalize_setup_code(typed) == code


def test_setup_code_format() -> None:
    assert format_setup_code("ABCD2345") == "ABCD-2345"


def test_every_key_the_flow_uses_has_plain_words() -> None:
    from hub_app.provisioning.flow import NETWORK_REASONS

    sources = "".join(
        (Path(__file__).parents[2] / "hub_app" / "provisioning" / name).read_text()
        for name in ("flow.py", "networks.py"))
    pattern = (r'(?:"(?:base|ssid|password|setup_code|name|room)":\s*|_lan_failed_form\(|'
               r'Abort\(|(?:errors|warnings)\["\w+"\] = |return |key = |setdefault\("base", )'
               r'"([a-z0-9]+_[a-z0-9_]+)"')
    keys = set(re.findall(pattern, sources)) | set(NETWORK_REASONS)
    assert {"setup_code_invalid", "light_not_found_on_lan", "ssid_5ghz_only",
            "unsupported_characters", "no_lights_found", "wrong_password"} <= keys
    keys -= set(PROGRESS)  # "key = ..." also picks progress keys
    assert not keys - set(MESSAGES), keys - set(MESSAGES)
    progress = set(re.findall(r'_(?:progress|start)\((?:"\w+", )?"([a-z_]+)"', sources))
    assert {"joining_ap", "sending", "looking_on_lan", "pairing"} <= progress
    assert not progress - set(PROGRESS) - {"pick_light", "join_ap", "choose_network", "send",
                                            "wait_lan", "pair", "verify"}
    for key in ("wrong_password", "network_not_found", "no_ip", "unsupported_network",
                "light_not_found_on_lan", "pc_not_on_home_network", "setup_code_invalid",
                "ap_unreachable", "timeout", "cancelled", "ssid_5ghz_only", "ssid_wpa3_only",
                "ssid_hidden", "unsupported_characters", "not_confirmed", "pairing_failed"):
        assert key in MESSAGES
        text = render(key, {"ssid": "HomeNet", "light": "HubLight-1A2B3C", "seconds": "30",
                            "device_id": "hublight-1a2b3c", "step": "join_ap", "detail": "x",
                            "app": "Other"})
        assert "{" not in text and len(text) > 40


def test_progress_texts() -> None:
    assert render_progress("joining_network", {"ssid": "HomeNet"}) == "Joining HomeNet"
    assert render_progress("light_restarting") == "The light is restarting"
    assert render_progress("looking_on_lan") == "Looking for the light on your network"


def test_recorder_redacts_by_key_and_by_value(tmp_path: Path) -> None:
    recorder = FlightRecorder()
    recorder.add_secret("ABCD2345")
    recorder.add_secret("p@ss w=rd+&'\"")
    recorder.step(None, "pick_light")
    recorder.user_action("verify", "submit", {"setup_code": "abcd-2345"},
                         secret_fields=("setup_code",))
    recorder.event("adapter", "note", text="user typed abcd-2345 then ABCD2345")
    recorder.rpc(RpcTrace(method="Config.Set",
                          request={"params": {"config": {"wifi": {"sta": {
                              "ssid": "x", "pass": "p@ss w=rd+&'\""}}}}},
                          reply={"result": {"saved": False}}, transport="http",
                          started=0.0, elapsed_s=0.01))
    recorder.event("flow", "raw", body='{"pass":"p@ss w=rd+&\'\\""}',
                   url="http://x/?pass=p%40ss+w%3Drd%2B%26%27%22")
    later = "a-secret-seen-later-0123456789"
    recorder.event("flow", "before", text=f"secret {later}")
    recorder.add_secret(later)  # registered after it was recorded: still scrubbed on export
    path = recorder.export(tmp_path / "out" / "flight.json")
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    for secret in ("ABCD2345", "abcd-2345", "p@ss w=rd+&'\"", "p@ss w=rd+&'\\\"", later,
                   "p%40ss+w%3Drd%2B%26%27%22"):
        assert secret not in text, secret
    assert REDACTED in text
    assert [e["kind"] for e in data["events"]] == ["step", "user", "event", "rpc", "event",
                                                    "event"]
    times = [e["t"] for e in data["events"]]
    assert times == sorted(times)
    assert recorder.rpc_traces()[0]["elapsed_s"] == 0.01
    assert recorder.rpc_traces()[0]["reply"] == {"result": {"saved": False}}


def test_recorder_keeps_harmless_fields() -> None:
    recorder = FlightRecorder()
    recorder.event("flow", "status", status={"pass_set": True, "auth_required": True,
                                             "code": 401, "ssid": "HomeNet"})
    event = recorder.events[0]
    assert event["status"] == {"pass_set": True, "auth_required": True, "code": 401,
                               "ssid": "HomeNet"}
