//! Sending notifications: named targets (custom group bots by webhook, or app chats
//! through a configured bot), each platform's size limits (split or truncate, UTF-8 safe,
//! with a visible marker), and per-target rate limits shared by every instance.

pub mod api;
pub mod rate;
pub mod scheduled;
pub mod target;
pub mod webhook;

use std::sync::Arc;

pub use botgate_core::limits;

use crate::clock::Clock;
use crate::delivery::{Delivery, Idempotency, SendError, Target as To};
use crate::settings::Settings;
use botgate_core::message::Message;
use rate::{Acquired, RateLimiter};
use target::{TargetKind, TargetSpec};

/// What happened to one part of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Sent.
    Sent,
    /// Over the target's rate limit: try again at this time (Unix ms). Nothing was sent.
    Delayed(i64),
}

/// Sends notifications to named targets.
pub struct Notifier {
    config: Arc<Settings>,
    delivery: Arc<Delivery>,
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier over the configuration's targets.
    pub fn new(
        config: Arc<Settings>,
        delivery: Arc<Delivery>,
        limiter: Arc<dyn RateLimiter>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            delivery,
            limiter,
            clock,
        }
    }

    fn target(&self, name: &str) -> Result<&TargetSpec, SendError> {
        self.config
            .targets
            .get(name)
            .ok_or_else(|| SendError::Permanent(format!("no target `{name}` in the configuration")))
    }

    /// The parts `message` becomes on `target` (split or truncated to its size limit).
    pub fn parts(&self, target: &str, message: &Message) -> Result<Vec<Message>, SendError> {
        Ok(limits::fit(self.target(target)?.limit(), message))
    }

    /// Sends one part to `target` if its rate limit allows it now; otherwise says when.
    /// `key` identifies the part (Feishu app sends deduplicate on it).
    pub async fn try_send(&self, target: &str, part: &Message, key: &str, deadline_ms: i64) -> Result<Sent, SendError> {
        let spec = self.target(target)?;
        let now = self.clock.now_ms();
        if !spec.rate.is_empty() {
            match self
                .limiter
                .acquire(&format!("rate#{target}"), now, &spec.rate)
                .await
                .map_err(|e| SendError::retryable(e.to_string()))?
            {
                Acquired::Yes => {}
                Acquired::RetryAt(at) => return Ok(Sent::Delayed(at)),
            }
        }
        match &spec.kind {
            TargetKind::Webhook(hook) => {
                let req = hook.request(part, now)?;
                self.delivery
                    .send_raw(&req, hook.classifier(), false, deadline_ms)
                    .await?;
            }
            TargetKind::App { bot, to } => {
                let bot = self
                    .config
                    .bots
                    .get(bot)
                    .ok_or_else(|| SendError::Permanent(format!("target `{target}`: no bot `{bot}`")))?;
                let idem = Idempotency { key, resend: false };
                self.delivery.send(bot, To::To(to), part, idem, deadline_ms).await?;
            }
        }
        Ok(Sent::Sent)
    }

    /// Sends `message` to `target`: every part, waiting out the rate limit while the
    /// deadline allows (then a retryable error: the caller requeues). Returns the parts sent.
    pub async fn send(&self, target: &str, message: &Message, key: &str, deadline_ms: i64) -> Result<usize, SendError> {
        self.send_counted(target, message, key, deadline_ms, &mut Waits::default())
            .await
    }

    /// [`Notifier::send`], counting the rate limit's holds in `waits`.
    pub async fn send_counted(
        &self,
        target: &str,
        message: &Message,
        key: &str,
        deadline_ms: i64,
        waits: &mut Waits,
    ) -> Result<usize, SendError> {
        let parts = self.parts(target, message)?;
        for (i, part) in parts.iter().enumerate() {
            let part_key = crate::queue::fifo_id(&format!("{key}#{i}"));
            loop {
                match self.try_send(target, part, &part_key[..32], deadline_ms).await? {
                    Sent::Sent => break,
                    Sent::Delayed(at) => {
                        waits.throttled += 1;
                        if at + 1_000 > deadline_ms {
                            waits.retry_at = Some(at);
                            return Err(SendError::retryable(format!(
                                "target `{target}` is at its rate limit until {at} (ms); {i} of {} parts sent",
                                parts.len()
                            )));
                        }
                        tracing::info!(target, until_ms = at, "rate limited: waiting");
                        let wait = at - self.clock.now_ms();
                        waits.waited_ms += wait.max(0);
                        tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
                    }
                }
            }
        }
        Ok(parts.len())
    }
}

/// How a send met its target's rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waits {
    /// Times a part found the target at its limit.
    pub throttled: u32,
    /// Time spent waiting for the limit, in milliseconds.
    pub waited_ms: i64,
    /// When the limit lasted past the deadline: the time (Unix ms) to try again. The send
    /// failed retryably and is put back for later ("delayed").
    pub retry_at: Option<i64>,
}

impl Waits {
    /// The outcome to record for a failed send: `delayed` when the rate limit put it back,
    /// else the error's class.
    pub fn outcome(&self, error: &SendError) -> &'static str {
        if self.retry_at.is_some() {
            "delayed"
        } else {
            error.class()
        }
    }
}
