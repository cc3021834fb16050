#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite on 2 cores; then, beside the
# official pipeline (scripts/setup_official.sh: jwst and the asdf it pins), the
# side-by-side checks of compat/ and the tests of reading and writing JWST files.
# With arguments, only those are run, in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
# one demo run for both environments (the demo_output fixture in conftest.py)
WEBBCAL_DEMO_CACHE="$(mktemp -d "${TMPDIR:-/tmp}/webbcal-demo.XXXXXX")"
export WEBBCAL_DEMO_CACHE
trap 'rm -rf "$WEBBCAL_DEMO_CACHE"' EXIT
.venv/bin/python -m pytest -q
bash scripts/setup_official.sh
.venv-official/bin/python -m pytest -q compat core/webbcal/datamodels tests/test_official_tools.py \
  plugins/nirspec/tests/test_wcs.py plugins/nirspec/tests/test_model_kinds.py
