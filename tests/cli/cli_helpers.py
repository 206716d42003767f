"""Helpers for hub-cli tests: run the real console script; a simulated light process."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = Path(sys.executable).parent


@dataclass
class CliRun:
    """A finished hub-cli process."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    """Runs ``hub-cli`` as a subprocess with a private data dir and a file-backed test keyring."""

    data_dir: Path
    keyring_file: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> CliRun:
        result = subprocess.run(
            [str(BIN / "hub-cli"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        return CliRun(result.returncode, result.stdout, result.stderr)

    def keyring(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self.keyring_file.read_text())
        except FileNotFoundError:
            return {}
        return data

    def set_keyring(self, data: dict[str, str]) -> None:
        self.keyring_file.write_text(json.dumps(data))


@dataclass
class SimLightProcess:
    """A ``hub-light-sim --count 1`` process and what its ``started`` event said."""

    process: subprocess.Popen[str]
    device_id: str
    setup_code: str
    ap_host: str
    ap_port: int
    world_state: Path

    @property
    def ap_address(self) -> str:
        return f"{self.ap_host}:{self.ap_port}"
