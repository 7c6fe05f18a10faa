//! `botgate verify`: run the gateway's checks on one request and explain the result.

use std::path::PathBuf;

use anyhow::{Context, Result};
use botgate::Rejection;
use botgate::Verifier;
use botgate::inbound::{Accepted, Options, OwnedRequest};
use serde_json::json;

use crate::{Outcome, input};

/// Arguments of `botgate verify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bot: input::BotSource,
    /// The request: {"method","query","headers","body"} (JSON).
    #[arg(long)]
    request: PathBuf,
    /// The clock, in Unix seconds (default: now). Use the time a captured request was sent.
    #[arg(long)]
    now: Option<i64>,
    /// Timestamp window in seconds (default: the platform's).
    #[arg(long)]
    window: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn hint(r: &Rejection) -> &'static str {
    match r {
        Rejection::BadSignature(_) => {
            "the token / encrypt key / app secret in the credentials must be the ones in the platform console, \
             and the body must be byte-for-byte what the platform sent (no re-serialized JSON, no added newline)"
        }
        Rejection::StaleTimestamp(_) => {
            "the request is older (or newer) than the window: replayed or captured earlier? \
             pass --now with the time it was sent, or check this machine's clock"
        }
        Rejection::WrongToken(_) => "the payload's token is not the Verification Token in the credentials",
        Rejection::WrongReceiveId(_) => {
            "the message was encrypted for another app: check app_id (WeChat), corp_id (WeCom) or app_key (DingTalk)"
        }
        Rejection::Undecryptable(_) => {
            "the encryption key does not match, or the ciphertext was cut or altered on the way"
        }
        Rejection::Malformed(_) => "the request is not in the shape this platform sends: is --platform right?",
        Rejection::TooLarge { .. } => "the body is larger than the gateway accepts",
        Rejection::UnsupportedMethod(_) => "the platform uses GET only for URL verification and POST otherwise",
        Rejection::Replayed(_) => "the same signed timestamp came with another message: a replay of a captured request",
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    let creds = args.bot.load()?;
    let platform = creds.platform();
    let verifier = Verifier::new(creds).with_context(|| format!("{platform} credentials"))?;
    let req: OwnedRequest = serde_json::from_value(input::read_json(&args.request)?)
        .with_context(|| format!("{} is not a request object", args.request.display()))?;
    let now = args.now.unwrap_or_else(input::now);
    let opts = Options {
        timestamp_window_secs: args.window,
        ..Options::default()
    };
    let out = verifier.verify(&req.as_request(), now, &opts);
    if args.json {
        let v = match &out {
            Ok(Accepted::Verification(r)) => json!({"outcome": "verification", "response": r}),
            Ok(Accepted::Event { event, response, .. }) => {
                json!({"outcome": "event", "response": response, "event": event})
            }
            Err(e) => {
                json!({"outcome": "rejected", "reason": e.reason(), "detail": e.to_string(), "response": e.response()})
            }
        };
        println!("{v}");
    } else {
        match &out {
            Ok(Accepted::Verification(r)) => {
                println!("accepted: {} URL verification", platform);
                println!("answer:   {} {} {}", r.status, r.content_type, r.body);
            }
            Ok(Accepted::Event { event, response, .. }) => {
                println!(
                    "accepted: {} event {} ({})",
                    platform,
                    event.event_type,
                    event.kind.as_str()
                );
                let rows = [
                    ("event_id", Some(event.event_id.as_str())),
                    ("chat_id", event.chat_id.as_deref()),
                    ("chat_type", event.chat_type.as_deref()),
                    ("sender_id", event.sender_id.as_deref()),
                    ("text", event.text.as_deref()),
                    ("key", event.key.as_deref()),
                ];
                for (k, v) in rows {
                    if let Some(v) = v {
                        println!("  {k:<10} {v}");
                    }
                }
                println!(
                    "answer:   {} {} {}",
                    response.status, response.content_type, response.body
                );
            }
            Err(e) => {
                println!("rejected: {} ({} {})", e, e.status(), e.reason());
                println!("hint:     {}", hint(e));
            }
        }
    }
    Ok(if out.is_ok() { Outcome::Ok } else { Outcome::Rejected })
}
