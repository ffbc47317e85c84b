#!/usr/bin/env bash
# The main job: set up what is missing, then run onebyone's main command.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
exec "${ONEBYONE_VENV:-$root/.venv}/bin/onebyone" models "$@"
