//! The gateway configuration: bots keyed by id, each with its platform, credentials (the
//! vectors' field names) and options, plus the storage and queue backends.
//!
//! Any string value may contain references, resolved once at start (once per cold start):
//! `${env:NAME}`, `${ssm:/parameter/name}` (SecureString decrypted) and
//! `${secretsmanager:secret-id}` or `${secretsmanager:secret-id#json_key}`.
//! Errors name the bot and the field; a secret value never appears in one.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use thiserror::Error;

use crate::event::Platform;
use crate::inbound::{DEFAULT_MAX_BODY_BYTES, Options, Verifier};

/// Default time a delivered event id is remembered: 24 h, beyond Feishu's ~7 h of retries.
pub const DEFAULT_DEDUP_RETENTION_SECS: u64 = 24 * 3600;
/// Default limit for one queue message: SQS's classic 256 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Default lifetime of conversation state: one hour after its last change.
pub const DEFAULT_STATE_TTL_SECS: u64 = 3600;

/// Outbound settings (`delivery:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Print each request instead of sending it (no tokens fetched).
    pub dry_run: bool,
    /// The platforms' API base URLs.
    pub base_urls: crate::delivery::BaseUrls,
    /// Retries.
    pub retry: crate::delivery::RetryPolicy,
    /// Timeout of one HTTP request, ms.
    pub timeout_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            dry_run: false,
            base_urls: crate::delivery::BaseUrls::default(),
            retry: crate::delivery::RetryPolicy::default(),
            timeout_ms: 5_000,
        }
    }
}

/// The bot-level keys that are options rather than credentials.
const OPTION_KEYS: [&str; 4] = ["platform", "timestamp_window_secs", "max_body_bytes", "card_answer"];

/// Why a configuration cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {why}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        why: String,
    },
    /// The text is not valid YAML of the expected shape.
    #[error("configuration is not valid YAML: {0}")]
    Yaml(String),
    /// A top-level or gateway field is wrong.
    #[error("configuration field `{field}`: {why}")]
    Field {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// A bot is misconfigured.
    #[error("bot `{bot}`: {why}")]
    Bot {
        /// The bot id.
        bot: String,
        /// What is wrong (names the field, never its value).
        why: String,
    },
    /// A reference could not be resolved.
    #[error("{location}: cannot resolve {reference}: {why}")]
    Reference {
        /// Where the reference is (`bots.<id>.<field>`).
        location: String,
        /// The reference itself (`${ssm:/name}`): names, never values.
        reference: String,
        /// What went wrong.
        why: String,
    },
}

/// Which dedup store to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// In process memory (local runs and tests).
    Memory,
    /// A DynamoDB table.
    Dynamodb,
}

/// Which queue to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// In process memory (local runs and tests).
    Memory,
    /// An SQS FIFO queue.
    Sqs,
}

/// Storage and queue settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backends {
    /// The dedup store.
    pub store: StoreKind,
    /// The queue.
    pub queue: QueueKind,
    /// The DynamoDB table name (store `dynamodb`).
    pub table: Option<String>,
    /// The SQS FIFO queue URL (queue `sqs`).
    pub queue_url: Option<String>,
}

/// One configured bot.
#[derive(Clone)]
pub struct Bot {
    /// The id used in the route `/{platform}/{id}`.
    pub id: String,
    /// Its platform.
    pub platform: Platform,
    /// The prepared verifier.
    pub verifier: Verifier,
    /// Inbound options.
    pub options: Options,
    credentials: Value,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("id", &self.id)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// The resolved credentials object (holds secrets: never log it).
    pub fn credentials(&self) -> &Value {
        &self.credentials
    }
}

