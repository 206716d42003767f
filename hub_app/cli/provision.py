"""``hub-cli provision``: the set-up flow (``hub_app.provisioning.ProvisioningFlow``) in a terminal.

Interactive in a terminal (each Form's fields become prompts, Progress becomes status lines), or
fully from flags (``--ssid --wifi-password-stdin --name --room --setup-code [--light]``): then a
form that comes back with an error ends the run with the error in words and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
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

try:
    import termios
except ImportError:  # Windows
    termios = None  # type: ignore[assignment]

Answer = dict[str, Any] | None  # None: cancel
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
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
            prompt, secret = self._prompt(field, form.can_go_back)
            if _terminal_fd() is not None:
                line = await _read_terminal_line(prompt, secret=secret)
            else:  # no termios (Windows): a blocking read in a worker thread
                line = await loop.run_in_executor(None, _blocking_read_line, prompt, secret)
            value = "q" if line is None else line
            if value == "q":
                return None
            if value == "b" and form.can_go_back:
                return BACK
            answers[field.name] = self._convert(field, value)
        return answers

    def _prompt(self, field: Field, can_go_back: bool) -> tuple[str, bool]:
        """Shows the choices of ``field``. -> (the prompt, whether the answer is secret)."""
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
        return f"{label}{shown}{hint}: ", field.kind == "secret"

    @staticmethod
    def _convert(field: Field, value: str) -> Any:
        if field.kind == "bool":
            return bool(field.default) if value == "" else value.strip().lower() in ("y", "yes")
        if value == "" and field.kind != "secret":
            return field.default
        if field.kind == "choice" and value.isdigit() and 1 <= int(value) <= len(field.choices):
            return field.choices[int(value) - 1].value
        return value


def _terminal_fd() -> int | None:
    """The file descriptor of stdin when it is a terminal that termios can switch (POSIX)."""
    if termios is None:
        return None
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if os.isatty(fd) else None


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _read_terminal_line(prompt: str, *, secret: bool) -> str | None:
    """Show ``prompt`` and read one line from the terminal on the event loop (no thread, so
    Ctrl-C cancels the read at once). A secret is read with echo off, and the terminal is put
    back as it was however the read ends. -> the line, or None at end of input (Ctrl-D)."""
    assert termios is not None
    fd = _terminal_fd()
    assert fd is not None
    loop = asyncio.get_running_loop()
    saved = termios.tcgetattr(fd) if secret else None
    if saved is not None:
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)  # drops keys typed ahead, as getpass
    try:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        data = b""
        while not data.endswith(b"\n"):
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            sys.stderr.write("\n")  # the Enter that was not echoed
            sys.stderr.flush()
    if not data:
        return None
    return data.decode(errors="replace").rstrip("\r\n")


def _blocking_read_line(prompt: str, secret: bool) -> str | None:
    """Where termios is missing: getpass for secrets, else a line from stdin."""
    if secret:
        try:
            return getpass.getpass(prompt)
        except EOFError:
            return None
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


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
            # Ctrl-C: asyncio.run cancels this task; put the light and the PC back, then say so
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await flow.cancel()
            out.error(render("cancelled"), kind="cancelled")
            return EXIT_INTERRUPTED
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
