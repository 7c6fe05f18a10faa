//! Test support: a moto server on a free loopback port (started by the test, stopped when
//! dropped), AWS clients pointed at it, and the example configuration's bots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fake;
pub mod longconn;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_sqs::types::QueueAttributeName;
use botgate::Settings;
use botgate::callback::Deps;
use botgate::clock::FixedClock;
use botgate::config::EnvResolver;
use botgate::metrics::Recorded;
use botgate::queue::Queue;
use botgate::store::DedupStore;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compares `value` (pretty JSON) with `tests/snapshots/<name>.json`; with
/// `UPDATE_SNAPSHOTS` set, rewrites the file instead.
pub fn check_snapshot(name: &str, value: &serde_json::Value) {
    let path = root().join(format!("tests/snapshots/{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(text, want, "differs from {}", path.display());
}

/// A moto server process; killed on drop.
pub struct Moto {
    child: Child,
    /// Its endpoint URL.
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The test tools' Python (`.venv` from `make venv`, or `$MOTO_PYTHON`): moto, jsonschema.
pub fn python() -> PathBuf {
    let python = std::env::var("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run `make venv` (or set MOTO_PYTHON to a Python with requirements-test.txt installed)",
        python.display()
    );
    python
}

impl Moto {
    /// Starts moto (see [`python`]) through `moto_serial.py`, which serves one request at a
    /// time so that conditional writes are atomic as in DynamoDB, and waits until it answers.
    pub fn start() -> Self {
        let python = python();
        let script = root().join("tests/support/moto_serial.py");
        let port = free_port();
        let child = Command::new(&python)
            .arg(&script)
            .args(["127.0.0.1", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
        let url = format!("http://127.0.0.1:{port}");
        let moto = Self { child, url };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// An SDK configuration for this server (dummy credentials, us-east-1).
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }
}

/// A running moto with the dedup table and the FIFO events queue created.
pub struct Fixture {
    /// The server (stopped when dropped).
    pub moto: Moto,
    /// An SDK configuration pointed at it.
    pub sdk: aws_config::SdkConfig,
    /// The dedup table name.
    pub table: String,
    /// The events queue URL.
    pub queue_url: String,
}

impl Fixture {
    /// Starts moto and creates the table and the queue.
    pub async fn start() -> Self {
        let moto = Moto::start();
        let sdk = moto.sdk().await;
        let table = create_table(&sdk, "dedup").await;
        let queue_url = create_fifo_queue(&sdk, "events").await;
        Self {
            moto,
            sdk,
            table,
            queue_url,
        }
    }
}

/// Creates the dedup table (`pk`, on demand) and returns its name.
pub async fn create_table(sdk: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    name.to_owned()
}

/// Creates a FIFO queue and returns its URL.
pub async fn create_fifo_queue(sdk: &aws_config::SdkConfig, name: &str) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned()
}

/// Creates a FIFO queue whose messages move to a FIFO dead-letter queue after
/// `max_receive` receives; returns (queue URL, DLQ URL).
pub async fn create_fifo_queue_with_dlq(
    sdk: &aws_config::SdkConfig,
    name: &str,
    max_receive: u32,
    visibility_secs: u32,
) -> (String, String) {
    let client = aws_sdk_sqs::Client::new(sdk);
    let dlq = create_fifo_queue(sdk, &format!("{name}-dlq")).await;
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let url = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    (url, dlq)
}

/// The example configuration with delivery pointed at `fake` (no dry run, quick retries).
pub async fn fake_config(fake: &fake::FakePlatform) -> Settings {
    let mut c = example_config().await;
    c.delivery.dry_run = false;
    // These tests send through the APIs: WeChat's passive replies (the default) have tests
    // of their own (passive_reply.rs).
    for bot in c.bots.values_mut() {
        bot.reply_via = botgate::bot::ReplyVia::Api;
    }
    // The fake platform serves DingTalk's session webhooks on loopback.
    c.delivery.session_webhook_hosts = vec!["127.0.0.1".into()];
    c.delivery.base_urls = botgate::delivery::BaseUrls {
        feishu: fake.url.clone(),
        dingtalk: fake.url.clone(),
        wechat: fake.url.clone(),
        wecom: fake.url.clone(),
    };
    // The fake answers on loopback at once (or after a scripted latency): a short timeout,
    // so a send may start with little of a test's deadline left.
    c.delivery.timeout_ms = 500;
    c.delivery.retry = botgate::delivery::RetryPolicy {
        max_attempts: 3,
        base_delay_ms: 20,
        max_delay_ms: 200,
    };
    c
}

/// A dispatcher over `stores` sending for real (reqwest) with `clock`; also returns its
/// recorded metrics.
pub fn dispatcher(
    config: Settings,
    stores: botgate::deps::DispatchStores,
    clock: Arc<dyn botgate::clock::Clock>,
    handlers: botgate::handler::Registry,
) -> (botgate::dispatcher::Dispatcher, Arc<Recorded>) {
    let metrics = Arc::new(Recorded::default());
    let timeout = Duration::from_millis(config.delivery.timeout_ms);
    let transport = Arc::new(botgate::delivery::transport::Reqwest::new(timeout).unwrap());
    let d = botgate::deps::dispatcher_with(Arc::new(config), stores, transport, clock, metrics.clone(), handlers);
    (d, metrics)
}

/// The normalized event of a signed sample callback for `bot` at `now_secs`.
pub fn sample_event(
    config: &Settings,
    bot: &str,
    kind: botgate::inbound::SampleKind,
    text: &str,
    now_secs: i64,
) -> botgate::Event {
    let b = &config.bots[bot];
    let req = b.credentials.sample_request(kind, text, now_secs).unwrap();
    match b
        .verifier
        .as_ref()
        .unwrap()
        .verify(&req.as_request(), now_secs, &b.options)
        .unwrap()
    {
        botgate::Accepted::Event { event, .. } => *event,
        other => panic!("not an event: {other:?}"),
    }
}

/// A queued record carrying `event` for `bot`.
pub fn record(message_id: &str, bot: &str, event: &botgate::Event) -> botgate::dispatcher::Record {
    traced_record(message_id, bot, event, None)
}

/// [`record`] with the trace id the gateway gave it.
pub fn traced_record(
    message_id: &str,
    bot: &str,
    event: &botgate::Event,
    trace_id: Option<&str>,
) -> botgate::dispatcher::Record {
    let key = format!("{}#{bot}#{}", event.platform, event.event_id);
    let msg = botgate::queue::OutgoingMessage::for_traced_event(bot, &key, event, 0, trace_id).unwrap();
    botgate::dispatcher::Record {
        message_id: message_id.to_owned(),
        body: msg.body,
        group_id: Some(msg.group_id),
        receive_count: 1,
    }
}

/// The outcomes of the recorded action metrics.
pub fn action_outcomes(metrics: &Recorded) -> Vec<(String, String)> {
    metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.get("action").is_some())
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_owned(),
                l["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Receives and deletes every message in the queue (all groups), returning their bodies.
pub async fn drain_queue(sdk: &aws_config::SdkConfig, url: &str) -> Vec<String> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut bodies = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = out.messages();
        if msgs.is_empty() {
            return bodies;
        }
        for m in msgs {
            bodies.push(m.body().unwrap_or_default().to_owned());
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// The example configuration.
pub async fn example_config() -> Settings {
    botgate::deps::load_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap()
}

/// POSTs `body` to the callback flow at `path` (no HTTP); returns the status and body.
pub async fn post(deps: &Deps, path: &str, headers: Vec<(&str, &str)>, body: &str) -> (u16, String) {
    let req = botgate::inbound::Request {
        method: "POST",
        query: "",
        headers,
        body: body.as_bytes(),
    };
    let r = botgate::callback::handle(deps, path, &req, "t").await;
    (r.status, r.body)
}

/// Queued messages as the dispatcher receives them (message ids m0, m1, ...).
pub fn records_of(queued: &[botgate::queue::OutgoingMessage]) -> Vec<botgate::dispatcher::Record> {
    queued
        .iter()
        .enumerate()
        .map(|(i, m)| botgate::dispatcher::Record {
            message_id: format!("m{i}"),
            body: m.body.clone(),
            group_id: Some(m.group_id.clone()),
            receive_count: 1,
        })
        .collect()
}

/// A gateway over an in-memory store and queue with `clock`; also returns the queue.
pub fn memory_gateway(
    config: Settings,
    clock: Arc<dyn botgate::clock::Clock>,
) -> (Deps, Arc<botgate::queue::memory::MemoryQueue>) {
    let queue = Arc::new(botgate::queue::memory::MemoryQueue::new(
        clock.clone(),
        config.max_message_bytes,
    ));
    let deps = Deps {
        config: Arc::new(config),
        store: Arc::new(botgate::store::memory::MemoryStore::new()),
        queue: queue.clone(),
        clock,
        metrics: Arc::new(botgate::metrics::Discard),
        state: None,
        handlers: botgate::handler::Registry::default(),
    };
    (deps, queue)
}

/// Deps over the given store and queue with a fixed clock.
pub fn deps(
    config: Settings,
    store: Arc<dyn DedupStore>,
    queue: Arc<dyn Queue>,
    clock: Arc<FixedClock>,
) -> (Deps, Arc<Recorded>) {
    let metrics = Arc::new(Recorded::default());
    (
        Deps {
            config: Arc::new(config),
            store,
            queue,
            clock,
            metrics: metrics.clone(),
            state: None,
            handlers: botgate::handler::Registry::default(),
        },
        metrics,
    )
}