/// The whole gateway configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bots by id.
    pub bots: BTreeMap<String, Bot>,
    /// Backends.
    pub backends: Backends,
    /// How long an event id is remembered, in seconds.
    pub dedup_retention_secs: u64,
    /// The largest queue message, in bytes.
    pub max_message_bytes: usize,
    /// Conversation state lifetime after its last change, in seconds.
    pub state_ttl_secs: u64,
    /// The dispatcher's rules.
    pub rules: std::sync::Arc<crate::rules::Rules>,
    /// Outbound settings.
    pub delivery: DeliverySettings,
    /// Notification targets by name.
    pub targets: BTreeMap<String, crate::notify::target::TargetSpec>,
    /// The notify API's settings (`None`: the API is off).
    pub notify_api: Option<crate::notify::api::ApiSettings>,
    /// Scheduled notifications by name (`targets`, `message`, `data`; see [`crate::scheduler`]).
    pub notifications: serde_json::Map<String, Value>,
}

/// Resolves `${kind:argument}` references.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    /// The value of one reference, or why not.
    async fn resolve(&self, kind: &str, argument: &str) -> Result<String, String>;
}

/// Resolves `${env:NAME}` only; other kinds are refused with a hint.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvResolver;

#[async_trait::async_trait]
impl Resolver for EnvResolver {
    async fn resolve(&self, kind: &str, argument: &str) -> Result<String, String> {
        resolve_env(kind, argument)
    }
}

/// The `env` kind, shared by every resolver.
pub fn resolve_env(kind: &str, argument: &str) -> Result<String, String> {
    match kind {
        "env" => std::env::var(argument).map_err(|_| format!("environment variable {argument} is not set")),
        other => Err(format!(
            "references of kind `{other}` need AWS (run with the dynamodb/sqs backends, or use ${{env:...}} locally)"
        )),
    }
}

/// Splits `text` into literal parts and `${kind:arg}` references.
fn references(text: &str) -> Vec<(usize, usize, &str, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("${").map(|i| i + from) {
        let Some(end) = text[start..].find('}').map(|i| i + start) else {
            break;
        };
        let inner = &text[start + 2..end];
        if let Some((kind, arg)) = inner.split_once(':') {
            out.push((start, end + 1, kind, arg));
        }
        from = end + 1;
    }
    out
}

/// Resolves every reference in the tree, each distinct reference once.
async fn resolve_tree(
    value: &mut Value,
    location: &str,
    resolver: &dyn Resolver,
    cache: &mut HashMap<String, String>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) => {
            let refs = references(s);
            if refs.is_empty() {
                return Ok(());
            }
            let mut out = String::new();
            let mut last = 0;
            for (start, end, kind, arg) in refs {
                out.push_str(&s[last..start]);
                let reference = &s[start..end];
                let resolved = match cache.get(reference) {
                    Some(v) => v.clone(),
                    None => {
                        let v = resolver
                            .resolve(kind, arg)
                            .await
                            .map_err(|why| ConfigError::Reference {
                                location: location.to_owned(),
                                reference: reference.to_owned(),
                                why,
                            })?;
                        cache.insert(reference.to_owned(), v.clone());
                        v
                    }
                };
                out.push_str(&resolved);
                last = end;
            }
            out.push_str(&s[last..]);
            *s = out;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                Box::pin(resolve_tree(item, &format!("{location}[{i}]"), resolver, cache)).await?;
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let loc = if location.is_empty() {
                    k.clone()
                } else {
                    format!("{location}.{k}")
                };
                Box::pin(resolve_tree(item, &loc, resolver, cache)).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn string_field(v: &Value, field: &str) -> Result<Option<String>, ConfigError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(_) => Err(ConfigError::Field {
            field: field.to_owned(),
            why: "must be a string".into(),
        }),
    }
}

