#!/usr/bin/env bash
# Everything CI runs: unit tests of utils, every notebook under nbval (quick
# mode), and the site build with its checks. Run it as `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .venv/.installed ] || bash scripts/setup.sh
bash scripts/install_system_deps.sh  # Chromium for the browser test of the site
export BOOK_MODE=quick BOOK_PROGRESS=off MPLBACKEND=Agg
started=$(date +%s)
.venv/bin/python -m pytest tests book --durations=15 "$@"
echo "All checks finished in $(( $(date +%s) - started )) s."
