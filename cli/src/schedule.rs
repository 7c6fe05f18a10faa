//! The configured notifications' schedules on a local clock, read the way EventBridge
//! Scheduler reads them: `cron(minutes hours day-of-month month day-of-week year)` with
//! AWS's fields (day of week 1-7 = SUN-SAT, one of the day fields `?`, `L`, `W`, `#`),
//! `rate(value unit)` and `at(yyyy-mm-ddThh:mm:ss)`, each in an IANA time zone.
//!
//! ```yaml
//! notifications:
//!   daily-report:
//!     schedule: cron(0 9 ? * MON-FRI *)
//!     timezone: Asia/Shanghai      # the default, as in template.yaml
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use botgate::Settings;
use botgate::dispatcher::Dispatcher;
use botgate::scheduler;
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::Value;
use thiserror::Error;

/// The time zone a schedule is read in when its notification names none; the same default
/// as `ScheduleTimezone` in `template.yaml` (EventBridge Scheduler's own default is UTC).
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// A schedule that cannot be used, naming the configuration field.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// The expression is not one EventBridge Scheduler accepts.
    #[error("notifications.{notification}.schedule `{expression}`: {why}")]
    Expression {
        /// The notification.
        notification: String,
        /// The expression as written.
        expression: String,
        /// What is wrong with it.
        why: String,
    },
    /// The time zone is not an IANA name.
    #[error(
        "notifications.{notification}.timezone `{timezone}`: not an IANA time zone name (for example Asia/Shanghai or UTC)"
    )]
    TimeZone {
        /// The notification.
        notification: String,
        /// The time zone as written.
        timezone: String,
    },
}

#[derive(Debug, Clone)]
enum When {
    Cron(Box<Cron>),
    Rate(TimeDelta),
    At(NaiveDateTime),
}

/// One notification's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The notification it sends.
    pub notification: String,
    /// The expression as written.
    pub expression: String,
    /// The time zone it is read in.
    pub timezone: Tz,
    when: When,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.expression, self.timezone)
    }
}

impl Schedule {
    /// Parses `expression` read in `timezone`.
    pub fn parse(notification: &str, expression: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let tz = zone(notification, timezone)?;
        let bad = |why: String| ScheduleError::Expression {
            notification: notification.to_owned(),
            expression: expression.to_owned(),
            why,
        };
        let e = expression.trim();
        let when = if let Some(fields) = inside(e, "cron") {
            When::Cron(Box::new(cron(fields).map_err(bad)?))
        } else if let Some(rate) = inside(e, "rate") {
            When::Rate(parse_rate(rate).map_err(bad)?)
        } else if let Some(at) = inside(e, "at") {
            When::At(
                NaiveDateTime::parse_from_str(at.trim(), "%Y-%m-%dT%H:%M:%S")
                    .map_err(|err| bad(format!("expected at(yyyy-mm-ddThh:mm:ss): {err}")))?,
            )
        } else {
            return Err(bad(
                "expected cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)"
                    .into(),
            ));
        };
        Ok(Self {
            notification: notification.to_owned(),
            expression: e.to_owned(),
            timezone: tz,
            when,
        })
    }

    /// The first run strictly after `after`, or None when there is none (a past `at`).
    /// Rate schedules run every period from `start` (EventBridge Scheduler counts from the
    /// schedule's creation; locally, from when `serve` started).
    pub fn next_after(&self, after: DateTime<Utc>, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.when {
            When::Cron(c) => c
                .find_next_occurrence(&after.with_timezone(&self.timezone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            When::Rate(period) => {
                let ms = period.num_milliseconds().max(1);
                let elapsed = (after - start).num_milliseconds();
                let n = if elapsed < 0 { 0 } else { elapsed / ms + 1 };
                Some(start + TimeDelta::milliseconds(n.saturating_mul(ms)))
            }
            When::At(at) => {
                let t = match self.timezone.from_local_datetime(at) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                    // In a daylight-saving gap: the first instant after it.
                    LocalResult::None => self
                        .timezone
                        .from_local_datetime(&(*at + TimeDelta::hours(1)))
                        .earliest()?
                        .with_timezone(&Utc),
                };
                (t > after).then_some(t)
            }
        }
    }

    /// The next `n` runs after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, start: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t, start) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }
}

/// The IANA time zone `timezone`, or an error naming the notification's field.
fn zone(notification: &str, timezone: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(timezone).map_err(|_| ScheduleError::TimeZone {
        notification: notification.to_owned(),
        timezone: timezone.to_owned(),
    })
}

/// `name(inner)` -> inner.
fn inside<'a>(e: &'a str, name: &str) -> Option<&'a str> {
    e.strip_prefix(name)?.trim_start().strip_prefix('(')?.strip_suffix(')')
}

