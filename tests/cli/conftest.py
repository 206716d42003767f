"""Fixtures for hub-cli tests: run the real console script, and a simulated light."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import BIN, HERE, Cli, SimLightProcess


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    data_dir = tmp_path / "data"
    keyring_file = tmp_path / "test-keyring.json"
    env = dict(os.environ)
    env.update(
        HOME_HUB_DATA_DIR=str(data_dir),
        PYTHON_KEYRING_BACKEND="cli_keyring.SubprocessTestKeyring",
        HUB_TEST_KEYRING_FILE=str(keyring_file),
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    monkeypatch.setenv("HOME_HUB_DATA_DIR", str(data_dir))
    return Cli(data_dir, keyring_file, env)


@pytest.fixture
def sim_light(tmp_path: Path) -> Iterator[SimLightProcess]:
    """One simulated light (the real firmware) on a loopback access point."""
    command = [
        str(BIN / "hub-light-sim"),
        "--count", "1", "--json", "--join-delay", "0", "--reboot-delay", "0",
        "--flash-dir", str(tmp_path / "sim-flash"), "--world-state", str(tmp_path / "world.json"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    started: dict[str, Any] | None = None
    for line in process.stdout:
        event = json.loads(line)
        if event.get("event") == "started":
            started = event
            break
    if started is None:
        process.kill()
        pytest.fail(
            f"hub-light-sim did not start: {process.stderr.read() if process.stderr else ''}"
        )
    url = started["ap_rpc_url"].removeprefix("http://").removesuffix("/rpc")
    host, port = url.rsplit(":", 1)
    light = SimLightProcess(
        process, started["id"], started["setup_code"], host, int(port), tmp_path / "world.json"
    )
    yield light
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
