//! The DingTalk Stream connection: open a connection with the app's client id (app key) and
//! secret, connect with the ticket, speak the JSON frames
//! ([`botgate_core::platform::dingtalk::stream`]).
//!
//! `SYSTEM` pings are answered at once; a `disconnect` is acknowledged and the connection
//! replaced. `EVENT` and `CALLBACK` frames (event subscriptions, the chat bot's messages,
//! card callbacks) are normalized as the HTTP paths normalize them, taken in, and
//! acknowledged with their `messageId` once queued; an event that could not be queued is
//! answered `LATER` (a callback: code 500), so DingTalk delivers it again.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;

use super::socket::{self, Context, End, Ended, Protocol, Step};
use crate::delivery::transport::{HttpRequest, Transport};
use botgate_core::Credentials;
use botgate_core::platform::dingtalk::stream::{self, FrameType};

/// The user agent sent with the open-connection call.
const UA: &str = concat!("botgate/", env!("CARGO_PKG_VERSION"));

struct Dingtalk {
    bot: String,
}

impl Protocol for Dingtalk {
    fn on_message(&mut self, msg: Message, _now_ms: i64) -> Vec<Step> {
        let Message::Text(text) = msg else {
            tracing::debug!(bot = %self.bot, "stream: a binary message on a text protocol; ignored");
            return Vec::new();
        };
        let f = match stream::Frame::parse(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(bot = %self.bot, error = %e, "stream: an unreadable frame; dropped");
                return Vec::new();
            }
        };
        match (f.kind, f.topic()) {
            (FrameType::System, "ping") => vec![Step::Reply(Message::Text(f.pong().into()))],
            (FrameType::System, "disconnect") => vec![
                Step::Reply(Message::Text(f.pong().into())),
                Step::Reconnect("the server asked to reconnect (disconnect)".into()),
            ],
            (FrameType::System, topic) => {
                tracing::debug!(bot = %self.bot, topic, "stream: a system frame botgate does not know; acknowledged");
                vec![Step::Reply(Message::Text(f.pong().into()))]
            }
            (FrameType::Event | FrameType::Callback, _) => match f.event() {
                Ok(Some(event)) => {
                    let trace_id = Some(f.message_id())
                        .filter(|m| !m.is_empty() && m.len() <= 64)
                        .map_or_else(|| botgate_core::crypto::random_nonce(16), str::to_owned);
                    let ack: socket::Ack = Box::new(move |queued, _, _| Message::Text(f.acknowledge(queued).into()));
                    vec![Step::Ingest {
                        event: Box::new(event),
                        trace_id,
                        ack,
                    }]
                }
                Ok(None) => {
                    tracing::debug!(bot = %self.bot, topic = f.topic(), "stream: a callback topic botgate does not take");
                    vec![Step::Reply(Message::Text(f.not_implemented().into()))]
                }
                Err(r) => {
                    tracing::warn!(bot = %self.bot, message_id = f.message_id(), reason = r.reason(), detail = %r,
                        outcome = "rejected", "pushed event refused");
                    vec![Step::Reply(Message::Text(f.not_implemented().into()))]
                }
            },
            (FrameType::Other, _) => vec![Step::Reply(Message::Text(f.not_implemented().into()))],
        }
    }

    fn keepalive(&self) -> Option<(Duration, Message)> {
        None
    }
}

/// Opens one Stream connection for the bot and runs it until it ends.
pub async fn session(cx: Context, base: &str, transport: Arc<dyn Transport>) -> Ended {
    let deps = cx.gateway.get();
    let Some(bot) = deps.config.bots.get(&cx.bot) else {
        return Ended::before_connect(End::Shutdown);
    };
    let Credentials::Dingtalk(c) = &bot.credentials else {
        return Ended::before_connect(End::Refused("not a dingtalk bot".into()));
    };
    let (Some(client_id), Some(secret)) = (c.app_key.as_deref(), c.app_secret.as_ref()) else {
        return Ended::before_connect(End::Refused("app_key and app_secret are needed".into()));
    };
    let req = HttpRequest::post(
        format!("{base}{}", stream::OPEN_PATH),
        stream::open_request(client_id, secret.expose(), UA),
    );
    drop(deps);
    let opened = match transport.send(&req).await {
        Err(e) => return Ended::before_connect(End::Failed(format!("open connection: {e}"))),
        Ok(resp) => match stream::parse_open(resp.status, &resp.body) {
            Ok(o) => o,
            Err(e @ stream::OpenError::Refused(_)) => return Ended::before_connect(End::Refused(e.to_string())),
            Err(e) => return Ended::before_connect(End::Failed(e.to_string())),
        },
    };
    let url = opened.url();
    let ws = match socket::dial(&url).await {
        Ok(ws) => ws,
        Err(socket::DialError::Refused { status, .. }) if (400..500).contains(&status) && status != 429 => {
            return Ended::before_connect(End::Failed(format!(
                "the ticket was refused (HTTP {status}); a new one is asked for"
            )));
        }
        Err(e) => return Ended::before_connect(End::Failed(e.to_string())),
    };
    cx.connection("opened", 0, &format!("connected to {}", socket::host_of(&url)));
    socket::run(ws, Dingtalk { bot: cx.bot.clone() }, cx).await
}
