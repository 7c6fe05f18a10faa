//! The composition root: a configuration file validated into [`Settings`] (the only place
//! the file's tree becomes running objects), and the flows' dependencies built from them:
//! in-memory backends, or DynamoDB and SQS (endpoints from the standard
//! `AWS_ENDPOINT_URL*` variables).

mod validate;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::bot::Bot;
use crate::callback::Deps;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigError, Mode, QueueKind, Resolved, Resolver, StoreKind};
use crate::delivery::Delivery;
use crate::delivery::transport::{DryRun, Transport};
use crate::dispatcher::Dispatcher;
use crate::handler::Registry;
use crate::metrics::MetricsSink;
use crate::notify::target::TargetSpec;
use crate::queue::memory::MemoryQueue;
use crate::rules::Rules;
use crate::settings::Settings;
use crate::state::StateStore;
use crate::state::memory::MemoryState;
use crate::store::DedupStore;
use crate::store::memory::MemoryStore;
use crate::token::memory::MemoryTokens;
use crate::token::{TokenCache, TokenStore};

/// The in-memory backends, kept so a local consumer can read the queue.
#[derive(Debug, Clone)]
pub struct MemoryBackends {
    /// The store.
    pub store: Arc<MemoryStore>,
    /// The queue.
    pub queue: Arc<MemoryQueue>,
}

/// [`Deps`] over fresh in-memory backends, whatever the configuration says (local runs,
/// tests, benchmarks).
pub fn in_memory(config: Settings, clock: Arc<dyn Clock>, metrics: Arc<dyn MetricsSink>) -> (Deps, MemoryBackends) {
    let memory = MemoryBackends {
        store: Arc::new(MemoryStore::new()),
        queue: Arc::new(MemoryQueue::new(clock.clone(), config.max_message_bytes)),
    };
    let deps = Deps {
        config: Arc::new(config),
        store: memory.store.clone(),
        queue: memory.queue.clone(),
        clock,
        metrics,
        state: None,
        handlers: crate::handler::Registry::default(),
    };
    (deps, memory)
}

/// The longest one DynamoDB or SQS call of the callback may take, retries included.
pub const CALLBACK_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);
/// The longest one attempt of such a call may take (the SDK retries within the operation's).
pub const CALLBACK_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(350);

/// Builds [`Deps`] for `config`; returns the in-memory queue and store when they are used.
pub async fn build(config: Settings, metrics: Arc<dyn MetricsSink>) -> Result<(Deps, MemoryBackends), String> {
    #[cfg(feature = "aws")]
    {
        let aws = config.backends.store != StoreKind::Memory || config.backends.queue != QueueKind::Memory;
        let sdk = if aws {
            Some(
                callback_timeouts(aws_config::defaults(aws_config::BehaviorVersion::latest()))
                    .load()
                    .await,
            )
        } else {
            None
        };
        build_on(config, metrics, sdk.as_ref())
    }
    #[cfg(not(feature = "aws"))]
    {
        let (deps, memory) = in_memory(config, Arc::new(SystemClock), metrics);
        if deps.config.backends.store != StoreKind::Memory || deps.config.backends.queue != QueueKind::Memory {
            return Err("the DynamoDB/SQS backends need the `aws` feature".into());
        }
        Ok((deps, memory))
    }
}

/// The callback's AWS calls within Feishu's 3 s: claim, enqueue and complete are three
/// calls, each given at most [`CALLBACK_OPERATION_TIMEOUT`] (attempts of
/// [`CALLBACK_ATTEMPT_TIMEOUT`], retried by the SDK inside it): 2.4 s in all at worst.
#[cfg(feature = "aws")]
pub fn callback_timeouts(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    loader.timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(CALLBACK_OPERATION_TIMEOUT)
            .operation_attempt_timeout(CALLBACK_ATTEMPT_TIMEOUT)
            .connect_timeout(CALLBACK_ATTEMPT_TIMEOUT)
            .build(),
    )
}

