//! Sending notifications: named targets (custom group bots by webhook, or app chats
//! through a configured bot), each platform's size limits (split or truncate, UTF-8 safe,
//! with a visible marker), and per-target rate limits shared by every instance, counted
//! the way the platforms count them (by arrival, see [`rate`]).
//!
//! Every part of a split message is its own effect (`effect#part#<target>#<key>#<index>` in the
//! effect store): a retried notification sends only the parts not sent yet, so a group
//! bot (which keeps no record of what it received) never shows a part twice.

pub mod alert;
pub mod api;
pub mod calendar;
pub mod cloudwatch;
pub mod digest;
pub mod escalation;
pub mod rate;
pub mod route;
pub mod scheduled;
pub mod target;
pub mod webhook;

use std::sync::Arc;

pub use botgate_core::limits;

use crate::clock::Clock;
use crate::delivery::{Delivery, Idempotency, SendError, Target as To, platform_deduplicates};
use crate::settings::Settings;
use crate::store::{Claim, ClaimRequest, DedupStore, Status};
use botgate_core::message::Message;
use escalation::Escalator;
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
#[derive(Clone)]
pub struct Notifier {
    config: Arc<Settings>,
    delivery: Arc<Delivery>,
    escalator: Arc<dyn Escalator>,
    limiter: Arc<dyn RateLimiter>,
    effects: Arc<dyn DedupStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// The rate limiter it shares with other instances.
    pub fn limiter(&self) -> Arc<dyn RateLimiter> {
        self.limiter.clone()
    }

