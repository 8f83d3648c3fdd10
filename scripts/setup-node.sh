#!/usr/bin/env bash
# Install the TypeScript tooling (frontend/: tsc, vitest, React for the hook tests) with `npm ci`.
# Idempotent and fast: reinstalls only when frontend/package-lock.json changed since the last run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/frontend"
stamp="$dir/node_modules/.rxcdc-lock.sha256"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "rxcdc setup: node and npm are needed for the TypeScript tests (Node >= 20); install them (e.g. from nodejs.org or your package manager)" >&2
    exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "rxcdc setup: Node $(node --version) is too old for vitest 4; install Node 20 or newer" >&2
    exit 1
fi

want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "node packages: present (frontend/node_modules matches package-lock.json)"
    exit 0
fi

echo "node packages: npm ci in frontend/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
