"""Start the desktop app: QApplication, the qasync loop, the Hub and the main window."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

import qasync
from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from hub_app.hub import Hub

_log = logging.getLogger(__name__)

#: set by hub-app at process start (bench/ui.py reads the "window shown" line)
PROCESS_START = time.monotonic()


def run(*, demo: bool, lights: int, quit_after: float | None = None) -> int:
    """Run the app until the window closes (or ``quit_after`` seconds, for smoke tests)."""
    QCoreApplication.setOrganizationName("home-hub")
    QCoreApplication.setApplicationName("Home Hub")
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)  # the loop ends when the window's task does
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    hub = Hub.create_demo(lights=lights, paired=min(2, lights)) if demo else Hub()
    with loop:
        return int(loop.run_until_complete(_main(app, hub, quit_after)))


async def _main(app: QApplication, hub: Hub, quit_after: float | None) -> int:
    from hub_app.ui.main_window import MainWindow

    window = MainWindow(hub)
    window.show()
    print(f"window shown after {time.monotonic() - PROCESS_START:.3f} s", flush=True)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    if quit_after is not None:
        QTimer.singleShot(int(quit_after * 1000), window.close)
    try:
        await hub.start()
        print(f"hub started after {time.monotonic() - PROCESS_START:.3f} s", flush=True)
        await closed.wait()
    finally:
        window.shutdown()
        print(f"lights shown: {len(hub.lights)}", flush=True)
        await hub.stop()
    return 0
