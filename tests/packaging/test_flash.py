"""`hub-cli flash`: the exact commands it runs (through the CommandRunner seam), the setup code
it keeps or makes, and its refusals."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import pytest

from hub_app.cli.flash import (
    CommandResult,
    Flasher,
    FlashError,
    FlashOptions,
    Tools,
    cmd_flash,
    default_firmware_dir,
)
from hub_app.cli.main import build_parser, main
from hub_app.cli.output import Output
from hub_app.provisioning.setup_code import normalize_setup_code

MP = "/opt/bin/mpremote"
ESP = "/opt/bin/esptool.py"
TOOLS = Tools(mpremote=[MP], esptool=[ESP])
PORT = "/dev/ttyUSB7"
FIRMWARE = default_firmware_dir()


class RecordingRunner:
    """The seam's test side: records argv lists, answers `fs cat` with `factory_json`, keeps a
    copy of every local file sent to the board (it is gone after the run), fails on demand."""

    def __init__(self, factory_json: str | None = None, fail_on: str | None = None) -> None:
        self.factory_json = factory_json
        self.fail_on = fail_on
        self.commands: list[list[str]] = []
        self.sent: dict[str, str] = {}

    def run(self, argv: list[str], *, capture: bool = False) -> CommandResult:
        self.commands.append(list(argv))
        if argv[-1] == ":factory.json" and argv[-4:-2] == ["fs", "cp"]:
            self.sent["factory.json"] = Path(argv[-2]).read_text()
        if argv[-3:-2] == ["-r"]:
            package = Path(argv[-2])
            self.sent["hublight"] = " ".join(sorted(p.name for p in package.iterdir()))
        if self.fail_on is not None and self.fail_on in argv:
            return CommandResult(2)
        if capture:
            if self.factory_json is None:
                return CommandResult(1)
            return CommandResult(0, self.factory_json)
        return CommandResult(0)


def flash(tmp_path: Path, runner: RecordingRunner, **options: object) -> str:
    flasher = Flasher(
        FlashOptions(port=PORT, firmware_dir=FIRMWARE, **options),  # type: ignore[arg-type]
        runner, TOOLS, tmp_path / "staging", lambda _line: None,
    )
    return flasher.run()


pytestmark = pytest.mark.skipif(FIRMWARE is None, reason="needs the repository's firmware/")


def test_full_sequence_with_erase_and_micropython(tmp_path: Path) -> None:
    assert FIRMWARE is not None
    runner = RecordingRunner(factory_json=None)
    image = tmp_path / "ESP32_GENERIC-v1.24.1.bin"
    code = flash(tmp_path, runner, erase=True, micropython_firmware=image,
                 setup_code="abcd-2345")
    staging = tmp_path / "staging"
    assert runner.commands == [
        [MP, "connect", PORT, "fs", "cat", ":factory.json"],
        [ESP, "--chip", "esp32", "--port", PORT, "erase_flash"],
        [ESP, "--chip", "esp32", "--port", PORT, "--baud", "460800", "write_flash", "-z",
         "0x1000", str(image)],
        [MP, "connect", PORT, "fs", "rm", "-r", ":hublight"],
        [MP, "connect", PORT, "fs", "cp", "-r", str(staging / "hublight"), ":"],
        [MP, "connect", PORT, "fs", "cp", str(FIRMWARE / "boot.py"), ":boot.py"],
        [MP, "connect", PORT, "fs", "cp", str(FIRMWARE / "main.py"), ":main.py"],
        [MP, "connect", PORT, "fs", "cp", str(staging / "factory.json"), ":factory.json"],
        [MP, "connect", PORT, "reset"],
    ]
    assert code == "ABCD2345"
    assert json.loads(runner.sent["factory.json"]) == {"setup_code": "ABCD2345", "model": "HL-S1"}
    # the package copy is clean: every firmware module precompiled, no caches, no simulator
    shipped = runner.sent["hublight"].split()
    assert "app.mpy" in shipped and "esp32.mpy" in shipped
    assert all(name.endswith(".mpy") for name in shipped)
    modules = (FIRMWARE / "hublight").glob("*.py")
    assert sorted(shipped) == sorted(p.stem + ".mpy" for p in modules)


def test_update_keeps_the_boards_setup_code(tmp_path: Path) -> None:
    runner = RecordingRunner(factory_json='{"setup_code": "WXYZ6789", "model": "HL-S1"}\n')
    code = flash(tmp_path, runner)
    assert code == "WXYZ6789"
    assert json.loads(runner.sent["factory.json"])["setup_code"] == "WXYZ6789"
    tools_used = {argv[0] for argv in runner.commands}
    assert tools_used == {MP}  # no esptool without --erase / --micropython-firmware


def test_erase_still_keeps_the_code_read_before_it(tmp_path: Path) -> None:
    runner = RecordingRunner(factory_json='{"setup_code": "WXYZ6789"}')
    assert flash(tmp_path, runner, erase=True) == "WXYZ6789"
    assert runner.commands[0][-2:] == ["cat", ":factory.json"]
    assert runner.commands[1][-1] == "erase_flash"


def test_new_board_gets_a_new_valid_code(tmp_path: Path) -> None:
    first = flash(tmp_path / "a", RecordingRunner(factory_json=None))
    second = flash(tmp_path / "b", RecordingRunner(factory_json="not json"))
    assert normalize_setup_code(first) == first and normalize_setup_code(second) == second
    assert first != second


def test_a_failing_step_stops_the_sequence(tmp_path: Path) -> None:
    runner = RecordingRunner(fail_on="erase_flash")
    with pytest.raises(FlashError, match="erase the whole flash failed"):
        flash(tmp_path, runner, erase=True)
    assert runner.commands[-1][-1] == "erase_flash"
    assert not any("reset" in argv for argv in runner.commands)


def test_refuses_without_mpremote_before_running_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = RecordingRunner()
    args = build_parser().parse_args(["flash", "--port", PORT])
    code = pytest.importorskip("asyncio").run(
        cmd_flash(args, Output(False), runner=runner, tools=Tools(None, [ESP]))
    )
    assert code == 1 and runner.commands == []
    assert "mpremote is not installed: `pip install mpremote`" in capsys.readouterr().err


def test_refuses_without_esptool_when_erasing(tmp_path: Path) -> None:
    flasher = Flasher(FlashOptions(port=PORT, erase=True, firmware_dir=FIRMWARE),
                      RecordingRunner(), Tools([MP], None), tmp_path, lambda _line: None)
    with pytest.raises(FlashError, match="esptool is not installed"):
        flasher.run()


def test_rejects_a_malformed_setup_code(tmp_path: Path) -> None:
    with pytest.raises(FlashError, match="--setup-code"):
        flash(tmp_path, RecordingRunner(), setup_code="IOIO1111")


def test_dry_run_prints_the_commands_and_runs_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_subprocess(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("dry run started a process")

    monkeypatch.setattr("subprocess.run", no_subprocess)
    monkeypatch.setattr("subprocess.Popen", no_subprocess)
    assert main(["flash", "--dry-run", "--erase", "--port", PORT, "--setup-code", "ABCD2345"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    words = [shlex.split(line) for line in printed]
    assert [argv[-1] for argv in words] == [
        ":factory.json", "erase_flash", ":hublight", ":", ":boot.py", ":main.py",
        ":factory.json", "reset",
    ]
    assert all(PORT in argv for argv in words)
    assert "ABCD2345" not in "\n".join(printed)  # the code is in a file, never on a command line


def test_flash_is_a_hub_cli_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["flash", "--micropython-firmware", "mp.bin", "--erase"])
    assert isinstance(args, argparse.Namespace) and args.handler is cmd_flash
    assert args.micropython_firmware == Path("mp.bin") and args.port == "/dev/ttyUSB0"
