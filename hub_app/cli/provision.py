"""``hub-cli provision``: the set-up flow (``hub_app.provisioning.ProvisioningFlow``) in a terminal.

Interactive in a terminal (each Form's fields become prompts, Progress becomes status lines), or
fully from flags (``--ssid --wifi-password-stdin --name --room --setup-code [--light]``): then a
form that comes back with an error ends the run with the error in words and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from hub_app.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Output
from hub_app.discovery import LanDiscovery
from hub_app.discovery.wifi import WifiAdapter, WifiEvent, choose_adapter
from hub_app.provisioning import (
    Abort,
    Done,
    Field,
    FlowTimeouts,
    Form,
    Progress,
    ProvisioningFlow,
    render,
    render_progress,
)
from hub_app.registry import Registry, SecretStore

Answer = dict[str, Any] | None  # None: cancel
BACK = object()

_FIELD_PROMPTS = {
    "light": "Which light",
    "rescan": "Scan again",
    "setup_code": "Setup code (on the light's label)",
    "name": "Name",
    "room": "Room",
    "ssid": "Wi-Fi network",
    "password": "Wi-Fi password (empty for an open network or a remembered one)",
    "remember_password": "Remember this Wi-Fi password in the keyring",
    "confirm": "Send anyway",
    "retry": "Try again",
}


class ScriptedAnswersError(Exception):
    """Flag mode cannot answer a form; the message says what is missing, in words."""


def _problems(form: Form) -> list[str]:
    texts = [render(key, form.description_placeholders) for key in form.errors.values()]
    texts += [render(key, form.description_placeholders) for key in form.warnings.values()]
    return texts


class ScriptedAnswers:
    """Answers forms from command-line flags (no questions asked)."""

    def __init__(self, args: argparse.Namespace, wifi_password: str | None) -> None:
        self.args = args
        self.wifi_password = wifi_password
        self.submitted: set[str] = set()

    def __call__(self, form: Form) -> Answer:
        if form.errors and (form.step_id in self.submitted or form.step_id == "pick_light"):
            raise ScriptedAnswersError(" ".join(_problems(form)))
        self.submitted.add(form.step_id)
        args = self.args
        if form.step_id == "pick_light":
            light = args.light or _default(form, "light")
            if not light:
                raise ScriptedAnswersError(render("no_lights_found"))
            return {"light": light, "rescan": False}
        if form.step_id == "verify":
            if not args.setup_code:
                raise ScriptedAnswersError("--setup-code is needed (the code on the label).")
            return {"setup_code": args.setup_code}
        if form.step_id == "name":
            return {
                "name": args.name or _default(form, "name"),
                "room": args.room if args.room is not None else (_default(form, "room") or ""),
            }
        if form.step_id == "choose_network":
            ssid = args.ssid or _default(form, "ssid")
            return {
                "ssid": ssid,
                "password": self.wifi_password or "",
                "remember_password": bool(args.remember_wifi),
            }
        if form.step_id == "confirm_network":
            if not args.accept_warnings:
                raise ScriptedAnswersError(
                    " ".join(_problems(form)) + " Pass --accept-warnings to send anyway."
                )
            return {"confirm": True}
        if form.step_id == "join_ap":
            return {}
        raise ScriptedAnswersError(" ".join(_problems(form)) or f"cannot answer {form.step_id}")


def _default(form: Form, name: str) -> Any:
    try:
        return form.field(name).default
    except KeyError:
        return None


class TerminalQuestions:
    """Asks each form's fields as prompts ("b" goes back where allowed, "q" cancels)."""

    def __init__(self, out: Output) -> None:
        self.out = out

    async def __call__(self, form: Form) -> Answer | object:
        loop = asyncio.get_running_loop()
        for text in _problems(form):
            self.out.note(f"! {text}")
        answers: dict[str, Any] = {}
        for field in form.fields:
            value = await loop.run_in_executor(None, self._ask, field, form.can_go_back)
            if value == "q":
                return None
            if value == "b" and form.can_go_back:
                return BACK
            answers[field.name] = self._convert(field, value)
        return answers

    def _ask(self, field: Field, can_go_back: bool) -> str:
        label = _FIELD_PROMPTS.get(field.name, field.name)
        if field.kind == "choice" and field.choices:
            self.out.note(f"{label}:")
            for number, choice in enumerate(field.choices, 1):
                details = ", ".join(
                    f"{k}={v}" for k, v in choice.info.items() if v not in (None, "")
                )
                self.out.note(f"  {number}. {choice.label}" + (f"  ({details})" if details else ""))
        default = field.default
        shown = "" if field.kind == "secret" or default in (None, "") else f" [{default}]"
        if field.kind == "bool":
            shown = " [Y/n]" if default else " [y/N]"
        hint = " (b: back, q: quit)" if can_go_back else " (q: quit)"
        prompt = f"{label}{shown}{hint}: "
        if field.kind == "secret":
            return getpass.getpass(prompt)
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            return "q"
        return line.rstrip("\n")

    @staticmethod
    def _convert(field: Field, value: str) -> Any:
        if field.kind == "bool":
            return bool(field.default) if value == "" else value.strip().lower() in ("y", "yes")
        if value == "" and field.kind != "secret":
            return field.default
        if field.kind == "choice" and value.isdigit() and 1 <= int(value) <= len(field.choices):
            return field.choices[int(value) - 1].value
        return value


