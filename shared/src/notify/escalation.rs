//! Escalation channels for what must wake someone: an Amazon SNS topic (its e-mail, SMS,
//! HTTPS and queue subscribers) and e-mail through Amazon SES.
//!
//! A message becomes a subject and a plain-text body ([`Rendered`]): a card's title is the
//! subject, its markdown the body, its buttons `Label: URL` lines under it. Mentions mean
//! nothing here and are left out. On SNS the message is published with
//! `MessageStructure=json`: e-mail and HTTP subscribers get the whole text, SMS subscribers
//! the subject alone (one short SMS instead of a dozen segments). A FIFO topic (`.fifo`)
//! gets a deduplication id per part, so SNS itself drops a repeated publish.

#[cfg(feature = "aws")]
pub mod aws;

use std::sync::Mutex;

use botgate_core::limits::{self, Limit};
use botgate_core::message::Message;

use crate::delivery::SendError;

/// The size limit of one message part. SNS takes 256 KiB for the whole JSON message; a
/// rendered body is cut at [`BODY_MAX_BYTES`], so even doubled by JSON escapes (a text of
/// line breaks) it fits with the subject. SES takes 40 MB.
pub const LIMIT: Limit = Limit {
    text: 100 * 1024,
    markdown: 100 * 1024,
};

/// The longest rendered body, in bytes (a part's text plus its title and links).
pub const BODY_MAX_BYTES: usize = 120 * 1024;

/// SNS subjects must be shorter than 100 characters, without line breaks or control
/// characters.
pub const SUBJECT_MAX_CHARS: usize = 99;

/// What an escalation channel sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line, at most [`SUBJECT_MAX_CHARS`] characters, never empty.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

/// One line of `s`: control characters and line breaks become spaces, runs of spaces one
/// space, at most `max` characters (an ellipsis marks a cut).
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut space = false;
    for c in s.trim().chars() {
        if c.is_control() || c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        return cut;
    }
    out
}

/// `message`'s title: a text's first non-blank line, the title of markdown, cards and
/// news, `Image` for an image.
fn title(message: &Message) -> &str {
    match message {
        Message::Text { text, .. } => text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default(),
        Message::Markdown { title, .. } | Message::Card { title, .. } => title,
        Message::Image { .. } => "Image",
        Message::File { .. } => "File",
        Message::News { articles } => articles.first().map_or("", |a| a.title.as_str()),
    }
}

