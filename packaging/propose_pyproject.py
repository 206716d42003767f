"""Apply the tester kit's proposed pyproject lines (pytest11 entry point, `testing` extra) to a
copy of pyproject.toml: `python packaging/propose_pyproject.py COPY/pyproject.toml`.

Used by check_tester_kit.sh until the lead has merged these lines into the real pyproject.toml.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

TESTING_EXTRA = (
    'testing = ["PySide6-Essentials>=6.6", "qasync>=0.27", "pytest>=8", '
    '"pytest-asyncio>=0.23", "pytest-qt>=4.4"]\n'
)
ENTRY_POINT = '\n[project.entry-points.pytest11]\nhome_hub = "hub_app.testing.plugin"\n'


def apply(text: str) -> str:
    """The pyproject text with the entry point and the `testing` extra (each only if missing)."""
    data = tomllib.loads(text)
    project = data["project"]
    if "testing" not in project.get("optional-dependencies", {}):
        marker = "[project.optional-dependencies]\n"
        if marker not in text:
            raise SystemExit("no [project.optional-dependencies] table to extend")
        text = text.replace(marker, marker + TESTING_EXTRA, 1)
    if "pytest11" not in project.get("entry-points", {}):
        text = text.rstrip("\n") + "\n" + ENTRY_POINT
    tomllib.loads(text)  # still valid TOML
    return text


def main(argv: list[str]) -> int:
    """Rewrite the given pyproject.toml in place."""
    path = Path(argv[1])
    path.write_text(apply(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
