"""Type-check the ESP32 hardware layer against the MicroPython stubs.

    .venv/bin/python scripts/check_esp32_types.py

Checks firmware/hublight/esp32.py and firmware/main.py with mypy, using micropython-esp32-stubs
(installed by ./dev into .cache/mpstubs) as the standard library: ``--custom-typeshed-dir``
points at the stubs' typeshed (``stdlib/``), and the port modules (``machine``, ``network``,
``esp32``, ``neopixel``...) come first on the module path. Exits non-zero on a type error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUBS = ROOT / ".cache" / "mpstubs"
TARGETS = ["firmware/hublight/esp32.py", "firmware/main.py"]


def install_stubs() -> None:
    """Install micropython-esp32-stubs into .cache/mpstubs (what ./dev does)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(STUBS), "--upgrade",
         "micropython-esp32-stubs"],
        check=True,
    )


def stub_config() -> str:
    """mypy settings: errors inside the stubs themselves are not ours to fix."""
    modules = sorted({p.stem for p in STUBS.glob("*.pyi")} | {"_mpy_shed", "_mpy_shed.*"})
    return "[mypy]\n\n[mypy-" + ",".join(modules) + "]\nignore_errors = True\n"


def main() -> int:
    if not (STUBS / "stdlib" / "VERSIONS").exists() or not (STUBS / "machine.pyi").exists():
        print("installing micropython-esp32-stubs into", STUBS.relative_to(ROOT))
        install_stubs()
    config = ROOT / ".cache" / "mypy-esp32.ini"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(stub_config())
    env = dict(os.environ)
    env["MYPYPATH"] = os.pathsep.join([str(STUBS), str(ROOT / "firmware")])
    command = [
        sys.executable, "-m", "mypy",
        "--config-file", str(config),  # not the CPython settings of pyproject.toml
        "--custom-typeshed-dir", str(STUBS),
        "--no-site-packages",
        "--python-version", "3.11",
        "--follow-imports", "silent",  # the rest of hublight is checked by the main mypy run
        "--check-untyped-defs",
        "--disallow-untyped-defs",
        "--warn-unused-ignores",
        "--no-error-summary",
        "--cache-dir", str(ROOT / ".cache" / "mypy-esp32"),
        *TARGETS,
    ]
    proc = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if proc.returncode == 0:
        print(f"esp32 types: {', '.join(TARGETS)} OK against micropython-esp32-stubs")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
