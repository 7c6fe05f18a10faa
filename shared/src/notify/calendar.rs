//! The configured notifications' schedules, read the way EventBridge Scheduler reads them: `cron(minutes hours day-of-month month day-of-week year)` with
//! AWS's fields (day of week 1-7 = SUN-SAT, one of the day fields `?`, `L`, `W`, `#`),
//! `rate(value unit)` and `at(yyyy-mm-ddThh:mm:ss)`, each in an IANA time zone.
//!
//! ```yaml
//! notifications:
//!   daily-report:
//!     schedule: cron(0 9 ? * MON-FRI *)
//!     timezone: Asia/Shanghai      # the default
//! ```
//!
//! One evaluator serves `botgate serve` and the scheduler function's minute tick on AWS,
//! so a schedule runs at the same instants in both. A `rate` runs at whole multiples of
//! its period since 1970-01-01 00:00 UTC (`rate(5 minutes)` at :00, :05, ...; `rate(1
//! hour)` on the hour; `rate(1 day)` at 00:00 UTC): unlike a rate counted from when a
//! schedule was created, it does not move when an instance restarts. Use `cron` for a
//! time of day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::Value;
use thiserror::Error;

use crate::settings::Settings;

/// The time zone a schedule is read in when its notification names none (EventBridge
/// Scheduler's own default is UTC, which puts a 09:00 Beijing report at 17:00).
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

impl ScheduleError {
    /// What is wrong, without the field's path (for a problem that names the field).
    pub fn why(&self) -> String {
        match self {
            Self::Expression { expression, why, .. } => format!("`{expression}`: {why}"),
            Self::TimeZone { timezone, .. } => {
                format!("`{timezone}`: not an IANA time zone name (for example Asia/Shanghai or UTC)")
            }
        }
    }
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
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.when {
            When::Cron(c) => c
                .find_next_occurrence(&after.with_timezone(&self.timezone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            When::Rate(period) => {
                let ms = period.num_milliseconds().max(1);
                let n = after.timestamp_millis().div_euclid(ms).saturating_add(1);
                DateTime::from_timestamp_millis(n.saturating_mul(ms))
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

    /// The runs in `(after, until]`, oldest first, at most `cap` of them (the newest when
    /// there are more).
    pub fn runs_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, cap: usize) -> Vec<DateTime<Utc>> {
        let mut out = std::collections::VecDeque::with_capacity(cap.min(64));
        let mut t = after;
        while let Some(next) = self.next_after(t).filter(|n| *n <= until) {
            if out.len() == cap {
                out.pop_front();
            }
            out.push_back(next);
            t = next;
        }
        out.into()
    }

    /// The next `n` runs after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t) {
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
        "scheduled_time": scheduled_time(at),
    })
}

/// `at` as EventBridge Scheduler writes `<aws.scheduler.scheduled-time>`
/// (`2026-11-23T01:00:00Z`): part of each target's effect key, so a tick and a direct
/// invocation of the same run claim the same effects.
pub fn scheduled_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
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
        s.upcoming(a, 3).iter().map(|t| t.to_rfc3339()).collect()
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
    fn rates_run_at_multiples_of_their_period_and_at_runs_once() {
        let s = Schedule::parse("n", "rate(5 minutes)", "UTC").unwrap();
        assert_eq!(
            s.next_after(utc("2026-11-23T10:00:00Z")),
            Some(utc("2026-11-23T10:05:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-11-23T10:07:31Z")),
            Some(utc("2026-11-23T10:10:00Z"))
        );
        let hourly = Schedule::parse("n", "rate(1 hour)", "Asia/Shanghai").unwrap();
        assert_eq!(
            hourly.next_after(utc("2026-11-23T10:59:59Z")),
            Some(utc("2026-11-23T11:00:00Z"))
        );
        assert_eq!(
            s.runs_between(utc("2026-11-23T10:00:00Z"), utc("2026-11-23T10:20:00Z"), 10),
            [
                utc("2026-11-23T10:05:00Z"),
                utc("2026-11-23T10:10:00Z"),
                utc("2026-11-23T10:15:00Z"),
                utc("2026-11-23T10:20:00Z")
            ]
        );
        assert_eq!(
            s.runs_between(utc("2026-11-23T10:00:00Z"), utc("2026-11-23T10:20:00Z"), 2),
            [utc("2026-11-23T10:15:00Z"), utc("2026-11-23T10:20:00Z")],
            "past the cap, the newest runs are kept"
        );
        let at = Schedule::parse("n", "at(2026-11-24T09:00:00)", "Asia/Shanghai").unwrap();
        let start = utc("2026-11-23T10:00:00Z");
        assert_eq!(at.upcoming(start, 3), [utc("2026-11-24T01:00:00Z")]);
        assert_eq!(at.next_after(utc("2026-11-24T01:00:00Z")), None);
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
