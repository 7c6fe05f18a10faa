//! Throughput of one long connection: the real connector (`botgate::connect`, the code
//! `botgate connect` runs) on one Feishu connection to the fake server of
//! `support/longconn.rs`, each event claimed and queued before its acknowledgement, as in
//! production. Prints events per second and the acknowledgement latency.
//!
//! ```text
//! cargo run --profile bench -p botgate-tests --example connect_load -- [memory|moto] [events] [chats]
//! ```
//!
//! `idle [seconds]`: runs `$BOTGATE_BIN connect` (default `target/release/botgate`) on a
//! Feishu and a DingTalk connection to the fakes, idle, and prints its resident memory.
//!
//! `reconnect`: with the default `connector:` timings, how long after a dropped connection,
//! a server's request to reconnect and a zombie (silent, socket open) a new one is open.
//!
//! `memory`: the in-memory store and queue (`botgate serve`'s default). `moto`: DynamoDB and
//! a FIFO SQS queue on moto (started here; moto serves one request at a time, so this
//! measures moto as much as botgate). `rtt`: in memory, each enqueue taking 10 ms as an SQS
//! send from outside AWS's region might. `LANES=n` sets `connector.ingest_lanes`. The fake
//! runs in the same process, on the same cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use botgate::clock::SystemClock;
use botgate::connect::Connector;
use botgate::queue::sqs::SqsQueue;
use botgate::reload::Live;
use botgate::store::dynamodb::DynamoStore;
use botgate_tests::longconn::{FakeLongConnection, Kind};
use serde_json::json;

const APP: (&str, &str) = ("cli_load01", "load-secret");

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "memory".into());
    if backend == "reconnect" {
        reconnect(Kind::Feishu).await;
        reconnect(Kind::Dingtalk).await;
        return;
    }
    if backend == "idle" {
        return idle(args.next().map_or(30, |n| n.parse().expect("seconds: a number"))).await;
    }
    let events: usize = args.next().map_or(5_000, |n| n.parse().expect("events: a number"));
    // Events spread over this many chats (a lane per chat at most; `connector.ingest_lanes`).
    let chats: usize = args.next().map_or(50, |n| n.parse().expect("chats: a number"));
    let lanes: u64 = std::env::var("LANES").map_or(8, |n| n.parse().expect("LANES: a number"));
    // Unacknowledged events go again after 30 s: none should, in a healthy run.
    let fake = FakeLongConnection::start(Kind::Feishu, APP, 30_000).await;
    let yaml = format!(
        "connector: {{ingest_lanes: {lanes}}}\ndelivery: {{dry_run: true}}\nbots:\n  lc:\n    platform: feishu\n    mode: long_connection\n    app_id: {}\n    app_secret: {}\n    api_base: {}\n",
        APP.0, APP.1, fake.url
    );
    let settings = botgate::deps::load_yaml(&yaml, &botgate::config::EnvResolver)
        .await
        .unwrap();
    let (mut deps, queue) = botgate_tests::memory_gateway(settings, Arc::new(SystemClock));
    let _moto = if backend == "moto" {
        let fx = botgate_tests::Fixture::start().await;
        deps.store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&fx.sdk), &fx.table));
        deps.queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&fx.sdk), &fx.queue_url, 262_144));
        Some(fx)
    } else {
        if backend == "rtt" {
            deps.queue = Arc::new(Rtt(queue.clone()));
        }
        None
    };
    let gateway = Arc::new(Live::new(deps));
    let transport = botgate_cli::connect::endpoint_transport(&gateway.get().config).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let metrics = Arc::new(botgate::metrics::Recorded::default());
    let task = tokio::spawn(Connector::new(gateway.clone(), transport, metrics.clone()).run(rx));
    fake.wait_connections(1, Duration::from_secs(10)).await;

    let started = Instant::now();
    for n in 0..events {
        let id = format!("ev-{n}");
        let payload = json!({"schema": "2.0",
            "header": {"event_id": id, "event_type": "im.message.receive_v1", "create_time": "1795000000000",
                "app_id": APP.0, "tenant_key": "t1"},
            "event": {"sender": {"sender_id": {"open_id": "ou_sender"}},
                "message": {"message_id": format!("om_{n}"), "chat_id": format!("oc_chat{}", n % chats), "chat_type": "group",
                    "message_type": "text", "content": json!({"text": format!("hello {n}")}).to_string()}}});
        fake.feishu_event(&format!("m-{n}"), &payload, 1);
    }
    fake.wait_all_acked(Duration::from_secs(600)).await;
    let took = started.elapsed();
    let redelivered = fake.deliveries().values().filter(|&&d| d > 1).count();
    let queued = if backend == "memory" {
        queue.drain().len()
    } else {
        events
    };
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    let mut latency: Vec<f64> = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["component"] == "connector" && m["events"] == 1)
        .filter_map(|m| m["ack_latency_ms"].as_f64())
        .collect();
    latency.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latency
            .get(((latency.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{backend}: {events} events ({chats} chats, {lanes} lanes) over one connection in {:.2} s = {:.0} events/s (redelivered {redelivered}, queued {queued}, connections {})",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64(),
        fake.connections().len()
    );
    println!(
        "frame read to acknowledgement: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} events)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        latency.len()
    );
}

/// The in-memory queue, each send taking 10 ms.
struct Rtt(Arc<botgate::queue::memory::MemoryQueue>);

#[async_trait::async_trait]
impl botgate::queue::Queue for Rtt {
    async fn send(&self, msg: &botgate::queue::OutgoingMessage) -> Result<(), botgate::queue::QueueError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        self.0.send(msg).await
    }
}

/// The resident memory of an idle `botgate connect` with two connections.
async fn idle(seconds: u64) {
    let feishu = FakeLongConnection::start(Kind::Feishu, APP, 30_000).await;
    let ding = FakeLongConnection::start(Kind::Dingtalk, ("dingload01", "ding-secret"), 30_000).await;
    let dir = std::env::temp_dir().join(format!("botgate-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("botgate.yaml");
    std::fs::write(
        &path,
        format!(
            "delivery: {{dry_run: true}}\nbots:\n  lark:\n    platform: feishu\n    mode: long_connection\n    app_id: {}\n    app_secret: {}\n    api_base: {}\n  ding:\n    platform: dingtalk\n    mode: long_connection\n    app_key: dingload01\n    app_secret: ding-secret\n    api_base: {}\n",
            APP.0, APP.1, feishu.url, ding.url
        ),
    )
    .unwrap();
    let bin = std::env::var("BOTGATE_BIN").unwrap_or_else(|_| {
        botgate_tests::root()
            .join("target/release/botgate")
            .display()
            .to_string()
    });
    let mut child = std::process::Command::new(&bin)
        .args(["connect", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    feishu.wait_connections(1, Duration::from_secs(10)).await;
    ding.wait_connections(1, Duration::from_secs(10)).await;
    // A few events, so the paths that take them in have run once.
    for n in 0..10 {
        ding.dingtalk_message(&format!("m-{n}"), &format!("msg-{n}"), "hello");
    }
    ding.wait_all_acked(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or_else(String::new, |l| {
                l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
            })
    };
    println!(
        "{bin} connect, 2 connections idle for {seconds} s: VmRSS {}, VmHWM {}, threads {}",
        field("VmRSS:"),
        field("VmHWM:"),
        field("Threads:")
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Times to a new connection after a drop, a reconnect request and a zombie, with the
/// default timings.
async fn reconnect(kind: Kind) {
    let (app, platform, keys) = match kind {
        Kind::Feishu => (APP, "feishu", ("app_id", "app_secret")),
        Kind::Dingtalk => (("dingload01", "ding-secret"), "dingtalk", ("app_key", "app_secret")),
    };
    let fake = FakeLongConnection::start(kind, app, 30_000).await;
    let yaml = format!(
        "delivery: {{dry_run: true}}\nbots:\n  lc:\n    platform: {platform}\n    mode: long_connection\n    {}: {}\n    {}: {}\n    api_base: {}\n",
        keys.0, app.0, keys.1, app.1, fake.url
    );
    let settings = botgate::deps::load_yaml(&yaml, &botgate::config::EnvResolver)
        .await
        .unwrap();
    let (deps, _queue) = botgate_tests::memory_gateway(settings, Arc::new(SystemClock));
    let gateway = Arc::new(Live::new(deps));
    let transport = botgate_cli::connect::endpoint_transport(&gateway.get().config).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(Connector::new(gateway, transport, Arc::new(botgate::metrics::Discard)).run(rx));
    fake.wait_connections(1, Duration::from_secs(10)).await;
    let mut line = format!("{platform}:");
    for (n, what) in [(2, "dropped"), (3, "asked to reconnect"), (4, "zombie")] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let at = fake.elapsed();
        match n {
            2 => fake.drop_connections(),
            3 => fake.ask_reconnect(),
            _ => fake.go_silent(),
        }
        fake.wait_connections(n, Duration::from_secs(120)).await;
        let took = fake.connections()[n - 1].saturating_sub(at);
        line.push_str(&format!(" {what} -> new connection in {:.2} s;", took.as_secs_f64()));
    }
    println!("{line}");
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
}
