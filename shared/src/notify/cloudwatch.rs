//! botgate's own alarms in a chat: the stack's alarm topic delivers each CloudWatch alarm
//! change to the scheduler function (an SNS subscription, with the `AlarmChatTarget`
//! parameter), which renders it as an Alertmanager alert (the same card: `[FIRING]` /
//! `[RESOLVED]`, the alarm's runbook line, a link to the alarm) and sends it to that
//! target, once per SNS message.

use serde_json::{Value, json};

use super::api::ApiSettings;

/// One alarm change from an SNS delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmChange {
    /// SNS's message id: the change is sent once per id.
    pub message_id: String,
    /// The alarm as an Alertmanager (version 4) webhook body.
    pub alertmanager: Value,
}

/// Whether a Lambda event is an SNS delivery.
pub fn is_sns(event: &Value) -> bool {
    event["Records"]
        .as_array()
        .and_then(|r| r.first())
        .is_some_and(|r| r["EventSource"] == "aws:sns")
}

/// The alarm changes of an SNS delivery; a record that is not a CloudWatch alarm (or an
/// `INSUFFICIENT_DATA` change, which says nothing about botgate) is skipped.
pub fn changes(event: &Value) -> Vec<AlarmChange> {
    event["Records"]
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter_map(|r| {
                    let sns = &r["Sns"];
                    let alarm: Value = serde_json::from_str(sns["Message"].as_str()?).ok()?;
                    Some(AlarmChange {
                        message_id: sns["MessageId"].as_str()?.to_owned(),
                        alertmanager: alertmanager(&alarm)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A CloudWatch alarm notification as an Alertmanager webhook body.
pub fn alertmanager(alarm: &Value) -> Option<Value> {
    let name = alarm["AlarmName"].as_str()?;
    let status = match alarm["NewStateValue"].as_str()? {
        "ALARM" => "firing",
        "OK" => "resolved",
        _ => return None,
    };
    let region = alarm["AlarmArn"]
        .as_str()
        .and_then(|arn| arn.split(':').nth(3))
        .unwrap_or("us-east-1");
    let link = format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    );
    let at = rfc3339(alarm["StateChangeTime"].as_str().unwrap_or_default());
    let labels = json!({"alertname": name, "severity": "warning", "source": "cloudwatch"});
    // The card shows the summary: the alarm's description is its runbook line.
    let annotations = json!({
        "summary": alarm["AlarmDescription"].as_str().unwrap_or_default(),
        "description": alarm["NewStateReason"].as_str().unwrap_or_default(),
    });
    let (starts_at, ends_at) = if status == "firing" {
        (at.clone(), "0001-01-01T00:00:00Z".to_owned())
    } else {
        (at.clone(), at)
    };
    Some(json!({
        "version": "4",
        "status": status,
        "receiver": "botgate-alarms",
        "groupKey": format!("cloudwatch:{name}"),
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        // No Alertmanager behind it: no Silence / Alertmanager buttons.
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts_at,
            "endsAt": ends_at,
            "generatorURL": link,
        }],
    }))
}

/// CloudWatch's `2026-11-25T10:00:00.000+0000` as RFC 3339.
fn rfc3339(t: &str) -> String {
    chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|_| t.to_owned())
}

/// How alarm cards are rendered: the notify API's settings when it is configured (its
/// `utc_offset`), else UTC+8 and no `@all` (botgate's alarms are warnings, not pages).
pub fn card_settings(configured: Option<&ApiSettings>) -> ApiSettings {
    configured.cloned().unwrap_or_else(|| ApiSettings {
        bearer_token: None,
        hmac_secret: None,
        timestamp_window_secs: 300,
        utc_offset: time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC),
        mention_all: Vec::new(),
        allow_templates: false,
        max_body_bytes: 0,
        alertmanager_retry_window_secs: super::api::DEFAULT_ALERTMANAGER_RETRY_WINDOW_SECS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sns(alarm: &Value, id: &str) -> Value {
        json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": id, "Message": alarm.to_string()}}]})
    }

    #[test]
    fn an_alarm_becomes_an_alertmanager_alert() {
        let alarm = json!({
            "AlarmName": "botgate-PermanentSendFailuresAlarm-1AB",
            "AlarmDescription": "A reply or notification failed for good in 5 minutes.",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).",
            "StateChangeTime": "2026-11-25T10:00:00.000+0000",
            "AlarmArn": "arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:botgate-PermanentSendFailuresAlarm-1AB"
        });
        let event = sns(&alarm, "m-1");
        assert!(is_sns(&event));
        let c = changes(&event);
        assert_eq!(c.len(), 1);
        let am = &c[0].alertmanager;
        assert_eq!(am["status"], "firing");
        assert_eq!(am["alerts"][0]["startsAt"], "2026-11-25T10:00:00Z");
        assert!(
            am["alerts"][0]["generatorURL"]
                .as_str()
                .unwrap()
                .starts_with("https://ap-southeast-1.console.aws.amazon.com/cloudwatch/")
        );
        let mut ok = alarm.clone();
        ok["NewStateValue"] = json!("OK");
        assert_eq!(changes(&sns(&ok, "m-2"))[0].alertmanager["status"], "resolved");
        let mut unknown = alarm;
        unknown["NewStateValue"] = json!("INSUFFICIENT_DATA");
        assert!(changes(&sns(&unknown, "m-3")).is_empty());
        assert!(!is_sns(&json!({"tick": "x"})));
    }
}
