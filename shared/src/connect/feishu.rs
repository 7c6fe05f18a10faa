//! The Feishu/Lark long connection: get an endpoint with the app's id and secret, open it
//! verbatim, speak the `pbbp2` frames ([`botgate_core::platform::feishu::frame`]).
//!
//! Data frames (`event`, `card`) are put together when split (`sum` > 1), normalized as the
//! webhook path normalizes them, taken in, and answered once per message, after the
//! enqueue: `{"code":200}` (with the card action's answer as `data`: the rules', else the
//! bot's `card_answer`), or
//! `{"code":500}` when the event could not be queued, so Feishu delivers it again. The
//! server's `ClientConfig` (from the endpoint and from pongs) sets the protocol ping's
//! interval and caps the reconnect backoff.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::socket::{self, Context, DialError, End, Ended, Protocol, Step};
use crate::delivery::transport::{HttpRequest, Transport};
use botgate_core::Credentials;
use botgate_core::EventKind;
use botgate_core::platform::feishu::{self, frame};

/// The default protocol ping interval (the SDKs' 120 s) until the server says otherwise.
const DEFAULT_PING_SECS: u64 = 120;

/// The session's protocol state.
struct Feishu {
    service: i32,
    ping_every: Duration,
    reassembly: frame::Reassembly,
    card_answer: Option<Value>,
    bot: String,
}

impl Feishu {
    fn configure(&mut self, c: &frame::ClientConfig) {
        if let Some(p) = c.ping_interval.filter(|p| *p > 0) {
            self.ping_every = Duration::from_secs(p);
        }
    }

    fn data(&mut self, f: frame::Frame, now_ms: i64) -> Vec<Step> {
        let parts = match f.parts() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(bot = %self.bot, error = %e, "long connection: a data frame without usable headers; dropped");
                return Vec::new();
            }
        };
        let message_id = parts.message_id.to_owned();
        let payload = f.payload.clone().unwrap_or_default();
        let Some(payload) = self.reassembly.push(parts, payload, now_ms) else {
            return Vec::new();
        };
        let kind = f.kind().to_owned();
        if kind != "event" && kind != "card" {
            tracing::debug!(bot = %self.bot, kind, "long connection: a data frame of a type botgate does not take");
            return vec![Step::Reply(binary(&f.answer(200, None, 0)))];
        }
        let event = match feishu::pushed_event(&payload, &kind, &message_id) {
            Ok(e) => e,
            Err(r) => {
                tracing::warn!(bot = %self.bot, message_id, reason = r.reason(), detail = %r,
                    outcome = "rejected", "pushed event refused");
                return vec![Step::Reply(binary(&f.answer(r.status(), None, 0)))];
            }
        };
        let trace_id = f
            .header("trace_id")
            .filter(|t| !t.is_empty() && t.len() <= 64)
            .map_or_else(|| botgate_core::crypto::random_nonce(16), str::to_owned);
        // A card action's answer: the rules' (or a handler's), computed as the event is
        // taken in, else the bot's static `card_answer`, else `{}`.
        let fallback = (event.kind == EventKind::CardAction).then(|| {
            self.card_answer
                .as_ref()
                .map_or_else(|| b"{}".to_vec(), |a| a.to_string().into_bytes())
        });
        let ack: socket::Ack = Box::new(move |queued, answer, ms| {
            if queued {
                let data = answer.map(str::as_bytes).or(fallback.as_deref());
                binary(&f.answer(200, data, ms))
            } else {
                binary(&f.answer(500, None, ms))
            }
        });
        vec![Step::Ingest {
            event: Box::new(event),
            trace_id,
            ack,
        }]
    }
}

fn binary(f: &frame::Frame) -> Message {
    Message::Binary(f.to_bytes().into())
}