/// Numbers may arrive as YAML numbers or (after `${env:..}`) as strings.
fn number_field(v: &Value, field: &str) -> Result<Option<u64>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` must be a whole number")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("`{field}` must be a whole number")),
        Some(_) => Err(format!("`{field}` must be a whole number")),
    }
}

fn parse_bot(id: &str, v: &Value) -> Result<Bot, ConfigError> {
    let err = |why: String| ConfigError::Bot {
        bot: id.to_owned(),
        why,
    };
    if !v.is_object() {
        return Err(err("must be a map of platform, credentials and options".into()));
    }
    let platform: Platform = v
        .get("platform")
        .and_then(Value::as_str)
        .ok_or_else(|| err("missing field `platform` (feishu, dingtalk, wechat or wecom)".into()))?
        .parse()
        .map_err(|e| err(format!("field `platform`: {e}")))?;
    let mut credentials = v.clone();
    if let Some(map) = credentials.as_object_mut() {
        for k in OPTION_KEYS {
            map.remove(k);
        }
    }
    let verifier = Verifier::from_credentials(platform, &credentials).map_err(|e| err(e.to_string()))?;
    let max_body = number_field(v, "max_body_bytes").map_err(&err)?;
    let options = Options {
        timestamp_window_secs: number_field(v, "timestamp_window_secs").map_err(&err)?,
        max_body_bytes: max_body
            .map_or(Ok(DEFAULT_MAX_BODY_BYTES), usize::try_from)
            .map_err(|_| err("`max_body_bytes` is too large".into()))?,
        card_answer: v.get("card_answer").cloned().filter(|c| !c.is_null()),
    };
    if let Some(c) = &options.card_answer
        && !c.is_object()
    {
        return Err(err("`card_answer` must be a map (the JSON Feishu expects)".into()));
    }
    Ok(Bot {
        id: id.to_owned(),
        platform,
        verifier,
        options,
        credentials,
    })
}

fn parse_delivery(v: Option<&Value>) -> Result<DeliverySettings, ConfigError> {
    let mut d = DeliverySettings::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(d);
    };
    let field = |name: &str, why: String| ConfigError::Field {
        field: format!("delivery.{name}"),
        why,
    };
    if !v.is_object() {
        return Err(field("", "must be a map".into()));
    }
    d.dry_run = match v.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(_) => return Err(field("dry_run", "must be true or false".into())),
    };
    if let Some(t) = number_field(v, "timeout_ms").map_err(|w| field("timeout_ms", w))? {
        d.timeout_ms = t.max(1);
    }
    if let Some(urls) = v.get("base_urls").filter(|u| !u.is_null()) {
        for (name, slot) in [
            ("feishu", &mut d.base_urls.feishu),
            ("dingtalk", &mut d.base_urls.dingtalk),
            ("wechat", &mut d.base_urls.wechat),
            ("wecom", &mut d.base_urls.wecom),
        ] {
            if let Some(u) = string_field(urls, name)? {
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(field(&format!("base_urls.{name}"), "must be an http(s) URL".into()));
                }
                *slot = u.trim_end_matches('/').to_owned();
            }
        }
    }
    if let Some(r) = v.get("retry").filter(|r| !r.is_null()) {
        if let Some(n) = number_field(r, "max_attempts").map_err(|w| field("retry", w))? {
            d.retry.max_attempts = u32::try_from(n.clamp(1, 20)).unwrap_or(20);
        }
        if let Some(n) = number_field(r, "base_delay_ms").map_err(|w| field("retry", w))? {
            d.retry.base_delay_ms = n;
        }
        if let Some(n) = number_field(r, "max_delay_ms").map_err(|w| field("retry", w))? {
            d.retry.max_delay_ms = n;
        }
    }
    Ok(d)
}

impl Config {
    /// Parses and resolves a YAML configuration.
    pub async fn from_yaml(text: &str, resolver: &dyn Resolver) -> Result<Self, ConfigError> {
        let mut root: Value = serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        if !root.is_object() {
            return Err(ConfigError::Yaml("the top level must be a map with `bots:`".into()));
        }
        let mut cache = HashMap::new();
        resolve_tree(&mut root, "", resolver, &mut cache).await?;

        let gateway = root
            .get("gateway")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        let field = |name: &str, why: &str| ConfigError::Field {
            field: format!("gateway.{name}"),
            why: why.to_owned(),
        };
        let store = match string_field(&gateway, "store")?.as_deref() {
            None | Some("memory") => StoreKind::Memory,
            Some("dynamodb") => StoreKind::Dynamodb,
            Some(_) => return Err(field("store", "must be `memory` or `dynamodb`")),
        };
        let queue = match string_field(&gateway, "queue")?.as_deref() {
            None | Some("memory") => QueueKind::Memory,
            Some("sqs") => QueueKind::Sqs,
            Some(_) => return Err(field("queue", "must be `memory` or `sqs`")),
        };
        let backends = Backends {
            store,
            queue,
            table: string_field(&gateway, "table")?,
            queue_url: string_field(&gateway, "queue_url")?,
        };
        if store == StoreKind::Dynamodb && backends.table.is_none() {
            return Err(field("table", "is required when store is dynamodb"));
        }
        if queue == QueueKind::Sqs {
            match backends.queue_url.as_deref() {
                None => return Err(field("queue_url", "is required when queue is sqs")),
                Some(u) if !u.ends_with(".fifo") => {
                    return Err(field("queue_url", "must be an SQS FIFO queue (its name ends in .fifo)"));
                }
                _ => {}
            }
        }
        let retention = number_field(&gateway, "dedup_retention_secs")
            .map_err(|why| field("dedup_retention_secs", &why))?
            .unwrap_or(DEFAULT_DEDUP_RETENTION_SECS);
        let max_message_bytes = number_field(&gateway, "max_message_bytes")
            .map_err(|why| field("max_message_bytes", &why))?
            .map_or(Ok(DEFAULT_MAX_MESSAGE_BYTES), usize::try_from)
            .map_err(|_| field("max_message_bytes", "is too large"))?;

        let mut bots = BTreeMap::new();
        let Some(map) = root.get("bots").and_then(Value::as_object) else {
            return Err(ConfigError::Field {
                field: "bots".into(),
                why: "missing: add a `bots:` map with at least one bot".into(),
            });
        };
        for (id, v) in map {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(ConfigError::Bot {
                    bot: id.clone(),
                    why: "ids may use letters, digits, `-` and `_` only (they are URL path segments)".into(),
                });
            }
            bots.insert(id.clone(), parse_bot(id, v)?);
        }
        let state_ttl_secs = number_field(&gateway, "state_ttl_secs")
            .map_err(|why| field("state_ttl_secs", &why))?
            .unwrap_or(DEFAULT_STATE_TTL_SECS);
        let rules = crate::rules::Rules::from_config(root.get("rules")).map_err(|e| ConfigError::Field {
            field: format!("rules[{}]", e.index),
            why: format!("({}) {}", e.name, e.why),
        })?;
        for (rule, bot) in rules.notify_bots() {
            if !bots.contains_key(bot) {
                return Err(ConfigError::Field {
                    field: "rules".into(),
                    why: format!("rule `{rule}` notifies through bot `{bot}`, which is not configured"),
                });
            }
        }
        let delivery = parse_delivery(root.get("delivery"))?;
        let mut targets = BTreeMap::new();
        if let Some(map) = root.get("targets").filter(|t| !t.is_null()) {
            let map = map.as_object().ok_or_else(|| ConfigError::Field {
                field: "targets".into(),
                why: "must be a map of target name to settings".into(),
            })?;
            for (name, v) in map {
                let t = crate::notify::target::parse(v, &bots).map_err(|why| ConfigError::Field {
                    field: format!("targets.{name}"),
                    why,
                })?;
                targets.insert(name.clone(), t);
            }
        }
        let notify_api =
            crate::notify::api::ApiSettings::parse(root.get("notify_api")).map_err(|why| ConfigError::Field {
                field: "notify_api".into(),
                why,
            })?;
        let notifications = match root.get("notifications") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(ConfigError::Field {
                    field: "notifications".into(),
                    why: "must be a map of name to {targets, message, data}".into(),
                });
            }
        };
        for name in notifications.keys() {
            let input = serde_json::json!({ "notification": name });
            let parsed = crate::scheduler::notification(&input, &notifications).map_err(|e| ConfigError::Field {
                field: format!("notifications.{name}"),
                why: e.to_string(),
            })?;
            if let Some(t) = parsed.targets.iter().find(|t| !targets.contains_key(*t)) {
                return Err(ConfigError::Field {
                    field: format!("notifications.{name}.targets"),
                    why: format!("no target `{t}` in `targets:`"),
                });
            }
        }
        Ok(Self {
            bots,
            backends,
            dedup_retention_secs: retention,
            max_message_bytes,
            state_ttl_secs,
            rules: std::sync::Arc::new(rules),
            delivery,
            targets,
            notifications,
            notify_api,
        })
    }

    /// Reads, parses and resolves a YAML file.
    pub async fn from_file(path: &std::path::Path, resolver: &dyn Resolver) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::from_yaml(&text, resolver).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn parses_bots_and_options() {
        let yaml = r#"
bots:
  ops:
    platform: feishu
    encrypt_key: k
    verification_token: t
    timestamp_window_secs: 60
    card_answer: {toast: {type: success, content: ok}}
"#;
        let c = run(Config::from_yaml(yaml, &EnvResolver)).unwrap();
        let bot = &c.bots["ops"];
        assert_eq!(bot.platform, Platform::Feishu);
        assert_eq!(bot.options.timestamp_window_secs, Some(60));
        assert!(bot.options.card_answer.is_some());
        assert!(bot.credentials().get("card_answer").is_none());
        assert_eq!(c.backends.store, StoreKind::Memory);
    }

    /// A resolver with fixed answers, standing in for the environment, SSM or Secrets Manager.
    struct MapResolver(HashMap<&'static str, &'static str>);

    #[async_trait::async_trait]
    impl Resolver for MapResolver {
        async fn resolve(&self, kind: &str, argument: &str) -> Result<String, String> {
            self.0
                .get(format!("{kind}:{argument}").as_str())
                .map(|v| (*v).to_owned())
                .ok_or_else(|| format!("{kind} {argument} is not set"))
        }
    }

    #[test]
    fn references_resolve_and_errors_name_bot_and_field() {
        let r = MapResolver(HashMap::from([
            ("env:TOKEN", "s3cr3t-value"),
            ("ssm:/botgate/key", "bad-key"),
        ]));
        let yaml = "bots:\n  wx:\n    platform: wechat\n    token: pre-${env:TOKEN}\n";
        let c = run(Config::from_yaml(yaml, &r)).unwrap();
        assert_eq!(c.bots["wx"].credentials()["token"], "pre-s3cr3t-value");

        let yaml = "bots:\n  wx:\n    platform: wechat\n    token: ${env:UNSET}\n";
        let e = run(Config::from_yaml(yaml, &r)).unwrap_err().to_string();
        assert!(e.contains("bots.wx.token") && e.contains("UNSET"), "{e}");

        let yaml = "bots:\n  wc:\n    platform: wecom\n    token: t\n    corp_id: c\n    encoding_aes_key: ${ssm:/botgate/key}\n";
        let e = run(Config::from_yaml(yaml, &r)).unwrap_err().to_string();
        assert!(
            e.contains("`wc`") && e.contains("encoding_aes_key") && !e.contains("bad-key"),
            "{e}"
        );
    }

    #[test]
    fn env_resolver_reads_the_environment() {
        assert!(run(EnvResolver.resolve("env", "PATH")).is_ok());
        assert!(run(EnvResolver.resolve("env", "BOTGATE_SURELY_UNSET_VARIABLE")).is_err());
        assert!(run(EnvResolver.resolve("ssm", "/x")).unwrap_err().contains("AWS"));
    }

    #[test]
    fn bad_shapes_are_named() {
        let e = run(Config::from_yaml("bots:\n  x:\n    platform: slack\n", &EnvResolver)).unwrap_err();
        assert!(e.to_string().contains("`x`") && e.to_string().contains("platform"));
        let e = run(Config::from_yaml(
            "gateway:\n  queue: sqs\n  queue_url: https://q/x\nbots: {}\n",
            &EnvResolver,
        ));
        assert!(e.unwrap_err().to_string().contains("FIFO"));
        assert!(run(Config::from_yaml("nope", &EnvResolver)).is_err());
        let e = run(Config::from_yaml(
            "bots:\n  a/b:\n    platform: wechat\n    token: t\n",
            &EnvResolver,
        ));
        assert!(e.unwrap_err().to_string().contains("path segments"));
    }
}
