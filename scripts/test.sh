#!/usr/bin/env bash
# Runs every test of rtnode: installs and starts the services the tests talk to (PostgreSQL,
# MariaDB, RabbitMQ, the ZooKeeper package, pydruid), then the whole cargo test suite.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh

# A clean build of every test binary takes ~3 GB under target/ (incremental state would add
# ~1 GB that a one-shot CI build never reuses). Say so up front rather than fail mid-link.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if ((free_kb < 6 * 1024 * 1024)); then
    echo "test.sh: warning: only $((free_kb / 1024)) MB free on $(df -P . | awk 'NR == 2 {print $6}');" \
        "the build needs about 4 GB" >&2
fi
cargo test --locked --no-fail-fast "$@"
