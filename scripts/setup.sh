#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the core and every plugin in this repo (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]" $(for d in plugins/[!_]*/; do [ -f "$d/pyproject.toml" ] && printf -- '-e %s ' "$d"; done)
