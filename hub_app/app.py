"""``hub-app``: the desktop application."""

from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hub-app", description="Home Hub for HubLight lights")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start simulated lights and the embedded broker in this process",
    )
    parser.add_argument("--lights", type=int, default=3, help="simulated lights in demo mode")
    parser.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="close the window after this many seconds (smoke tests, screenshots)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the desktop app. Qt is imported only here, behind the command line."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from hub_app.ui.main import run  # Qt is imported only when the app really starts

    return run(demo=args.demo, lights=args.lights, quit_after=args.quit_after)


if __name__ == "__main__":
    sys.exit(main())
