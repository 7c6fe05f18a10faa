//! Test support: a moto server on a free loopback port (started by the test, stopped when
//! dropped), AWS clients pointed at it, and the example configuration's bots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_sqs::types::QueueAttributeName;
use botgate::callback::Deps;
use botgate::clock::FixedClock;
use botgate::config::{Config, EnvResolver};
use botgate::metrics::Recorded;
use botgate::queue::Queue;
use botgate::store::DedupStore;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
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

impl Moto {
    /// Starts moto (`$MOTO_SERVER`, or `.venv/bin/moto_server` from `make venv`) and waits
    /// until it answers.
    pub fn start() -> Self {
        let bin = std::env::var("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join(".venv/bin/moto_server"));
        assert!(
            bin.exists(),
            "moto_server not found at {}: run `make venv` (or set MOTO_SERVER)",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
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
pub async fn example_config() -> Config {
    Config::from_file(&root().join("examples/botgate.yaml"), &EnvResolver)
        .await
        .unwrap()
}

/// Deps over the given store and queue with a fixed clock.
pub fn deps(
    config: Config,
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
        },
        metrics,
    )
}