/// `message` as plain text: the title over the text, a card's buttons as `Label: URL`
/// lines, each news article's title, description and link.
fn body(message: &Message) -> String {
    match message {
        Message::Text { text, .. } => text.clone(),
        Message::Markdown { title, text, .. } => format!("{title}\n\n{text}"),
        Message::Card {
            title, text, buttons, ..
        } => {
            let mut body = format!("{title}\n\n{text}");
            if !buttons.is_empty() {
                body.push('\n');
            }
            // Action buttons need a chat to press them in: e-mail and SMS show links only.
            for b in buttons {
                if let Some(url) = &b.url {
                    body.push_str(&format!("\n{}: {url}", b.text));
                }
            }
            body
        }
        Message::Image { key, url, .. } | Message::File { key, url, .. } => {
            url.as_deref().or(key.as_deref()).unwrap_or_default().to_owned()
        }
        Message::News { articles } => articles
            .iter()
            .map(|a| {
                let mut entry = a.title.clone();
                for line in [a.description.as_deref().unwrap_or_default(), &a.url] {
                    if !line.is_empty() {
                        entry.push('\n');
                        entry.push_str(line);
                    }
                }
                entry
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

/// `message`'s subject: its title on one line (else its text's), never empty. Cheaper
/// than [`render`] when only the subject is wanted (a digest's entries).
pub fn subject(message: &Message) -> String {
    let mut subject = one_line(title(message), SUBJECT_MAX_CHARS);
    if subject.is_empty() {
        subject = one_line(&body(message), SUBJECT_MAX_CHARS);
    }
    if subject.is_empty() {
        "botgate notification".clone_into(&mut subject);
    }
    subject
}

/// `message` as a subject and a plain-text body.
pub fn render(message: &Message) -> Rendered {
    Rendered {
        subject: subject(message),
        text: limits::cut(&body(message), BODY_MAX_BYTES).to_owned(),
    }
}

/// The JSON an SNS publish with `MessageStructure=json` carries: the whole text for every
/// protocol, the subject alone for SMS.
pub fn sns_message(r: &Rendered) -> String {
    serde_json::json!({"default": r.text, "sms": r.subject}).to_string()
}

/// Whether `topic_arn` names a FIFO topic (deduplication id and group id required).
pub fn is_fifo(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// Sends to SNS topics and through SES.
#[async_trait::async_trait]
pub trait Escalator: Send + Sync {
    /// Publishes to `topic_arn`; `dedup_id` (32 hex characters) identifies the part.
    /// Returns SNS's message id.
    async fn publish(&self, topic_arn: &str, message: &Rendered, dedup_id: &str) -> Result<String, SendError>;
    /// Sends one e-mail from `from` to `to`. Returns SES's message id.
    async fn email(&self, from: &str, to: &[String], message: &Rendered) -> Result<String, SendError>;
}

/// No AWS SDK in this build: every send fails permanently, saying why.
#[derive(Debug, Default)]
pub struct Unavailable;

#[async_trait::async_trait]
impl Escalator for Unavailable {
    async fn publish(&self, _: &str, _: &Rendered, _: &str) -> Result<String, SendError> {
        Err(SendError::Permanent(
            "SNS targets need botgate built with the `aws` feature".into(),
        ))
    }
    async fn email(&self, _: &str, _: &[String], _: &Rendered) -> Result<String, SendError> {
        Err(SendError::Permanent(
            "e-mail targets need botgate built with the `aws` feature".into(),
        ))
    }
}

/// What a dry run would have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escalated {
    /// An SNS publish.
    Published {
        /// The topic.
        topic_arn: String,
        /// The message.
        message: Rendered,
    },
    /// An e-mail.
    Emailed {
        /// The sender.
        from: String,
        /// The recipients.
        to: Vec<String>,
        /// The message.
        message: Rendered,
    },
}

/// Sends nothing: prints (or keeps) what would be sent.
#[derive(Debug, Default)]
pub struct DryRun {
    keep: bool,
    /// What was kept (when built with [`DryRun::recording`]).
    pub sent: Mutex<Vec<Escalated>>,
}

impl DryRun {
    /// Prints every send.
    pub fn printing() -> Self {
        Self::default()
    }

    /// Keeps every send instead of printing it.
    pub fn recording() -> Self {
        Self {
            keep: true,
            sent: Mutex::default(),
        }
    }

    fn record(&self, e: Escalated) {
        if self.keep {
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(e);
            }
            return;
        }
        let (head, m) = match &e {
            Escalated::Published { topic_arn, message } => (format!("SNS Publish {topic_arn}"), message),
            Escalated::Emailed { from, to, message } => {
                (format!("SES SendEmail from {from} to {}", to.join(", ")), message)
            }
        };
        println!(
            "--- dry run: what botgate would send ---\n{head}\nSubject: {}\n\n{}\n---",
            m.subject, m.text
        );
    }
}

#[async_trait::async_trait]
impl Escalator for DryRun {
    async fn publish(&self, topic_arn: &str, message: &Rendered, _: &str) -> Result<String, SendError> {
        self.record(Escalated::Published {
            topic_arn: topic_arn.to_owned(),
            message: message.clone(),
        });
        Ok("dry-run".into())
    }
    async fn email(&self, from: &str, to: &[String], message: &Rendered) -> Result<String, SendError> {
        self.record(Escalated::Emailed {
            from: from.to_owned(),
            to: to.to_vec(),
            message: message.clone(),
        });
        Ok("dry-run".into())
    }
}

/// Checks an SNS topic ARN: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`, the name 1 to 256
/// letters, digits, `-` or `_` (FIFO names end in `.fifo`).
pub fn check_topic_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [arn_word, partition, service, region, account, name] = parts.as_slice() else {
        return Err("not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)".into());
    };
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = *arn_word == "arn"
        && partition.starts_with("aws")
        && *service == "sns"
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=256).contains(&name.len())
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME, the name letters, digits, - and _)".into())
    }
}

/// E-mail targets' default rate: SES's sandbox rate, one a second (a production account's
/// is higher: set `rate_limit` to match).
pub const DEFAULT_EMAIL_RATE: [crate::notify::rate::RateRule; 1] = [crate::notify::rate::RateRule {
    window_ms: 1000,
    max: 1,
}];

/// The most recipients of one SES e-mail.
pub const MAX_RECIPIENTS: usize = 50;

/// Checks one e-mail address (`local@domain`, or `Name <local@domain>` when `named`).
pub fn check_address(s: &str, named: bool) -> Result<(), String> {
    let addr = match (named, s.rfind('<')) {
        (true, Some(open)) if s.ends_with('>') => &s[open + 1..s.len() - 1],
        _ => s,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("not an e-mail address (no @)".into());
    };
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c);
    if local.is_empty() || local.len() > 64 || local.contains(bad) || local.contains('@') {
        return Err("not an e-mail address (the part before @)".into());
    }
    if domain.len() > 253
        || !domain.contains('.')
        || domain.starts_with(['.', '-'])
        || domain.ends_with(['.', '-'])
        || domain.contains(bad)
    {
        return Err("not an e-mail address (the domain)".into());
    }
    Ok(())
}

