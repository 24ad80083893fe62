#!/usr/bin/env bash
# The project's test command (README): installs the third-party peers the interop tests need
# when they are missing (Mosquitto clients and broker, Python paho-mqtt), then runs every test of
# the workspace. Extra arguments go to `cargo test --workspace`. Then the session crate's
# optional `serde` feature (SessionState persistence), which the default build leaves out.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --workspace "$@"
cargo test -p starling-session --features serde
