#!/usr/bin/env bash
# Install the system packages rxcdc needs (Debian/Ubuntu): PostgreSQL with the wal2json
# plugin, Redis, and Chromium for the browser tests (tests/e2e). Idempotent: prints one line and
# exits when everything is present.
set -euo pipefail

want=()
pg_major() {
    # Highest installed PostgreSQL server major version, if any.
    ls -1 /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1
}

major=$(pg_major || true)
if [ -z "$major" ] || [ ! -x "/usr/lib/postgresql/$major/bin/postgres" ]; then
    want+=(postgresql)
fi
if [ -n "$major" ] && [ ! -f "/usr/lib/postgresql/$major/lib/wal2json.so" ]; then
    want+=("postgresql-$major-wal2json")
fi
command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
command -v chromium >/dev/null 2>&1 || want+=(chromium)

if [ ${#want[@]} -eq 0 ]; then
    echo "system packages: present (postgresql $major with wal2json, redis-server, chromium)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "rxcdc setup: missing ${want[*]}; install them with your package manager (apt-get not found)" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "rxcdc setup: run as root or install sudo to apt-get install ${want[*]}" >&2; exit 1; }
    sudo=sudo
fi

echo "system packages: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
# postgresql itself may just have arrived: its wal2json package is named after the major.
major=$(pg_major)
if [ ! -f "/usr/lib/postgresql/$major/lib/wal2json.so" ]; then
    $sudo apt-get install -y -qq --no-install-recommends "postgresql-$major-wal2json" >/dev/null
fi
echo "system packages: postgresql $major with wal2json, redis-server, chromium installed"
