#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: stage 2 + extraction on simulated exposures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/webbcal demo --output-dir "${1:-demo_output}"