/// [`build`] on a given AWS configuration (`None`: in-memory backends only).
#[cfg(feature = "aws")]
pub fn build_on(
    config: Settings,
    metrics: Arc<dyn MetricsSink>,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<(Deps, MemoryBackends), String> {
    let (mut deps, memory) = in_memory(config, Arc::new(SystemClock), metrics);
    let config = deps.config.clone();
    if config.backends.store == StoreKind::Memory && config.backends.queue == QueueKind::Memory {
        return Ok((deps, memory));
    }
    let sdk = sdk.ok_or("the DynamoDB/SQS backends need an AWS configuration")?;
    if let (StoreKind::Dynamodb, Some(table)) = (config.backends.store, &config.backends.table) {
        deps.store = Arc::new(crate::store::dynamodb::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        ));
        // The dispatcher's conversation state, read by rules that answer in the callback.
        deps.state = Some(Arc::new(crate::state::dynamodb::DynamoState::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )));
    }
    if let (QueueKind::Sqs, Some(url)) = (config.backends.queue, &config.backends.queue_url) {
        deps.queue = Arc::new(crate::queue::sqs::SqsQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            url,
            config.max_message_bytes,
        ));
    }
    Ok((deps, memory))
}

/// The dispatcher's stores.
#[derive(Clone)]
pub struct DispatchStores {
    /// Effects.
    pub effects: Arc<dyn DedupStore>,
    /// Conversation state and failure reasons.
    pub state: Arc<dyn StateStore>,
    /// Access tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Notification rate limits.
    pub limiter: Arc<dyn crate::notify::rate::RateLimiter>,
}

impl DispatchStores {
    /// Fresh in-memory stores.
    pub fn in_memory() -> Self {
        Self {
            effects: Arc::new(MemoryStore::new()),
            state: Arc::new(MemoryState::new()),
            tokens: Arc::new(MemoryTokens::new()),
            limiter: Arc::new(crate::notify::rate::MemoryLimiter::new()),
        }
    }

    /// The stores on a DynamoDB table.
    #[cfg(feature = "aws")]
    pub fn dynamodb(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            effects: Arc::new(crate::store::dynamodb::DynamoStore::new(client.clone(), table)),
            state: Arc::new(crate::state::dynamodb::DynamoState::new(client.clone(), table)),
            tokens: Arc::new(crate::token::dynamodb::DynamoTokens::new(client.clone(), table)),
            limiter: Arc::new(crate::notify::rate::dynamodb::DynamoLimiter::new(client, table)),
        }
    }
}

/// A dispatcher over the given stores, transport and clock.
pub fn dispatcher_with(
    config: Arc<Settings>,
    stores: DispatchStores,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn MetricsSink>,
    handlers: Registry,
) -> Dispatcher {
    let tokens = Arc::new(TokenCache::new(stores.tokens, clock.clone()));
    assemble(
        config,
        Parts {
            effects: stores.effects,
            state: stores.state,
            limiter: stores.limiter,
            tokens,
            transport,
            breakers: None,
        },
        clock,
        metrics,
        handlers,
    )
}

/// What a dispatcher keeps across a configuration reload.
struct Parts {
    effects: Arc<dyn DedupStore>,
    state: Arc<dyn StateStore>,
    limiter: Arc<dyn crate::notify::rate::RateLimiter>,
    tokens: Arc<TokenCache>,
    transport: Arc<dyn Transport>,
    /// The breakers' state, kept across a reload that does not change their settings.
    breakers: Option<Arc<crate::delivery::breaker::Breakers>>,
}

fn assemble(
    config: Arc<Settings>,
    parts: Parts,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn MetricsSink>,
    handlers: Registry,
) -> Dispatcher {
    let mut delivery = Delivery::new(parts.transport, parts.tokens, clock.clone());
    delivery.urls = config.delivery.base_urls.clone();
    delivery.retry = config.delivery.retry;
    delivery.dry_run = config.delivery.dry_run;
    delivery.session_hosts = config.delivery.session_webhook_hosts.clone();
    delivery.request_timeout_ms = config.delivery.timeout_ms;
    // Uploaded media keys are shared by every instance through the state store.
    delivery.media = crate::delivery::media::MediaCache::new(Some(parts.state.clone()));
    delivery.breakers = parts
        .breakers
        .filter(|b| b.settings() == config.delivery.circuit_breaker)
        .unwrap_or_else(|| {
            Arc::new(crate::delivery::breaker::Breakers::new(
                config.delivery.circuit_breaker,
                metrics.clone(),
            ))
        });
    let delivery = Arc::new(delivery);
    Dispatcher {
        notifier: Arc::new(crate::notify::Notifier::new(
            config.clone(),
            delivery.clone(),
            escalator(&config),
            parts.limiter,
            parts.effects.clone(),
            clock.clone(),
        )),
        config,
        handlers,
        effects: parts.effects,
        state: parts.state,
        delivery,
        clock,
        metrics,
        queue: None,
    }
}

