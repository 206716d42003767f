"""Entry point of the bundled `hub-app` (PyInstaller runs this file as the program).

With the environment variable HUB_APP_SMOKE_REPORT=FILE set, the smoke probe
(`smoke_probe.py`) watches the running app and writes FILE; see packaging/smoke_test.py.
"""

import os
import sys


def main() -> int:
    """Start hub-app (with the smoke probe when asked)."""
    report = os.environ.get("HUB_APP_SMOKE_REPORT")
    if report:
        import smoke_probe

        smoke_probe.install(report, float(os.environ.get("HUB_APP_SMOKE_QUIT_AFTER", "60")))
    from hub_app.app import main as hub_app_main

    return hub_app_main()


if __name__ == "__main__":
    sys.exit(main())
