#!/usr/bin/env bash
# Install the benchmark peers (RxDjango, Django Channels Rest Framework) into .venv-peers/, their
# own virtual environment: they are never installed into .venv or copied into this repository.
# Idempotent and fast: reinstalls only when tests/bench_peers/requirements.txt changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-peers"
requirements="$root/tests/bench_peers/requirements.txt"
stamp="$venv/.requirements.sha256"
python=${PYTHON:-python3}

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "peers: present (.venv-peers matches tests/bench_peers/requirements.txt)"
    exit 0
fi

echo "peers: installing tests/bench_peers/requirements.txt into .venv-peers"
# A changed list starts from an empty environment: nothing left over from the previous one.
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$requirements"
echo "$want" > "$stamp"
