#!/usr/bin/env bash
# Create .venv and install requirements.txt into it (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
echo "Installing requirements into .venv (the first time takes a few minutes)..."
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
touch .venv/.installed
