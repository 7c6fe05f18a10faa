#!/usr/bin/env bash
# Smoke test: runs the `callback`, `dispatcher` and `scheduler` functions under `cargo lambda watch` (the
# Lambda runtime API emulator) on the example configuration with in-memory backends (the
# dispatcher in dry run), and invokes them with freshly signed API Gateway events and SQS
# batches, at least one per platform. Needs cargo-lambda
# (`make venv-deploy` puts it in .venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda not found: run make venv-deploy" >&2; exit 2; }
port="${SMOKE_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
tmp="$(mktemp -d)"
log="$tmp/watch.log"
cleanup() { [ -n "${watch_pid:-}" ] && kill "$watch_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

cargo build -q -p botgate-cli -p callback -p dispatcher -p scheduler
NOW="$(date +%s)" scripts/make-events.sh "$tmp/events" >/dev/null

BOTGATE_CONFIG_URI="$root/examples/botgate.yaml" AWS_LAMBDA_LOG_FORMAT=JSON \
  cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes >"$log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 120); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$watch_pid" 2>/dev/null || { cat "$log" >&2; echo "cargo lambda watch exited" >&2; exit 1; }
  sleep 0.5
done

pass=0; fail=0
for name in feishu-message feishu-url-verification feishu-card-action wechat-message wechat-url-verification \
            wecom-message wecom-url-verification dingtalk-message dingtalk-check-url dingtalk-event; do
  out="$(cargo lambda invoke callback --invoke-address 127.0.0.1 --invoke-port "$port" --output-format json --data-file "$tmp/events/callback-$name.json" 2>&1 || true)"
  status="$(printf '%s' "$out" | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("statusCode"))
except Exception: print("none")')"
  if [ "$status" = "200" ]; then pass=$((pass+1)); echo "ok   $name"; else fail=$((fail+1)); echo "FAIL $name: $out"; fi
done
for name in feishu-help wechat-subscribe wechat-click wecom-message dingtalk-message; do
  out="$(cargo lambda invoke dispatcher --invoke-address 127.0.0.1 --invoke-port "$port" --output-format json --data-file "$tmp/events/dispatcher-$name.json" 2>&1 || true)"
  failures="$(printf '%s' "$out" | python3 -c 'import json,sys
try: print(len(json.load(sys.stdin)["batchItemFailures"]))
except Exception: print("none")')"
  if [ "$failures" = "0" ]; then pass=$((pass+1)); echo "ok   dispatcher $name"; else fail=$((fail+1)); echo "FAIL dispatcher $name: $out"; fi
done
for name in daily-report envelope; do
  out="$(cargo lambda invoke scheduler --invoke-address 127.0.0.1 --invoke-port "$port" --output-format json --data-file "events/scheduler-$name.json" 2>&1 || true)"
  sent="$(printf '%s' "$out" | python3 -c 'import json,sys
try: print(len(json.load(sys.stdin)["sent"]))
except Exception: print("none")')"
  if [ "$sent" != "none" ] && [ "$sent" -gt 0 ]; then pass=$((pass+1)); echo "ok   scheduler $name"; else fail=$((fail+1)); echo "FAIL scheduler $name: $out"; fi
done
# The minute tick: answered with a report of what was due (nothing, at most times of day).
out="$(cargo lambda invoke scheduler --invoke-address 127.0.0.1 --invoke-port "$port" --output-format json --data-file events/scheduler-tick.json 2>&1 || true)"
if printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert not r["failed"] and "sent" in r' 2>/dev/null; then
  pass=$((pass+1)); echo "ok   scheduler tick"
else fail=$((fail+1)); echo "FAIL scheduler tick: $out"; fi
grep -q "dry run: the request botgate would send" "$log" || { echo "FAIL the dispatcher printed no dry-run request" >&2; fail=$((fail+1)); }
echo "smoke: $pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then tail -50 "$log" >&2; exit 1; fi
