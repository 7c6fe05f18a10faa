//! A configuration that is reloaded while the process runs: read from `BOTGATE_CONFIG_URI`
//! (`s3://bucket/key` or a file, [`source`]) at start, then re-checked every
//! `gateway.config_refresh_secs` (default 60) with a conditional read, so an unchanged
//! configuration costs one small request per interval per instance and a changed one takes
//! effect without a redeploy or a cold start.
//!
//! - A new configuration is read, its `${ssm:..}` / `${secretsmanager:..}` references are
//!   resolved (all at once), it is validated, and only then swapped in. One that does not
//!   parse, resolve or validate is **refused**: the instance keeps the last good one, logs
//!   the problems (each with its field and line, never a value) and counts a `refused`
//!   reload, which an alarm watches.
//! - The references are also resolved again every [`REFERENCES_REFRESH_MS`] with the same
//!   text, so a rotated secret is picked up without a push.
//! - A cold start with a bad configuration fails, as before: there is nothing to keep.
//!
//! Each Lambda instance checks at the start of an invocation once the interval has passed
//! (Lambda freezes an idle instance, so there is no background timer); `botgate serve`
//! checks on a timer.

pub mod source;

use std::sync::{Arc, PoisonError, RwLock};

use crate::callback::Deps;
use crate::config::Resolver;
use crate::dispatcher::Dispatcher;
use crate::metrics::MetricsSink;
use crate::settings::Settings;
use source::{ConfigUri, Fetch, Source};

/// How often references are resolved again when the configuration itself is unchanged.
pub const REFERENCES_REFRESH_MS: i64 = 15 * 60_000;

/// A value built from the configuration that can be rebuilt on a new one, keeping what
/// belongs to the process (stores, queue, caches).
pub trait Reconfigure: Sized {
    /// The configuration it was built from.
    fn settings(&self) -> &Settings;
    /// The same on `config`.
    fn reconfigured(&self, config: Arc<Settings>) -> Result<Self, String>;
}

impl Reconfigure for Deps {
    fn settings(&self) -> &Settings {
        &self.config
    }

    fn reconfigured(&self, config: Arc<Settings>) -> Result<Self, String> {
        crate::deps::reconfigured_gateway(self, config)
    }
}

impl Reconfigure for Dispatcher {
    fn settings(&self) -> &Settings {
        &self.config
    }

    fn reconfigured(&self, config: Arc<Settings>) -> Result<Self, String> {
        crate::deps::reconfigured_dispatcher(self, config)
    }
}

/// The current value, swapped whole on a reload (readers keep the one they took).
#[derive(Debug)]
pub struct Live<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Live<T> {
    /// Starts with `value`.
    pub fn new(value: T) -> Self {
        Self {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the current value.
    pub fn set(&self, value: T) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
    }
}

impl<T: Reconfigure> Live<T> {
    /// Rebuilds the value on `config`; false (and the old value kept) when it cannot be.
    pub fn apply(&self, config: &Arc<Settings>) -> Result<(), String> {
        let next = self.get().reconfigured(config.clone())?;
        self.set(next);
        Ok(())
    }
}

struct State {
    /// The version last read (good or refused): the next read is conditional on it.
    etag: String,
    /// The last good text, for resolving its references again.
    text: String,
    fingerprint: [u8; 32],
    next_check_ms: i64,
    next_resolve_ms: i64,
    refresh_ms: i64,
}

/// Watches one configuration source (see the module's documentation).
pub struct Reloader {
    source: Source,
    resolver: Arc<dyn Resolver>,
    component: &'static str,
    metrics: Arc<dyn MetricsSink>,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("uri", self.source.uri())
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// Reads, resolves and validates the configuration now: the start of a process, which
    /// fails with every problem when it is not valid. While the source does not exist yet,
    /// it starts on `bootstrap` (YAML) when given: a stack deployed before its first
    /// `botgate config push` runs with no bots and picks the configuration up at the next
    /// check.
    pub async fn start(
        source: Source,
        resolver: Arc<dyn Resolver>,
        component: &'static str,
        metrics: Arc<dyn MetricsSink>,
        now_ms: i64,
        bootstrap: Option<&str>,
    ) -> Result<(Self, Settings), String> {
        let fetched = match (source.fetch(None).await, bootstrap) {
            (Ok(Fetch::Changed(f)), _) => f,
            (Ok(Fetch::Unchanged), _) => return Err(format!("{}: no configuration read", source.uri())),
            (Err(e @ source::SourceError::Missing(_)), Some(yaml)) => {
                tracing::warn!(error = %e, "configuration: none yet; running with no bots until one is pushed");
                source::Fetched {
                    text: yaml.to_owned(),
                    etag: String::new(),
                    version: None,
                }
            }
            (Err(e), _) => return Err(e.to_string()),
        };
        let (settings, fingerprint) = crate::deps::load_fingerprinted(&fetched.text, resolver.as_ref())
            .await
            .map_err(|e| format!("configuration {}: {e}", source.uri()))?;
        tracing::info!(uri = %source.uri(), etag = %fetched.etag, version = fetched.version.as_deref().unwrap_or("-"),
            bytes = fetched.text.len(), "configuration loaded");
        let refresh_ms = refresh_ms(&settings);
        let state = State {
            etag: fetched.etag,
            text: fetched.text,
            fingerprint,
            next_check_ms: now_ms.saturating_add(refresh_ms),
            next_resolve_ms: now_ms.saturating_add(REFERENCES_REFRESH_MS),
            refresh_ms,
        };
        Ok((
            Self {
                source,
                resolver,
                component,
                metrics,
                state: tokio::sync::Mutex::new(state),
            },
            settings,
        ))
    }

