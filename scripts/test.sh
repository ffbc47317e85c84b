#!/usr/bin/env bash
# The test suite: set up what is missing, then run pytest (extra arguments go to pytest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
# The report's page is checked in a headless browser (Debian's chromium); without it that test skips.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing chromium for the report-page test" >&2
    (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
        || echo "test: chromium could not be installed; the page test will skip" >&2
fi
cd "$root"
exec "${ONEBYONE_VENV:-$root/.venv}/bin/python" -m pytest -q "$@"