/// `d` on a new configuration: the same stores, token cache, queue, clock, metrics and
/// handlers (and transport, unless the new configuration changes the dry run or the
/// timeout). The backends cannot change on a reload: they are the deployment's.
pub fn reconfigured_dispatcher(d: &Dispatcher, config: Arc<Settings>) -> Result<Dispatcher, String> {
    same_backends(&d.config, &config)?;
    let transport = if d.config.delivery.dry_run == config.delivery.dry_run
        && d.config.delivery.timeout_ms == config.delivery.timeout_ms
    {
        d.delivery.shared_transport()
    } else {
        transport(&config)?
    };
    let parts = Parts {
        effects: d.effects.clone(),
        state: d.state.clone(),
        limiter: d.notifier.limiter(),
        tokens: d.delivery.shared_tokens(),
        transport,
        breakers: Some(d.delivery.breakers.clone()),
    };
    let mut out = assemble(config, parts, d.clock.clone(), d.metrics.clone(), d.handlers.clone());
    out.queue = d.queue.clone();
    Ok(out)
}

/// `deps` on a new configuration: the same store, queue, clock and metrics.
pub fn reconfigured_gateway(deps: &Deps, config: Arc<Settings>) -> Result<Deps, String> {
    same_backends(&deps.config, &config)?;
    Ok(Deps {
        config,
        store: deps.store.clone(),
        queue: deps.queue.clone(),
        clock: deps.clock.clone(),
        metrics: deps.metrics.clone(),
        state: deps.state.clone(),
        handlers: deps.handlers.clone(),
    })
}

fn same_backends(old: &Settings, new: &Settings) -> Result<(), String> {
    if old.backends == new.backends && old.max_message_bytes == new.max_message_bytes {
        return Ok(());
    }
    Err(
        "gateway.store, table, queue, queue_url, dead_letter_queue_url and max_message_bytes are the \
         deployment's and cannot change on a reload: redeploy (or restart) to change them"
            .into(),
    )
}

/// Where SNS and e-mail targets go: printed in a dry run, else the AWS SDK (clients made on
/// first use, so configurations without such targets never load them).
pub fn escalator(config: &Settings) -> Arc<dyn crate::notify::escalation::Escalator> {
    use crate::notify::escalation;
    if config.delivery.dry_run {
        return Arc::new(escalation::DryRun::printing());
    }
    #[cfg(feature = "aws")]
    {
        Arc::new(escalation::aws::AwsEscalator::new())
    }
    #[cfg(not(feature = "aws"))]
    Arc::new(escalation::Unavailable)
}

/// The transport the configuration asks for: printing dry runs, or real HTTPS.
pub fn transport(config: &Settings) -> Result<Arc<dyn Transport>, String> {
    if config.delivery.dry_run {
        return Ok(Arc::new(DryRun::printing()));
    }
    #[cfg(feature = "net")]
    {
        let t = crate::delivery::transport::Reqwest::new(std::time::Duration::from_millis(config.delivery.timeout_ms))?;
        Ok(Arc::new(t))
    }
    #[cfg(not(feature = "net"))]
    Err("sending needs the `net` feature (or set delivery.dry_run)".into())
}

/// Builds the dispatcher for `config`: DynamoDB stores when the gateway's store is
/// `dynamodb`, else in-memory ones.
pub async fn dispatcher(
    config: Arc<Settings>,
    metrics: Arc<dyn MetricsSink>,
    handlers: Registry,
    stores: Option<DispatchStores>,
) -> Result<Dispatcher, String> {
    let transport = transport(&config)?;
    let stores = match stores {
        Some(s) => s,
        None => match (config.backends.store, &config.backends.table) {
            #[cfg(feature = "aws")]
            (StoreKind::Dynamodb, Some(table)) => {
                let sdk = aws_config::load_from_env().await;
                DispatchStores::dynamodb(aws_sdk_dynamodb::Client::new(&sdk), table)
            }
            _ => DispatchStores::in_memory(),
        },
    };
    Ok(dispatcher_with(
        config,
        stores,
        transport,
        Arc::new(SystemClock),
        metrics,
        handlers,
    ))
}

