#!/usr/bin/env bash
# The test suite: set up what is missing, then run pytest (extra arguments go to pytest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec "${ONEBYONE_VENV:-$root/.venv}/bin/python" -m pytest -q "$@"
