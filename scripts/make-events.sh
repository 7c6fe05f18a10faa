#!/usr/bin/env bash
# Writes the sample Lambda payloads in events/: callback-* (API Gateway HTTP API v2), signed
# and encrypted for the bots of examples/botgate.yaml, and dispatcher-* (SQS batches holding
# what the callback queues), at a fixed time so the files are stable:
#   NOW=1795440463 scripts/make-events.sh [OUT_DIR]
# Their timestamps are then that old: the handler tests pin the clock to NOW; to invoke a
# running function, generate fresh ones (NOW=$(date +%s) scripts/make-events.sh /tmp/events).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/events}"
now="${NOW:-1795440463}"
config="${CONFIG:-$root/examples/botgate.yaml}"
bin="${BOTGATE:-$root/target/debug/botgate}"
[ -x "$bin" ] || (cd "$root" && cargo build -q -p botgate-cli)
mkdir -p "$out"
gen() { # name bot type [text]
  "$bin" event --config "$config" --bot "$2" --type "$3" --text "${4:-hello}" --now "$now" --format apigw > "$out/callback-$1.json"
}
gen feishu-message feishu-demo message "hello from feishu"
gen feishu-plain-message feishu-plain message "plain hello"
gen feishu-url-verification feishu-demo url_verification
gen feishu-card-action feishu-demo card_action approve
gen wechat-message wechat-demo message "菜单 帮助"
gen wechat-plain-message wechat-plain message "plain hello"
gen wechat-url-verification wechat-demo url_verification
gen wechat-subscribe wechat-demo subscribe
gen wechat-click wechat-demo click MENU_HELP
gen wecom-message wecom-demo message "hello from wecom"
gen wecom-url-verification wecom-demo url_verification
gen wecom-subscribe wecom-demo subscribe
gen dingtalk-message dingtalk-demo message "hello bot"
gen dingtalk-check-url dingtalk-demo url_verification
gen dingtalk-event dingtalk-demo event "new title"
# The dispatcher's SQS events: what the callback queues for these callbacks.
sqs() { # name bot type [text]
  "$bin" event --config "$config" --bot "$2" --type "$3" --text "${4:-hello}" --now "$now" --format sqs > "$out/dispatcher-$1.json"
}
sqs feishu-help feishu-demo message "/help"
sqs wechat-subscribe wechat-demo subscribe
sqs wechat-click wechat-demo click MENU_HELP
sqs wecom-message wecom-demo message "disk full on db-1"
sqs dingtalk-message dingtalk-demo message "ping"
echo "wrote $(ls "$out"/*.json | wc -l) events to $out (timestamp $now)"
