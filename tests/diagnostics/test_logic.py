"""The diagnostics logic without a light: params, history, config diff, latency, log, info,
report."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from hub_app.device.trace import RpcTrace
from hub_app.diagnostics import (
    CommandHistory,
    ConsoleEntry,
    LatencyStats,
    LogStore,
    ReportContent,
    build_members,
    check_params,
    config_error_key,
    diff_config,
    find_secrets,
    flatten,
    histogram,
    info_rows,
    parse_value,
    to_partial_tree,
    write_report,
)
from hub_app.diagnostics.latency import percentile


def test_params_empty_object_and_errors() -> None:
    assert check_params("  ").ok and check_params("").params is None
    assert check_params('{"key": "device"}').params == {"key": "device"}
    bad = check_params('{"key": }')
    assert not bad.ok and bad.line == 1 and bad.column == 9 and "line 1" in bad.error
    array = check_params("[1, 2]")
    assert not array.ok and "object" in array.error
    assert not check_params("null").ok


def test_command_history_up_down_keeps_the_draft() -> None:
    history = CommandHistory()
    assert history.previous(("x", "")) is None
    history.add("Sys.GetInfo", "")
    history.add("Config.Get", '{"key": "device"}')
    history.add("Config.Get", '{"key": "device"}')  # a repeat is kept once
    assert len(history) == 2
    draft = ("Light.Set", '{"on": true')
    assert history.previous(draft) == ("Config.Get", '{"key": "device"}')
    assert history.previous(draft) == ("Sys.GetInfo", "")
    assert history.previous(draft) is None  # at the oldest
    assert history.following() == ("Config.Get", '{"key": "device"}')
    assert history.following() == draft
    assert history.following() is None


def test_console_entry_shows_frames_without_auth() -> None:
    trace = RpcTrace("Config.Get", {"id": 3, "method": "Config.Get", "auth": "<redacted>",
                                    "params": {"key": "wifi"}},
                     {"id": 3, "result": {"sta": {"pass_set": True}}}, "http", 0.0, 0.0125)
    entry = ConsoleEntry("Config.Get", '{"key": "wifi"}', result={"sta": {"pass_set": True}},
                         traces=[trace])
    assert entry.elapsed_ms == pytest.approx(12.5)
    assert '"auth": "<redacted>"' in entry.request_text()
    assert "pass_set" in entry.reply_text()
    assert entry.to_json()["traces"][0]["request"]["auth"] == "<redacted>"


def test_config_diff_only_changed_keys_and_partial_tree() -> None:
    original = {"device": {"id": "hublight-1", "name": "Desk", "room": ""},
                "wifi": {"sta": {"ssid": "HomeNet", "pass_set": True, "enable": True}},
                "light": {"pixels": 30}}
    flat = flatten(original)
    assert flat["wifi.sta.ssid"] == "HomeNet"
    edited = dict(flat, **{"device.name": "Lamp", "light.pixels": 60,
                           "wifi.sta.pass_set": False})
    changes = diff_config(original, edited)
    assert [(c.key, c.old, c.new) for c in changes] == [("device.name", "Desk", "Lamp"),
                                                        ("light.pixels", 30, 60)]
    assert to_partial_tree(changes) == {"device": {"name": "Lamp"}, "light": {"pixels": 60}}
    assert changes[0].describe() == 'device.name: "Desk" -> "Lamp"'
    assert diff_config(original, flat) == []


def test_parse_value_follows_the_old_type() -> None:
    assert parse_value("yes", False) is True
    assert parse_value(" 42 ", 30) == 42
    assert parse_value("hello", "x") == "hello"
    with pytest.raises(ValueError, match="whole number"):
        parse_value("many", 30)
    with pytest.raises(ValueError, match="true or false"):
        parse_value("maybe", True)


def test_config_error_key_from_light_messages() -> None:
    assert config_error_key("unknown config key: wifi.sta.sid") == "wifi.sta.sid"
    assert config_error_key("config key is read-only: device.id") == "device.id"
    assert config_error_key("light.pixels: must be an integer 1..1024") == "light.pixels"
    assert config_error_key("bad") is None


def test_latency_statistics_and_histogram() -> None:
    stats = LatencyStats()
    for value in (10.0, 12.0, 11.0, 30.0):
        stats.add(value)
    stats.add_lost()
    summary = stats.summary()
    assert summary["sent"] == 5 and summary["lost"] == 1
    assert summary["min"] == 10.0 and summary["max"] == 30.0
    assert summary["median"] == pytest.approx(11.5)
    assert "4 of 5 answered" in stats.describe()
    hist = histogram([1, 2, 2, 3, 10], bins=3)
    assert sum(hist.counts) == 5 and hist.counts[0] == 4 and hist.edges[-1] == 10
    assert histogram([5, 5]).counts == (2,)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)


def test_log_store_continues_and_filters() -> None:
    store = LogStore()
    new = store.add_reply({"lines": [{"seq": 1, "ts": 1, "level": "info", "msg": "boot"},
                                     {"seq": 2, "ts": 2, "level": "debug", "msg": "x"}],
                           "next": 3})
    assert [line.msg for line in new] == ["boot", "x"] and store.since == 3
    again = store.add_reply({"lines": [{"seq": 2, "ts": 2, "level": "debug", "msg": "x"},
                                       {"seq": 5, "ts": 5, "level": "error", "msg": "oops"}],
                             "next": 6})
    assert [line.seq for line in again] == [5] and store.gaps == 1
    assert [line.msg for line in store.filtered("warn")] == ["oops"]
    assert "ERROR oops" in store.text()


def test_info_rows_in_plain_words() -> None:
    info = {"id": "hublight-1a2b3c", "app": "HubLight", "model": "HL-S1", "arch": "sim",
            "fw_version": "0.1.0", "uptime": 3725, "ram_size": 327680, "ram_free": 163840,
            "mac": "02:00:00:1a:2b:3c", "setup_state": "confirmed",
            "wifi": {"sta_ip": "192.168.1.20", "status": "connected", "ssid": "HomeNet",
                     "rssi": -60},
            "ota": {"active_slot": 1, "is_committed": False}}
    seen = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
    rows = dict(info_rows(info, {"rssi": -71}, address="192.168.1.20:80", backend="lan",
                          last_seen=seen, now=seen + dt.timedelta(seconds=90)))
    assert rows["Uptime"] == "1 h 2 min 5 s"
    assert rows["Memory"] == "160.0 KiB free of 320.0 KiB"
    assert rows["Wi-Fi signal"] == "fair (-71 dBm)"
    assert "NOT committed" in rows["Firmware"]
    assert "home network: 192.168.1.20" in rows["Addresses"]
    assert rows["Last seen"].endswith("(1 min 30 s ago)")
    assert rows["MAC"] == "02:00:00:1a:2b:3c"


def test_report_has_no_secret_by_key_or_value(tmp_path: Path) -> None:
    secret, wifi = "LanSecret-0123456789abcdef", "correct horse battery"
    content = ReportContent(
        device_id="hublight-1",
        info={"id": "hublight-1", "note": f"key {secret}"},
        config={"wifi": {"sta": {"ssid": "HomeNet", "pass": wifi, "pass_set": True}},
                "hub": {"secret": secret}},
        log_text=f"line mentioning {wifi.upper()}",
        flight_recorder_json=json.dumps({"events": [{"msg": secret}]}),
        rpc_history=[{"method": "Config.Set", "params": json.dumps({"pass": wifi})}],
    )
    members = build_members(content, [secret, wifi])
    config = json.loads(members["config.json"])
    assert config["wifi"]["sta"]["pass"] == "«redacted»"
    assert config["wifi"]["sta"]["pass_set"] is True
    path = write_report(tmp_path / "out" / "report.zip", members)
    assert find_secrets(path, [secret, wifi]) == []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {"info.json", "config.json", "log.txt", "setup-flight-recorder.json",
            "rpc-console.json", "README.txt"} <= names
    # the checker itself finds a secret that is there
    leaky = write_report(tmp_path / "leaky.zip", {"x.txt": secret.encode()})
    assert find_secrets(leaky, [secret]) == ["x.txt"]
