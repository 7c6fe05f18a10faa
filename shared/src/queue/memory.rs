//! An in-memory FIFO queue with SQS FIFO's deduplication interval.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::{DEDUP_INTERVAL_MS, OutgoingMessage, Queue, QueueError};
use crate::clock::Clock;

#[derive(Debug, Default)]
struct State {
    messages: VecDeque<OutgoingMessage>,
    /// Deduplication ids sent within the interval, and the same in the order they were sent
    /// (so expiring them costs only the expired ones).
    seen: HashMap<String, i64>,
    seen_order: VecDeque<(i64, String)>,
}

/// In-memory messages, for local runs and tests.
pub struct MemoryQueue {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    failing: AtomicBool,
    limit: usize,
    notify: Notify,
}

impl std::fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryQueue").field("len", &self.len()).finish()
    }
}

impl MemoryQueue {
    /// An empty queue taking messages up to `limit` bytes, deduplicating on `clock`.
    pub fn new(clock: Arc<dyn Clock>, limit: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
            failing: AtomicBool::new(false),
            limit,
            notify: Notify::new(),
        }
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.messages.len()).unwrap_or(0)
    }

    /// True when no message waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bodies of the waiting messages, left in place (tests, tools).
    pub fn bodies(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.messages.iter().map(|m| m.body.clone()).collect())
            .unwrap_or_default()
    }

    /// Takes every waiting message.
    pub fn drain(&self) -> Vec<OutgoingMessage> {
        self.state
            .lock()
            .map(|mut s| s.messages.drain(..).collect())
            .unwrap_or_default()
    }

    /// Waits until a message is sent (for an in-process consumer).
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    /// Makes every send fail (for tests of the failure path) or succeed again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, msg: &OutgoingMessage) -> Result<(), QueueError> {
        msg.check_size(self.limit)?;
        if self.failing.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("memory queue set to fail".into()));
        }
        let now = self.clock.now_ms();
        let mut s = self
            .state
            .lock()
            .map_err(|_| QueueError::Unavailable("memory queue lock poisoned".into()))?;
        while let Some((at, _)) = s.seen_order.front() {
            if now - *at < DEDUP_INTERVAL_MS {
                break;
            }
            if let Some((_, id)) = s.seen_order.pop_front() {
                s.seen.remove(&id);
            }
        }
        if s.seen.contains_key(&msg.dedup_id) {
            return Ok(());
        }
        s.seen.insert(msg.dedup_id.clone(), now);
        s.seen_order.push_back((now, msg.dedup_id.clone()));
        s.messages.push_back(msg.clone());
        drop(s);
        // notify_one keeps a permit when the consumer is busy: no lost wake-up, and bursts
        // coalesce into one.
        self.notify.notify_one();
        Ok(())
    }
}
