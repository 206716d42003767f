"""The main window. A plain window until the desktop-app issue builds the real one."""

from __future__ import annotations

import asyncio
import sys

import qasync
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Home Hub")
        label = QLabel("Home Hub")
        label.setAccessibleName("Home Hub")
        self.setCentralWidget(label)
        self.resize(900, 600)


def run(*, demo: bool, lights: int) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow()
    window.show()
    with loop:
        loop.run_until_complete(_wait_closed(app))
    return 0


async def _wait_closed(app: QApplication) -> None:
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    await closed.wait()
