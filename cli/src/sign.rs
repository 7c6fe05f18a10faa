//! `botgate sign`: the custom group bot webhook signature.

use anyhow::{Result, bail};
use botgate::Platform;
use botgate::platform::{dingtalk, feishu};
use serde_json::json;

use crate::{Outcome, input};

/// Arguments of `botgate sign`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// feishu (or lark) or dingtalk.
    #[arg(long)]
    platform: Platform,
    /// The bot's signing secret (`SEC...`).
    #[arg(long)]
    secret: String,
    /// Timestamp: seconds for Feishu, milliseconds for DingTalk (default: now).
    #[arg(long)]
    timestamp: Option<i64>,
    /// Print {"timestamp","sign"} as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    let (ts, sign, usage) = match args.platform {
        Platform::Feishu => {
            let ts = args.timestamp.unwrap_or_else(input::now);
            (
                ts,
                feishu::webhook_sign(&args.secret, ts),
                "put \"timestamp\" and \"sign\" in the JSON body",
            )
        }
        Platform::Dingtalk => {
            let ts = args.timestamp.unwrap_or_else(|| input::now() * 1000);
            (
                ts,
                dingtalk::hmac_sign(&args.secret, &ts.to_string()),
                "append &timestamp=T&sign=URLENCODED(S) to the webhook URL",
            )
        }
        other => bail!("{other} group bots are not signed (WeCom uses the key in the URL)"),
    };
    if args.json {
        println!("{}", json!({"timestamp": ts.to_string(), "sign": sign}));
    } else {
        let encoded: String = url_encode(&sign);
        println!("timestamp: {ts}\nsign:      {sign}");
        if args.platform == Platform::Dingtalk {
            println!("encoded:   {encoded}");
        }
        println!("usage:     {usage}");
    }
    Ok(Outcome::Ok)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
