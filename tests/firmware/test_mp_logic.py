"""The framework-neutral firmware cases (tests/micropython/cases_*.py) run on CPython.

The same cases run under the MicroPython WebAssembly port in test_micropython.py.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CASES_DIR = Path(__file__).resolve().parent.parent / "micropython"
if str(CASES_DIR) not in sys.path:
    sys.path.insert(0, str(CASES_DIR))


def _collect() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("cases_*.py")):
        module = importlib.import_module(path.stem)
        for name in sorted(dir(module)):
            if name.startswith("test_"):
                params.append(pytest.param(getattr(module, name), id=f"{path.stem}.{name}"))
    return params


@pytest.mark.parametrize("case", _collect())
async def test_case(case: Callable[[], Any]) -> None:
    result = case()
    if inspect.isawaitable(result):
        await result