fn cron(fields: &str) -> Result<Cron, String> {
    let f: Vec<&str> = fields.split_whitespace().collect();
    if f.len() != 6 {
        return Err(format!(
            "a cron expression has six fields (minutes hours day-of-month month day-of-week year), this one has {}",
            f.len()
        ));
    }
    // AWS: a value or `*` in one day field needs `?` in the other.
    match (f[2] == "?", f[4] == "?") {
        (true, true) => return Err("only one of day-of-month and day-of-week can be `?`".into()),
        (false, false) => {
            return Err("one of day-of-month and day-of-week must be `?` (for example cron(0 9 ? * MON-FRI *))".into());
        }
        _ => {}
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        // AWS numbers weekdays 1-7 from Sunday, and writes steps as `0/10`.
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&format!("0 {}", f.join(" ")))
        .map_err(|e| e.to_string())
}

fn parse_rate(rate: &str) -> Result<TimeDelta, String> {
    let usage = || "expected rate(value unit) with a positive whole value and minute(s), hour(s) or day(s)".to_owned();
    let mut parts = rate.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(usage());
    };
    let value: i64 = value.parse().ok().filter(|v| *v > 0).ok_or_else(usage)?;
    let minutes = match unit {
        "minute" | "minutes" => 1,
        "hour" | "hours" => 60,
        "day" | "days" => 24 * 60,
        _ => return Err(usage()),
    };
    TimeDelta::try_minutes(value.saturating_mul(minutes)).ok_or_else(usage)
}

/// The schedules of the configuration's notifications (those with a `schedule`).
pub fn configured(config: &Settings) -> Result<Vec<Schedule>, ScheduleError> {
    let mut out = Vec::new();
    for (name, n) in &config.notifications {
        let tz = n.timezone.as_deref();
        if let Some(expr) = n.schedule.as_deref() {
            out.push(Schedule::parse(name, expr, tz.unwrap_or(DEFAULT_TIMEZONE))?);
        } else if let Some(tz) = tz {
            zone(name, tz)?;
        }
    }
    Ok(out)
}

/// `t` in the schedule's time zone, with UTC beside it:
/// `2026-11-23 09:00 Mon +08:00 (01:00 UTC)`.
pub fn describe(t: DateTime<Utc>, tz: Tz) -> String {
    let local = t.with_timezone(&tz);
    format!("{} ({} UTC)", local.format("%Y-%m-%d %H:%M %a %:z"), t.format("%H:%M"))
}

