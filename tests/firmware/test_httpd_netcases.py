"""Runs the framework-neutral network cases (tests/micropython/cases_net_*.py: HTTP parsing,
WebSocket codec, MQTT packets, DNS messages) under CPython and under the MicroPython WebAssembly
port."""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "micropython"
MODULES = ["cases_net_http", "cases_net_ws", "cases_net_mqtt", "cases_net_dns"]
MICROPYTHON_MJS = (ROOT / ".cache" / "mpwasm" / "node_modules" / "@micropython" /
                   "micropython-webassembly-pyscript" / "micropython.mjs")


def _cases() -> list[tuple[str, str]]:
    found = []
    for module in MODULES:
        source = (CASES_DIR / f"{module}.py").read_text()
        for line in source.splitlines():
            if line.startswith("def test_"):
                found.append((module, line[4:line.index("(")]))
    return found


@pytest.mark.parametrize(("module", "test"), _cases())
def test_case_under_cpython(module: str, test: str) -> None:
    if str(CASES_DIR) not in sys.path:
        sys.path.insert(0, str(CASES_DIR))
    function: Callable[[], Any] = getattr(importlib.import_module(module), test)
    assert not inspect.iscoroutinefunction(function)
    function()


@pytest.mark.micropython
def test_cases_under_micropython() -> None:
    node = shutil.which("node")
    if node is None or not MICROPYTHON_MJS.exists():
        pytest.skip("node or the MicroPython WebAssembly port is not installed")
    result = subprocess.run(
        [node, str(CASES_DIR / "run.mjs"), str(MICROPYTHON_MJS),
         str(ROOT / "firmware" / "hublight"), *MODULES],
        capture_output=True, text=True, timeout=600, check=False)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failures = [line for line in lines if line.get("ok") is False]
    summary = [line for line in lines if line.get("summary")]
    assert summary, result.stdout + result.stderr
    assert summary[0]["total"] == len(_cases())
    assert not failures, json.dumps(failures, indent=1)
    assert result.returncode == 0
