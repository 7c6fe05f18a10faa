//! `botgate doctor`: is this configuration ready to run? It checks the configuration,
//! resolves every reference, fetches each bot's access token from its platform (or the
//! configured base URL), checks each group bot's webhook and signing secret, and prints per
//! bot the callback URL to paste in the platform's console, with what is wrong in plain
//! words. Exit 0 only when all is well.

use std::fmt;

use anyhow::Result;
use botgate::Platform;
use botgate::Settings;
use botgate::bot::Bot;
use botgate::config::{Mode, Resolver};
use botgate::delivery::Delivery;
use botgate::notify::target::TargetKind;

use crate::Outcome;

/// Arguments of `botgate doctor`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration: a path or s3://bucket/key (the stack output ConfigUri).
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: String,
    /// The callback base URL (the stack output CallbackBaseUrl, or http://127.0.0.1:8080
    /// for `botgate serve`), to print each bot's callback URL.
    #[arg(long)]
    base_url: Option<String>,
}

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is about: `configuration`, `bot ops`, `target ops-dingtalk`.
    pub subject: String,
    /// Whether it is fine.
    pub ok: bool,
    /// What was found, in plain words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            if self.ok { "ok  " } else { "FAIL" },
            self.subject,
            self.message
        )
    }
}

/// What the doctor found.
#[derive(Debug, Default)]
pub struct Report {
    /// Everything checked, in order.
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, subject: impl Into<String>, ok: bool, message: impl Into<String>) {
        self.findings.push(Finding {
            subject: subject.into(),
            ok,
            message: message.into(),
        });
    }

    /// Whether everything is fine.
    pub fn ok(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }
}

/// The field holding the secret that fetches a bot's access token.
fn sending_secret(platform: Platform) -> &'static str {
    match platform {
        Platform::Wecom => "corp_secret",
        Platform::Feishu | Platform::Dingtalk | Platform::Wechat => "app_secret",
    }
}

/// Examines configuration `text`: references resolved with `resolver`; tokens fetched
/// through `delivery` (a real transport; the configuration's dry run does not apply).
pub async fn examine(
    text: &str,
    resolver: &dyn Resolver,
    delivery: impl FnOnce(&Settings) -> Result<Delivery>,
    base_url: Option<&str>,
) -> Report {
    let mut report = Report::default();
    let problems = botgate::deps::check(text, Mode::SyntaxOnly).await;
    if !problems.is_empty() {
        for p in problems {
            report.add("configuration", false, p.to_string());
        }
        return report;
    }
    let settings = match botgate::deps::load_yaml(text, resolver).await {
        Ok(s) => s,
        Err(e) => {
            for p in e.problems() {
                report.add(
                    "configuration",
                    false,
                    format!(
                        "{p} (a reference that cannot be resolved: check its name, and that this machine may read it)"
                    ),
                );
            }
            return report;
        }
    };
    report.add(
        "configuration",
        true,
        format!(
            "valid, every reference resolved ({} bots, {} rules, {} targets)",
            settings.bots.len(),
            settings.rules.len(),
            settings.targets.len()
        ),
    );
    let delivery = match delivery(&settings) {
        Ok(d) => d,
        Err(e) => {
            report.add("delivery", false, e.to_string());
            return report;
        }
    };
    for bot in settings.bots.values() {
        examine_bot(&mut report, &delivery, bot, base_url).await;
    }
    for (name, target) in &settings.targets {
        let subject = format!("target {name}");
        match &target.kind {
            TargetKind::Webhook(w) => match w.secret.as_ref().map(|s| s.expose()) {
                Some(secret) => match signing_secret_problem(w.platform, secret) {
                    Some(why) => report.add(subject, false, why),
                    None => report.add(subject, true, "webhook and signing secret well formed"),
                },
                None => report.add(subject, true, "webhook well formed (no signing secret)"),
            },
            TargetKind::App { bot, to } => report.add(subject, true, format!("to {to} through bot {bot}")),
            TargetKind::Sns { topic_arn } => report.add(subject, true, format!("SNS topic {topic_arn}")),
            TargetKind::Email { to, .. } => report.add(subject, true, format!("e-mail to {}", to.join(", "))),
        }
    }
    report
}

