#!/usr/bin/env bash
# Runs every test of rtnode: installs and starts the services the tests talk to (PostgreSQL,
# MariaDB, RabbitMQ, the ZooKeeper package, pydruid), then the whole cargo test suite.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
cargo test --locked --no-fail-fast "$@"
