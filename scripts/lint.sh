#!/usr/bin/env bash
# The house checks: one formatter and one linter over every Python file, and mypy on the package
# (config in pyproject.toml; its baseline lists the modules not yet clean).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
bin="${ONEBYONE_VENV:-$root/.venv}/bin"
cd "$root"
"$bin/ruff" format --check --quiet onebyone tests benchmarks scripts
"$bin/ruff" check --quiet onebyone tests benchmarks scripts
"$bin/mypy" --no-error-summary
