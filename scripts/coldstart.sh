#!/usr/bin/env bash
# Cold start of the callback function (a signed Feishu event) and the scheduler function (a
# minute tick) vs a hello-world lambda_runtime binary, all release builds, under a minimal
# runtime API (cli/examples/coldstart.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p callback --bin callback --example hello -p scheduler --bin scheduler
cargo run --release -q -p botgate-cli --example coldstart -- target/release/callback target/release/examples/hello "${RUNS:-20}" target/release/scheduler
