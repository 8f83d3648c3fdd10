#!/usr/bin/env bash
# Install the example's node packages (example/frontend: React, Vite, and playwright-core for the
# browser tests) with `npm ci`. Idempotent: reinstalls only when package-lock.json changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/example/frontend"
stamp="$dir/node_modules/.rxcdc-lock.sha256"

if ! command -v npm >/dev/null 2>&1; then
    echo "rxcdc setup: node and npm are needed for the example and the browser tests (Node >= 20)" >&2
    exit 1
fi

want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "example node packages: present (example/frontend/node_modules matches package-lock.json)"
    exit 0
fi

echo "example node packages: npm ci in example/frontend/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
