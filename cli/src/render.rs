//! `botgate render`: what an Alertmanager (or Grafana) webhook becomes, without sending it.
//! With `--target`, the exact requests botgate would send to that target (signed, split to
//! its size limit, credentials shown as `***`); without, the message body each platform's
//! group bot would receive.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use botgate::notify::alert;
use botgate::notify::api::ApiSettings;

use crate::Outcome;

/// Arguments of `botgate render`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// An Alertmanager webhook payload (JSON, version 4).
    #[arg(long, conflicts_with = "grafana", required_unless_present = "grafana")]
    alertmanager: Option<PathBuf>,
    /// A Grafana Alerting webhook payload (JSON, version 1).
    #[arg(long)]
    grafana: Option<PathBuf>,
    /// The configuration: its `notify_api` settings (time offset, who is mentioned) and
    /// its `targets:`.
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: String,
    /// Print the requests this target (or each target of this router) would get, a dry
    /// run, instead of each platform's body.
    #[arg(long)]
    target: Option<String>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    crate::input::block_on(go(args))
}

fn default_settings() -> Result<ApiSettings> {
    botgate::deps::notify_api(&serde_json::json!({"bearer_token": "unused"})).map_err(|e| anyhow!("{e}"))
}

async fn go(args: Args) -> Result<Outcome> {
    let mut config = crate::input::load_config_resolved(&args.config).await?;
    let settings = match &config.notify_api {
        Some(s) => s.clone(),
        None => default_settings()?,
    };
    let (path, grafana) = match (&args.alertmanager, &args.grafana) {
        (Some(p), _) => (p, false),
        (None, Some(p)) => (p, true),
        (None, None) => return Err(anyhow!("give --alertmanager FILE or --grafana FILE")),
    };
    let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = if grafana {
        alert::parse_grafana(&body, &settings)
    } else {
        alert::parse_alertmanager(&body, &settings)
    };
    let message = match parsed {
        Ok(m) => m,
        Err(rejection) => {
            eprintln!(
                "botgate: the gateway would refuse this payload ({}): {rejection}",
                rejection.status()
            );
            return Ok(Outcome::Rejected);
        }
    };
    let Some(target) = args.target else {
        let bodies = serde_json::json!({
            "feishu": botgate::platform::feishu::render(&message),
            "dingtalk": botgate::platform::dingtalk::render(&message),
            "wecom": botgate::platform::wecom::render_bot(&message),
        });
        crate::input::print_stdout(&serde_json::to_string_pretty(&bodies)?)?;
        return Ok(Outcome::Ok);
    };
    let source = if grafana { "grafana" } else { "alertmanager" };
    let sends: Vec<(String, botgate::message::Message)> = if let Some(spec) = config.targets.get(&target) {
        // The target's own alert template, when it has one.
        match alert::read(&body, source).and_then(|h| h.for_target(&settings, &target, Some(spec))) {
            Ok(m) => vec![(target.clone(), m)],
            Err(rejection) => {
                eprintln!(
                    "botgate: the gateway would refuse this payload ({}): {rejection}",
                    rejection.status()
                );
                return Ok(Outcome::Rejected);
            }
        }
    } else if let Some(router) = config.alerts.routers.get(&target) {
        let now = botgate::clock::Clock::now_ms(&botgate::clock::SystemClock);
        match alert::read(&body, source).and_then(|h| h.routed(&settings, &config.alerts, router, now, &config.targets))
        {
            Ok(cards) => cards,
            Err(rejection) => {
                eprintln!(
                    "botgate: the gateway would refuse this payload ({}): {rejection}",
                    rejection.status()
                );
                return Ok(Outcome::Rejected);
            }
        }
    } else {
        let known: Vec<&str> = config
            .targets
            .keys()
            .chain(config.alerts.routers.keys())
            .map(String::as_str)
            .collect();
        return Err(anyhow!(
            "no target or router `{target}` (configured: {})",
            known.join(", ")
        ));
    };
    if sends.is_empty() {
        eprintln!("no route of `{target}` takes any of these alerts: nothing would be sent");
    }
    config.delivery.dry_run = true;
    let d = crate::input::command_dispatcher(config).await?;
    let deadline = botgate::clock::Clock::now_ms(d.clock.as_ref()) + 60_000;
    for (to, message) in sends {
        let parts = d
            .notifier
            .send(&to, &message, &botgate::crypto::random_nonce(16), deadline)
            .await
            .map_err(|e| anyhow!("{to}: {e}"))?;
        eprintln!("would send {parts} part(s) to {to}");
    }
    Ok(Outcome::Ok)
}
