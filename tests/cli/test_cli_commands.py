"""hub-cli as a real subprocess: list, forget, rpc, info, --json, usage errors, exit codes."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import Cli, SimLightProcess

from hub_app.registry import PairedLight, Registry

LAN_SECRET = "cli-test-lan-secret-4f0a9c3e7b21"


def seed(data_dir: Path, *lights: PairedLight) -> None:
    async def write() -> None:
        registry = Registry(data_dir / "registry.json")
        await registry.load()
        for light in lights:
            await registry.add(light)

    asyncio.run(write())


def stored(data_dir: Path) -> list[str]:
    async def read() -> list[str]:
        registry = Registry(data_dir / "registry.json")
        await registry.load()
        return [x.device_id for x in registry.all()]

    return asyncio.run(read())


def desk(address: str = "192.168.1.20:80", **changes: object) -> PairedLight:
    values: dict[str, object] = {
        "device_id": "hublight-1a2b3c",
        "name": "Desk lamp",
        "room": "Office",
        "model": "HL-S1",
        "fw_version": "1.0.0",
        "addresses": [address],
        "paired_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    }
    values.update(changes)
    return PairedLight(**values)  # type: ignore[arg-type]


def sofa() -> PairedLight:
    return desk("192.168.1.21:80", device_id="hublight-00ff00", name="Sofa", room="Living")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def files_contain(directory: Path, secret: str) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


# ------------------------------------------------------------------------------ registry


def test_list_empty(cli: Cli) -> None:
    run = cli("list")
    assert run.returncode == 0
    assert "No paired lights" in run.stdout
    run = cli("list", "--json")
    assert run.returncode == 0 and run.json() == {"ok": True, "lights": []}
    assert cli("--json", "list").json() == {"ok": True, "lights": []}


def test_list_shows_paired_lights(cli: Cli) -> None:
    seed(cli.data_dir, desk(), sofa())
    run = cli("list")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == [
        "ID", "NAME", "ROOM", "MODEL", "FIRMWARE", "ADDRESS", "BACKEND", "LAST", "SEEN"
    ]  # fmt: skip
    assert any("Desk lamp" in line and "192.168.1.20:80" in line for line in lines)
    document = cli("list", "--json").json()
    assert [x["device_id"] for x in document["lights"]] == ["hublight-00ff00", "hublight-1a2b3c"]
    assert document["lights"][1]["addresses"] == ["192.168.1.20:80"]


def test_forget_removes_registry_entry_and_keyring_secret(cli: Cli) -> None:
    seed(cli.data_dir, desk(), sofa())
    cli.set_keyring(
        {
            "home-hub/light:hublight-1a2b3c": LAN_SECRET,
            "home-hub/light:hublight-00ff00": "other-secret-00ff00-abcdefgh",
        }
    )
    run = cli("forget", "desk lamp")
    assert run.returncode == 0, run.stderr
    assert "Forgot Desk lamp (hublight-1a2b3c)" in run.stdout
    assert "removed from the keyring" in run.stdout
    assert stored(cli.data_dir) == ["hublight-00ff00"]
    assert cli.keyring() == {"home-hub/light:hublight-00ff00": "other-secret-00ff00-abcdefgh"}
    assert LAN_SECRET not in run.stdout + run.stderr

    run = cli("forget", "192.168.1.21:80", "--json")
    assert run.returncode == 0
    document = run.json()
    assert document["forgotten"]["device_id"] == "hublight-00ff00"
    assert document["secrets_removed"] is True
    assert stored(cli.data_dir) == []
    assert cli.keyring() == {}


def test_forget_unknown_light_is_exit_1_with_words(cli: Cli) -> None:
    seed(cli.data_dir, desk())
    run = cli("forget", "Kitchen")
    assert run.returncode == 1
    assert "no paired light matches 'Kitchen'" in run.stderr
    assert "hub-cli list" in run.stderr
    assert run.stdout == ""
    run = cli("forget", "Kitchen", "--json")
    assert run.returncode == 1
    assert run.json()["ok"] is False and run.json()["error"]["type"] == "not_found"
    assert stored(cli.data_dir) == ["hublight-1a2b3c"]


def test_corrupt_registry_is_exit_1_and_kept(cli: Cli) -> None:
    cli.data_dir.mkdir(parents=True)
    (cli.data_dir / "registry.json").write_text('{"schema_version": 1, "lights": [')
    run = cli("list")
    assert run.returncode == 1
    assert "cannot be read" in run.stderr and "copy of the damaged file" in run.stderr
    backups = [p for p in cli.data_dir.iterdir() if ".corrupt-" in p.name]
    assert len(backups) == 1
    assert (cli.data_dir / "registry.json").read_text() == '{"schema_version": 1, "lights": ['


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli().returncode == 2
    assert cli("frobnicate").returncode == 2
    assert cli("list", "--bogus").returncode == 2
    assert cli("rpc", "hublight-1a2b3c").returncode == 2  # METHOD missing
    bad_json = cli("rpc", "127.0.0.1:9", "Light.Set", "{on: true}")
    assert bad_json.returncode == 2 and "not valid JSON" in bad_json.stderr
    not_object = cli("rpc", "127.0.0.1:9", "Light.Set", "[1, 2]")
    assert not_object.returncode == 2 and "JSON object" in not_object.stderr
    bad_code = cli("rpc", "127.0.0.1:9", "RPC.Ping", "--setup-code", "1234")
    assert bad_code.returncode == 1 and "8 characters" in bad_code.stderr
    both = cli("rpc", "127.0.0.1:9", "RPC.Ping", "--password", "a", "--setup-code", "ABCD-EFGH")
    assert both.returncode == 2


# -------------------------------------------------------------------------- simulated light


def test_rpc_ping_without_credentials(cli: Cli, sim_light: SimLightProcess) -> None:
    run = cli("rpc", sim_light.ap_address, "RPC.Ping")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == "pong"
    assert "RPC.Ping:" in run.stderr and " ms " in run.stderr
    document = cli("rpc", sim_light.ap_address, "RPC.Ping", "--json").json()
    assert document["ok"] is True and document["result"] == "pong"
    assert document["light"] == sim_light.device_id
    assert isinstance(document["elapsed_ms"], float)


def test_rpc_with_setup_code_and_errors_in_words(cli: Cli, sim_light: SimLightProcess) -> None:
    address = sim_light.ap_address
    code = sim_light.setup_code
    dashed = f"{code[:4]}-{code[4:]}".lower()
    run = cli("rpc", address, "Light.Set", '{"on": true, "brightness": 40}', "--setup-code", dashed)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["brightness"] == 40
    assert code not in run.stdout + run.stderr

    missing = cli("rpc", address, "Light.GetStatus")
    assert missing.returncode == 1
    assert "needs a password" in missing.stderr and "--setup-code" in missing.stderr

    wrong = cli("rpc", address, "Light.GetStatus", "--setup-code", "AAAA-AAAA", "--json")
    assert wrong.returncode == 1
    assert "refused the password" in wrong.stderr
    assert wrong.json()["error"]["type"] == "auth"

    bad_args = cli("rpc", address, "Light.Set", '{"brightness": 900}', "--password-stdin",
                   stdin=code + "\n")  # fmt: skip
    assert bad_args.returncode == 1
    assert "brightness" in bad_args.stderr and "RPC.Describe" in bad_args.stderr

    unknown = cli("rpc", address, "No.Such", "--setup-code", code)
    assert unknown.returncode == 1 and "404" in unknown.stderr and "RPC.List" in unknown.stderr


def test_info_reduced_and_full(cli: Cli, sim_light: SimLightProcess) -> None:
    reduced = cli("info", sim_light.ap_address)
    assert reduced.returncode == 0, reduced.stderr
    assert sim_light.device_id in reduced.stdout
    assert "Reduced info" in reduced.stderr
    full = cli("info", sim_light.ap_address, "--setup-code", sim_light.setup_code, "--json").json()
    assert full["reduced"] is False
    assert full["info"]["id"] == sim_light.device_id
    assert "mac" in full["info"] and full["info"]["setup_state"] == "unconfigured"


def test_paired_light_by_name_uses_the_keyring(cli: Cli, sim_light: SimLightProcess) -> None:
    light = desk(sim_light.ap_address, device_id=sim_light.device_id, name="Lab light")
    seed(cli.data_dir, light)
    # Not set up yet, so its password is still the setup code (kept as a "setup" secret).
    cli.set_keyring({f"home-hub/setup:{sim_light.device_id}": sim_light.setup_code})
    run = cli("rpc", "lab light", "Light.Toggle", "--json")
    assert run.returncode == 0, run.stderr
    assert run.json()["light"] == sim_light.device_id
    info = cli("info", "Lab light")
    assert info.returncode == 0, info.stderr
    assert "Lab light" in info.stdout and "Set-up state:" in info.stdout
    assert "Reduced info" not in info.stderr
    for output in (run.stdout, run.stderr, info.stdout, info.stderr):
        assert sim_light.setup_code not in output
    assert files_contain(cli.data_dir, sim_light.setup_code) == []

    # --host reaches the paired light at an address the registry does not know yet.
    moved = cli("rpc", "Lab light", "RPC.Ping", "--host", f"127.0.0.1:{closed_port()}")
    assert moved.returncode == 1 and "cannot reach" in moved.stderr


def test_unreachable_light_is_exit_1(cli: Cli) -> None:
    run = cli("rpc", f"127.0.0.1:{closed_port()}", "RPC.Ping", "--timeout", "5")
    assert run.returncode == 1
    assert "cannot reach" in run.stderr and "hub-cli discover" in run.stderr
    run = cli("info", "Kitchen")
    assert run.returncode == 1 and "no paired light matches" in run.stderr
