#!/usr/bin/env bash
# Cold start of the callback function vs a hello-world lambda_runtime binary, both release
# builds, under a minimal runtime API (cli/examples/coldstart.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p callback --bin callback --example hello
cargo run --release -q -p botgate-cli --example coldstart -- target/release/callback target/release/examples/hello "${RUNS:-20}"
