//! botgate's platform layer: verify, decrypt, parse and normalize callbacks from
//! Feishu/Lark, DingTalk, WeChat Official Accounts and WeCom; sign and render what goes back.
//!
//! Start at [`inbound::Verifier`]: build one per bot from its credentials, then call
//! [`inbound::Verifier::verify`] with each request and the current time.

#[cfg(feature = "aws")]
pub mod aws;
pub mod callback;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod deps;
pub mod dispatcher;
pub mod event;
pub mod handler;
pub mod inbound;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod platform;
pub mod queue;
pub mod rules;
pub mod sample;
pub mod scheduler;
pub mod secret;
pub mod state;
pub mod store;
pub mod token;
pub mod xml;

pub use event::{Event, EventKind, MessageType, Platform};
pub use inbound::{Accepted, Options, OwnedRequest, Rejection, Request, Response, Verifier};
pub use message::Message;