/// The scheduler's input for one run, as EventBridge Scheduler sends it (the scheduled
/// time in UTC, as `<aws.scheduler.scheduled-time>` is).
pub fn input(notification: &str, at: DateTime<Utc>) -> Value {
    serde_json::json!({
        "notification": notification,
        "scheduled_time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

/// How often the local runner looks at the clock while waiting (it also wakes at each run).
pub const TICK: Duration = Duration::from_secs(1);
/// Retries of a failed run, as the schedules' `RetryPolicy` in `template.yaml`.
pub const RETRIES: u32 = 3;
/// The pause before the first retry; it doubles with each one.
pub const RETRY_PAUSE_MS: i64 = 60_000;
/// Time allowed to one run (the scheduler function's timeout in `template.yaml`).
pub const RUN_DEADLINE_MS: i64 = 120_000;

fn utc_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A failed run to try again.
#[derive(Debug)]
struct Retry {
    schedule: usize,
    at: DateTime<Utc>,
    attempt: u32,
    due_ms: i64,
}

/// Runs `schedules` on the dispatcher's clock until dropped: at each run time, the
/// scheduler function's flow with the input EventBridge Scheduler would send, so a run
/// sends each target once even when retried. A failed run is retried [`RETRIES`] times,
/// 1, 2 and 4 minutes apart; runs missed while the machine slept are not caught up (the
/// latest one runs). `tick` bounds each wait, so a test's virtual clock is followed.
pub async fn run(schedules: Vec<Schedule>, d: Arc<Dispatcher>, tick: Duration) {
    let clock = d.clock.clone();
    let start = utc_ms(clock.now_ms());
    let mut next: Vec<Option<DateTime<Utc>>> = schedules.iter().map(|s| s.next_after(start, start)).collect();
    let schedules = Arc::new(schedules);
    let mut retries: Vec<Retry> = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Retry>();
    loop {
        let now_ms = clock.now_ms();
        let now = utc_ms(now_ms);
        for (i, slot) in next.iter_mut().enumerate() {
            if let Some(mut at) = slot.filter(|at| *at <= now) {
                while let Some(later) = schedules[i].next_after(at, start).filter(|t| *t <= now) {
                    at = later;
                }
                fire(schedules.clone(), i, at, 0, d.clone(), tx.clone());
                *slot = schedules[i].next_after(now.max(at), start);
            }
        }
        let (due, later): (Vec<Retry>, Vec<Retry>) = retries.drain(..).partition(|r| r.due_ms <= now_ms);
        retries = later;
        for r in due {
            fire(schedules.clone(), r.schedule, r.at, r.attempt, d.clone(), tx.clone());
        }
        let wake_ms = next
            .iter()
            .flatten()
            .map(DateTime::timestamp_millis)
            .chain(retries.iter().map(|r| r.due_ms))
            .min();
        let wait = wake_ms.map_or(tick, |w| {
            Duration::from_millis(u64::try_from(w - now_ms).unwrap_or(0)).min(tick)
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            Some(r) = rx.recv() => retries.push(r),
        }
    }
}

fn fire(
    schedules: Arc<Vec<Schedule>>,
    i: usize,
    at: DateTime<Utc>,
    attempt: u32,
    d: Arc<Dispatcher>,
    retry: tokio::sync::mpsc::UnboundedSender<Retry>,
) {
    drop(tokio::spawn(async move {
        let s = &schedules[i];
        let request_id = botgate::crypto::random_nonce(16);
        let input = input(&s.notification, at);
        let scheduled_time = input["scheduled_time"].as_str().unwrap_or_default().to_owned();
        tracing::info!(request_id, notification = %s.notification, schedule = %s, scheduled_time, attempt, "schedule: running");
        let deadline = d.clock.now_ms() + RUN_DEADLINE_MS;
        match scheduler::run(&d, input, &request_id, deadline).await {
            Ok(report) => tracing::info!(request_id, notification = %s.notification, scheduled_time,
                sent = ?report.sent, already_sent = ?report.already_sent, "schedule: done"),
            Err(e @ scheduler::ScheduleError::BadInput(_)) => tracing::error!(request_id,
                notification = %s.notification, scheduled_time, error = %e, "schedule: failed; not retried, fix the configuration"),
            Err(e) if attempt < RETRIES => {
                let pause = RETRY_PAUSE_MS << attempt;
                tracing::warn!(request_id, notification = %s.notification, scheduled_time, error = %e,
                    retry_in_s = pause / 1000, "schedule: failed; will retry");
                let _ = retry.send(Retry {
                    schedule: i,
                    at,
                    attempt: attempt + 1,
                    due_ms: d.clock.now_ms() + pause,
                });
            }
            Err(e) => tracing::error!(request_id, notification = %s.notification, scheduled_time, error = %e,
                "schedule: failed after {RETRIES} retries (on AWS it would now be in the schedule's dead-letter queue)"),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, tz: &str, after: &str) -> Vec<String> {
        let s = Schedule::parse("n", expr, tz).unwrap();
        let a = utc(after);
        s.upcoming(a, a, 3).iter().map(|t| t.to_rfc3339()).collect()
    }

    #[test]
    fn weekday_mornings_in_beijing_are_01_00_utc() {
        // 2026-11-20 is a Friday: the next runs are Friday, then Monday and Tuesday.
        assert_eq!(
            next("cron(0 9 ? * MON-FRI *)", "Asia/Shanghai", "2026-11-20T00:30:00Z"),
            [
                "2026-11-20T01:00:00+00:00",
                "2026-11-23T01:00:00+00:00",
                "2026-11-24T01:00:00+00:00"
            ]
        );
    }

    #[test]
    fn aws_numbers_weekdays_from_sunday() {
        // 2 = Monday in AWS (it would be Tuesday in Unix cron).
        assert_eq!(
            next("cron(30 18 ? * 2 *)", "UTC", "2026-11-20T00:00:00Z")[0],
            "2026-11-23T18:30:00+00:00"
        );
        // 6L = the last Friday of the month; 2#1 = the first Monday.
        assert_eq!(
            next("cron(0 10 ? * 6L *)", "UTC", "2026-11-01T00:00:00Z")[0],
            "2026-11-27T10:00:00+00:00"
        );
        assert_eq!(
            next("cron(0 10 ? * 2#1 *)", "UTC", "2026-11-23T00:00:00Z")[0],
            "2026-12-07T10:00:00+00:00"
        );
    }

    #[test]
    fn day_of_month_steps_and_years() {
        assert_eq!(
            next("cron(0/20 * * * ? *)", "UTC", "2026-11-23T10:05:00Z"),
            [
                "2026-11-23T10:20:00+00:00",
                "2026-11-23T10:40:00+00:00",
                "2026-11-23T11:00:00+00:00"
            ]
        );
        assert_eq!(
            next("cron(0 0 L * ? *)", "UTC", "2026-02-01T00:00:00Z")[0],
            "2026-02-28T00:00:00+00:00"
        );
        assert_eq!(
            next("cron(0 8 1 1 ? 2028)", "UTC", "2026-11-23T00:00:00Z"),
            ["2028-01-01T08:00:00+00:00"]
        );
    }

    #[test]
    fn daylight_saving_time_is_followed() {
        // New York: 09:00 is 14:00 UTC in winter and 13:00 UTC in summer.
        let runs = next("cron(0 9 ? * * *)", "America/New_York", "2026-03-07T00:00:00Z");
        assert_eq!(runs[0], "2026-03-07T14:00:00+00:00");
        assert_eq!(runs[2], "2026-03-09T13:00:00+00:00");
    }

    #[test]
    fn rate_counts_from_the_start_and_at_runs_once() {
        let s = Schedule::parse("n", "rate(5 minutes)", "UTC").unwrap();
        let start = utc("2026-11-23T10:00:00Z");
        assert_eq!(s.next_after(start, start), Some(utc("2026-11-23T10:05:00Z")));
        assert_eq!(
            s.next_after(utc("2026-11-23T10:07:00Z"), start),
            Some(utc("2026-11-23T10:10:00Z"))
        );
        let at = Schedule::parse("n", "at(2026-11-24T09:00:00)", "Asia/Shanghai").unwrap();
        assert_eq!(at.upcoming(start, start, 3), [utc("2026-11-24T01:00:00Z")]);
        assert_eq!(at.next_after(utc("2026-11-24T01:00:00Z"), start), None);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let err = |e: &str| Schedule::parse("daily", e, "UTC").unwrap_err().to_string();
        assert!(
            err("cron(0 9 * * *)").contains("six fields"),
            "{}",
            err("cron(0 9 * * *)")
        );
        assert!(err("cron(0 9 * * MON *)").contains("must be `?`"));
        assert!(err("cron(0 9 ? * ? *)").contains("only one"));
        assert!(err("cron(0 25 ? * * *)").starts_with("notifications.daily.schedule `cron(0 25 ? * * *)`"));
        assert!(err("rate(0 minutes)").contains("positive"));
        assert!(err("rate(5 weeks)").contains("minute(s), hour(s) or day(s)"));
        assert!(err("every day").contains("expected cron("));
        assert!(err("at(2026-11-24 09:00)").contains("at(yyyy-mm-ddThh:mm:ss)"));
        assert_eq!(
            Schedule::parse("daily", "rate(1 day)", "Beijing").unwrap_err(),
            ScheduleError::TimeZone {
                notification: "daily".into(),
                timezone: "Beijing".into()
            }
        );
    }

    #[test]
    fn the_input_is_what_eventbridge_scheduler_sends() {
        assert_eq!(
            input("daily-report", utc("2026-11-23T01:00:00Z")),
            serde_json::json!({"notification": "daily-report", "scheduled_time": "2026-11-23T01:00:00Z"})
        );
    }
}
