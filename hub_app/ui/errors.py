"""Unexpected exceptions: logged, then shown as a plain message with "Copy details" (never a
traceback dialog). Installed for ``sys.excepthook`` and the asyncio loop's exception handler."""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

_log = logging.getLogger("hub_app.ui")


def tr(text: str) -> str:
    return QCoreApplication.translate("ErrorReporter", text)


class ErrorReporter:
    """Shows unexpected errors. ``dialogs`` lists the open message boxes (tests look at them)."""

    def __init__(self, parent: Callable[[], QWidget | None], *, show_dialogs: bool = True) -> None:
        self._parent = parent
        self.show_dialogs = show_dialogs
        self.dialogs: list[QMessageBox] = []
        self.reported: list[str] = []
        self._previous_hook: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._previous_hook = sys.excepthook
        sys.excepthook = self._excepthook
        if loop is not None:
            self._loop = loop
            loop.set_exception_handler(self._loop_handler)

    def uninstall(self) -> None:
        if self._previous_hook is not None and sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook
        if self._loop is not None and not self._loop.is_closed():
            self._loop.set_exception_handler(None)
        for dialog in self.dialogs:
            dialog.close()

    def _excepthook(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        details = "".join(traceback.format_exception(kind, error, tb))
        self.report(error, details)

    def _loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        message = str(context.get("message", ""))
        if isinstance(error, BaseException):
            details = "".join(traceback.format_exception(error)) + "\n" + message
        else:
            details = message
        self.report(error if isinstance(error, BaseException) else None, details)

    def report(self, error: BaseException | None, details: str) -> None:
        """Log ``details`` and show a short message with a "Copy details" button."""
        _log.error("unexpected error:\n%s", details)
        self.reported.append(details)
        if not self.show_dialogs or QApplication.instance() is None:
            return
        what = type(error).__name__ if error is not None else tr("an internal problem")
        box = QMessageBox(self._parent())
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(tr("Something went wrong"))
        box.setText(tr("Home Hub ran into a problem it did not expect (%1).").replace("%1", what))
        box.setInformativeText(
            tr(
                "Your lights are not affected. If it happens again, copy the details and "
                "send them to support."
            )
        )
        box.setAccessibleName(tr("Unexpected problem"))
        copy = box.addButton(tr("Copy details"), QMessageBox.ButtonRole.ActionRole)
        copy.setAccessibleName(tr("Copy the error details"))
        box.addButton(QMessageBox.StandardButton.Close)
        box.setProperty("details", details)

        def copy_details() -> None:
            clipboard = QApplication.clipboard()
            clipboard.setText(details)

        copy.clicked.connect(copy_details)
        box.finished.connect(lambda _=0: self.dialogs.remove(box) if box in self.dialogs else None)
        self.dialogs.append(box)
        box.open()