    /// The source's URI.
    pub fn uri(&self) -> &ConfigUri {
        self.source.uri()
    }

    /// Checks the source if the refresh interval has passed: a new, valid configuration
    /// (or the same one with rotated reference values) comes back to be swapped in.
    /// Returns at once when not due, or while another caller is checking.
    pub async fn check(&self, now_ms: i64) -> Option<Settings> {
        let Ok(mut st) = self.state.try_lock() else {
            return None;
        };
        if now_ms < st.next_check_ms {
            return None;
        }
        st.next_check_ms = now_ms.saturating_add(st.refresh_ms);
        let etag = Some(st.etag.as_str()).filter(|e| !e.is_empty());
        let fetched = match self.source.fetch(etag).await {
            Ok(Fetch::Changed(f)) => Some(f),
            Err(source::SourceError::Missing(_)) if st.etag.is_empty() => return None,
            Ok(Fetch::Unchanged) if now_ms >= st.next_resolve_ms => None,
            Ok(Fetch::Unchanged) => return None,
            Err(e) => {
                tracing::warn!(uri = %self.source.uri(), error = %e, "configuration: cannot check for a change; keeping the current one");
                self.emit("unreadable", now_ms);
                return None;
            }
        };
        let text = fetched.as_ref().map_or(st.text.as_str(), |f| f.text.as_str());
        let loaded = crate::deps::load_fingerprinted(text, self.resolver.as_ref()).await;
        st.next_resolve_ms = now_ms.saturating_add(REFERENCES_REFRESH_MS);
        match (loaded, fetched) {
            (Ok((settings, fingerprint)), Some(f)) => {
                tracing::info!(uri = %self.source.uri(), etag = %f.etag, version = f.version.as_deref().unwrap_or("-"),
                    bytes = f.text.len(), "configuration reloaded");
                st.etag = f.etag;
                st.text = f.text;
                st.fingerprint = fingerprint;
                st.refresh_ms = refresh_ms(&settings);
                st.next_check_ms = now_ms.saturating_add(st.refresh_ms);
                self.emit("reloaded", now_ms);
                Some(settings)
            }
            (Ok((settings, fingerprint)), None) => {
                if fingerprint == st.fingerprint {
                    return None;
                }
                tracing::info!(uri = %self.source.uri(), "configuration: a referenced value changed (a rotated secret); reloaded");
                st.fingerprint = fingerprint;
                self.emit("reloaded", now_ms);
                Some(settings)
            }
            (Err(e), fetched) => {
                // Not read again until it changes: the refused version's tag is kept.
                if let Some(f) = fetched {
                    st.etag = f.etag;
                }
                let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
                tracing::error!(uri = %self.source.uri(), problems = ?problems,
                    "configuration refused; keeping the last good one");
                self.emit("refused", now_ms);
                None
            }
        }
    }