async fn examine_bot(report: &mut Report, delivery: &Delivery, bot: &Bot, base_url: Option<&str>) {
    let subject = format!("bot {}", bot.id);
    let url = format!(
        "{}/{}/{}",
        base_url.unwrap_or("<CallbackBaseUrl>").trim_end_matches('/'),
        bot.platform,
        bot.id
    );
    report.add(&subject, true, format!("callback URL {url}"));
    let secret = sending_secret(bot.platform);
    if bot.credentials.field(secret).is_none() {
        report.add(
            &subject,
            true,
            format!("no {secret}: it answers callbacks, but cannot reply or notify through the platform's API"),
        );
        return;
    }
    let base = delivery.urls.for_bot(bot);
    match delivery.fetch_token(bot, &base).await {
        Ok((_, expires_in)) => report.add(
            &subject,
            true,
            format!("access token fetched from {base} (valid {expires_in} s)"),
        ),
        Err(e) => report.add(
            &subject,
            false,
            format!(
                "cannot fetch an access token from {base}: {e}{}",
                token_hint(bot.platform, &e.to_string())
            ),
        ),
    }
}

/// A plain-words hint for the usual token failures.
fn token_hint(platform: Platform, error: &str) -> &'static str {
    if error.contains("allow-list") || error.contains("trusted IPs") {
        return "";
    }
    match platform {
        Platform::Feishu if error.contains("10014") || error.contains("10003") => {
            " (the app secret or app id is wrong: copy them from the developer console's Credentials page)"
        }
        Platform::Wechat if error.contains("40125") || error.contains("40013") => {
            " (the AppSecret or AppID is wrong: reset and copy it under 设置与开发 > 基本配置)"
        }
        Platform::Wecom if error.contains("40001") || error.contains("40013") => {
            " (the corp id or the app's Secret is wrong: copy them from 我的企业 and the app's page)"
        }
        Platform::Dingtalk if error.contains("invalidClientIdOrSecret") || error.contains("400") => {
            " (the app key or app secret is wrong: copy them from the app's Credentials page)"
        }
        _ => "",
    }
}

/// What is wrong with a group bot's signing secret, if anything (a pasted secret often
/// carries a space or a line break; DingTalk's start with `SEC`).
pub fn signing_secret_problem(platform: Platform, secret: &str) -> Option<String> {
    if secret.is_empty() {
        return Some("the signing secret is empty".into());
    }
    if secret.chars().any(char::is_whitespace) {
        return Some("the signing secret contains a space or a line break (a paste that took too much)".into());
    }
    if !secret.is_ascii() {
        return Some("the signing secret has non-ASCII characters".into());
    }
    if platform == Platform::Dingtalk && !secret.starts_with("SEC") {
        return Some(
            "a DingTalk robot's signing secret starts with SEC: copy it from the robot's security settings (加签)"
                .into(),
        );
    }
    None
}

/// A delivery that really sends (whatever the configuration's dry run says), with the
/// configuration's base URLs and timeout, and no shared token cache.
pub fn real_delivery(settings: &Settings) -> Result<Delivery> {
    let mut config = settings.clone();
    config.delivery.dry_run = false;
    let transport = botgate::deps::transport(&config).map_err(anyhow::Error::msg)?;
    let clock = std::sync::Arc::new(botgate::clock::SystemClock);
    let tokens = std::sync::Arc::new(botgate::token::TokenCache::new(
        std::sync::Arc::new(botgate::token::memory::MemoryTokens::new()),
        clock.clone(),
    ));
    let mut d = Delivery::new(transport, tokens, clock);
    d.urls = config.delivery.base_urls.clone();
    Ok(d)
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    crate::input::block_on(go(args))
}

async fn go(args: Args) -> Result<Outcome> {
    let text = crate::input::read_config(&args.config).await?.text;
    let resolver = crate::input::resolver();
    let report = examine(&text, resolver.as_ref(), real_delivery, args.base_url.as_deref()).await;
    for f in &report.findings {
        println!("{f}");
    }
    let failed = report.findings.iter().filter(|f| !f.ok).count();
    if failed == 0 {
        eprintln!("{}: all good", args.config);
        Ok(Outcome::Ok)
    } else {
        eprintln!("{}: {failed} problem(s)", args.config);
        Ok(Outcome::Rejected)
    }
}
