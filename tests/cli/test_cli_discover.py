"""hub-cli discover / mdns-selftest as real subprocesses, with real mDNS on loopback."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli_helpers import BIN, Cli, SimLightProcess
from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from hub_app.registry import PairedLight, Registry

LOOPBACK = "127.0.0.1"


def service(device_id: str, address: str, port: int) -> ServiceInfo:
    properties = {
        "id": device_id, "fw_id": "20261122-120000", "arch": "sim", "model": "HL-S1",
        "fw_version": "1.0.0", "app": "HubLight", "paired": "1",
    }  # fmt: skip
    return ServiceInfo(
        "_hublight._tcp.local.",
        f"{device_id}._hublight._tcp.local.",
        port=port,
        properties=properties,
        server=f"{device_id}.local.",
        parsed_addresses=[address],
    )


class DiscoverProcess:
    """``hub-cli discover --json`` running until told to stop; reads its JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def next_matching(self, device_id: str, kind: str, limit: float = 30) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            assert self.process.stdout is not None
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError("hub-cli discover ended early")
                event: dict[str, Any] = json.loads(line)
                self.events.append(event)
                if event.get("device_id") == device_id and event["event"] == kind:
                    return event

        return await asyncio.wait_for(read(), limit)

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)


async def start_discover(cli: Cli, *args: str) -> DiscoverProcess:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "hub-cli"), "discover", "--json", "--timeout", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli.env,
    )  # fmt: skip
    return DiscoverProcess(process)


async def test_discover_streams_events_and_follows_a_paired_light(cli: Cli) -> None:
    paired_id = "hublight-" + secrets.token_hex(3)
    new_id = "hublight-" + secrets.token_hex(3)
    registry = Registry(cli.data_dir / "registry.json")
    await registry.load()
    await registry.add(
        PairedLight(
            device_id=paired_id,
            name="Hall",
            addresses=["192.168.1.50:80"],
            paired_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )
    announcer = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    discover = await start_discover(cli, "--interface", LOOPBACK, "--no-ap")
    try:
        await announcer.async_register_service(service(paired_id, "127.0.0.1", 8181))
        await announcer.async_register_service(service(new_id, "127.0.0.1", 8182))
        found = await discover.next_matching(paired_id, "added")
        assert found["source"] == "lan" and found["paired_here"] is True
        assert found["addresses"] == ["127.0.0.1:8181"]
        fresh = await discover.next_matching(new_id, "added")
        assert fresh["paired_here"] is False

        await announcer.async_unregister_service(service(new_id, "127.0.0.1", 8182))
        gone = await discover.next_matching(new_id, "removed")
        assert gone["source"] == "lan"
    finally:
        returncode = await discover.stop()
        await announcer.async_close()
    assert returncode == 0
    # The paired light's new address went to the registry by itself; the new light was not added.
    reloaded = Registry(cli.data_dir / "registry.json")
    await reloaded.load()
    light = reloaded.get(paired_id)
    assert light is not None and light.addresses == ("127.0.0.1:8181",)
    assert light.last_seen is not None
    assert reloaded.get(new_id) is None


async def test_discover_finds_a_simulated_access_point(
    cli: Cli, sim_light: SimLightProcess
) -> None:
    discover = await start_discover(
        cli, "--interface", LOOPBACK, "--world-state", str(sim_light.world_state),
        "--ap-interval", "0.2",
    )  # fmt: skip
    try:
        event = await discover.next_matching(sim_light.device_id, "added")
    finally:
        assert await discover.stop() == 0
    assert event["source"] == "ap"
    assert event["ssid"] == "HubLight-" + sim_light.device_id.removeprefix("hublight-").upper()


def test_discover_human_output_ends_by_itself(cli: Cli) -> None:
    run = cli("discover", "--timeout", "1", "--interface", LOOPBACK, "--no-ap")
    assert run.returncode == 0, run.stderr
    assert "Looking for lights for 1 s" in run.stderr
    assert "light(s) visible at the end" in run.stderr


def test_mdns_selftest_reports_checks(cli: Cli) -> None:
    run = cli("mdns-selftest", "--json", "--timeout", "5")
    document = run.json()
    assert run.returncode == (0 if document["ok"] else 1)
    names = [check["name"] for check in document["checks"]]
    assert names and all(isinstance(c["message"], str) and c["message"] for c in document["checks"])
    assert len(names) == len(set(names))
    human = cli("mdns-selftest", "--timeout", "5")
    assert human.stdout.startswith("mDNS ")


def test_bad_interface_is_an_error_in_words(cli: Cli, tmp_path: Path) -> None:
    run = cli("discover", "--timeout", "1", "--interface", "no-such-iface0", "--no-ap")
    assert run.returncode == 1
    assert "mdns-selftest" in run.stderr