/// Splits a comma-separated list of recipients and checks each.
pub fn recipients(list: &str) -> Result<Vec<String>, String> {
    let to: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if to.is_empty() {
        return Err("no recipient".into());
    }
    if to.len() > MAX_RECIPIENTS {
        return Err(format!(
            "{} recipients; SES takes at most {MAX_RECIPIENTS} per e-mail (use an SNS topic or a mailing list)",
            to.len()
        ));
    }
    for (i, a) in to.iter().enumerate() {
        check_address(a, false).map_err(|e| format!("recipient {}: {e}", i + 1))?;
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use botgate_core::message::{Article, Button, Mentions};

    #[test]
    fn a_card_becomes_its_title_and_text_with_its_links() {
        let m = Message::Card {
            title: "[FIRING:2] HighLatency".into(),
            text: "- **HighLatency** [critical] api-1: p99 over 2 s".into(),
            buttons: vec![Button::link("Runbook", "https://runbooks.example.com/latency")],
            selects: vec![],
            color: Some("red".into()),
            mentions: Mentions {
                all: true,
                ..Mentions::default()
            },
        };
        let r = render(&m);
        assert_eq!(r.subject, "[FIRING:2] HighLatency");
        assert_eq!(
            r.text,
            "[FIRING:2] HighLatency\n\n- **HighLatency** [critical] api-1: p99 over 2 s\n\nRunbook: https://runbooks.example.com/latency"
        );
        let sns: serde_json::Value = serde_json::from_str(&sns_message(&r)).unwrap();
        assert_eq!(sns["sms"], "[FIRING:2] HighLatency");
        assert_eq!(sns["default"], r.text.as_str());
    }

    #[test]
    fn subjects_are_one_short_line_never_empty() {
        let long = "磁盘".repeat(80);
        let r = render(&Message::Text {
            text: format!("\n\n  line one\twith  control \u{7} chars {long}\r\nline two"),
            mentions: Mentions::default(),
        });
        assert!(
            r.subject.starts_with("line one with control chars 磁盘"),
            "{}",
            r.subject
        );
        assert_eq!(r.subject.chars().count(), SUBJECT_MAX_CHARS);
        assert!(r.subject.ends_with('…'));
        assert!(!r.subject.chars().any(char::is_control));
        let empty = render(&Message::Text {
            text: " \n ".into(),
            mentions: Mentions::default(),
        });
        assert_eq!(empty.subject, "botgate notification");
        let news = render(&Message::News {
            articles: vec![Article {
                title: "Release 1.2".into(),
                description: Some("What changed".into()),
                url: "https://example.com/r".into(),
                picurl: None,
            }],
        });
        assert_eq!(news.subject, "Release 1.2");
        assert_eq!(news.text, "Release 1.2\nWhat changed\nhttps://example.com/r");
    }

    #[test]
    fn topic_arns_are_checked() {
        assert!(check_topic_arn("arn:aws:sns:eu-west-1:123456789012:botgate-pager").is_ok());
        assert!(check_topic_arn("arn:aws-cn:sns:cn-north-1:123456789012:pager.fifo").is_ok());
        assert!(is_fifo("arn:aws:sns:eu-west-1:123456789012:p.fifo"));
        for bad in [
            "",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1:1234:pager",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:a b",
            "arn:aws:sns:eu-west-1:123456789012:.fifo",
            "arn:aws:sns:EU:123456789012:p",
            "https://sns.eu-west-1.amazonaws.com/",
        ] {
            assert!(check_topic_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert!(check_address("alerts@example.com", false).is_ok());
        assert!(check_address("botgate <alerts@example.com>", true).is_ok());
        assert!(check_address("botgate <alerts@example.com>", false).is_err());
        for bad in [
            "",
            "alerts",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a@.example.com",
        ] {
            assert!(check_address(bad, true).is_err(), "{bad}");
        }
        assert_eq!(
            recipients(" a@example.com, b@example.com ,").unwrap(),
            ["a@example.com", "b@example.com"]
        );
        assert!(recipients(" , ").is_err());
        assert!(recipients("a@example.com, nope").unwrap_err().contains("recipient 2"));
        let many = vec!["x@example.com"; MAX_RECIPIENTS + 1].join(",");
        assert!(recipients(&many).is_err());
    }
}
