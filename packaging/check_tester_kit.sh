#!/usr/bin/env bash
# The tester kit from a fresh virtual environment: `pip install` of the project (no editable
# install, no repository on sys.path), then the example scenario file, run by plain pytest with
# the plugin found through its pytest11 entry point. Prints how long each part took.
#   packaging/check_tester_kit.sh            (PYTHON=python3.12 to choose the interpreter)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hub-tester-kit.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

SRC=$ROOT
if ! grep -q '^\[project.entry-points.pytest11\]' "$ROOT/pyproject.toml" \
    || ! grep -q '^testing *= *\[' "$ROOT/pyproject.toml"; then
    echo "NOTE: pyproject.toml lacks the pytest11 entry point or the 'testing' extra:" \
         "checking a copy with the lines proposed in docs/tester-kit.md applied"
    SRC=$WORK/src
    mkdir -p "$SRC"
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' | tar -cf - -T -) | tar -xf - -C "$SRC"
    python3 "$ROOT/packaging/propose_pyproject.py" "$SRC/pyproject.toml"
fi

start=$(now)
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --upgrade pip 2> >(grep -v '^WARNING: Location' >&2)
"$WORK/venv/bin/python" -m pip install -q "$SRC[ui,testing]" 2> >(grep -v '^WARNING: Location' >&2)
install_s=$(since "$start")

mkdir "$WORK/tests"
cp "$ROOT/docs/examples/test_example_scenario.py" "$WORK/tests/"
printf '[pytest]\n' > "$WORK/tests/pytest.ini"   # a tester's project: default (strict) asyncio mode
cd "$WORK/tests"
start=$(now)
set +e
QT_QPA_PLATFORM=offscreen "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider \
    test_example_scenario.py
rc=$?
set -e
echo "tester kit: pip install ${install_s} s, example run $(since "$start") s, exit code $rc"
exit $rc
