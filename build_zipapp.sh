#!/usr/bin/env bash
# Build dist/oneapi.pyz: one executable file holding oneapi and every dependency (shiv).
# The target machine needs only Python >= 3.11 of the same platform; nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
OUT=${OUT:-dist/oneapi.pyz}
mkdir -p "$(dirname "$OUT")"
"$PYTHON" -m shiv --version >/dev/null 2>&1 || { echo "shiv is missing: run 'make zipapp' (installs dev deps)" >&2; exit 1; }
# --reproducible: stable timestamps; --compressed: smaller file; site-packages are unpacked to ~/.shiv once.
# Everything after the options is handed to pip: install this project and its dependencies.
"$PYTHON" -m shiv \
    --output-file "$OUT" \
    --console-script oneapi \
    --python '/usr/bin/env python3' \
    --compressed --reproducible \
    . --quiet --disable-pip-version-check
chmod +x "$OUT"
echo "built $OUT ($(du -h "$OUT" | cut -f1))"
