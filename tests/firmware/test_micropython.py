"""Run the firmware logic cases under the MicroPython WebAssembly port (node)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from firmware_check import MPWASM, run_micropython_cases  # noqa: E402

pytestmark = pytest.mark.micropython


@pytest.mark.skipif(shutil.which("node") is None or not MPWASM.exists(),
                    reason="node or the MicroPython WebAssembly port is missing (./dev setup)")
def test_cases_pass_under_micropython() -> None:
    proc: subprocess.CompletedProcess[str] = run_micropython_cases(timeout_s=600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    summary = [line for line in lines if line.get("summary")]
    failures = [line for line in lines if not line.get("summary") and not line["ok"]]
    assert summary, "runner printed no summary:\n" + proc.stdout[-4000:] + proc.stderr[-4000:]
    assert not failures, json.dumps(failures, indent=1)[:8000]
    assert summary[0]["total"] >= 85
    # the whole LightApp on WasmBoard runs too, not only the logic modules
    assert sum(1 for line in lines if line.get("module") == "cases_app") >= 15
    assert proc.returncode == 0
