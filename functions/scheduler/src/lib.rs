//! The scheduler Lambda function's handler. Two inputs:
//!
//! - the minute tick, `{"tick": "<aws.scheduler.scheduled-time>"}` from the one schedule in
//!   `template.yaml`: every run of the configuration's schedules that is due is sent, each
//!   once ([`botgate::schedules`]). A tick with a failed run returns an error, so the
//!   failure shows in the function's errors; the run is tried again by the next ticks
//!   while the look-back covers it.
//! - an SNS delivery from the stack's alarm topic (with `AlarmChatTarget`): each alarm
//!   change is sent to that target as an Alertmanager card, once per SNS message.
//! - a notification, `{"notification": "daily-report", ...}` (an ad-hoc run, or a schedule
//!   of your own): sent once per scheduled time ([`botgate::scheduler::run`]). A failure is
//!   returned as an error, so EventBridge Scheduler retries the invocation and finally puts
//!   it in the schedule's dead-letter queue; targets already sent are not sent again.

use botgate::dispatcher::Dispatcher;
use botgate::schedules::Ticker;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::Instrument;

/// Time kept back from the invocation's deadline.
pub const DEADLINE_MARGIN_MS: i64 = 2_000;

/// Handles one invocation. `alarm_target` (`BOTGATE_ALARM_TARGET`, the template's
/// `AlarmChatTarget`) is where the stack's alarms delivered by SNS go.
pub async fn handler(
    d: &Dispatcher,
    ticker: &Ticker,
    alarm_target: Option<&str>,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let request_id = event.context.request_id.clone();
    let deadline_ms =
        botgate::clock::invocation_deadline_ms(event.context.deadline, d.clock.now_ms(), DEADLINE_MARGIN_MS);
    if botgate::notify::cloudwatch::is_sns(&event.payload) {
        let span = tracing::info_span!("trace", trace_id = %request_id);
        return alarms(d, alarm_target, &event.payload, deadline_ms)
            .instrument(span)
            .await;
    }
    if let Some(tick) = tick_of(&event.payload) {
        let report = ticker.tick(d, &request_id, deadline_ms).await;
        tracing::info!(
            request_id,
            tick,
            sent = report.sent.len(),
            already_sent = report.already_sent.len(),
            in_progress = report.in_progress.len(),
            waiting = report.waiting.len(),
            failed = report.failed.len(),
            "tick"
        );
        if !report.is_ok() {
            return Err(format!("tick {tick}: {}", report.failed.join("; ")).into());
        }
        return Ok(serde_json::to_value(&report)?);
    }
    let span = tracing::info_span!("trace", trace_id = %request_id);
    let report = botgate::scheduler::run(d, event.payload, &request_id, deadline_ms)
        .instrument(span)
        .await?;
    Ok(json!({"sent": report.sent, "already_sent": report.already_sent}))
}

/// Sends each alarm change of an SNS delivery to `alarm_target`, once per SNS message.
async fn alarms(d: &Dispatcher, alarm_target: Option<&str>, payload: &Value, deadline_ms: i64) -> Result<Value, Error> {
    let Some(target) = alarm_target.filter(|t| !t.is_empty()) else {
        return Err("an SNS delivery, but no AlarmChatTarget (BOTGATE_ALARM_TARGET) is set".into());
    };
    let (mut sent, mut already_sent) = (Vec::new(), Vec::new());
    for change in botgate::notify::cloudwatch::changes(payload) {
        let name = change.alertmanager["groupLabels"]["alertname"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if botgate::scheduler::send_alarm(d, &change, target, deadline_ms).await? {
            tracing::info!(alarm = %name, target, outcome = "sent", "alarm");
            sent.push(name);
        } else {
            tracing::info!(alarm = %name, target, outcome = "already_sent", "alarm");
            already_sent.push(name);
        }
    }
    Ok(json!({"sent": sent, "already_sent": already_sent}))
}

/// The tick's scheduled time when the input is a tick (raw, or under an EventBridge
/// envelope's `detail`).
pub fn tick_of(input: &Value) -> Option<String> {
    let input = input.get("detail").filter(|d| d.get("tick").is_some()).unwrap_or(input);
    match input.get("tick")? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("now".into()),
        _ => None,
    }
}
