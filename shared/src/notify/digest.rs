//! Digests: what waits behind a target's rate limit, folded into one message.
//!
//! When a target's rate limit would hold its next notification longer than the target's
//! `digest_after_secs`, or that notification already waited its turn, while more wait
//! behind it in the queue, the dispatcher folds them all into one digest job and queues it
//! in their place ([`fold`]). The digest's turn
//! comes when the limit allows one more message, and it carries everything the folded
//! ones said: counts per alert name and status, then the newest state of each alert group
//! (a resolved notification replaces its group's firing one that was still waiting) with
//! its link, and the mentions they asked for. A digest that still waits folds into the
//! next one the same way, so nothing is dropped: every folded notification is counted,
//! and listed while the message has room.

use serde::{Deserialize, Serialize};

use super::escalation;
use botgate_core::limits::{Limit, cut};
use botgate_core::message::{Mentions, Message};

/// `digest_after_secs`' default: waits up to this long are waited out.
pub const DEFAULT_AFTER_MS: i64 = 30_000;
/// Entries kept for listing; beyond them the oldest are counted only.
pub const MAX_ENTRIES: usize = 200;
/// The longest title an entry keeps, in bytes.
const TITLE_BYTES: usize = 160;
/// The `source` of a digest job.
pub const SOURCE: &str = "digest";

/// One queued notification as a digest sees it (a view of a notify job).
#[derive(Debug, Clone, Copy)]
pub struct Folded<'a> {
    /// The job's id.
    pub id: &'a str,
    /// Its message.
    pub message: &'a Message,
    /// The alert it carries, if any.
    pub alert: Option<&'a AlertSummary>,
    /// What it folded, when it is itself a digest.
    pub digest: Option<&'a Digest>,
}

impl Folded<'_> {
    /// The group it replaces in a digest: the alert group, else itself.
    fn key(&self) -> String {
        match self.alert {
            Some(a) => format!("alert#{}", a.key),
            None => format!("id#{}", self.id),
        }
    }
}

/// What a digest needs of an alert notification, taken from its webhook when it is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSummary {
    /// The alert group (Alertmanager's `groupKey`): notifications of one group replace
    /// each other in a digest.
    pub key: String,
    /// The alert name (the group's `alertname`).
    pub name: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Where to look: the first alert's source link, or the alerting system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// One listed entry: the newest notification of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The group (alerts) or the notification's id.
    pub key: String,
    /// The alert name; empty for other notifications.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `firing` / `resolved`; empty for other notifications.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The message's title or first line.
    pub title: String,
    /// Its link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Earlier notifications of the group this one replaced.
    #[serde(default)]
    pub replaced: u32,
}

/// Folded notifications counted by alert name and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The alert name; empty for other notifications.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `firing` / `resolved`; empty for other notifications.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// How many.
    pub count: u32,
}

/// What a digest job folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The newest state of each group, in the order the groups first came.
    pub entries: Vec<Entry>,
    /// Every folded notification, by name and status.
    pub counts: Vec<Count>,
    /// Groups no longer listed (past [`MAX_ENTRIES`]); their notifications are in `counts`.
    #[serde(default)]
    pub unlisted: u32,
    /// Whom the folded messages mentioned.
    #[serde(default, skip_serializing_if = "Mentions::is_empty")]
    pub mentions: Mentions,
}

impl Digest {
    /// Notifications folded in.
    pub fn total(&self) -> u32 {
        self.counts.iter().map(|c| c.count).sum()
    }

    fn count(&mut self, name: &str, status: &str, n: u32) {
        match self.counts.iter_mut().find(|c| c.name == name && c.status == status) {
            Some(c) => c.count = c.count.saturating_add(n),
            None => self.counts.push(Count {
                name: name.to_owned(),
                status: status.to_owned(),
                count: n,
            }),
        }
    }

    fn list(&mut self, entry: Entry) {
        match self.entries.iter().position(|e| e.key == entry.key) {
            Some(i) => {
                let replaced = self.entries[i].replaced + 1 + entry.replaced;
                self.entries[i] = Entry { replaced, ..entry };
            }
            None => {
                self.entries.push(entry);
                if self.entries.len() > MAX_ENTRIES {
                    self.entries.remove(0);
                    self.unlisted = self.unlisted.saturating_add(1);
                }
            }
        }
    }

    fn mention(&mut self, m: &Mentions) {
        self.mentions.all |= m.all;
        for id in &m.user_ids {
            if !self.mentions.user_ids.contains(id) {
                self.mentions.user_ids.push(id.clone());
            }
        }
        for mobile in &m.mobiles {
            if !self.mentions.mobiles.contains(mobile) {
                self.mentions.mobiles.push(mobile.clone());
            }
        }
    }

