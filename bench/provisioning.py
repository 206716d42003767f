"""Provisioning benchmark: N simulated lights (real firmware, zero Wi-Fi / reboot delays) set up
one after the other through the real ProvisioningFlow, real HTTP and real mDNS on loopback.

Prints the time of each step (p50 over the lights) and the total, beside the sum of the raw RPC
round trips the flow made in the same run (the flight recorder's RpcTrace ``elapsed_s``) and a
raw ``RPC.Ping`` round trip against the same lights as the baseline. What the flow adds on top of
its RPCs is its own work: Wi-Fi adapter calls, mDNS discovery, keyring and registry writes.

    .venv/bin/python bench/provisioning.py [--lights 20] [--pings 20] [--json]

The keyring is an in-process one (the bench never touches the OS keyring); everything else is
written to a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import keyring
import keyring.backend
from hublight_sim.runner import Simulator
from hublight_sim.world import WifiWorld

from hub_app.device import DeviceClient
from hub_app.discovery import LanDiscovery
from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter
from hub_app.provisioning import (
    Done,
    FlightRecorder,
    FlowResult,
    FlowTimeouts,
    Form,
    Progress,
    ProvisioningFlow,
)
from hub_app.registry import Registry, SecretStore
from hub_app.registry.memory_keyring import MemoryKeyring

STEPS = ("pick_light", "join_ap", "verify", "name", "choose_network", "send", "wait_lan", "pair")
HOME_SSID = "HomeNet"
HOME_PASS = "correct horse battery"


async def _settle(flow: ProvisioningFlow, result: FlowResult) -> FlowResult:
    while isinstance(result, Progress):
        result = await flow.step(None)
    return result


async def _provision_one(flow: ProvisioningFlow, ap_ssid: str, code: str, index: int) -> Done:
    answers: dict[str, dict[str, Any]] = {
        "pick_light": {"light": ap_ssid},
        "verify": {"setup_code": code},
        "name": {"name": f"Bench {index}", "room": "Bench"},
        "choose_network": {"ssid": HOME_SSID, "password": HOME_PASS},
        "confirm_network": {"confirm": True},
    }
    result = await _settle(flow, await flow.step(None))
    while isinstance(result, Form):
        if result.errors or result.step_id not in answers:
            raise RuntimeError(f"unexpected form {result.step_id}: {result.errors}")
        result = await _settle(flow, await flow.step(answers[result.step_id]))
    if not isinstance(result, Done):
        raise RuntimeError(f"light {ap_ssid} not set up: {result!r}")
    return result


def _step_times(recorder: FlightRecorder) -> dict[str, float]:
    """Seconds spent in each step (from the recorder's step transitions)."""
    spent: dict[str, float] = {}
    entered: tuple[str, float] | None = None
    for event in recorder.events:
        if event["kind"] != "step":
            continue
        if entered is not None:
            name, since = entered
            spent[name] = spent.get(name, 0.0) + event["t"] - since
        entered = (event["to_step"], event["t"])
    return spent


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def run(lights: int, pings: int) -> dict[str, Any]:
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory(prefix="bench-provisioning-") as tmp:
        root = Path(tmp)
        world = WifiWorld()
        joined_at: dict[str, float] = {}

        def on_event(event: str, fields: dict[str, Any]) -> None:
            if event == "lan_joined":
                joined_at[str(fields.get("id"))] = time.monotonic()

        sim = Simulator(world, count=lights, flash_root=root / "flash", join_delay_s=0.0,
                        reboot_delay_s=0.0, on_event=on_event)
        await sim.start()
        await sim.wait_started(timeout_s=120)
        adapter = SimulatedWifiAdapter(world, home_ssid=HOME_SSID)
        lan = LanDiscovery(interfaces=["127.0.0.1"])
        await lan.start()
        registry = Registry(root / "data" / "lights.json")
        await registry.load()
        secrets = SecretStore(service="home-hub-bench")
        per_step: dict[str, list[float]] = {s: [] for s in STEPS}
        totals: list[float] = []
        rpc_sums: list[float] = []
        rpc_counts: list[int] = []
        ping_times: list[float] = []
        light_side: list[float] = []
        found_after: list[float] = []
        try:
            async with aiohttp.ClientSession() as session:
                for index, light in enumerate(sim.lights):
                    await light.wait_event("ap_started", timeout_s=60, include_past=True)
                    recorder = FlightRecorder()
                    flow = ProvisioningFlow(session, adapter, lan, registry, secrets,
                                            recorder=recorder, timeouts=FlowTimeouts())
                    marks: dict[str, float] = {}

                    def mark(progress: Progress, marks: dict[str, float] = marks) -> None:
                        marks.setdefault(progress.step_id, time.monotonic())

                    flow.subscribe(mark)
                    started = time.perf_counter()
                    done = await _provision_one(flow, light.ap_ssid, light.setup_code, index)
                    if light.device_id in joined_at and "wait_lan" in marks and "pair" in marks:
                        light_side.append(joined_at[light.device_id] - marks["wait_lan"])
                        found_after.append(marks["pair"] - joined_at[light.device_id])
                    totals.append(time.perf_counter() - started)
                    await flow.close()
                    for name, seconds in _step_times(recorder).items():
                        if name in per_step:
                            per_step[name].append(seconds)
                    traces = recorder.rpc_traces()
                    rpc_sums.append(sum(float(t["elapsed_s"]) for t in traces))
                    rpc_counts.append(len(traces))
                    host, port = done.data["addresses"][0].rsplit(":", 1)
                    async with DeviceClient(session, host, int(port), transport="http",
                                            reconnect=False) as client:
                        await client.call("RPC.Ping")  # warm-up (connection set-up)
                        for _ in range(pings):
                            t0 = time.perf_counter()
                            await client.call("RPC.Ping")
                            ping_times.append(time.perf_counter() - t0)
        finally:
            await lan.stop()
            adapter.close()
            secrets.close()
            await sim.stop()
    return {
        "lights": lights,
        "steps_p50_ms": {s: round(_p50(v) * 1000, 2) for s, v in per_step.items()},
        "total_p50_ms": round(_p50(totals) * 1000, 2),
        "total_max_ms": round(max(totals) * 1000, 2),
        "rpc_sum_p50_ms": round(_p50(rpc_sums) * 1000, 2),
        "rpc_calls_p50": _p50([float(c) for c in rpc_counts]),
        "ping_p50_ms": round(_p50(ping_times) * 1000, 3),
        "pings": len(ping_times),
        "light_reboot_and_join_p50_ms": round(_p50(light_side) * 1000, 2),
        "found_after_join_p50_ms": round(_p50(found_after) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lights", type=int, default=20)
    parser.add_argument("--pings", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.lights, args.pings))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"Provisioning {figures['lights']} simulated lights (zero delays), one after the other")
    print(f"{'step':<16}{'p50 ms':>10}")
    for name, value in figures["steps_p50_ms"].items():
        print(f"{name:<16}{value:>10.2f}")
    print(f"{'total':<16}{figures['total_p50_ms']:>10.2f}   (max {figures['total_max_ms']:.2f})")
    print()
    print(f"raw RPC round trips made by the flow, summed: p50 {figures['rpc_sum_p50_ms']:.2f} ms"
          f" over {figures['rpc_calls_p50']:.0f} calls per light")
    print(f"baseline RPC.Ping round trip (same lights, LAN): p50 {figures['ping_p50_ms']:.3f} ms"
          f" ({figures['pings']} pings)")
    print(f"inside wait_lan: the light's own reboot + join (Config.Save -> lan_joined) p50 "
          f"{figures['light_reboot_and_join_p50_ms']:.2f} ms; lan_joined -> found by the flow "
          f"(mDNS / probe) p50 {figures['found_after_join_p50_ms']:.2f} ms")
    overhead = figures["total_p50_ms"] - figures["rpc_sum_p50_ms"]
    print(f"flow time beyond its RPCs (adapter, mDNS, keyring, registry, scheduling): "
          f"{overhead:.2f} ms per light")
    return 0


if __name__ == "__main__":
    sys.exit(main())