    /// A notifier over the configuration's targets, remembering sent parts in `effects`.
    /// SNS and e-mail targets go through `escalator`.
    pub fn new(
        config: Arc<Settings>,
        delivery: Arc<Delivery>,
        escalator: Arc<dyn Escalator>,
        limiter: Arc<dyn RateLimiter>,
        effects: Arc<dyn DedupStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            delivery,
            escalator,
            limiter,
            effects,
            clock,
        }
    }

    /// The same notifier sending SNS and e-mail targets through `escalator`.
    pub fn with_escalator(&self, escalator: Arc<dyn Escalator>) -> Self {
        Self {
            escalator,
            ..self.clone()
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
    /// `key` identifies the part (Feishu app sends deduplicate on it). The rate log counts
    /// the send from its start until it is answered, then from its answer.
    pub async fn try_send(&self, target: &str, part: &Message, key: &str, deadline_ms: i64) -> Result<Sent, SendError> {
        self.try_send_once(target, part, key, false, deadline_ms).await
    }

    async fn try_send_once(
        &self,
        target: &str,
        part: &Message,
        key: &str,
        resend: bool,
        deadline_ms: i64,
    ) -> Result<Sent, SendError> {
        let spec = self.target(target)?;
        let started = self.clock.now_ms();
        let rate_key = format!("rate#{target}");
        if !spec.rate.is_empty() {
            match self
                .limiter
                .acquire(&rate_key, started, &spec.rate)
                .await
                .map_err(|e| SendError::retryable(e.to_string()))?
            {
                Acquired::Yes => {}
                Acquired::RetryAt(at) => return Ok(Sent::Delayed(at)),
            }
        }
        let result = match &spec.kind {
            TargetKind::Webhook(hook) => match hook.request(part, started) {
                Ok(req) => self
                    .delivery
                    .send_raw(&req, hook.classifier(), false, deadline_ms)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            },
            TargetKind::App { bot, to } => match self.config.bots.get(bot) {
                Some(bot) => {
                    let idem = Idempotency { key, resend };
                    self.delivery
                        .send(bot, To::To(to), part, idem, deadline_ms)
                        .await
                        .map(|_| ())
                }
                None => Err(SendError::Permanent(format!("target `{target}`: no bot `{bot}`"))),
            },
            TargetKind::Sns { topic_arn } => self
                .escalator
                .publish(topic_arn, &escalation::render(part), key)
                .await
                .map(|_| ()),
            TargetKind::Email { from, to } => self
                .escalator
                .email(from, to, &escalation::render(part))
                .await
                .map(|_| ()),
        };
        if !spec.rate.is_empty() {
            // Whatever the outcome, the request may have arrived by now (and not later).
            if let Err(e) = self.limiter.settle(&rate_key, started, self.clock.now_ms()).await {
                tracing::warn!(target, error = %e, "could not settle the rate log: the send counts as in flight for a minute");
            }
        }
        result.map(|()| Sent::Sent)
    }

    /// Whether `target`'s receiver drops a repeated send (an app chat on Feishu or WeCom,
    /// a FIFO SNS topic); group bots, standard topics and e-mail never do.
    fn deduplicates(&self, target: &str) -> bool {
        match self.config.targets.get(target).map(|t| &t.kind) {
            Some(TargetKind::Sns { topic_arn }) => escalation::is_fifo(topic_arn),
            Some(TargetKind::App { bot, .. }) => self
                .config
                .bots
                .get(bot)
                .is_some_and(|b| platform_deduplicates(b.platform)),
            _ => false,
        }
    }

    /// Sends `message` to `target`: every part, waiting out the rate limit while the
    /// deadline allows (then a retryable error: the caller requeues). Returns the parts sent.
    pub async fn send(&self, target: &str, message: &Message, key: &str, deadline_ms: i64) -> Result<usize, SendError> {
        self.send_counted(target, message, key, deadline_ms, &mut Waits::default())
            .await
    }

    /// [`Notifier::send`], counting the rate limit's holds in `waits`. Parts an earlier
    /// attempt with the same `key` sent are skipped (not counted in the result).
    pub async fn send_counted(
        &self,
        target: &str,
        message: &Message,
        key: &str,
        deadline_ms: i64,
        waits: &mut Waits,
    ) -> Result<usize, SendError> {
        self.send_within(target, message, key, deadline_ms, deadline_ms, waits)
            .await
    }

    /// The size limit of one message on `target`.
    pub fn limit(&self, target: &str) -> Result<limits::Limit, SendError> {
        Ok(self.target(target)?.limit())
    }

    /// How long `target`'s rate limit may hold a notification that others wait behind
    /// before they are folded into a digest (ms); `None`: never folded.
    pub fn digest_after_ms(&self, target: &str) -> Option<i64> {
        self.config.targets.get(target).and_then(|t| t.digest_after_ms)
    }

    /// [`Notifier::send_counted`], waiting for the rate limit only while it allows a send by
    /// `wait_until_ms` (Unix ms); past that the send fails retryably with
    /// [`Waits::retry_at`] set and nothing of this part sent.
    pub async fn send_within(
        &self,
        target: &str,
        message: &Message,
        key: &str,
        deadline_ms: i64,
        wait_until_ms: i64,
        waits: &mut Waits,
    ) -> Result<usize, SendError> {
        let parts = self.parts(target, message)?;
        let mut sent = 0;
        for (i, part) in parts.iter().enumerate() {
            let effect = format!("effect#part#{target}#{key}#{i}");
            let claim = self
                .effects
                .claim(ClaimRequest::effect(&effect, self.clock.now_ms()))
                .await
                .map_err(|e| SendError::retryable(e.to_string()))?;
            let (owner, resend) = match claim {
                Claim::Claimed(owner) => (owner, false),
                Claim::Held(r) if r.status == Status::Done => continue,
                Claim::Held(_) => {
                    return Err(SendError::retryable(format!(
                        "part {i} of {} is being sent by another attempt",
                        parts.len()
                    )));
                }
                Claim::TookOver(owner) if self.deduplicates(target) => (owner, true),
                Claim::TookOver(owner) => {
                    // An attempt died while sending this part: it may have arrived, and a
                    // group bot cannot drop a repeat. A possible miss, never a second copy.
                    self.effects
                        .complete(&effect, &owner)
                        .await
                        .map_err(|e| SendError::retryable(e.to_string()))?;
                    tracing::warn!(
                        target,
                        part = i,
                        parts = parts.len(),
                        outcome = "skipped",
                        "an earlier attempt stopped while sending this part and may have sent it"
                    );
                    continue;
                }
            };
            let part_key = crate::queue::fifo_id(&format!("{key}#{i}"));
            let result = loop {
                match self
                    .try_send_once(target, part, &part_key[..32], resend, deadline_ms)
                    .await
                {
                    Ok(Sent::Sent) => break Ok(()),
                    Ok(Sent::Delayed(at)) => {
                        waits.throttled += 1;
                        if at + 1_000 > deadline_ms || at > wait_until_ms {
                            waits.retry_at = Some(at);
                            break Err(SendError::retryable(format!(
                                "target `{target}` is at its rate limit until {at} (ms); {i} of {} parts sent",
                                parts.len()
                            )));
                        }
                        tracing::info!(target, until_ms = at, "rate limited: waiting");
                        let wait = at - self.clock.now_ms();
                        waits.waited_ms += wait.max(0);
                        tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
                    }
                    Err(e) => break Err(e),
                }
            };
            match result {
                Ok(()) => {
                    sent += 1;
                    self.effects
                        .complete(&effect, &owner)
                        .await
                        .map_err(|e| SendError::retryable(e.to_string()))?;
                }
                Err(e @ (SendError::Retryable { .. } | SendError::Held { .. })) => {
                    if let Some(at) = e.retry_at_ms() {
                        waits.retry_at = Some(waits.retry_at.map_or(at, |w| w.max(at)));
                    }
                    if let Err(release) = self.effects.release(&effect, &owner).await {
                        tracing::warn!(target, part = i, error = %release, "could not release the part's claim");
                    }
                    return Err(e);
                }
                Err(e) => {
                    // Permanent or ambiguous: fails the same way again, or may have arrived.
                    if let Err(store) = self.effects.complete(&effect, &owner).await {
                        tracing::warn!(target, part = i, error = %store, "could not mark the part done");
                    }
                    return Err(e);
                }
            }
        }
        Ok(sent)
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
