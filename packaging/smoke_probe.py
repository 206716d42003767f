"""The smoke probe inside the bundled app: when did the main window show, did the demo's lights
appear, then close the window so the app exits through its normal path.

`install(report_path, quit_after_s)` creates the QApplication (the app reuses it) and a timer
that every 50 ms looks at the top-level windows and the hub behind the main window (any
attribute of the window that is a `hub_app.hub.Hub`). The JSON report is rewritten on every
change: `window_shown_at` (Unix time), `window_title`, `hub_found`, `demo_lights` (simulated
lights), `demo_paired`, `lights_listed` / `lights_online` (the hub's light list),
`inbox` (lights waiting to be set up), `lights_appeared_at`, `closed_by` ("probe" after the
lights appeared, "deadline" after `quit_after_s` without them).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

GRACE_S = 1.0  # keep the window up a moment after the lights appeared (repaints, late errors)


def _find_hub(window: Any) -> Any:
    for value in vars(window).values():
        if type(value).__name__ == "Hub" and hasattr(value, "lights"):
            return value
    return None


def install(report_path: str, quit_after_s: float) -> None:
    """Start watching (call before hub_app.app.main)."""
    import sys

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    started = time.monotonic()
    report: dict[str, Any] = {"pid": os.getpid(), "probe_started_at": time.time()}

    def write() -> None:
        temporary = report_path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(report, handle)
        os.replace(temporary, report_path)

    def windows() -> list[Any]:
        return [w for w in app.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]

    def close(reason: str) -> None:
        report["closed_by"] = reason
        write()
        timer.stop()
        for window in windows():
            window.close()

    def tick() -> None:
        before = dict(report)
        shown = windows()
        if shown and "window_shown_at" not in report:
            report["window_shown_at"] = time.time()
            report["window_title"] = shown[0].windowTitle()
        hub = _find_hub(shown[0]) if shown else None
        report["hub_found"] = hub is not None
        if hub is not None:
            demo = getattr(hub, "demo", None)
            if demo is not None:
                report["demo_lights"] = len(demo.simulator.lights)
                report["demo_paired"] = demo.paired
            report["lights_listed"] = len(hub.lights)
            report["lights_online"] = sum(1 for view in hub.lights if view.online)
            report["inbox"] = len(hub.inbox)
            paired = report.get("demo_paired", 1)
            if (
                "lights_appeared_at" not in report
                and report["lights_online"] >= paired
                and report["lights_listed"] + report["inbox"] >= report.get("demo_lights", 1)
            ):
                report["lights_appeared_at"] = time.time()
        if report != before:
            write()
        appeared = report.get("lights_appeared_at")
        if appeared is not None and time.time() - appeared >= GRACE_S:
            close("probe")
        elif time.monotonic() - started > quit_after_s:
            close("deadline")

    timer = QTimer(app)
    timer.setInterval(50)
    timer.timeout.connect(tick)
    timer.start()
    write()
