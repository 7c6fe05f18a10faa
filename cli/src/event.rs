//! `botgate event`: a signed, encrypted sample callback for a bot's credentials.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use botgate::inbound::{OwnedRequest, SampleKind};
use botgate::{Platform, sample};

use crate::{Outcome, input};

/// How to print the sample.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// {"method","query","headers","body"}, for `botgate verify --request`.
    Request,
    /// A curl command line for a running gateway.
    Curl,
}

/// Arguments of `botgate event`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// feishu (or lark), dingtalk, wechat or wecom.
    #[arg(long)]
    platform: Platform,
    /// The bot's credentials (JSON).
    #[arg(long)]
    credentials: PathBuf,
    /// message, url_verification, card_action (feishu), subscribe / click (wechat, wecom),
    /// event (dingtalk event subscription).
    #[arg(long = "type", value_parser = parse_kind, default_value = "message")]
    kind: SampleKind,
    /// The message text (for click: the menu key; for card_action: the button value).
    #[arg(long, default_value = "hello")]
    text: String,
    /// The clock, in Unix seconds (default: now).
    #[arg(long)]
    now: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "request")]
    format: Format,
    /// The callback URL for --format curl.
    #[arg(long, default_value = "http://127.0.0.1:8080/{platform}/demo")]
    url: String,
}

fn parse_kind(s: &str) -> Result<SampleKind, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_")))
        .map_err(|_| format!("unknown type {s:?}: message, url_verification, card_action, subscribe, click or event"))
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

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    let creds = input::credentials(&args.credentials, args.platform)?;
    let now = args.now.unwrap_or_else(input::now);
    let req = sample::request(args.platform, &creds, args.kind, &args.text, now).map_err(|e| anyhow!(e))?;
    match args.format {
        Format::Request => println!("{}", serde_json::to_string_pretty(&req)?),
        Format::Curl => println!(
            "{}",
            curl(&req, &args.url.replace("{platform}", args.platform.as_str()))
        ),
    }
    Ok(Outcome::Ok)
}