    /// Counts a configuration that checked out but could not be applied (see
    /// [`Live::apply`]): the last good one stays.
    pub fn refused_apply(&self, why: &str, now_ms: i64) {
        tracing::error!(uri = %self.source.uri(), error = why, "configuration refused; keeping the last good one");
        self.emit("refused", now_ms);
    }

    fn emit(&self, outcome: &str, now_ms: i64) {
        self.metrics.emit(&crate::metrics::Count {
            name: "config_reloads",
            component: self.component,
            outcome,
            timestamp_ms: now_ms,
        });
    }

    /// Checks the source and applies a new configuration to each of `lives` (all or none
    /// stay on the old one when one cannot take it). True when a new one was applied.
    pub async fn refresh<T: Reconfigure>(&self, live: &Live<T>, now_ms: i64) -> bool {
        let Some(settings) = self.check(now_ms).await else {
            return false;
        };
        match live.apply(&Arc::new(settings)) {
            Ok(()) => true,
            Err(e) => {
                self.refused_apply(&e, now_ms);
                false
            }
        }
    }
}

fn refresh_ms(settings: &Settings) -> i64 {
    i64::try_from(settings.config_refresh_secs.max(1))
        .unwrap_or(86_400)
        .saturating_mul(1000)
}

/// What a deployed function runs on before the first configuration is pushed: the stack's
/// table and queues (from the environment `template.yaml` sets), no bots. A pushed
/// configuration must name the same backends (`examples/botgate.yaml` does).
pub const BOOTSTRAP: &str = "gateway:
  store: dynamodb
  table: ${env:BOTGATE_TABLE}
  queue: sqs
  queue_url: ${env:BOTGATE_QUEUE_URL}
  dead_letter_queue_url: ${env:BOTGATE_DLQ_URL}
bots: {}
";

/// The configuration source a Lambda function reads: `BOTGATE_CONFIG_URI` (`s3://..` or a
/// path), else `BOTGATE_CONFIG_FILE` (a path); `BOTGATE_CONFIG` (the YAML itself, 4 KB at
/// most in a Lambda environment) is read once and never reloaded.
pub enum EnvSource {
    /// A source to watch.
    Watched(Source),
    /// Inline YAML.
    Inline(String),
}

/// Reads the environment's choice of source.
pub fn env_source() -> Result<EnvSource, String> {
    if let Some(uri) = std::env::var("BOTGATE_CONFIG_URI")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Ok(EnvSource::Watched(Source::new(
            ConfigUri::parse(&uri).map_err(|e| format!("BOTGATE_CONFIG_URI: {e}"))?,
        )));
    }
    if let Ok(text) = std::env::var("BOTGATE_CONFIG") {
        return Ok(EnvSource::Inline(text));
    }
    let path = std::env::var("BOTGATE_CONFIG_FILE")
        .map_err(|_| "set BOTGATE_CONFIG_URI (s3://bucket/key or a path), BOTGATE_CONFIG_FILE or BOTGATE_CONFIG")?;
    Ok(EnvSource::Watched(Source::new(ConfigUri::File(path.into()))))
}

/// A Lambda function's configuration: loaded from the environment's source, with the
/// reloader that keeps it current (none for inline YAML).
#[cfg(feature = "aws")]
pub async fn from_env(
    component: &'static str,
    metrics: Arc<dyn MetricsSink>,
    now_ms: i64,
) -> Result<(Settings, Option<Reloader>), String> {
    let resolver: Arc<dyn Resolver> = Arc::new(crate::aws::AwsResolver::new());
    match env_source()? {
        EnvSource::Inline(text) => {
            let settings = crate::deps::load_yaml(&text, resolver.as_ref())
                .await
                .map_err(|e| e.to_string())?;
            Ok((settings, None))
        }
        EnvSource::Watched(source) => {
            let (reloader, settings) =
                Reloader::start(source, resolver, component, metrics, now_ms, Some(BOOTSTRAP)).await?;
            Ok((settings, Some(reloader)))
        }
    }
}
