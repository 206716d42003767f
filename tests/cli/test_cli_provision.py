"""hub-cli provision from flags, against a simulated light (the real firmware) in a subprocess."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cli_helpers import Cli, CliRun, SimLightProcess

from hub_app.registry import Registry

WIFI_PASSWORD = "correct horse battery"  # HomeNet in the simulator's default world


def paired_ids(data_dir: Path) -> list[str]:
    async def read() -> list[str]:
        registry = Registry(data_dir / "registry.json")
        await registry.load()
        return [x.device_id for x in registry.all()]

    return asyncio.run(read())


def files_containing(directory: Path, secret: str) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def provision(
    cli: Cli, sim: SimLightProcess, code: str, *extra: str, password: str = WIFI_PASSWORD
) -> CliRun:
    return cli(
        "provision", "--world-state", str(sim.world_state), "--interface", "127.0.0.1",
        "--setup-code", code, "--ssid", "HomeNet", "--wifi-password-stdin",
        "--lan-timeout", "30", *extra,
        stdin=password + "\n", timeout=180,
    )  # fmt: skip


def test_provision_from_flags_end_to_end(cli: Cli, sim_light: SimLightProcess) -> None:
    run = provision(cli, sim_light, sim_light.setup_code, "--name", "Desk", "--room", "Office",
                    "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    document = run.json()
    assert document["ok"] is True
    assert document["light"]["device_id"] == sim_light.device_id
    assert "... Sending the network settings to the light" in run.stderr
    assert paired_ids(cli.data_dir) == [sim_light.device_id]

    lan_secret = cli.keyring()[f"home-hub/light:{sim_light.device_id}"]
    assert 16 <= len(lan_secret) <= 128
    for secret in (lan_secret, WIFI_PASSWORD, sim_light.setup_code):
        assert secret not in run.stdout + run.stderr
        assert files_containing(cli.data_dir, secret) == []

    # The paired light now answers with the LAN secret from the keyring, by name.
    status = cli("rpc", "Desk", "Light.GetStatus", "--json")
    assert status.returncode == 0, status.stderr
    assert "on" in status.json()["result"]
    listing = cli("list").stdout
    assert "Desk" in listing and "Office" in listing


def test_provision_with_wrong_setup_code_says_so(cli: Cli, sim_light: SimLightProcess) -> None:
    run = provision(cli, sim_light, "AAAA-AAAA")
    assert run.returncode == 1
    assert "setup code" in run.stderr.lower()
    assert paired_ids(cli.data_dir) == []
    assert WIFI_PASSWORD not in run.stdout + run.stderr


def test_provision_refuses_without_keyring(cli: Cli, sim_light: SimLightProcess) -> None:
    cli.env.pop("PYTHON_KEYRING_BACKEND")
    cli.env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    run = provision(cli, sim_light, sim_light.setup_code)
    assert run.returncode == 1
    assert "without a keyring" in run.stderr and "No system keyring was found" in run.stderr
    assert paired_ids(cli.data_dir) == []


def test_provision_needs_a_setup_code_without_a_terminal(cli: Cli) -> None:
    run = cli("provision", "--ssid", "HomeNet", stdin="")
    assert run.returncode == 2
    assert "--setup-code" in run.stderr