impl Protocol for Feishu {
    fn on_message(&mut self, msg: Message, now_ms: i64) -> Vec<Step> {
        let Message::Binary(bytes) = msg else {
            tracing::debug!(bot = %self.bot, "long connection: a text message on a binary protocol; ignored");
            return Vec::new();
        };
        let f = match frame::Frame::decode(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(bot = %self.bot, error = %e, "long connection: an unreadable frame; dropped");
                return Vec::new();
            }
        };
        match f.method {
            frame::METHOD_DATA => self.data(f, now_ms),
            frame::METHOD_CONTROL if f.kind() == "pong" => {
                if let Some(c) = f
                    .payload
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .and_then(|p| serde_json::from_slice::<frame::ClientConfig>(p).ok())
                {
                    self.configure(&c);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn keepalive(&self) -> Option<(Duration, Message)> {
        Some((self.ping_every, binary(&frame::Frame::ping(self.service))))
    }
}

/// Why the handshake was refused, from Feishu's `Handshake-*` headers: 514 with auth error
/// 1000040350 (too many connections) and 403 (forbidden) are refusals; the rest is busy.
fn handshake_refusal(status: u16, headers: &[(String, String)]) -> End {
    let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let code = get("handshake-status").and_then(|c| c.parse::<i64>().ok());
    let msg = get("handshake-msg").unwrap_or_default();
    let auth = get("handshake-autherrcode").and_then(|c| c.parse::<i64>().ok());
    let why = format!("handshake HTTP {status}, status {code:?}: {msg}");
    match (code, auth) {
        (Some(514), Some(1_000_040_350)) | (Some(403), _) => End::Refused(why),
        _ => End::Failed(why),
    }
}

/// Opens one connection for the bot and runs it until it ends; `max_backoff_ms` is set to
/// the server's reconnect interval when it sends one.
pub async fn session(cx: Context, base: &str, transport: Arc<dyn Transport>, max_backoff_ms: &mut u64) -> Ended {
    let deps = cx.gateway.get();
    let Some(bot) = deps.config.bots.get(&cx.bot) else {
        return Ended::before_connect(End::Shutdown);
    };
    let Credentials::Feishu(c) = &bot.credentials else {
        return Ended::before_connect(End::Refused("not a feishu bot".into()));
    };
    let (Some(app_id), Some(secret)) = (c.app_id.as_deref(), c.app_secret.as_ref()) else {
        return Ended::before_connect(End::Refused("app_id and app_secret are needed".into()));
    };
    let url = format!("{base}{}", frame::ENDPOINT_PATH);
    let mut req = HttpRequest::post(url, frame::endpoint_request(app_id, secret.expose()));
    req.headers.push(("locale".into(), "zh".into()));
    let endpoint = match transport.send(&req).await {
        Err(e) => return Ended::before_connect(End::Failed(format!("endpoint: {e}"))),
        Ok(resp) => match frame::parse_endpoint(resp.status, &resp.body) {
            Ok(e) => e,
            Err(e @ frame::EndpointError::Refused(_)) => return Ended::before_connect(End::Refused(e.to_string())),
            Err(e) => return Ended::before_connect(End::Failed(e.to_string())),
        },
    };
    let mut protocol = Feishu {
        service: endpoint.service,
        ping_every: Duration::from_secs(DEFAULT_PING_SECS),
        reassembly: frame::Reassembly::default(),
        card_answer: bot.options.card_answer.clone(),
        bot: cx.bot.clone(),
    };
    if let Some(conf) = &endpoint.config {
        protocol.configure(conf);
        if let Some(i) = conf.reconnect_interval.filter(|i| *i > 0) {
            *max_backoff_ms = (*max_backoff_ms).min(i.saturating_mul(1000));
        }
    }
    drop(deps);
    let ws = match socket::dial(&endpoint.url).await {
        Ok(ws) => ws,
        Err(DialError::Refused { status, headers }) => {
            return Ended::before_connect(handshake_refusal(status, &headers));
        }
        Err(e) => return Ended::before_connect(End::Failed(e.to_string())),
    };
    let detail = format!(
        "connected to {} (device {})",
        socket::host_of(&endpoint.url),
        endpoint.device_id
    );
    cx.connection("opened", 0, &detail);
    socket::run(ws, protocol, cx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_refusals_are_told_from_busy_servers() {
        let h = |s: &str, a: &str| {
            vec![
                ("handshake-status".to_owned(), s.to_owned()),
                ("handshake-msg".to_owned(), "m".to_owned()),
                ("handshake-autherrcode".to_owned(), a.to_owned()),
            ]
        };
        assert!(matches!(
            handshake_refusal(400, &h("514", "1000040350")),
            End::Refused(_)
        ));
        assert!(matches!(handshake_refusal(400, &h("403", "")), End::Refused(_)));
        assert!(matches!(handshake_refusal(502, &h("514", "1")), End::Failed(_)));
        assert!(matches!(handshake_refusal(502, &[]), End::Failed(_)));
    }
}
