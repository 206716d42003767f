"""The Windows and macOS specs cannot be built here (PyInstaller does not cross-compile): check
what can be checked on Linux, so they do not rot silently."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))

import bundle_common  # noqa: E402


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_every_spec_is_valid_python_and_uses_the_common_entry() -> None:
    for spec in ("hub-app.spec", "windows/hub-app.spec", "macos/hub-app.spec"):
        text = (PACKAGING / spec).read_text()
        _parse(PACKAGING / spec)
        assert "hub_app_entry.py" in text and "hidden_imports(collect_submodules)" in text, spec


def test_macos_info_plist_declares_local_network_and_bonjour_services() -> None:
    tree = _parse(PACKAGING / "macos" / "hub-app.spec")
    plist = None
    names: dict[str, object] = {}
    for node in tree.body:  # the spec's constants (VERSION, ...)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            names.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "info_plist":
            plist = eval(compile(ast.Expression(node.value), "info_plist", "eval"), {}, names)
    assert plist is not None
    assert plist["NSBonjourServices"] == ["_hublight._tcp", "_http._tcp", "_shelly._tcp"]
    assert plist["NSLocalNetworkUsageDescription"].strip()
    assert plist["CFBundleShortVersionString"] == _project_version()


def test_inno_setup_script_installs_the_pyinstaller_folder() -> None:
    text = (PACKAGING / "windows" / "installer.iss").read_text()
    assert re.search(r'^Source: "\{#Root\}\\dist\\hub-app\\\*"', text, re.M)
    assert re.search(r"^AppId=\{\{[0-9A-F-]{36}\}$", text, re.M)
    assert f'#define AppVersion "{_project_version()}"' in text


#: import names of distributions whose import name differs from their name
_IMPORT_NAMES = {"paho-mqtt": "paho", "pyside6-essentials": "PySide6"}


def _runtime_imports() -> set[str]:
    """Top-level import names of the project's runtime and UI dependencies (pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["ui"]]
    names = set()
    for requirement in requirements:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()
        names.add(_IMPORT_NAMES.get(name, name.replace("-", "_")))
    return names


def test_common_exclusions_keep_what_the_app_imports() -> None:
    kept = {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg"}
    assert not kept & set(bundle_common.EXCLUDES)
    dependencies = _runtime_imports()
    assert {"cryptography", "aiohttp", "paho", "PySide6"} <= dependencies
    excluded_roots = {name.split(".")[0] for name in bundle_common.EXCLUDES if "." not in name}
    assert not dependencies & excluded_roots, "a runtime dependency is left out of the bundle"
    assert bundle_common.keep_binary("PySide6/Qt/plugins/platforms/libqxcb.so")
    assert bundle_common.keep_binary("PySide6/Qt/plugins/platforms/libqoffscreen.so")
    assert bundle_common.keep_binary("PySide6/Qt/plugins/platforms/libqwayland.so")
    assert not bundle_common.keep_binary("PySide6/Qt/lib/libQt6Quick.so.6")


def _project_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match is not None
    return match.group(1)
