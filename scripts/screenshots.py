"""Render the main screens offscreen (demo mode) into docs/screenshots/*.png.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QWidget

from hub_app.hub import Hub


def save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path}")


async def wait_until(predicate: object, timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def render(out: Path) -> None:
    from hub_app.ui.main_window import MainWindow
    from hub_app.ui.settings_dialog import SettingsDialog

    hub = Hub.create_demo(lights=4, paired=3, run_scheduler=False)
    window = MainWindow(hub, show_error_dialogs=False)
    window.resize(1100, 680)
    window.show()
    try:
        await hub.start()
        demo = hub.demo
        assert demo is not None
        await wait_until(lambda: demo.ready, 120)
        await wait_until(lambda: all(v.online for v in hub.lights) and len(hub.inbox) > 0, 60)
        window.select_light(hub.lights[0].device_id)
        await asyncio.sleep(0.3)
        save(window, out / "main-window.png")
        save(window.tabs, out / "control-panel.png")
        window.tabs.setCurrentWidget(window.rooms_panel)
        await hub.save_scene("Movie night")
        await asyncio.sleep(0.2)
        save(window.tabs, out / "rooms-and-scenes.png")
        window.tabs.setCurrentIndex(0)
        dialog = SettingsDialog(hub, window.run_task, window)
        dialog.show()
        await asyncio.sleep(0.3)
        save(dialog, out / "settings.png")
        dialog.close()
        try:
            from hub_app.ui.wizard import AddLightWizard
        except ImportError:
            print("wizard not available yet: no screenshot")
        else:
            wizard = AddLightWizard(hub, None)
            wizard.show()
            await asyncio.sleep(2.0)
            save(wizard, out / "add-light-wizard.png")
            wizard.reject()
        try:
            from hub_app.ui.diagnostics import DiagnosticsWindow
        except ImportError:
            print("diagnostics not available yet: no screenshot")
        else:
            diagnostics = DiagnosticsWindow(hub, hub.lights[0].device_id)
            diagnostics.show()
            await asyncio.sleep(2.0)
            save(diagnostics, out / "diagnostics.png")
            diagnostics.close()
    finally:
        window.shutdown()
        await hub.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    QCoreApplication.setOrganizationName("home-hub-screenshots")
    app = QApplication.instance() or QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    with loop:
        loop.run_until_complete(render(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