    /// Folds in one queued notification (itself a digest or not).
    pub fn add(&mut self, job: &Folded<'_>) {
        if let Some(inner) = job.digest {
            for c in &inner.counts {
                self.count(&c.name, &c.status, c.count);
            }
            for e in &inner.entries {
                self.list(e.clone());
            }
            self.unlisted = self.unlisted.saturating_add(inner.unlisted);
            self.mention(&inner.mentions);
            return;
        }
        let title = cut(&escalation::subject(job.message), TITLE_BYTES).to_owned();
        let (name, status, link) = match job.alert {
            Some(a) => (a.name.clone(), a.status.clone(), a.link.clone()),
            None => (String::new(), String::new(), None),
        };
        let entry = Entry {
            key: job.key(),
            name,
            status,
            title,
            link,
            replaced: 0,
        };
        self.count(&entry.name, &entry.status, 1);
        self.list(entry);
        let mut message = job.message.clone();
        if let Some(m) = message.mentions_mut() {
            self.mention(m);
        }
    }
}

/// `jobs` (queued for `target`, oldest first) folded into one: the digest, its id and its
/// message (the digest rendered within `limit`, or, when they all come down to one
/// notification, such as a firing alert replaced by its resolution, that notification's
/// own message). The id is derived from theirs, so folding the same jobs again (a
/// redelivered batch) makes the same job, which the queue deduplicates.
pub fn fold(target: &str, jobs: &[Folded<'_>], limit: Limit) -> (Digest, String, Message) {
    let mut digest = Digest::default();
    let mut seed = format!("digest#{target}");
    for j in jobs {
        digest.add(j);
        seed.push('#');
        seed.push_str(j.id);
    }
    let id = crate::queue::fifo_id(&seed)[..32].to_owned();
    let survivor = match digest.entries.as_slice() {
        [only] if digest.unlisted == 0 => jobs.iter().rev().find(|j| j.digest.is_none() && j.key() == only.key),
        _ => None,
    };
    let message = match survivor {
        Some(j) => j.message.clone(),
        None => render(&digest, limit),
    };
    (digest, id, message)
}

fn count_line(c: &Count) -> String {
    match (c.name.as_str(), c.status.as_str()) {
        ("", "") => format!("- other notifications: {}", c.count),
        (name, "") => format!("- {name}: {}", c.count),
        (name, status) => format!(
            "- {}: {} {status}",
            if name.is_empty() { "alerts" } else { name },
            c.count
        ),
    }
}

fn entry_line(e: &Entry) -> String {
    let mut line = format!("- {}", e.title.replace('\n', " "));
    if e.replaced > 0 {
        line.push_str(&format!(" (newest of {})", e.replaced + 1));
    }
    if let Some(link) = &e.link {
        line.push_str(&format!(" [open]({link})"));
    }
    line
}

/// The digest as one markdown message within `limit` (one part: a digest never splits).
pub fn render(digest: &Digest, limit: Limit) -> Message {
    let total = digest.total();
    let title = format!("Digest: {total} notifications");
    // What `limits::fit` keeps for one part's text, less room for the closing line.
    let budget = limit.markdown.saturating_sub(title.len() + 16 + 96);
    let mut text =
        format!("**{total} notifications** waited for this chat's rate limit; here they are in one message.\n\n");
    let mut counts: Vec<&Count> = digest.counts.iter().collect();
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    let mut shown = 0u32;
    for c in &counts {
        let line = count_line(c);
        // Counts take at most half the room; the rest are summed up in one line.
        if text.len() + line.len() + 1 > budget / 2 {
            break;
        }
        text.push_str(&line);
        text.push('\n');
        shown += c.count;
    }
    if shown < total {
        text.push_str(&format!("- other names: {}\n", total - shown));
    }
    text.push_str("\n**Newest state of each**\n");
    let mut listed = 0usize;
    for e in digest.entries.iter().rev() {
        let line = entry_line(e);
        if text.len() + line.len() + 1 > budget {
            break;
        }
        text.push_str(&line);
        text.push('\n');
        listed += 1;
    }
    let unlisted = (digest.entries.len() - listed) as u64 + u64::from(digest.unlisted);
    if unlisted > 0 {
        text.push_str(&format!("- … and {unlisted} more (counted above)\n"));
    }
    Message::Markdown {
        title,
        text,
        mentions: digest.mentions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::api::NotifyJob;

    fn fold(target: &str, jobs: &[NotifyJob], limit: Limit) -> NotifyJob {
        NotifyJob::digest_of(target, jobs, limit)
    }

    fn alert(id: &str, key: &str, name: &str, status: &str) -> NotifyJob {
        NotifyJob {
            target: "ops".into(),
            message: Message::Card {
                title: format!("[{}:1] {name}", status.to_uppercase()),
                text: "disk /var at 95%".into(),
                buttons: vec![],
                selects: vec![],
                color: None,
                mentions: Mentions {
                    user_ids: vec!["u1".into()],
                    ..Mentions::default()
                },
            },
            id: id.into(),
            source: "alertmanager".into(),
            fold: None,
            alert: Some(AlertSummary {
                key: key.into(),
                name: name.into(),
                status: status.into(),
                link: Some(format!("https://prom.example.com/graph?{key}")),
            }),
            digest: None,
            trace_id: None,
        }
    }

    fn text_of(m: &Message) -> &str {
        match m {
            Message::Markdown { text, .. } => text,
            other => panic!("not markdown: {other:?}"),
        }
    }

    #[test]
    fn counts_every_notification_and_lists_the_newest_of_each_group() {
        let jobs = vec![
            alert("1", "g1", "DiskFull", "firing"),
            alert("2", "g2", "HighCPU", "firing"),
            alert("3", "g1", "DiskFull", "resolved"),
            NotifyJob {
                message: Message::text("backup ok\nsecond line"),
                alert: None,
                source: "notify".into(),
                ..alert("4", "", "", "")
            },
        ];
        let job = fold("ops", &jobs, Limit::DINGTALK);
        let d = job.digest.as_ref().unwrap();
        assert_eq!(d.total(), 4);
        assert_eq!(d.entries.len(), 3);
        assert_eq!(d.entries[0].status, "resolved");
        assert_eq!(d.entries[0].replaced, 1);
        let text = text_of(&job.message);
        assert!(text.contains("- DiskFull: 1 firing"), "{text}");
        assert!(text.contains("- DiskFull: 1 resolved"), "{text}");
        assert!(text.contains("- other notifications: 1"), "{text}");
        assert!(text.contains("[RESOLVED:1] DiskFull (newest of 2)"), "{text}");
        assert!(!text.contains("[FIRING:1] DiskFull"), "{text}");
        assert!(text.contains("- backup ok"), "{text}");
        assert_eq!(job.message.clone().mentions_mut().unwrap().user_ids, ["u1"]);
    }

    #[test]
    fn a_firing_alert_replaced_by_its_resolution_is_sent_as_the_resolution() {
        let resolved = alert("2", "g1", "DiskFull", "resolved");
        let job = fold(
            "ops",
            &[alert("1", "g1", "DiskFull", "firing"), resolved.clone()],
            Limit::WECOM,
        );
        assert_eq!(job.message, resolved.message);
        assert_eq!(job.digest.as_ref().unwrap().total(), 2);
    }

    #[test]
    fn digests_fold_into_digests_without_losing_counts() {
        let a = fold(
            "ops",
            &[alert("1", "g1", "A", "firing"), alert("2", "g2", "B", "firing")],
            Limit::WECOM,
        );
        let b = fold(
            "ops",
            &[alert("3", "g3", "C", "firing"), alert("4", "g1", "A", "resolved")],
            Limit::WECOM,
        );
        let c = fold("ops", &[a.clone(), b], Limit::WECOM);
        let d = c.digest.as_ref().unwrap();
        assert_eq!(d.total(), 4);
        assert_eq!(d.entries.len(), 3);
        assert_eq!(d.entries[0].status, "resolved");
        // The same jobs fold into the same id (the queue deduplicates a redelivered fold).
        assert_eq!(
            fold("ops", std::slice::from_ref(&a), Limit::WECOM).id,
            fold("ops", &[a], Limit::WECOM).id
        );
    }

    #[test]
    fn a_large_digest_stays_within_the_limit_and_counts_what_it_cannot_list() {
        let jobs: Vec<NotifyJob> = (0..500)
            .map(|i| alert(&i.to_string(), &format!("g{i}"), &format!("Alert{}", i % 40), "firing"))
            .collect();
        for limit in [Limit::WECOM, Limit::DINGTALK, Limit::FEISHU] {
            let job = fold("ops", &jobs, limit);
            let text = text_of(&job.message);
            assert_eq!(botgate_core::limits::fit(limit, &job.message).len(), 1, "one part");
            assert!(text.contains("more (counted above)"), "{text}");
            assert_eq!(job.digest.as_ref().unwrap().total(), 500);
            assert_eq!(job.digest.as_ref().unwrap().unlisted, 300);
        }
    }
}
