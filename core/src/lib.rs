#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`inbound`]: the contract every platform implements (request in; verification answer,
//!   event or typed rejection out; the one mapping of rejections to HTTP statuses).
//! - [`platform`]: one module per platform, and [`Verifier`], the dispatch over them.
//! - [`event`] and [`message`]: the normalized inbound event and the outbound message model.
//! - [`answer`]: what a bot says in the callback's own response (passive replies, card
//!   action answers).
//! - [`limits`]: each platform's size limits, and fitting a message into them.
//! - [`crypto`], [`xml`], [`secret`]: the building blocks.
//! - [`sample`]: signed sample callbacks, for tests and tools.

pub mod answer;
pub mod crypto;
pub mod event;
pub mod inbound;
pub mod limits;
pub mod message;
pub mod platform;
pub mod sample;
pub mod secret;
pub mod xml;

pub use event::{Event, EventKind, MessageType, Platform};
pub use inbound::{Accepted, Options, OwnedRequest, Rejection, Request, Response};
pub use message::Message;
pub use platform::{Credentials, Verifier};
