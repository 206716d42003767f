"""hub-light-sim: run simulated HubLights (the real firmware) on loopback addresses.

    hub-light-sim --count 3 --json

prints one JSON object per line per event (``{"event": "started", "id": ..., "setup_code": ...,
"ap_rpc_url": ..., "ap_ssid": ...}``, ``lan_joined``, ``lan_failed``, ``state_changed``, ...).
Ctrl-C / SIGTERM shut the lights down cleanly; ``kill -9`` is a power cut. See docs/simulator.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from .runner import Simulator
from .world import Network, WifiWorld


def default_flash_dir() -> str:
    """platformdirs' user data dir for hub-light-sim, or ./sim-flash without platformdirs."""
    try:
        import platformdirs
    except ImportError:
        return os.path.abspath("sim-flash")
    return os.path.join(platformdirs.user_data_dir("home-hub"), "sim-flash")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="hub-light-sim",
        description="Run simulated HubLights on loopback addresses (the real firmware on "
        "CPython). Ctrl-C stops them cleanly; kill -9 is a power cut.",
    )
    parser.add_argument("--count", type=int, default=1, help="number of lights (1..250)")
    parser.add_argument("--flash-dir", default=None,
                        help="flash root, one directory per light (persistent; default: "
                        f"{default_flash_dir()})")
    parser.add_argument("--seed", default=None,
                        help="MAC seed (default: stored in the flash dir, so ids stay the same)")
    parser.add_argument("--world", metavar="FILE",
                        help='Wi-Fi world JSON: {"networks": [{"ssid", "password", "band", '
                        '"auth", "rssi", "channel", "hidden", "dhcp"}]}')
    parser.add_argument("--network", action="append", default=[], metavar="SSID:PASS[:band[:rssi]]",
                        help="a network of the world (repeatable; replaces the default world)")
    parser.add_argument("--world-state", metavar="FILE",
                        help="write the world (networks, open light APs) to this JSON file after "
                        "every change, for a hub in another process")
    parser.add_argument("--join-delay", type=float, default=2.0,
                        help="seconds a Wi-Fi join takes (default 2; 0 for tests)")
    parser.add_argument("--reboot-delay", type=float, default=1.0,
                        help="seconds between shutdown and boot (default 1; 0 for tests)")
    parser.add_argument("--ap-port", type=int, default=0,
                        help="AP RPC port of light 0 (light i: +i); 0 = ephemeral")
    parser.add_argument("--lan-port", type=int, default=0,
                        help="LAN RPC port of light 0 (light i: +i); 0 = ephemeral")
    parser.add_argument("--fw-version", default=None, help="version of the factory image")
    parser.add_argument("--json", action="store_true", help="one JSON object per line per event")
    return parser


def make_world(args: argparse.Namespace) -> WifiWorld:
    """The world from --world / --network (default world without either)."""
    if args.world:
        world = WifiWorld.from_file(args.world, state_path=args.world_state)
    else:
        world = WifiWorld(state_path=args.world_state)
    if args.network:
        flagged = [Network.from_flag(flag) for flag in args.network]
        world.networks = flagged if not args.world else world.networks + flagged
    if args.world_state:
        world.write_state(args.world_state)
    return world


class EventPrinter:
    """Prints events as JSON lines or as readable text (flushing every line)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        if self.as_json:
            line = json.dumps({"event": event, **fields}, ensure_ascii=False, default=str)
        else:
            light = fields.get("id", "?")
            details = "  ".join(
                f"{key}={value}"
                for key, value in fields.items()
                if key != "id" and value is not None
            )
            line = f"{light:<16} {event:<14} {details}"
        with contextlib.suppress(BrokenPipeError, ValueError):
            print(line, flush=True)


async def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM."""
    printer = EventPrinter(args.json)
    world = make_world(args)
    kwargs: dict[str, Any] = {}
    if args.fw_version:
        kwargs["fw_version"] = args.fw_version
    sim = Simulator(
        world,
        args.count,
        args.flash_dir or default_flash_dir(),
        seed=args.seed,
        join_delay_s=args.join_delay,
        reboot_delay_s=args.reboot_delay,
        ap_port_base=args.ap_port,
        lan_port_base=args.lan_port,
        on_event=printer,
        **kwargs,
    )
    if not args.json:
        print(f"hub-light-sim: {args.count} light(s), flash in {sim.flash_root}; "
              "Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await sim.start()
    await stop.wait()
    printer("stopping", {"id": "*"})
    await sim.stop()
    printer("stopped", {"id": "*"})
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console entry point of hub-light-sim."""
    args = build_parser().parse_args(argv)
    if not 1 <= args.count <= 250:
        print("hub-light-sim: --count must be 1..250", file=sys.stderr)
        return 2
    try:
        world_error = None
        make_world(argparse.Namespace(**{**vars(args), "world_state": None}))
    except (OSError, ValueError) as exc:
        world_error = str(exc)
    if world_error:
        print(f"hub-light-sim: bad world: {world_error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
