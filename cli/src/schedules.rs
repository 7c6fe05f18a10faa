//! `botgate schedules`: the configured notifications' schedules with their next runs in
//! their time zone (and UTC), to check an expression before deploying it; `--run NAME`
//! runs one notification now through the scheduler's flow.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};

use crate::Outcome;
use crate::schedule::{self, Schedule};

/// Arguments of `botgate schedules`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration (YAML) holding the `notifications:`.
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: String,
    /// How many upcoming runs to list per schedule.
    #[arg(long, default_value_t = 3)]
    count: usize,
    /// List the runs after this instant (RFC 3339, e.g. 2026-11-23T00:00:00Z) instead of now.
    #[arg(long)]
    after: Option<String>,
    /// Run this notification now, as its schedule would (the configuration's dry run applies).
    #[arg(long)]
    run: Option<String>,
    /// Print the request instead of sending it (with --run).
    #[arg(long)]
    dry_run: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    crate::input::block_on(go(args))
}

/// The listing: each schedule, its targets and its next `count` runs after `after`.
pub fn listing(config: &botgate::Settings, schedules: &[Schedule], after: DateTime<Utc>, count: usize) -> String {
    let mut out = String::new();
    for s in schedules {
        let targets = config
            .notifications
            .get(&s.notification)
            .map(|n| n.targets.join(", "))
            .unwrap_or_default();
        out.push_str(&format!("{}: {s} -> {targets}\n", s.notification));
        let runs = s.upcoming(after, count);
        if runs.is_empty() {
            out.push_str("  no run left\n");
        }
        for t in runs {
            out.push_str(&format!("  {}\n", schedule::describe(t, s.timezone)));
        }
    }
    let unscheduled: Vec<&str> = config
        .notifications
        .keys()
        .filter(|n| !schedules.iter().any(|s| &s.notification == *n))
        .map(String::as_str)
        .collect();
    if !unscheduled.is_empty() {
        out.push_str(&format!(
            "without a schedule (run by their input only): {}\n",
            unscheduled.join(", ")
        ));
    }
    out
}

async fn go(args: Args) -> Result<Outcome> {
    let mut config = crate::input::load_config_resolved(&args.config).await?;
    let schedules = schedule::configured(&config)?;
    let Some(name) = args.run else {
        let after = match &args.after {
            Some(a) => DateTime::parse_from_rfc3339(a)
                .with_context(|| format!("--after `{a}`: expected RFC 3339, e.g. 2026-11-23T00:00:00Z"))?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        print!("{}", listing(&config, &schedules, after, args.count));
        println!(
            "{} schedule(s). On AWS the scheduler function's minute tick runs them from the pushed \
             configuration, each run once; `botgate serve` runs them on this machine.",
            schedules.len()
        );
        return Ok(Outcome::Ok);
    };
    if !config.notifications.contains_key(&name) {
        let known: Vec<&str> = config.notifications.keys().map(String::as_str).collect();
        return Err(anyhow!("no notification `{name}` (configured: {})", known.join(", ")));
    }
    config.delivery.dry_run |= args.dry_run;
    let d = crate::input::command_dispatcher(config).await?;
    let now = botgate::clock::Clock::now_ms(d.clock.as_ref());
    let at = DateTime::from_timestamp_millis(now).unwrap_or_default();
    let request_id = botgate::crypto::random_nonce(16);
    let report = botgate::scheduler::run(
        &d,
        schedule::input(&name, at),
        &request_id,
        now + schedule::RUN_DEADLINE_MS,
    )
    .await
    .map_err(|e| anyhow!("{name}: {e}"))?;
    eprintln!(
        "{name}: {} {}{}",
        if d.delivery.dry_run { "would send to" } else { "sent to" },
        report.sent.join(", "),
        if report.already_sent.is_empty() {
            String::new()
        } else {
            format!(" (already sent: {})", report.already_sent.join(", "))
        }
    );
    Ok(Outcome::Ok)
}
