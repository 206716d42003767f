#!/usr/bin/env bash
# CI step for packaging (after ./dev test): build the Linux bundle, smoke-test it offscreen,
# and run the tester kit's example from a fresh virtual environment.
#   packaging/ci.sh            (needs ./dev setup done and pyinstaller in .venv)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
packaging/build_linux.sh
.venv/bin/python packaging/smoke_test.py --app dist/hub-app/hub-app
packaging/check_tester_kit.sh
