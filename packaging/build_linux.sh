#!/usr/bin/env bash
# Build the one-folder Linux app: build/pyinstaller (work files) -> dist/hub-app/ (the app).
# Prints the bundle's size and the build time. Needs the project's venv with pyinstaller:
#   .venv/bin/pip install -e '.[ui,packaging]'      (or: pip install pyinstaller)
#   packaging/build_linux.sh                        (PYTHON=... to use another interpreter)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
cd "$ROOT"
"$PY" -c 'import PyInstaller' 2>/dev/null || {
    echo "pyinstaller is not installed for $PY: pip install pyinstaller" >&2; exit 1; }
start=$(date +%s.%N)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath build/pyinstaller --distpath dist packaging/hub-app.spec
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
"$PY" packaging/desktop_files.py install-into dist/hub-app
bytes=$(du -sb dist/hub-app | cut -f1)
files=$(find dist/hub-app -type f | wc -l)
echo "bundle: dist/hub-app  size $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')" \
     "($files files)  build time ${seconds} s"
