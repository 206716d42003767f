"""WifiWorld, SimBoard identity/flash/OTA slots, and the hub-light-sim command line."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from hublight_sim.board import SETUP_CODE_ALPHABET, SimBoard, make_sim_image
from hublight_sim.world import LightAccessPoint, Network, WifiWorld

from .helpers import LightRpc


def test_scans_and_join_results() -> None:
    world = WifiWorld()
    light_ssids = {n["ssid"] for n in world.scan_for_light()}
    assert "HomeNet" in light_ssids and "FastLane-5G" not in light_ssids
    assert "HiddenNet" not in light_ssids
    pc = {r.ssid for r in world.scan_for_pc()}
    assert "FastLane-5G" in pc and "HiddenNet" not in pc
    assert world.join_result("HomeNet", "correct horse battery") is None
    assert world.join_result("HomeNet", "nope") == "wrong_password"
    assert world.join_result("FastLane-5G", "fastlane-pass") == "network_not_found"
    assert world.join_result("FastLane-5G", "fastlane-pass", esp32=False) is None
    assert world.join_result("Secure3", "wpa3-only-pass") == "unsupported_network"
    assert world.join_result("Office-Enterprise", "") == "unsupported_network"
    assert world.join_result("HiddenNet", "hidden-pass") is None
    assert world.join_result("NoDHCP", "no-dhcp-pass") == "no_ip"
    assert world.join_result('Café & Bar\'s "Wi-Fi"', "p@ss w=rd+&'\"") is None


def test_network_flags_and_world_file(tmp_path: Path) -> None:
    net = Network.from_flag(r"My\:Net:pa ss:5:-70")
    assert (net.ssid, net.password, net.band, net.rssi) == ("My:Net", "pa ss", "5", -70)
    assert Network.from_flag("Open").auth == 0
    with pytest.raises(ValueError):
        Network.from_flag("X:pw:6")
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"networks": [{"ssid": "A", "password": "password1",
                                              "band": "2.4", "dhcp": False}]}))
    world = WifiWorld.from_file(str(path))
    assert world.join_result("A", "password1") == "no_ip"


def test_access_points_subscribe_and_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    world = WifiWorld(state_path=str(state))
    seen: list[tuple[str, str]] = []
    unsubscribe = world.subscribe(lambda kind, ap: seen.append((kind, ap.device_id)))
    ap = LightAccessPoint("HubLight-000001", "hublight-000001", "127.4.1.1", 8080)
    world.open_access_point(ap)
    other = WifiWorld.read_state(str(state))
    assert other.access_points() == [ap]
    assert any(r.light_ap == ap for r in world.scan_for_pc())
    world.close_access_point(ap.device_id)
    unsubscribe()
    world.open_access_point(ap)
    assert seen == [("added", "hublight-000001"), ("removed", "hublight-000001")]


def test_pc_reaches_a_light_only_where_the_world_allows() -> None:
    world = WifiWorld()
    assert world.pc_reaches("HomeNet")  # not modelled: every light is reachable
    world.model_pc_network = True
    world.pc_ssid = "GuestOpen"
    assert not world.pc_reaches("HomeNet") and world.pc_reaches("GuestOpen")
    world.pc_ssid = "HomeNet"
    assert world.pc_reaches("HomeNet")
    home = world.network("HomeNet")
    assert home is not None
    home.client_isolation = True
    assert not world.pc_reaches("HomeNet")
    world.model_pc_network = False
    assert not world.pc_reaches("HomeNet")  # isolation holds whatever the PC does
    # the flag travels in world files and state files
    assert Network.from_dict({"ssid": "Guest", "client_isolation": True}).client_isolation
    assert world.to_dict()["networks"][0]["client_isolation"] is True


async def test_unreachable_light_resets_hub_connections(tmp_path: Path) -> None:
    world = WifiWorld(model_pc_network=True, pc_ssid="HomeNet")
    board = SimBoard(0, str(tmp_path), world, seed="reach")
    assert await board.sta_connect("HomeNet", "correct horse battery", 1000) == (
        "connected", board.lan_ip)

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server, host, port = await board.start_server("lan", hello)
    try:
        reader, writer = await asyncio.open_connection(host, port)
        assert await reader.readline() == b"hello\n"
        writer.close()
        world.pc_ssid = "GuestOpen"  # the PC moved to another network
        assert not board.lan_reachable_from_pc()
        reader, writer = await asyncio.open_connection(host, port)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            line = await reader.readline()
            if not line:
                raise ConnectionResetError("closed without a word")
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_board_identity_is_persistent(tmp_path: Path) -> None:
    world = WifiWorld()
    first = SimBoard(3, str(tmp_path / "l3"), world, seed="s")
    again = SimBoard(3, str(tmp_path / "l3"), world, seed="other seed: factory data wins")
    same_seed = SimBoard(3, str(tmp_path / "elsewhere"), world, seed="s")
    assert first.device_id == again.device_id == same_seed.device_id
    assert first.setup_code == again.setup_code
    assert len(first.setup_code) == 8 and set(first.setup_code) <= set(SETUP_CODE_ALPHABET)
    assert first.mac()[0] & 0x02 and not first.mac()[0] & 0x01  # locally administered unicast
    assert SimBoard(4, str(tmp_path / "l4"), world, seed="s").device_id != first.device_id


def test_board_ota_slots(tmp_path: Path) -> None:
    board = SimBoard(0, str(tmp_path), WifiWorld())
    assert board.ota_running_slot() == 0 and board.fw_version() == "0.1.0"
    slot, writer = board.ota_begin()
    assert slot == 1
    image = make_sim_image("9.9.9", b"payload", build="b42")
    writer.write(image[:10])
    writer.write(image[10:])
    writer.close()
    assert board.ota_image_version(1) == "9.9.9"
    board.ota_set_boot(1)
    board.boot()
    assert board.ota_running_slot() == 1 and board.fw_id() == "b42"
    # a broken image in the boot slot: the boot loader falls back to the other one
    (tmp_path / "ota" / "slot1.bin").write_bytes(b"garbage")
    board.boot()
    assert board.ota_running_slot() == 0


async def test_cli_json_events_and_clean_stop(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hublight_sim.cli", "--count", "2", "--json", "--flash-dir",
        str(tmp_path), "--join-delay", "0", "--reboot-delay", "0",
        "--network", "HomeNet:correct horse battery",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    started: dict[str, dict[str, str]] = {}
    while len(started) < 2:
        event = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        if event["event"] == "started":
            started[event["id"]] = event
    for event in started.values():
        assert event["ap_rpc_url"].startswith("http://127.4.")
        assert event["ap_ssid"] == "HubLight-" + event["id"][-6:].upper()
        assert len(event["setup_code"]) == 8
    first = next(iter(started.values()))
    async with aiohttp.ClientSession() as session:
        rpc = LightRpc(session, first["ap_rpc_url"], first["setup_code"])
        await rpc.call("Config.Set", {"config": {"wifi": {"sta": {
            "enable": True, "ssid": "HomeNet", "pass": "correct horse battery"}}},
            "save": True})
        await rpc.call("Config.Save", {"reboot": True})
        while True:
            event = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
            if event["event"] == "lan_joined":
                break
        assert event["id"] == first["id"]
        assert event["lan_rpc_url"].startswith("http://127.2.")
        lan = LightRpc(session, event["lan_rpc_url"], first["setup_code"])
        assert (await lan.call("Wifi.GetStatus"))["setup_state"] == "awaiting_confirm"
    process.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err
    assert b'"event": "stopped"' in out
    assert first["setup_code"].encode() not in err