/// The events queue the dispatcher consumes, when the configuration names an SQS one (the
/// dispatcher function holds rate-limited records back on it).
#[cfg(feature = "aws")]
pub async fn events_queue(config: &Settings) -> Option<crate::queue::sqs::SqsQueue> {
    if config.backends.queue != QueueKind::Sqs {
        return None;
    }
    let url = config.backends.queue_url.as_ref()?;
    let sdk = aws_config::load_from_env().await;
    Some(crate::queue::sqs::SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        url,
        config.max_message_bytes,
    ))
}

/// The events' dead-letter queue, when the configuration names one (the dispatcher moves
/// records that can never succeed there at once).
#[cfg(feature = "aws")]
pub async fn dead_letter_queue(config: &Settings) -> Option<crate::queue::sqs::SqsQueue> {
    let url = config.backends.dead_letter_queue_url.as_ref()?;
    let sdk = aws_config::load_from_env().await;
    Some(crate::queue::sqs::SqsQueue::new(
        aws_sdk_sqs::Client::new(&sdk),
        url,
        config.max_message_bytes,
    ))
}

/// Reads, resolves and validates a configuration: every reference resolved with
/// `resolver`, every problem reported with its path and line.
pub async fn load_yaml(text: &str, resolver: &dyn Resolver) -> Result<Settings, ConfigError> {
    load(text, Mode::Resolve(resolver)).await
}

/// [`load_yaml`] on a file.
pub async fn load_file(path: &Path, resolver: &dyn Resolver) -> Result<Settings, ConfigError> {
    load_yaml(&config::read(path)?, resolver).await
}

/// Reads and validates a configuration, resolving its references or (with
/// [`Mode::SyntaxOnly`]) only checking their syntax.
pub async fn load(text: &str, mode: Mode<'_>) -> Result<Settings, ConfigError> {
    let file = config::parse(text)?;
    let tree = config::parse_tree(text)?;
    let refs = Resolved::collect(&tree, mode).await.map_err(ConfigError::many)?;
    validate::settings(&file, &refs)
}

/// [`load`] with the digest of the resolved references ([`Resolved::fingerprint`]), so a
/// reload can tell a rotated secret from an unchanged one.
pub async fn load_fingerprinted(text: &str, resolver: &dyn Resolver) -> Result<(Settings, [u8; 32]), ConfigError> {
    let file = config::parse(text)?;
    let tree = config::parse_tree(text)?;
    let refs = Resolved::collect(&tree, Mode::Resolve(resolver))
        .await
        .map_err(ConfigError::many)?;
    Ok((validate::settings(&file, &refs)?, refs.fingerprint()))
}

/// Every problem of a configuration, for `botgate config check` (empty: it is valid).
pub async fn check(text: &str, mode: Mode<'_>) -> Vec<config::Problem> {
    match load(text, mode).await {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    }
}

/// The credential fields a bot of `platform` takes.
pub fn bot_fields(platform: botgate_core::Platform) -> &'static [&'static str] {
    validate::fields_of(platform)
}

/// One section of a configuration from JSON (or a parsed YAML tree).
fn section<T: serde::de::DeserializeOwned>(v: &serde_json::Value, name: &str) -> Result<T, ConfigError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        ConfigError::one(config::Problem::new(
            config::ProblemKind::Syntax,
            name,
            0,
            botgate_core::secret::redact_serde_error(&e.to_string()),
            None,
        ))
    })
}

/// Builds one target from its configuration (JSON or a parsed YAML tree), for tools and
/// tests; references are left as written.
pub fn target(v: &serde_json::Value, bots: &BTreeMap<String, Bot>) -> Result<TargetSpec, ConfigError> {
    validate::target_only("target", &section(v, "targets")?, bots, &Resolved::default())
}

