"""Desktop integration files of hub-app: the icon set rendered from the SVG, the .desktop entry
and the AppStream metainfo, laid out as a `share/` tree (freedesktop icon theme paths).

    python packaging/desktop_files.py install-into DIR   # DIR/share/{applications,metainfo,icons}
    python packaging/desktop_files.py render DIR          # DIR/<size>.png only
    python packaging/desktop_files.py ico FILE.ico        # Windows icon (256 px)
    python packaging/desktop_files.py icns FILE.icns      # macOS icon (512 px)

Icons are rendered offscreen with Qt's QSvgRenderer (PySide6-Essentials ships QtSvg).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

APP_ID = "io.homehub.HomeHub"
HERE = Path(__file__).resolve().parent
SVG = HERE / "icons" / f"{APP_ID}.svg"
DESKTOP = HERE / "linux" / f"{APP_ID}.desktop"
METAINFO = HERE / "linux" / f"{APP_ID}.metainfo.xml"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render_icons(directory: Path, sizes: tuple[int, ...] = ICON_SIZES) -> dict[int, Path]:
    """Render the SVG to `<directory>/<size>.png` for every size; returns size -> path."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer
    from PySide6.QtWidgets import QApplication

    # A QApplication, not a QGuiApplication: the process (a test run) may show widgets later,
    # and Qt aborts on a widget created under a mere QGuiApplication.
    _app = QApplication.instance() or QApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise RuntimeError(f"{SVG} is not a valid SVG")
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[int, Path] = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = directory / f"{size}.png"
        if not image.save(str(path), "PNG"):
            raise RuntimeError(f"could not write {path}")
        written[size] = path
    return written


def install_into(prefix: Path) -> list[Path]:
    """Write `prefix/share/...`: desktop entry, metainfo, scalable and PNG icons."""
    share = prefix / "share"
    placed: list[Path] = []

    def place(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        placed.append(target)

    place(DESKTOP, share / "applications" / DESKTOP.name)
    place(METAINFO, share / "metainfo" / METAINFO.name)
    icons = share / "icons" / "hicolor"
    place(SVG, icons / "scalable" / "apps" / SVG.name)
    rendered = render_icons(prefix / ".icon-render")
    for size, path in rendered.items():
        place(path, icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png")
    shutil.rmtree(prefix / ".icon-render")
    return placed


def write_icon_file(target: Path, size: int) -> Path:
    """One icon file in the format of its suffix (.ico, .icns: Qt's image format plugins)."""
    rendered = render_icons(target.parent / ".icon-render", (size,))[size]
    from PySide6.QtGui import QImage

    image = QImage(str(rendered))
    fmt = target.suffix.lstrip(".").upper()
    if not image.save(str(target), fmt):
        raise RuntimeError(f"Qt could not write {target} ({fmt})")
    shutil.rmtree(rendered.parent)
    return target


def main(argv: list[str]) -> int:
    """Command line: `install-into DIR`, `render DIR`, `ico FILE`, `icns FILE`."""
    if len(argv) != 3 or argv[1] not in ("install-into", "render", "ico", "icns"):
        print(__doc__, file=sys.stderr)
        return 2
    target = Path(argv[2])
    if argv[1] in ("ico", "icns"):
        print(write_icon_file(target, 256 if argv[1] == "ico" else 512))
    elif argv[1] == "render":
        for path in render_icons(target).values():
            print(path)
    else:
        for path in install_into(target):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
