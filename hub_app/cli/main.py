"""hub-cli: the command line for support staff.

    hub-cli list | info LIGHT | rpc LIGHT METHOD [JSON] | forget LIGHT
    hub-cli discover [--timeout S] | provision | mdns-selftest

LIGHT is a device id, a name, or HOST:PORT. ``--json`` makes the output one JSON document (one
line per event for ``discover``). Exit codes: 0 ok, 1 device / network / data error (the reason
on stderr), 2 wrong command line. Secrets are never printed. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hub_app.cli.flash import add_flash_parser
from hub_app.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Output
from hub_app.cli.targets import Target, TargetError, choose_password, resolve_target
from hub_app.registry import (
    AmbiguousLightError,
    LightNotFoundError,
    PairedLight,
    Registry,
    RegistryError,
    SecretStore,
)

Handler = Callable[[argparse.Namespace, Output], Awaitable[int]]


class UsageError(Exception):
    """A command line that parses but makes no sense (exit code 2)."""


# --------------------------------------------------------------------------------- helpers


def _light_json(light: PairedLight) -> dict[str, Any]:
    return light.to_json()


async def _open_registry() -> Registry:
    registry = Registry()
    await registry.load()
    return registry


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: nothing was read from standard input")
    return password


def _device_error_words(error: Exception, target: Target, method: str) -> tuple[str, str, str]:
    """(message, next step, kind) for an error of hub_app.device, in plain words."""
    from hub_app.device.errors import (
        AuthError,
        BadReplyError,
        DeviceConnectionError,
        DeviceTimeoutError,
        RpcError,
    )

    where = target.label
    if isinstance(error, DeviceConnectionError):
        return (
            f"cannot reach {where}: {error}",
            "Check that the light has power and that this PC is on the same network; "
            "`hub-cli discover` shows where lights answer now.",
            "connection",
        )
    if isinstance(error, DeviceTimeoutError):
        return (
            f"{where} did not answer {method} in time",
            "The light may be rebooting or out of reach; try again, or raise --timeout.",
            "timeout",
        )
    if isinstance(error, AuthError):
        if error.reason == "missing_credentials":
            return (
                f"{where} needs a password for {method}",
                "Pass --setup-code with the code on the light's label (a light that is not set "
                "up yet), or pair it first so its LAN secret is in the keyring.",
                "auth",
            )
        if error.reason == "rate_limited":
            return (
                f"{where} refuses logins for a while after too many wrong passwords",
                "Wait 30 seconds, then try again with the right password.",
                "auth",
            )
        hint = (
            "The stored LAN secret does not match: the light was probably factory-reset or "
            "paired by another hub. Use --setup-code, or `hub-cli forget` it and set it up again."
            if target.password_source.startswith("keyring")
            else "Check the password; a paired light wants its LAN secret, not the setup code."
        )
        return (f"{where} refused the password ({target.password_source})", hint, "auth")
    if isinstance(error, RpcError):
        if error.code == 404:
            hint = f"List the methods with: hub-cli rpc {target.label.split(' ')[0]} RPC.List"
        elif error.code == 400:
            describe = json.dumps({"name": method})
            hint = f"Check the arguments: hub-cli rpc LIGHT RPC.Describe '{describe}'"
        elif error.code == 429:
            hint = "Too many requests: wait a little and try again."
        else:
            hint = ""
        return (f"{where}: {error}", hint, "rpc")
    if isinstance(error, BadReplyError):
        return (
            f"{where} answered something that is not a valid MG-RPC reply: {error}",
            "Is this address really a HubLight, Mongoose OS or Shelly Gen2 device?",
            "bad_reply",
        )
    return (f"{where}: {error}", "", "device")


async def _call_target(
    target: Target,
    method: str,
    params: dict[str, Any] | None,
    *,
    call_timeout: float,
    transport: str,
    use_get_info: bool = False,
) -> tuple[Any, float, tuple[str, int], str | None]:
    """Call ``method`` on the first endpoint that accepts a connection.

    Returns (result, seconds, endpoint used, device id seen). Raises hub_app.device errors.
    """
    import aiohttp

    from hub_app.device import DeviceClient
    from hub_app.device.errors import DeviceConnectionError

    last_error: Exception | None = None
    async with aiohttp.ClientSession() as session:
        for host, port in target.endpoints:
            client = DeviceClient(
                session,
                host,
                port,
                password=target.password,
                timeout=call_timeout,
                transport=transport,  # type: ignore[arg-type]
                reconnect=False,
            )
            try:
                started = time.monotonic()
                if use_get_info:
                    result: Any = await client.get_info()
                else:
                    result = await client.call(method, params)
                elapsed = time.monotonic() - started
                return result, elapsed, (host, port), client.device_id
            except DeviceConnectionError as exc:
                last_error = exc
                continue
            finally:
                await client.close()
    assert last_error is not None
    raise last_error


async def _prepare_target(args: argparse.Namespace) -> tuple[Target, Registry, SecretStore]:
    registry = await _open_registry()
    target = resolve_target(registry, args.light, getattr(args, "host", None))
    secrets = SecretStore()
    password = args.password
    if getattr(args, "password_stdin", False):
        if password is not None or args.setup_code is not None:
            raise UsageError("use only one of --password, --password-stdin and --setup-code")
        password = _read_password_stdin()
    if password is not None and args.setup_code is not None:
        raise UsageError("use either --password or --setup-code, not both")
    await choose_password(target, secrets, password=password, setup_code=args.setup_code)
    return target, registry, secrets


# -------------------------------------------------------------------------------- commands


async def cmd_list(args: argparse.Namespace, out: Output) -> int:
    """Print the paired lights."""
    registry = await _open_registry()
    lights = registry.all()
    out.document({"ok": True, "lights": [_light_json(x) for x in lights]})
    if not lights:
        out.line("No paired lights yet. Set one up with: hub-cli provision")
        return EXIT_OK
    rows = [
        [
            light.device_id,
            light.name or "-",
            light.room or "-",
            light.model or "-",
            light.fw_version or "-",
            ", ".join(light.addresses) or "-",
            light.backend,
            light.last_seen.strftime("%Y-%m-%d %H:%M") if light.last_seen else "never",
        ]
        for light in lights
    ]
    headers = ["ID", "NAME", "ROOM", "MODEL", "FIRMWARE", "ADDRESS", "BACKEND", "LAST SEEN"]
    out.table(headers, rows)
    return EXIT_OK


async def cmd_forget(args: argparse.Namespace, out: Output) -> int:
    """Remove a light from the registry and its secrets from the keyring."""
    registry = await _open_registry()
    light = registry.resolve(args.light)
    secrets = SecretStore()
    try:
        removed = await registry.remove(light.device_id)
        secrets_removed = await secrets.forget_light(light.device_id)
    finally:
        secrets.close()
    out.document(
        {
            "ok": True,
            "forgotten": _light_json(removed),
            "secrets_removed": secrets_removed,
            "keyring": secrets.backend_name,
        }
    )
    out.line(f"Forgot {removed.display_name} ({removed.device_id}).")
    if secrets_removed:
        out.line("Its LAN secret was removed from the keyring.")
    elif secrets.warning:
        out.note(f"Note: {secrets.warning}")
    out.line(
        "The light itself keeps its settings; factory-reset it (hold the button) to set it up "
        "with another hub."
    )
    return EXIT_OK


def _parse_params(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"the parameters are not valid JSON ({exc.msg} at column {exc.colno}); "
            'example: \'{"on": true, "brightness": 40}\''
        ) from None
    if not isinstance(params, dict):
        raise UsageError(
            f"the parameters must be a JSON object, not {type(params).__name__}; "
            "example: '{\"on\": true}'"
        )
    return params


async def cmd_rpc(args: argparse.Namespace, out: Output) -> int:
    """Call one method on a light and print the reply and how long it took."""
    from hub_app.device.errors import DeviceError

    params = _parse_params(args.params)
    target, _registry, secrets = await _prepare_target(args)
    try:
        result, elapsed, endpoint, seen_id = await _call_target(
            target, args.method, params, call_timeout=args.timeout, transport=args.transport
        )
    except DeviceError as exc:
        message, next_step, kind = _device_error_words(exc, target, args.method)
        out.error(message, next_step=next_step, kind=kind)
        return EXIT_FAILED
    finally:
        secrets.close()
    host, port = endpoint
    out.document(
        {
            "ok": True,
            "light": target.device_id or seen_id,
            "address": f"{host}:{port}",
            "method": args.method,
            "params": params or {},
            "result": result,
            "elapsed_ms": round(elapsed * 1000, 1),
        }
    )
    out.line(json.dumps(result, indent=2, ensure_ascii=False))
    who = target.device_id or seen_id or "the light"
    out.note(f"{args.method}: {elapsed * 1000:.0f} ms ({who} at {host}:{port}, {args.transport})")
    return EXIT_OK


_INFO_FIELDS = (
    ("id", "Device id"),
    ("app", "App"),
    ("model", "Model"),
    ("fw_version", "Firmware"),
    ("fw_id", "Build"),
    ("mac", "MAC"),
    ("setup_state", "Set-up state"),
    ("paired", "Paired"),
    ("uptime", "Uptime (s)"),
    ("ram_free", "Free RAM"),
)


async def cmd_info(args: argparse.Namespace, out: Output) -> int:
    """Show what a light says about itself (Sys.GetInfo), with registry facts."""
    from hub_app.device.errors import DeviceError

    target, _registry, secrets = await _prepare_target(args)
    try:
        info, elapsed, endpoint, seen_id = await _call_target(
            target,
            "Sys.GetInfo",
            None,
            call_timeout=args.timeout,
            transport="http",
            use_get_info=True,
        )
    except DeviceError as exc:
        message, next_step, kind = _device_error_words(exc, target, "Sys.GetInfo")
        out.error(message, next_step=next_step, kind=kind)
        return EXIT_FAILED
    finally:
        secrets.close()
    host, port = endpoint
    reduced = "mac" not in info and info.get("auth_required") is True
    out.document(
        {
            "ok": True,
            "address": f"{host}:{port}",
            "reduced": reduced,
            "info": info,
            "paired": _light_json(target.light) if target.light else None,
        }
    )
    if target.light is not None:
        light = target.light
        out.line(
            f"{light.display_name}  ({light.room or 'no room'}, paired {light.paired_at:%Y-%m-%d})"
        )
    out.line(f"Address:       {host}:{port}  (answered in {elapsed * 1000:.0f} ms)")
    for key, label in _INFO_FIELDS:
        if key in info:
            out.line(f"{label + ':':<15}{info[key]}")
    wifi = info.get("wifi")
    if isinstance(wifi, dict):
        parts = [
            f"{k}={wifi[k]}"
            for k in ("status", "ssid", "sta_ip", "ap_ip", "rssi")
            if wifi.get(k) is not None
        ]
        out.line(f"{'Wi-Fi:':<15}{', '.join(parts) or '-'}")
    mqtt = info.get("mqtt")
    if isinstance(mqtt, dict) and mqtt.get("server"):
        state = "connected" if mqtt.get("connected") else "not connected"
        out.line(f"{'MQTT:':<15}{mqtt.get('server')} ({state})")
    ota = info.get("ota")
    if isinstance(ota, dict):
        committed = "committed" if ota.get("is_committed") else "NOT committed (will roll back)"
        out.line(f"{'Firmware slot:':<15}{ota.get('active_slot')} ({committed})")
    if reduced:
        who = target.device_id or seen_id or "LIGHT"
        out.note(
            "Reduced info (no credentials). For everything: "
            f"hub-cli info {who} --setup-code XXXX-XXXX, or pair the light."
        )
    return EXIT_OK


# ---------------------------------------------------------------------------------- parser


def _lazy(module: str, name: str) -> Handler:
    """A handler imported on use, so `hub-cli list` does not load zeroconf."""

    async def handler(args: argparse.Namespace, out: Output) -> int:
        import importlib

        try:
            function: Handler = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            out.error(
                f"`{args.command}` is not available in this build of Home Hub ({exc.name} "
                "is missing)",
                next_step="Update or reinstall Home Hub.",
                kind="not_available",
            )
            return EXIT_FAILED
        return await function(args, out)

    return handler


def _add_json(parser: argparse.ArgumentParser, *, default: Any = argparse.SUPPRESS) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        default=default,
        help="machine-readable output: one JSON document (discover: one object per line)",
    )


def _add_credentials(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "credentials (default: the light's LAN secret from the keyring)"
    )
    group.add_argument("--setup-code", metavar="CODE", help="the code on the label (XXXX-XXXX)")
    group.add_argument("--password", help="a password (visible to other users in the process list)")
    group.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    parser.add_argument("--host", metavar="HOST:PORT", help="talk to this address instead")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")


def build_parser() -> argparse.ArgumentParser:
    """The hub-cli command line."""
    parser = argparse.ArgumentParser(
        prog="hub-cli",
        description="Find, set up and diagnose HubLight smart lights (for support staff).",
        epilog="LIGHT is a device id (hublight-1a2b3c), a name from `hub-cli list`, or HOST:PORT. "
        "Exit codes: 0 ok, 1 device/network/data error, 2 wrong command line.",
    )
    _add_json(parser, default=False)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what happens (never secrets) to stderr"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="the paired lights")
    _add_json(listing)
    listing.set_defaults(handler=cmd_list)

    forget = commands.add_parser("forget", help="remove a light from the registry and keyring")
    forget.add_argument("light", metavar="LIGHT")
    _add_json(forget)
    forget.set_defaults(handler=cmd_forget)

    info = commands.add_parser("info", help="what a light says about itself (Sys.GetInfo)")
    info.add_argument("light", metavar="LIGHT")
    _add_credentials(info)
    _add_json(info)
    info.set_defaults(handler=cmd_info)

    rpc = commands.add_parser("rpc", help="call one RPC method and print the reply")
    rpc.add_argument("light", metavar="LIGHT")
    rpc.add_argument("method", metavar="METHOD", help="e.g. Light.Set, Sys.GetInfo, RPC.List")
    rpc.add_argument("params", metavar="JSON", nargs="?", help="parameters as a JSON object")
    rpc.add_argument("--transport", choices=("http", "ws"), default="http")
    _add_credentials(rpc)
    _add_json(rpc)
    rpc.set_defaults(handler=cmd_rpc)

    discover = commands.add_parser(
        "discover", help="watch for lights on the LAN and on their own access points"
    )
    discover.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to watch (0: until Ctrl-C)"
    )
    discover.add_argument("--interface", metavar="IFACE", help="network interface for mDNS")
    discover.add_argument("--no-ap", action="store_true", help="skip the Wi-Fi access-point scan")
    discover.add_argument(
        "--ap-interval", type=float, default=5.0, help="seconds between Wi-Fi scans (default 5)"
    )
    discover.add_argument(
        "--world-state",
        metavar="FILE",
        help="use the simulated Wi-Fi of `hub-light-sim --world-state FILE` instead of the PC's",
    )
    _add_json(discover)
    discover.set_defaults(handler=_lazy("hub_app.cli.discover", "cmd_discover"))

    provision = commands.add_parser("provision", help="set up a new light")
    provision.add_argument("--ssid", help="home Wi-Fi network")
    provision.add_argument(
        "--wifi-password-stdin", action="store_true", help="read the Wi-Fi password from stdin"
    )
    provision.add_argument("--name", help="name for the light")
    provision.add_argument("--room", help="room of the light")
    provision.add_argument("--setup-code", metavar="CODE", help="the code on the label")
    provision.add_argument("--light", metavar="AP_SSID", help="which new light (HubLight-1A2B3C)")
    provision.add_argument(
        "--remember-wifi", action="store_true", help="keep the Wi-Fi password in the keyring"
    )
    provision.add_argument(
        "--accept-warnings", action="store_true", help="send even when the network gets a warning"
    )
    provision.add_argument("--interface", metavar="IFACE", help="network interface for mDNS")
    provision.add_argument(
        "--lan-timeout", type=float, default=None, help="seconds to wait for the light on the LAN"
    )
    provision.add_argument(
        "--world-state", metavar="FILE", help="use the simulated Wi-Fi of hub-light-sim"
    )
    provision.add_argument(
        "--without-keyring",
        action="store_true",
        help="set up even without a system keyring (the LAN secret is lost when hub-cli exits)",
    )
    _add_json(provision)
    provision.set_defaults(handler=_lazy("hub_app.cli.provision", "cmd_provision"))

    selftest = commands.add_parser("mdns-selftest", help="can mDNS work on this PC?")
    selftest.add_argument("--interface", metavar="IFACE", help="network interface to test")
    selftest.add_argument("--timeout", type=float, default=10.0, help="seconds per check")
    _add_json(selftest)
    selftest.set_defaults(handler=_lazy("hub_app.cli.discover", "cmd_mdns_selftest"))

    add_flash_parser(commands)
    return parser


async def run(args: argparse.Namespace, out: Output) -> int:
    """Run the chosen sub-command; turns the expected errors into words and exit codes."""
    handler: Handler = args.handler
    try:
        return await handler(args, out)
    except UsageError as exc:
        out.error(str(exc), kind="usage")
        return EXIT_USAGE
    except TargetError as exc:
        out.error(exc.message, next_step=exc.next_step, kind="not_found")
        return EXIT_FAILED
    except AmbiguousLightError as exc:
        out.error(str(exc), next_step="Use the device id from `hub-cli list`.", kind="ambiguous")
        return EXIT_FAILED
    except LightNotFoundError as exc:
        out.error(str(exc), next_step="`hub-cli list` shows the paired lights.", kind="not_found")
        return EXIT_FAILED
    except RegistryError as exc:
        out.error(str(exc), kind="registry")
        return EXIT_FAILED
    except OSError as exc:
        out.error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), kind="os")
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of hub-cli."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    out = Output(bool(args.json))
    try:
        return asyncio.run(run(args, out))
    except KeyboardInterrupt:
        out.note("hub-cli: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
