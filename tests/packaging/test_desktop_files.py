"""Desktop integration: AppStream metainfo validated by appstreamcli, the .desktop entry's keys,
the icon set rendered from the SVG."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))

import desktop_files  # noqa: E402

APPSTREAMCLI = shutil.which("appstreamcli")


@pytest.mark.skipif(
    APPSTREAMCLI is None, reason="appstreamcli missing (Debian: apt install appstream)"
)
def test_metainfo_passes_appstreamcli_validate() -> None:
    assert APPSTREAMCLI is not None
    result = subprocess.run(
        [APPSTREAMCLI, "validate", "--no-net", "--pedantic", str(desktop_files.METAINFO)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "E:" not in result.stdout and "W:" not in result.stdout, result.stdout


def test_desktop_entry_launches_hub_app_with_the_icon() -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(desktop_files.DESKTOP)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == "Home Hub"
    assert entry["Exec"].split()[0] == "hub-app" and entry["TryExec"] == "hub-app"
    assert entry["Icon"] == desktop_files.APP_ID
    assert entry["Categories"].endswith(";") and entry["Terminal"] == "false"
    assert parser["Desktop Action demo"]["Exec"] == "hub-app --demo"
    metainfo = desktop_files.METAINFO.read_text()
    assert f"<launchable type=\"desktop-id\">{desktop_files.DESKTOP.name}</launchable>" in metainfo


def test_icon_set_rendered_at_every_size(tmp_path: Path) -> None:
    pytest.importorskip("PySide6.QtSvg")
    placed = desktop_files.install_into(tmp_path)
    share = tmp_path / "share"
    assert share / "applications" / desktop_files.DESKTOP.name in placed
    from PySide6.QtGui import QImage

    for size in desktop_files.ICON_SIZES:
        folder = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        path = folder / f"{desktop_files.APP_ID}.png"
        image = QImage(str(path))
        assert (image.width(), image.height()) == (size, size), path
        corner = image.pixelColor(0, 0).alpha()
        centre = image.pixelColor(size // 2, size // 2)
        assert corner < 64 and centre.alpha() == 255  # rounded transparent corner, solid middle
