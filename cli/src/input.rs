//! Reading the command line's input files: credentials, configurations, requests, the clock.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use botgate::config::EnvResolver;
use botgate::{Credentials, Platform, Settings};
use serde_json::Value;

/// Where a command gets a bot's credentials: a credentials file, or a bot in a configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct BotSource {
    /// feishu (or lark), dingtalk, wechat or wecom (implied by --config/--bot).
    #[arg(long)]
    pub platform: Option<Platform>,
    /// The bot's credentials (JSON, the vectors' field names).
    #[arg(long, conflicts_with = "config")]
    pub credentials: Option<PathBuf>,
    /// A botgate configuration (YAML): a path or s3://bucket/key; use with --bot.
    #[arg(long, requires = "bot")]
    pub config: Option<String>,
    /// The bot id in --config.
    #[arg(long, requires = "config")]
    pub bot: Option<String>,
}

impl BotSource {
    /// The bot's credentials.
    pub fn load(&self) -> Result<Credentials> {
        match (&self.credentials, &self.config, &self.bot) {
            (Some(path), _, _) => {
                let Some(platform) = self.platform else {
                    bail!("--platform is required with --credentials");
                };
                let v = credentials(path, platform)?;
                Credentials::from_json(platform, &v).with_context(|| format!("{}", path.display()))
            }
            (None, Some(path), Some(bot)) => {
                let config = load_config(path)?;
                let b = config.bots.get(bot).with_context(|| {
                    let ids: Vec<&str> = config.bots.keys().map(String::as_str).collect();
                    format!("{path} has no bot `{bot}` (bots: {})", ids.join(", "))
                })?;
                if let Some(p) = self.platform
                    && p != b.platform
                {
                    bail!("bot `{bot}` is a {} bot, not {p}", b.platform);
                }
                Ok(b.credentials.clone())
            }
            _ => bail!("give --platform with --credentials FILE, or --config FILE with --bot ID"),
        }
    }
}

/// The text of the configuration at `uri` (a path, or `s3://bucket/key` with the `aws`
/// feature), with its version tag.
pub async fn read_config(uri: &str) -> Result<botgate::reload::source::Fetched> {
    let parsed = botgate::reload::source::ConfigUri::parse(uri)?;
    match botgate::reload::source::Source::new(parsed).fetch(None).await? {
        botgate::reload::source::Fetch::Changed(f) => Ok(f),
        botgate::reload::source::Fetch::Unchanged => bail!("{uri}: nothing read"),
    }
}

/// The resolver of every reference kind (`${ssm:..}` and `${secretsmanager:..}` too, with
/// the `aws` feature).
pub fn resolver() -> std::sync::Arc<dyn botgate::config::Resolver> {
    #[cfg(feature = "aws")]
    return std::sync::Arc::new(botgate::aws::AwsResolver::new());
    #[cfg(not(feature = "aws"))]
    std::sync::Arc::new(EnvResolver)
}

/// Loads a configuration (a path or `s3://bucket/key`) with every reference kind resolved:
/// for `serve`, `send`, `render` and `schedules`.
pub async fn load_config_resolved(uri: &str) -> Result<Settings> {
    let text = read_config(uri).await?.text;
    botgate::deps::load_yaml(&text, resolver().as_ref())
        .await
        .with_context(|| format!("configuration {uri}"))
}

/// Loads a configuration (a path or `s3://bucket/key`), resolving `${env:...}` references.
pub fn load_config(uri: &str) -> Result<Settings> {
    block_on(async {
        let text = read_config(uri).await?.text;
        botgate::deps::load_yaml(&text, &EnvResolver)
            .await
            .with_context(|| format!("configuration {uri}"))
    })
}

/// Runs a command's future on a single-threaded runtime.
pub fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// A dispatcher for a one-off command (`send`, `schedules --run`): the configuration's
/// stores, no metrics, no custom handlers.
pub async fn command_dispatcher(config: Settings) -> Result<botgate::dispatcher::Dispatcher> {
    botgate::deps::dispatcher(
        std::sync::Arc::new(config),
        std::sync::Arc::new(botgate::metrics::Discard),
        botgate::handler::Registry::default(),
        None,
    )
    .await
    .map_err(anyhow::Error::msg)
}

/// Reads a JSON file, naming it in errors.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Loads a credentials object. Accepts the object itself, a `{"credentials": {...}}`
/// wrapper, or the test vectors file (picking the platform's entry).
pub fn credentials(path: &Path, platform: Platform) -> Result<Value> {
    let v = read_json(path)?;
    if let Some(list) = v.get("platforms").and_then(Value::as_array) {
        for p in list {
            if p.get("platform").and_then(Value::as_str) == Some(platform.as_str()) {
                return p
                    .get("credentials")
                    .cloned()
                    .context("vectors entry without credentials");
            }
        }
        bail!("{} has no credentials for {platform}", path.display());
    }
    if let Some(c) = v.get("credentials") {
        return Ok(c.clone());
    }
    if !v.is_object() {
        bail!("{} must hold a JSON object of credentials", path.display());
    }
    Ok(v)
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Prints `text` and a newline on stdout; a reader that went away (`| head`) ends the
/// output quietly instead of failing the command.
pub fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