def _make_adapter(args: argparse.Namespace, out: Output) -> WifiAdapter:
    def prompt(event: WifiEvent) -> None:
        if event.message:
            out.note(f"* {event.message}")

    if args.world_state:
        from hub_app.discovery.wifi import simulated

        return simulated.SimulatedWifiAdapter(state_path=args.world_state)
    return choose_adapter(prompt=prompt)


async def _drive(
    flow: ProvisioningFlow,
    answer: Callable[[Form], Awaitable[Answer | object]],
) -> Done | Abort:
    result = await flow.step(None)
    while not isinstance(result, (Done, Abort)):
        if isinstance(result, Progress):
            result = await flow.step(None)
            continue
        reply = await answer(result)
        if reply is None:
            cancelled = await flow.cancel()
            return cancelled if isinstance(cancelled, (Done, Abort)) else Abort("cancelled")
        if reply is BACK:
            result = flow.back()
            continue
        assert isinstance(reply, dict)
        result = await flow.step(reply)
    return result


async def cmd_provision(args: argparse.Namespace, out: Output) -> int:
    """Set up a new light, interactively or from flags."""
    scripted = bool(args.ssid or args.setup_code or args.name) or not sys.stdin.isatty()
    wifi_password: str | None = None
    if args.wifi_password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        wifi_password = line or None
    if scripted and not args.setup_code:
        out.error("--setup-code is needed without a terminal", kind="usage")
        return EXIT_USAGE

    registry = Registry()
    await registry.load()
    secrets = SecretStore()
    if not await secrets.probe() and not args.without_keyring:
        secrets.close()
        out.error(
            "not setting up a light without a keyring: hub-cli would forget the light's LAN "
            "secret when it exits, and the light could not be controlled afterwards",
            next_step=f"{secrets.warning} (Or pass --without-keyring to try anyway.)",
            kind="keyring",
        )
        return EXIT_FAILED
    adapter = _make_adapter(args, out)
    lan = LanDiscovery(interfaces=[args.interface] if args.interface else None)
    await lan.start()
    timeouts = FlowTimeouts(wait_lan=args.lan_timeout) if args.lan_timeout else None
    last_status: list[str] = []

    def on_progress(progress: Progress) -> None:
        text = render_progress(progress.progress_key, progress.message_placeholders)
        if not last_status or last_status[-1] != text:
            last_status.append(text)
            out.note(f"... {text}")

    async with aiohttp.ClientSession() as session:
        flow = ProvisioningFlow(
            session, adapter, lan, registry, secrets, light=args.light, timeouts=timeouts
        )
        flow.subscribe(on_progress)
        scripted_answers = ScriptedAnswers(args, wifi_password)

        async def answer(form: Form) -> Answer | object:
            if scripted:
                return scripted_answers(form)
            return await TerminalQuestions(out)(form)

        try:
            result = await _drive(flow, answer)
        except ScriptedAnswersError as exc:
            await flow.cancel()
            out.error(str(exc), kind="provisioning")
            return EXIT_FAILED
        except (KeyboardInterrupt, asyncio.CancelledError):
            await flow.cancel()
            raise
        finally:
            await flow.close()
            await lan.stop()
            secrets.close()
    if isinstance(result, Done):
        data = result.data
        out.document({"ok": True, "light": data})
        name = data.get("name") or data.get("device_id")
        where = ", ".join(data.get("addresses") or []) or "-"
        out.line(f"Set up {name} ({data.get('device_id')}); it answers at {where}.")
        return EXIT_OK
    text = render(result.reason_key, result.description_placeholders)
    out.error(text, kind=result.reason_key)
    return EXIT_FAILED
