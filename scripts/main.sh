#!/usr/bin/env bash
# The main job: set up what is missing, then run `onebyone report` (extra arguments go to it).
# The page lands in onebyone-report/report.html (and report.md, report.json) unless --out says otherwise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
exec "${ONEBYONE_VENV:-$root/.venv}/bin/onebyone" report "$@"