/// Compiles a `rules:` list from its configuration (JSON or a parsed YAML tree), for tools
/// and tests; references are left as written.
pub fn rules(v: &serde_json::Value, bots: &BTreeMap<String, Bot>) -> Result<Rules, ConfigError> {
    validate::rules_only(&section::<Vec<_>>(v, "rules")?, bots, &Resolved::default())
}

/// Builds one scheduled notification from its configuration (JSON or a parsed YAML tree),
/// for tools and tests; its targets must be among `targets`. References are left as written.
pub fn notification(
    name: &str,
    v: &serde_json::Value,
    targets: &BTreeMap<String, TargetSpec>,
) -> Result<crate::notify::scheduled::Notification, ConfigError> {
    validate::notification_only(name, &section(v, "notifications")?, targets, &Resolved::default())
}

/// Builds the notify API's settings from its configuration (JSON or a parsed YAML tree),
/// for tools and tests; references are left as written.
pub fn notify_api(v: &serde_json::Value) -> Result<crate::notify::api::ApiSettings, ConfigError> {
    validate::api_only(&section(v, "notify_api")?, &Resolved::default())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::EnvResolver;
    use botgate_core::Platform;

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
        let c = run(load_yaml(yaml, &EnvResolver)).unwrap();
        let bot = &c.bots["ops"];
        assert_eq!(bot.platform, Platform::Feishu);
        assert_eq!(bot.options.timestamp_window_secs, Some(60));
        assert!(bot.options.card_answer.is_some());
        assert!(bot.credentials().field("card_answer").is_none());
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
        let c = run(load_yaml(yaml, &r)).unwrap();
        assert_eq!(c.bots["wx"].credentials().field("token"), Some("pre-s3cr3t-value"));

        let yaml = "bots:\n  wx:\n    platform: wechat\n    token: ${env:UNSET}\n";
        let e = run(load_yaml(yaml, &r)).unwrap_err().to_string();
        assert!(e.contains("bots.wx.token") && e.contains("UNSET"), "{e}");

        let yaml = "bots:\n  wc:\n    platform: wecom\n    token: t\n    corp_id: c\n    encoding_aes_key: ${ssm:/botgate/key}\n";
        let e = run(load_yaml(yaml, &r)).unwrap_err().to_string();
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
        let e = run(load_yaml("bots:\n  x:\n    platform: slack\n", &EnvResolver)).unwrap_err();
        assert!(e.to_string().contains("`x`") && e.to_string().contains("platform"));
        let e = run(load_yaml(
            "gateway:\n  queue: sqs\n  queue_url: https://q/x\nbots: {}\n",
            &EnvResolver,
        ));
        assert!(e.unwrap_err().to_string().contains("FIFO"));
        assert!(run(load_yaml("nope", &EnvResolver)).is_err());
        let e = run(load_yaml(
            "bots:\n  a/b:\n    platform: wechat\n    token: t\n",
            &EnvResolver,
        ));
        assert!(e.unwrap_err().to_string().contains("path segments"));
    }

    #[test]
    fn a_field_of_another_platform_is_refused_with_its_line() {
        let e = run(load_yaml(
            "bots:\n  x:\n    platform: feishu\n    verification_token: t\n    corp_id: ww1\n",
            &EnvResolver,
        ))
        .unwrap_err();
        let p = &e.problems()[0];
        assert_eq!((p.path.as_str(), p.line), ("bots.x.corp_id", 5));
        assert!(p.what.contains("not a feishu field"), "{p}");
    }

    #[test]
    fn reply_via_is_for_wechat_and_wecom_and_defaults_per_platform() {
        let e = run(load_yaml(
            "bots:\n  x:\n    platform: feishu\n    verification_token: t\n    reply_via: passive\n",
            &EnvResolver,
        ))
        .unwrap_err();
        let p = &e.problems()[0];
        assert_eq!((p.path.as_str(), p.line), ("bots.x.reply_via", 5));
        assert!(p.what.contains("no passive replies"), "{p}");
        let s = run(load_yaml(
            "bots:\n  w:\n    platform: wechat\n    token: t\n  c:\n    platform: wecom\n    token: t\n    encoding_aes_key: EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE\n    corp_id: ww1\n    reply_via: auto\n",
            &EnvResolver,
        ))
        .unwrap();
        assert_eq!(s.bots["w"].reply_via, crate::bot::ReplyVia::Passive);
        assert_eq!(s.bots["c"].reply_via, crate::bot::ReplyVia::Auto);
        assert!(
            run(load_yaml(
                "bots:\n  w:\n    platform: wechat\n    token: t\n    reply_via: sometimes\n",
                &EnvResolver
            ))
            .is_err()
        );
    }

    #[test]
    fn sns_and_email_targets_are_checked_with_their_lines() {
        let ok = "targets:\n  pager:\n    type: sns\n    topic_arn: arn:aws:sns:eu-west-1:123456789012:pager\n  mail:\n    type: email\n    from: botgate <alerts@example.com>\n    to: a@example.com, b@example.com\nbots: {}\n";
        let s = run(load_yaml(ok, &EnvResolver)).unwrap();
        assert_eq!(s.targets["pager"].channel(), "sns");
        assert!(s.targets["pager"].rate.is_empty());
        assert_eq!(
            s.targets["mail"].kind,
            crate::notify::target::TargetKind::Email {
                from: "botgate <alerts@example.com>".into(),
                to: vec!["a@example.com".into(), "b@example.com".into()],
            }
        );
        assert_eq!(s.targets["mail"].rate, crate::notify::escalation::DEFAULT_EMAIL_RATE);
        for (yaml, path, line, says) in [
            (
                "type: sns\n    topic_arn: arn:aws:sqs:eu-west-1:123456789012:q",
                "targets.t.topic_arn",
                5,
                "not an SNS topic ARN",
            ),
            (
                "type: sns\n    url: https://example.com/",
                "targets.t.url",
                5,
                "not a field of `type: sns`",
            ),
            ("type: sns", "targets.t", 4, "missing `topic_arn`"),
            (
                "type: email\n    from: alerts@example.com",
                "targets.t",
                4,
                "missing `to`",
            ),
            (
                "type: email\n    from: nobody\n    to: a@example.com",
                "targets.t.from",
                5,
                "no @",
            ),
            (
                "type: email\n    from: a@example.com\n    to: a@example.com, b@",
                "targets.t.to",
                6,
                "recipient 2",
            ),
            (
                "type: app\n    bot: b\n    to: x\n    from: a@example.com",
                "targets.t.from",
                7,
                "it is for `email`",
            ),
            (
                "type: wecom_webhook\n    url: https://example.com/\n    secret: s",
                "targets.t.secret",
                6,
                "not signed",
            ),
        ] {
            let text = format!("bots: {{}}\ntargets:\n  t:\n    {yaml}\n");
            let e = run(load_yaml(&text, &EnvResolver)).unwrap_err();
            let p = &e.problems()[0];
            assert_eq!((p.path.as_str(), p.line), (path, line), "{yaml}: {e}");
            assert!(p.what.contains(says), "{yaml}: {p}");
        }
    }

    #[test]
    fn every_problem_is_reported_in_file_order() {
        let yaml = "gateway:\n  store: dynamodb\ntargets:\n  t:\n    type: app\n    bot: nobody\n    to: x\nbots:\n  w:\n    platform: wechat\n";
        let e = run(load_yaml(yaml, &EnvResolver)).unwrap_err();
        let lines: Vec<usize> = e.problems().iter().map(|p| p.line).collect();
        assert_eq!(e.problems().len(), 3, "{e}");
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
        assert!(e.to_string().contains("gateway.table") && e.to_string().contains("no bot `nobody`"));
        assert!(e.to_string().contains("missing field `token`"), "{e}");
    }

    #[test]
    fn syntax_only_checks_references_without_resolving_them() {
        let yaml = "bots:\n  wc:\n    platform: wecom\n    token: t\n    corp_id: c\n    encoding_aes_key: ${ssm:/botgate/key}\n";
        assert!(run(check(yaml, Mode::SyntaxOnly)).is_empty());
        let bad =
            "bots:\n  wc:\n    platform: wecom\n    token: ${vault:/x}\n    corp_id: c\n    encoding_aes_key: k\n";
        let problems = run(check(bad, Mode::SyntaxOnly));
        assert!(problems.iter().any(|p| p.what.contains("vault")), "{problems:?}");
    }
}
