"""hub-cli provision asked question by question in a real pseudo-terminal, against a simulated
light (the real firmware) in a subprocess: a person's typing, mistakes included."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import BIN, Cli, SimLightProcess
from test_cli_provision import WIFI_PASSWORD, paired_ids

WRONG_WIFI_PASSWORD = "incorrect mule staple"  # 8+ characters: only the light can tell
TIMEOUT_S = 90.0  # per expected prompt; generous for 2 shared cores


class Terminal:
    """A program on the slave side of a real pty (its controlling terminal), driven from the
    master side the way a person types: text, Enter (CR), Ctrl-C."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its stdin, stdout, stderr and /dev/tty
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""  # everything the terminal showed
        self.seen = 0  # how far expect() has matched
        self.returncode: int | None = None

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to ``timeout``). -> False at end of output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the slave side is closed (the program ended)
            return False
        self.output += data
        return bool(data)

    def expect(self, pattern: str, timeout: float = TIMEOUT_S) -> str:
        """Wait until ``pattern`` (a regex) shows after the previous match. -> the text up to
        and including the match."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output, self.seen)
            if match:
                shown = self.output[self.seen : match.end()].decode(errors="replace")
                self.seen = match.end()
                return shown
            remaining = deadline - time.monotonic()
            ended = remaining <= 0 or not self._read(min(remaining, 1.0))
            if ended and not regex.search(self.output, self.seen):
                pytest.fail(f"no {pattern!r} on the terminal; it shows:\n{self.text}")

    def type(self, text: str) -> None:
        """Type ``text`` and press Enter."""
        os.write(self.fd, text.encode() + b"\r")

    def interrupt(self) -> None:
        """Press Ctrl-C (the terminal sends SIGINT to the foreground process group)."""
        os.write(self.fd, b"\x03")

    def wait(self, timeout: float = TIMEOUT_S) -> int:
        """Wait for the program to end, reading its output. -> its exit code."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                pytest.fail(f"hub-cli did not end; the terminal shows:\n{self.text}")
            self._read(0.2)
        while self._read(0.2) and select.select([self.fd], [], [], 0)[0]:
            pass
        return self.returncode

    def close(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.returncode = -9
        os.close(self.fd)


@pytest.fixture
def terminal_of(cli: Cli, sim_light: SimLightProcess) -> Iterator[list[Terminal]]:
    terminals: list[Terminal] = []
    yield terminals
    for terminal in terminals:
        terminal.close()


def start_provision(cli: Cli, sim: SimLightProcess, terminals: list[Terminal]) -> Terminal:
    argv = [str(BIN / "hub-cli"), "provision", "--world-state", str(sim.world_state),
            "--interface", "127.0.0.1", "--lan-timeout", "12"]  # fmt: skip
    terminal = Terminal(argv, {**cli.env, "TERM": "dumb"})
    terminals.append(terminal)
    return terminal


def test_interactive_provision_with_mistakes(
    cli: Cli, sim_light: SimLightProcess, terminal_of: list[Terminal], tmp_path: Path
) -> None:
    term = start_provision(cli, sim_light, terminal_of)
    light_ap = f"HubLight-{sim_light.device_id.removeprefix('hublight-').upper()}"

    # 1. the light: a numbered choice
    shown = term.expect(r"Which light.*: ")
    number = re.search(rf"(\d+)\. {light_ap}", shown)
    assert number, shown
    term.type(number.group(1))
    term.expect(r"Scan again.*: ")
    term.type("")

    # 2. a wrong setup code: said in words with the next step, and asked again
    term.expect(r"Setup code.*: ")
    term.type("AAAA-AAAA")
    shown = term.expect(r"Setup code.*: ")
    assert f"That setup code is not the one of this light ({sim_light.device_id})" in shown
    assert "type its code again" in shown
    assert "AAAA-AAAA" not in term.text  # not echoed
    term.type(sim_light.setup_code.lower())  # as read off the label, any case

    # 3. name and room
    term.expect(r"Name \[.*\].*: ")
    term.type("Desk lamp")
    term.expect(r"Room.*: ")
    term.type("Office")

    # 4. the home network, a wrong password first
    shown = term.expect(r"Wi-Fi network.*: ")
    number = re.search(r"(\d+)\. HomeNet\b", shown)
    assert number, shown
    term.type(number.group(1))
    term.expect(r"Wi-Fi password.*: ")
    term.type(WRONG_WIFI_PASSWORD)
    term.expect(r"Remember this Wi-Fi password.*: ")
    term.type("n")
    shown = term.expect(r"Wi-Fi network.*: ")
    assert "The light could not join HomeNet: the password is wrong." in shown
    assert "no reset is needed" in shown
    after_wrong_password = term.seen
    term.type("")  # HomeNet is preselected now
    term.expect(r"Wi-Fi password.*: ")
    term.type(WIFI_PASSWORD)
    term.expect(r"Remember this Wi-Fi password.*: ")
    term.type("")

    term.expect(r"Set up Desk lamp \(" + sim_light.device_id)
    assert term.wait() == 0, term.text

    transcript = term.text
    for secret in (WIFI_PASSWORD, WRONG_WIFI_PASSWORD, sim_light.setup_code,
                   sim_light.setup_code.lower()):  # fmt: skip
        assert secret not in transcript
    assert "Traceback" not in transcript
    # the same light all along, still set up: neither the light nor its code is asked again
    rest = term.output[after_wrong_password:].decode(errors="replace")
    assert "Which light" not in rest and "Setup code" not in rest, rest
    assert paired_ids(cli.data_dir) == [sim_light.device_id]

    listing = cli("list", "--json")
    assert listing.returncode == 0, listing.stderr
    (light,) = listing.json()["lights"]
    assert (light["device_id"], light["name"], light["room"]) == (
        sim_light.device_id, "Desk lamp", "Office")  # fmt: skip
    status = cli("rpc", "Desk lamp", "Light.GetStatus", "--json")
    assert status.returncode == 0, status.stderr
    assert "on" in status.json()["result"]


def test_ctrl_c_at_a_prompt_cancels_cleanly(
    cli: Cli, sim_light: SimLightProcess, terminal_of: list[Terminal]
) -> None:
    term = start_provision(cli, sim_light, terminal_of)
    term.expect(r"Which light.*: ")
    term.type("1")
    term.expect(r"Scan again.*: ")
    term.type("")
    term.expect(r"Setup code.*: ")  # a password prompt: the terminal does not echo
    assert not termios.tcgetattr(term.fd)[3] & termios.ECHO  # echo is off while it waits
    term.interrupt()
    assert term.wait() == 130, term.text
    after = term.text[term.text.index("Setup code") :]
    assert "Traceback" not in term.text
    assert "Set-up was cancelled." in after and "Your PC is back on its own network" in after
    assert termios.tcgetattr(term.fd)[3] & termios.ECHO, "the terminal was left without echo"
    assert paired_ids(cli.data_dir) == []
