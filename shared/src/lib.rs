//! botgate's runtime: the configuration, the callback and dispatcher flows, rules,
//! delivery, notifications, the scheduler, and the stores and queues they run on (in
//! memory, or DynamoDB and SQS with the default `aws` feature).
//!
//! The platform layer (verify, decrypt, normalize, sign, render) is the `botgate-core`
//! crate, re-exported here under the same module names ([`crypto`], [`inbound`],
//! [`platform`], ...). Layers, from the bottom: `botgate-core`; [`config`] (the file's
//! typed tree) and [`template`]; the domain modules ([`rules`], [`delivery`], [`notify`],
//! [`store`], [`queue`], ...); the flows ([`callback`], [`dispatcher`], [`scheduler`]);
//! and [`deps`], the composition root that validates a configuration into [`Settings`]
//! and builds the flows' dependencies. No module imports one above it
//! (`tests/import_graph.rs` keeps it so).

#[cfg(feature = "aws")]
pub mod aws;
pub mod bot;
pub mod callback;
pub mod clock;
pub mod config;
#[cfg(feature = "connect")]
pub mod connect;
pub mod delivery;
pub mod deps;
pub mod dispatcher;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod reload;
pub mod rules;
pub mod scheduler;
pub mod schedules;
pub mod settings;
pub mod state;
pub mod store;
pub mod template;
pub mod token;

pub use botgate_core::{
    Accepted, Credentials, Event, EventKind, Message, MessageType, Options, OwnedRequest, Platform, Rejection, Request,
    Response, Verifier,
};
pub use botgate_core::{answer, crypto, event, inbound, limits, message, platform, sample, secret, xml};
pub use settings::Settings;
