"""``hub-cli discover`` and ``hub-cli mdns-selftest``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from hub_app.cli.output import EXIT_FAILED, EXIT_OK, Output
from hub_app.discovery import (
    ApDiscovery,
    ApEvent,
    DiscoveryEvent,
    LanDiscovery,
    run_mdns_selftest,
)
from hub_app.discovery.wifi import WifiAdapter, choose_adapter
from hub_app.registry import Registry, format_address


def _lan_event_json(event: DiscoveryEvent, registry: Registry) -> dict[str, Any]:
    light = event.light
    document: dict[str, Any] = {
        "event": event.kind,
        "source": "lan",
        "device_id": light.device_id,
        "kind": light.kind,
        "name": light.name,
        "model": light.model,
        "fw_version": light.fw_version,
        "addresses": [format_address(a, light.port) for a in light.addresses],
        "paired_flag": light.paired,
        "paired_here": light.device_id in registry,
    }
    if event.previous is not None and event.address_changed:
        previous = event.previous
        document["previous_addresses"] = [
            format_address(a, previous.port) for a in previous.addresses
        ]
    return document


def _ap_event_json(event: ApEvent) -> dict[str, Any]:
    network = event.ap.network
    return {
        "event": event.kind,
        "source": "ap",
        "ssid": event.ap.ssid,
        "device_id": event.ap.device_id,
        "kind": event.ap.kind,
        "signal_dbm": network.signal_dbm,
        "band": network.band,
    }


def _lan_line(event: DiscoveryEvent, registry: Registry) -> str:
    light = event.light
    mark = {"added": "+", "updated": "~", "removed": "-"}[event.kind]
    paired = registry.get(light.device_id)
    who = f"{paired.display_name} (paired here)" if paired else (light.name or "new light")
    where = ", ".join(format_address(a, light.port) for a in light.addresses) or "-"
    line = f"{mark} LAN  {light.device_id:<18} {who:<28} {where}"
    details = " ".join(x for x in (light.model, light.fw_version) if x)
    if details:
        line += f"  {details}"
    if event.address_changed and event.previous is not None:
        old = ", ".join(format_address(a, event.previous.port) for a in event.previous.addresses)
        line += f"  (moved from {old or '-'})"
    if event.kind == "removed":
        line = f"- LAN  {light.device_id:<18} {who:<28} gone"
    return line


def _ap_line(event: ApEvent) -> str:
    mark = "+" if event.kind == "added" else "-"
    ap = event.ap
    signal_text = f"{ap.network.signal_dbm} dBm" if ap.network.signal_dbm is not None else ""
    new = "new light, ready to set up" if event.kind == "added" else "access point gone"
    return f"{mark} AP   {ap.device_id or ap.kind:<18} {ap.ssid:<28} {new}  {signal_text}".rstrip()


def _make_adapter(args: argparse.Namespace) -> WifiAdapter:
    if args.world_state:
        from hub_app.discovery.wifi import simulated

        return simulated.SimulatedWifiAdapter(state_path=args.world_state)
    return choose_adapter()


async def cmd_discover(args: argparse.Namespace, out: Output) -> int:
    """Print lights as they appear, change and vanish, on the LAN and as access points."""
    registry = Registry()
    await registry.load()
    interfaces = [args.interface] if args.interface else None
    lan = LanDiscovery(interfaces=interfaces)

    def on_lan(event: DiscoveryEvent) -> None:
        if out.json_mode:
            out.event(_lan_event_json(event, registry))
        else:
            out.line(_lan_line(event, registry))

    def on_ap(event: ApEvent) -> None:
        if out.json_mode:
            out.event(_ap_event_json(event))
        else:
            out.line(_ap_line(event))

    # Registry first: a paired light seen at a new address is updated before it is printed.
    detach_registry = registry.attach_discovery(lan)
    unsubscribe_lan = lan.subscribe(on_lan)
    try:
        await lan.start()
    except (OSError, ValueError) as exc:
        out.error(
            f"mDNS cannot start on this PC: {exc}",
            next_step="Run `hub-cli mdns-selftest` to find out why and what to do.",
            kind="mdns",
        )
        return EXIT_FAILED

    ap_discovery: ApDiscovery | None = None
    if not args.no_ap:
        ap_discovery = ApDiscovery(_make_adapter(args), interval_s=args.ap_interval)
        ap_discovery.subscribe(on_ap)
        await ap_discovery.start()

    if not out.json_mode:
        until = f"for {args.timeout:g} s" if args.timeout > 0 else "until Ctrl-C"
        out.note(f"Looking for lights {until}...")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if args.timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.timeout)
        else:
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if ap_discovery is not None:
            await ap_discovery.stop()
        unsubscribe_lan()
        detach_registry()
        await lan.stop()
        await registry.flush()
    if ap_discovery is not None and ap_discovery.last_error is not None and not out.json_mode:
        error = ap_discovery.last_error
        out.note(f"Wi-Fi scan: {error.message} {error.next_step}".rstrip())
    if not out.json_mode:
        found = len(lan.lights) + (len(ap_discovery.access_points) if ap_discovery else 0)
        out.note(f"{found} light(s) visible at the end.")
    return EXIT_OK


async def cmd_mdns_selftest(args: argparse.Namespace, out: Output) -> int:
    """Check whether mDNS can work on this PC and say what to do when it cannot."""
    report = await run_mdns_selftest(args.interface, timeout_s=args.timeout)
    out.document(
        {
            "ok": report.ok,
            "interface": report.interface,
            "checks": [
                {
                    "name": check.name,
                    "ok": check.ok,
                    "message": check.message,
                    "next_step": check.next_step,
                }
                for check in report.checks
            ],
        }
    )
    out.line(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED
