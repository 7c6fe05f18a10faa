//! `botgate event`: a signed, encrypted sample callback for a bot's credentials.

use anyhow::{Result, anyhow, bail};
use botgate::Platform;
use botgate::inbound::{OwnedRequest, SampleKind};
use serde_json::{Value, json};

use crate::{Outcome, input};

/// How to print the sample.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// {"method","query","headers","body"}, for `botgate verify --request`.
    Request,
    /// A curl command line for a running gateway (`botgate serve`).
    Curl,
    /// An API Gateway HTTP API (v2) event, for `cargo lambda invoke callback --data-file`.
    Apigw,
    /// An SQS event carrying the verified event as the callback queues it, for
    /// `cargo lambda invoke dispatcher --data-file`.
    Sqs,
}

/// Arguments of `botgate event`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bot: input::BotSource,
    /// What to send: message, url_verification, card_action (feishu, wecom), click (a menu;
    /// wechat, wecom, feishu), subscribe, view, scan, location, location_message, image,
    /// voice, video, link (wechat, wecom), file (feishu, dingtalk), member_added,
    /// member_removed, bot_added, reaction, chat_created (feishu), enter_chat,
    /// contact_change (wecom), rich_text (dingtalk), event (dingtalk event subscription).
    #[arg(long = "type", value_parser = parse_kind, default_value = "message")]
    kind: SampleKind,
    /// The text it carries (default per type): a message's text; a menu's key (click) or
    /// URL (view); a card action's name (`approve`) or value as JSON (`{"name":"approve",
    /// "id":"42"}`); a reaction's emoji; a file's or a new member's name.
    #[arg(long)]
    text: Option<String>,
    /// The clock, in Unix seconds (default: now).
    #[arg(long)]
    now: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "request")]
    format: Format,
    /// The gateway's base URL for --format curl.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
}

fn parse_kind(s: &str) -> Result<SampleKind, String> {
    serde_json::from_value(Value::String(s.replace('-', "_"))).map_err(|_| {
        let all: Vec<&str> = SampleKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown type {s:?}: one of {}", all.join(", "))
    })
}

/// The text a sample of `kind` carries when `--text` is not given.
fn default_text(kind: SampleKind) -> &'static str {
    match kind {
        SampleKind::Click => "MENU_HELP",
        SampleKind::View => "https://example.com/menu",
        SampleKind::Scan => "42",
        SampleKind::CardAction => "approve",
        SampleKind::Reaction => "THUMBSUP",
        SampleKind::File => "report.pdf",
        SampleKind::MemberAdded | SampleKind::MemberRemoved | SampleKind::ChatCreated | SampleKind::ContactChange => {
            "Li Si"
        }
        SampleKind::LocationMessage => "Guangzhou Tower",
        SampleKind::Link => "botgate release notes",
        _ => "hello",
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A curl command line that sends `req` to `url`.
pub fn curl(req: &OwnedRequest, url: &str) -> String {
    let full = if req.query.is_empty() {
        url.to_owned()
    } else {
        format!("{url}?{}", req.query)
    };
    let mut out = format!("curl -sS -i -X {} {}", req.method, shell_quote(&full));
    for (k, v) in &req.headers {
        out.push_str(&format!(" \\\n  -H {}", shell_quote(&format!("{k}: {v}"))));
    }
    if !req.body.is_empty() {
        out.push_str(&format!(" \\\n  --data-binary {}", shell_quote(&req.body)));
    }
    out
}

/// An API Gateway HTTP API (payload format 2.0) event for `req` on `/{platform}/{bot}`.
pub fn apigw(req: &OwnedRequest, platform: Platform, bot: &str, now: i64) -> Value {
    let path = format!("/{platform}/{bot}");
    let query: serde_json::Map<String, Value> = form_urlencoded::parse(req.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let mut headers = serde_json::Map::new();
    headers.insert("host".into(), json!("botgate.example.com"));
    for (k, v) in &req.headers {
        headers.insert(k.to_ascii_lowercase(), json!(v));
    }
    let request_id = format!("{:x}", now.wrapping_mul(2_654_435_761));
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "ANY /{platform}/{bot}",
        "rawPath": path,
        "rawQueryString": req.query,
        "headers": headers,
        "pathParameters": {"platform": platform.as_str(), "bot": bot},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "botgate",
            "domainName": "botgate.example.com",
            "domainPrefix": "botgate",
            "http": {"method": req.method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "botgate-sample"},
            "requestId": request_id,
            "routeKey": "ANY /{platform}/{bot}",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": now * 1000
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        ev["queryStringParameters"] = Value::Object(query);
    }
    if !req.body.is_empty() {
        ev["body"] = json!(req.body);
    }
    ev
}

/// What the callback queues for `req` to `bot` of `config` (through the callback itself, on
/// in-memory backends at `now`): the body of the one message, with the rule reply it
/// answered in its response marked (WeChat's passive replies).
fn queued_by_callback(config: botgate::Settings, req: &OwnedRequest, bot: &str, now: i64) -> Result<String> {
    let platform = config
        .bots
        .get(bot)
        .map(|b| b.platform)
        .ok_or_else(|| anyhow!("no bot `{bot}`"))?;
    let clock = std::sync::Arc::new(botgate::clock::FixedClock::at_ms(now * 1000));
    let (deps, memory) = botgate::deps::in_memory(config, clock, std::sync::Arc::new(botgate::metrics::Discard));
    let path = format!("/{platform}/{bot}");
    let response =
        input::block_on(async { Ok(botgate::callback::handle(&deps, &path, &req.as_request(), "sample").await) })?;
    if response.status != 200 {
        bail!("the callback answered {}: {}", response.status, response.body);
    }
    memory
        .queue
        .drain()
        .into_iter()
        .next()
        .map(|m| m.body)
        .ok_or_else(|| anyhow!("a URL verification is answered by the callback and never queued"))
}

/// An SQS event (one FIFO record) holding what the callback would queue for `req`.
pub fn sqs(req: &OwnedRequest, creds: &botgate::Credentials, bot: &str, now: i64) -> Result<Value> {
    sqs_record(req, creds, bot, now, None)
}

/// [`sqs`], the body being `queued` when given (what the callback queued).
fn sqs_record(
    req: &OwnedRequest,
    creds: &botgate::Credentials,
    bot: &str,
    now: i64,
    queued: Option<String>,
) -> Result<Value> {
    let platform = creds.platform();
    let verifier = botgate::Verifier::new(creds.clone())?;
    let event = match verifier.verify(&req.as_request(), now, &botgate::Options::default()) {
        Ok(botgate::Accepted::Event { event, .. }) => event,
        Ok(_) => {
            return Err(anyhow!(
                "a URL verification is answered by the callback and never queued"
            ));
        }
        Err(e) => return Err(anyhow!("the sample does not verify: {e}")),
    };
    let key = format!("{platform}#{bot}#{}", event.event_id);
    let msg = botgate::queue::OutgoingMessage::for_event(bot, &key, &event, now * 1000)?;
    let id = &msg.dedup_id[..32];
    let message_id = format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    );
    Ok(json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": format!("sample-{id}"),
        "body": queued.unwrap_or(msg.body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": (now * 1000).to_string(),
            "SequenceNumber": "18849496460467696128",
            "MessageGroupId": msg.group_id,
            "SenderId": "AIDAEXAMPLE",
            "MessageDeduplicationId": msg.dedup_id,
            "ApproximateFirstReceiveTimestamp": (now * 1000).to_string()
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:botgate-events.fifo",
        "awsRegion": "us-east-1"
    }]}))
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    let creds = args.bot.load()?;
    let platform = creds.platform();
    let bot = args.bot.bot.clone().unwrap_or_else(|| "demo".to_owned());
    let now = args.now.unwrap_or_else(input::now);
    let text = args.text.as_deref().unwrap_or_else(|| default_text(args.kind));
    let req = creds.sample_request(args.kind, text, now).map_err(|e| anyhow!(e))?;
    match args.format {
        Format::Request => println!("{}", serde_json::to_string_pretty(&req)?),
        Format::Curl => {
            let url = format!("{}/{platform}/{bot}", args.url.trim_end_matches('/'));
            println!("{}", curl(&req, &url));
        }
        Format::Apigw => println!("{}", serde_json::to_string_pretty(&apigw(&req, platform, &bot, now))?),
        Format::Sqs => {
            // With a configuration, through the callback itself (its passive answers marked).
            let queued = match &args.bot.config {
                Some(uri) => Some(queued_by_callback(input::load_config(uri)?, &req, &bot, now)?),
                None => None,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&sqs_record(&req, &creds, &bot, now, queued)?)?
            );
        }
    }
    Ok(Outcome::Ok)
}
