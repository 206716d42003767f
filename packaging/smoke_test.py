"""Smoke test of the built app: start it offscreen in demo mode, check that its main window
shows, that the simulated lights appear in the hub, and that it exits cleanly with code 0.

    python packaging/smoke_test.py [--app dist/hub-app/hub-app] [--lights 3] [--timeout 180]
    python packaging/smoke_test.py --app "python packaging/hub_app_entry.py"   (unbundled)

The probe inside the app (smoke_probe.py, enabled by HUB_APP_SMOKE_REPORT) records the times
and closes the window once the lights are there. Prints the time from launch to the window
and to the lights (printed, never asserted). Exit code 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "dist" / "hub-app" / "hub-app"


def isolated_environment(home: Path, report: Path, quit_after_s: float) -> dict[str, str]:
    """The app's environment: offscreen Qt, the probe on, every user directory in `home`."""
    environment = dict(os.environ)
    environment.update(
        QT_QPA_PLATFORM="offscreen",
        HUB_APP_SMOKE_REPORT=str(report),
        HUB_APP_SMOKE_QUIT_AFTER=str(quit_after_s),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_RUNTIME_DIR=str(home / "runtime"),
    )
    (home / "runtime").mkdir(mode=0o700, parents=True, exist_ok=True)
    return environment


def supports_option(command: list[str], option: str, environment: dict[str, str]) -> bool:
    """Whether `command --help` lists `option`."""
    result = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=120, env=environment
    )
    return option in result.stdout


def check_report(report: dict[str, Any], returncode: int, stderr: str, lights: int) -> list[str]:
    """The failed checks, in words (empty: all passed)."""
    problems: list[str] = []
    if returncode != 0:
        problems.append(f"the app exited with code {returncode}")
    if "window_shown_at" not in report:
        problems.append("the main window never showed")
    if not report.get("hub_found"):
        problems.append("no Hub found on the main window (the probe looks for a Hub attribute)")
    elif report.get("demo_lights") != lights:
        problems.append(f"the demo has {report.get('demo_lights')} lights, expected {lights}")
    if "lights_appeared_at" not in report:
        problems.append(
            f"the simulated lights did not appear (listed {report.get('lights_listed')}, "
            f"online {report.get('lights_online')}, inbox {report.get('inbox')})"
        )
    if report.get("closed_by") != "probe":
        closed_by = report.get("closed_by")
        problems.append(f"the window was closed by {closed_by!r}, not after the lights")
    if "Traceback (most recent call last)" in stderr:
        problems.append("the app printed a traceback")
    return problems


def run(app: list[str], lights: int, timeout_s: float) -> int:
    """Start the app once, check it, print the figures; returns the exit code for CI."""
    with tempfile.TemporaryDirectory(prefix="hub-app-smoke-") as temporary:
        home = Path(temporary)
        report_path = home / "smoke-report.json"
        environment = isolated_environment(home, report_path, quit_after_s=timeout_s * 0.8)
        command = [*app, "--demo", "--lights", str(lights)]
        if supports_option(app, "--quit-after", environment):
            command += ["--quit-after", str(int(timeout_s * 0.9))]  # the app's own backstop
        print("smoke test:", shlex.join(command), flush=True)
        launched = time.time()
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            print(f"FAIL: the app did not exit within {timeout_s:g} s", file=sys.stderr)
            print(stderr[-3000:], file=sys.stderr)
            return 1
        finished = time.time()
        try:
            report = json.loads(report_path.read_text())
        except (OSError, ValueError):
            report = {}
        problems = check_report(report, process.returncode, stderr, lights)
        if "window_shown_at" in report:
            print(f"time to window: {report['window_shown_at'] - launched:.2f} s")
        if "lights_appeared_at" in report:
            print(f"time to lights: {report['lights_appeared_at'] - launched:.2f} s")
        print(f"total run: {finished - launched:.2f} s, exit code {process.returncode}")
        print("report:", json.dumps(report, sort_keys=True))
        if problems:
            for problem in problems:
                print("FAIL:", problem, file=sys.stderr)
            print("--- app stdout (end) ---\n" + stdout[-2000:], file=sys.stderr)
            print("--- app stderr (end) ---\n" + stderr[-4000:], file=sys.stderr)
            return 1
        print("smoke test passed: window shown, simulated lights appeared, clean exit")
        return 0


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default=str(DEFAULT_APP), help="command that starts hub-app")
    parser.add_argument("--lights", type=int, default=3, help="simulated lights (demo)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for the whole run")
    args = parser.parse_args(argv)
    app = shlex.split(args.app)
    if not Path(app[0]).exists() and len(app) == 1:
        print(f"FAIL: {app[0]} not found: build it first (packaging/build_linux.sh)",
              file=sys.stderr)
        return 1
    return run(app, args.lights, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
