#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 60) each and stops at the first crash.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in feishu wechat wecom dingtalk feishu_frame dingtalk_stream notify_api outbound_url config; do
  echo "== fuzz $target for ${seconds}s"
  cargo fuzz run -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | grep -E "^#[0-9]+ +DONE|Done [0-9]+ runs|ERROR|panicked|SUMMARY" || true
  if ls artifacts/"$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz $target found a crash: fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${seconds}s without a finding"
