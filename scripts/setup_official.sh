#!/usr/bin/env bash
# Create .venv-official: webbcal (core + every plugin, editable, with the test extra) beside
# the official pipeline (jwst, which pins its own asdf, stdatamodels, stcal ...), to run
# compat/ and the tests of files read and written under the official pipeline's versions.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
JWST_SPEC=${WEBBCAL_JWST_SPEC:-"jwst==3.0.*"}
if [ ! -x .venv-official/bin/python ]; then
  "$PY" -m venv .venv-official
fi
.venv-official/bin/python -m pip install --quiet --upgrade pip
.venv-official/bin/python -m pip install --quiet "$JWST_SPEC" -e ".[test]" \
  $(for d in plugins/[!_]*/; do [ -f "$d/pyproject.toml" ] && printf -- '-e %s ' "$d"; done)
