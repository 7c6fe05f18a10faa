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
gen() { # name bot type [text] (without a text: the type's default, `botgate event --help`)
  "$bin" event --config "$config" --bot "$2" --type "$3" ${4:+--text "$4"} --now "$now" --format apigw > "$out/callback-$1.json"
}
gen feishu-message feishu-demo message "hello from feishu"
gen feishu-plain-message feishu-plain message "plain hello"
gen feishu-url-verification feishu-demo url_verification
gen feishu-card-action feishu-demo card_action '{"name":"approve","service":"api"}'
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
# Every event type rules can match, and card presses.
gen feishu-card-reject feishu-demo card_action '{"name":"reject","service":"api"}'
gen feishu-member-added feishu-demo member_added
gen feishu-member-removed feishu-demo member_removed
gen feishu-bot-added feishu-demo bot_added
gen feishu-reaction feishu-demo reaction
gen feishu-chat-created feishu-demo chat_created
gen feishu-menu feishu-demo click
gen feishu-image feishu-demo image
gen feishu-file feishu-demo file
gen wechat-view wechat-demo view
gen wechat-scan wechat-demo scan
gen wechat-location wechat-demo location
gen wechat-image wechat-demo image
gen wechat-voice wechat-demo voice "语音识别的文字"
gen wechat-video wechat-demo video
gen wechat-location-message wechat-demo location_message
gen wechat-link wechat-demo link
gen wecom-card-action wecom-demo card_action '{"name":"approve","service":"api"}'
gen wecom-enter-chat wecom-demo enter_chat
gen wecom-contact-change wecom-demo contact_change
gen wecom-click wecom-demo click MENU_HELP
gen wecom-view wecom-demo view
gen wecom-location wecom-demo location
gen wecom-image wecom-demo image
gen dingtalk-rich-text dingtalk-demo rich_text "see the chart"
gen dingtalk-picture dingtalk-demo image
gen dingtalk-file dingtalk-demo file
# The dispatcher's SQS events: what the callback queues for these callbacks.
sqs() { # name bot type [text]
  "$bin" event --config "$config" --bot "$2" --type "$3" ${4:+--text "$4"} --now "$now" --format sqs > "$out/dispatcher-$1.json"
}
sqs feishu-help feishu-demo message "/help"
sqs wechat-subscribe wechat-demo subscribe
sqs wechat-click wechat-demo click MENU_HELP
sqs wecom-message wecom-demo message "disk full on db-1"
sqs dingtalk-message dingtalk-demo message "ping"
sqs feishu-card-action feishu-demo card_action '{"name":"approve","service":"api"}'
sqs feishu-member-added feishu-demo member_added
echo "wrote $(ls "$out"/*.json | wc -l) events to $out (timestamp $now)"
