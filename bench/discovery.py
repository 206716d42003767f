"""Discovery benchmark: announcement to hub event, against python-zeroconf's own browse callback.

Registers N services (one at a time) with a separate python-zeroconf instance on loopback and
measures, from the ``async_register_service`` call, the time until
(a) python-zeroconf's ``AsyncServiceBrowser`` reports ``Added`` (the baseline, same run), and
(b) ``LanDiscovery`` emits its ``added`` event (browse + resolve + parse + merge).
Both include mDNS probing (about 0.75 s by RFC 6762) which the announcer must do first.

    .venv/bin/python bench/discovery.py [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time

from zeroconf import IPVersion, ServiceInfo, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from hub_app.discovery import DiscoveryEvent, LanDiscovery

SERVICE_TYPE = "_hublight._tcp.local."
LOOPBACK = "127.0.0.1"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def run(count: int) -> tuple[list[float], list[float]]:
    announcer = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    browser_zc = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    lan = LanDiscovery(interfaces=[LOOPBACK])
    loop = asyncio.get_running_loop()
    browser_seen: dict[str, asyncio.Future[float]] = {}
    hub_seen: dict[str, asyncio.Future[float]] = {}

    def on_browse(zeroconf: Zeroconf, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        future = browser_seen.get(name)
        if state_change is ServiceStateChange.Added and future and not future.done():
            future.set_result(time.perf_counter())

    def on_hub(event: DiscoveryEvent) -> None:
        future = hub_seen.get(event.light.device_id)
        if event.kind == "added" and future and not future.done():
            future.set_result(time.perf_counter())

    browser = AsyncServiceBrowser(browser_zc.zeroconf, SERVICE_TYPE, handlers=[on_browse])
    lan.subscribe(on_hub)
    await lan.start()
    baseline: list[float] = []
    hub: list[float] = []
    try:
        for _ in range(count):
            device_id = "hublight-" + secrets.token_hex(3)
            name = f"{device_id}.{SERVICE_TYPE}"
            info = ServiceInfo(
                SERVICE_TYPE, name, port=80, server=f"{device_id}.local.",
                parsed_addresses=[LOOPBACK],
                properties={"id": device_id, "fw_id": "bench", "arch": "sim", "app": "HubLight",
                            "model": "HL-S1", "fw_version": "1.0.0", "paired": "0"},
            )
            browser_seen[name] = loop.create_future()
            hub_seen[device_id] = loop.create_future()
            started = time.perf_counter()
            await announcer.async_register_service(info)
            baseline.append(await asyncio.wait_for(browser_seen[name], 30) - started)
            hub.append(await asyncio.wait_for(hub_seen[device_id], 30) - started)
    finally:
        await browser.async_cancel()
        await lan.stop()
        await announcer.async_unregister_all_services()
        await announcer.async_close()
        await browser_zc.async_close()
    return baseline, hub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="services to announce (20)")
    args = parser.parse_args()
    baseline, hub = asyncio.run(run(args.count))
    overhead = [h - b for h, b in zip(hub, baseline, strict=True)]
    print(f"announcement -> event latency on loopback, {args.count} services (ms)")
    print(f"{'':32}{'p50':>9}{'p95':>9}{'max':>9}")
    for label, values in (
        ("python-zeroconf browser Added", baseline),
        ("LanDiscovery 'added'", hub),
        ("LanDiscovery minus browser", overhead),
    ):
        row = [percentile(values, 0.5), percentile(values, 0.95), max(values)]
        print(f"{label:32}" + "".join(f"{v * 1000:9.1f}" for v in row))
    print(f"(mean overhead {statistics.mean(overhead) * 1000:.1f} ms: resolve + parse + merge)")


if __name__ == "__main__":
    main()
