//! The `botgate` command line's commands, as a library so examples and benches can reuse them.

pub mod cipher;
pub mod config;
pub mod connect;
#[cfg(feature = "aws")]
pub mod dlq;
pub mod doctor;
pub mod event;
pub mod http;
pub mod input;
pub mod render;
pub mod schedule;
pub mod schedules;
pub mod send;
pub mod serve;
pub mod sign;
pub mod verify;

/// A command's result: success, or a rejection (exit 1). Usage and input errors are `Err` (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1.
    Rejected,
}
