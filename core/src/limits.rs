//! Each platform's size limits, and fitting a message into them: text is split at line
//! breaks into numbered parts, a line too long for one part is cut at a character
//! boundary, and past [`MAX_PARTS`] the rest is truncated with a visible marker. Never
//! inside a UTF-8 character.

use crate::message::Message;

/// At most this many parts of a notification; the last one ends with the truncation marker.
pub const MAX_PARTS: usize = 5;
/// At most this many parts of a reply (an answer someone asked for: a long report goes
/// out whole up to ten parts).
pub const MAX_REPLY_PARTS: usize = 10;
/// Appended where text was cut off.
pub const TRUNCATED: &str = "\n…(truncated)";

/// Byte limits of one message's text on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Plain text, in bytes.
    pub text: usize,
    /// Markdown (and card) text, in bytes.
    pub markdown: usize,
}

impl Limit {
    /// Feishu: the whole body must stay under 20 KB; 2 KB are left for the JSON around it.
    pub const FEISHU: Limit = Limit {
        text: 18 * 1024,
        markdown: 18 * 1024,
    };
    /// DingTalk robot: the body must stay under 20000 bytes.
    pub const DINGTALK: Limit = Limit {
        text: 18_000,
        markdown: 18_000,
    };
    /// WeCom group bot and application: text 2048 bytes, markdown 4096 bytes.
    pub const WECOM: Limit = Limit {
        text: 2048,
        markdown: 4096,
    };
    /// WeChat customer-service text: 2048 bytes.
    pub const WECHAT: Limit = Limit {
        text: 2048,
        markdown: 2048,
    };
}

impl Limit {
    /// The limit of a bot's own messages (replies and sends through the platform's API) on
    /// `platform`.
    pub fn for_app(platform: crate::event::Platform) -> Limit {
        match platform {
            crate::event::Platform::Feishu => Self::FEISHU,
            crate::event::Platform::Dingtalk => Self::DINGTALK,
            crate::event::Platform::Wechat => Self::WECHAT,
            crate::event::Platform::Wecom => Self::WECOM,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Splits `text` into chunks of at most `max` bytes, preferring line breaks.
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line;
        while !line.is_empty() {
            if current.len() + line.len() <= max {
                current.push_str(line);
                break;
            }
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
                continue;
            }
            let head = cut(line, max);
            let head = if head.is_empty() {
                &line[..line.chars().next().map_or(0, char::len_utf8)]
            } else {
                head
            };
            out.push(head.to_owned());
            line = &line[head.len()..];
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// The parts of `text` under `max` bytes each, numbered `(i/n)` when there are several,
/// the last truncated with [`TRUNCATED`] when more than [`MAX_PARTS`] would be needed.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    split_text_in(text, max, MAX_PARTS)
}

/// [`split_text`] into at most `max_parts` parts.
pub fn split_text_in(text: &str, max: usize, max_parts: usize) -> Vec<String> {
    if text.len() <= max {
        return vec![text.to_owned()];
    }
    // Room for the "(i/n) " prefix and the marker.
    let room = max.saturating_sub(12 + TRUNCATED.len()).max(16);
    let mut parts = chunks(text, room);
    if parts.len() > max_parts.max(1) {
        parts.truncate(max_parts.max(1));
        if let Some(last) = parts.last_mut() {
            last.push_str(TRUNCATED);
        }
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| format!("({}/{n}) {p}", i + 1))
        .collect()
}

/// `message` fitted to `limit` as one message: text past the limit is cut off with
/// [`TRUNCATED`] (a passive reply, which carries one message).
pub fn fit_one(limit: Limit, message: &Message) -> Message {
    let cap = |text: &str, max: usize| {
        if text.len() > max {
            format!("{}{TRUNCATED}", cut(text, max.saturating_sub(TRUNCATED.len())))
        } else {
            text.to_owned()
        }
    };
    match message {
        Message::Text { text, mentions } => Message::Text {
            text: cap(text, limit.text),
            mentions: mentions.clone(),
        },
        Message::Markdown { title, text, mentions } => Message::Markdown {
            title: title.clone(),
            text: cap(text, limit.markdown.saturating_sub(title.len() + 16)),
            mentions: mentions.clone(),
        },
        other => fit(limit, other).into_iter().next().unwrap_or_else(|| other.clone()),
    }
}

/// `message` fitted to `limit`: one or more messages (at most [`MAX_PARTS`]).
pub fn fit(limit: Limit, message: &Message) -> Vec<Message> {
    fit_in(limit, message, MAX_PARTS)
}

/// [`fit`] into at most `max_parts` parts.
pub fn fit_in(limit: Limit, message: &Message, max_parts: usize) -> Vec<Message> {
    match message {
        Message::Text { text, mentions } => split_text_in(text, limit.text, max_parts)
            .into_iter()
            .map(|t| Message::Text {
                text: t,
                mentions: mentions.clone(),
            })
            .collect(),
        Message::Markdown { title, text, mentions } => {
            split_text_in(text, limit.markdown.saturating_sub(title.len() + 16), max_parts)
                .into_iter()
                .map(|t| Message::Markdown {
                    title: title.clone(),
                    text: t,
                    mentions: mentions.clone(),
                })
                .collect()
        }
        Message::Card { title, text, .. } => {
            // A card is one unit: truncate rather than split.
            let max = limit.markdown.saturating_sub(title.len() + 512 + TRUNCATED.len());
            let mut card = message.clone();
            if text.len() > max
                && let Message::Card { text: t, .. } = &mut card
            {
                *t = format!("{}{TRUNCATED}", cut(text, max));
            }
            vec![card]
        }
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("hello", 2048), ["hello"]);
    }

    #[test]
    fn long_text_splits_at_lines_and_numbers_parts() {
        let text = (0..300)
            .map(|i| format!("line {i}: 磁盘使用率 93%\n"))
            .collect::<String>();
        let parts = split_text(&text, 2048);
        assert!(parts.len() > 1 && parts.len() <= MAX_PARTS);
        for p in &parts {
            assert!(p.len() <= 2048, "{}", p.len());
        }
        assert!(parts[0].starts_with("(1/"));
        assert!(parts[1].contains("line "));
    }

    #[test]
    fn too_much_is_truncated_with_a_marker() {
        let text = "告警".repeat(20_000);
        let parts = split_text(&text, 2048);
        assert_eq!(parts.len(), MAX_PARTS);
        assert!(parts.last().unwrap().ends_with(TRUNCATED));
    }

    proptest! {
        #[test]
        fn parts_fit_and_stay_utf8(text in "\\PC{0,3000}", max in 40usize..600) {
            for p in split_text(&text, max) {
                prop_assert!(p.len() <= max, "{} > {}", p.len(), max);
                // Strings are always valid UTF-8; what matters is that nothing was lost
                // mid-character: every char of the part is a char of the input or ours.
                prop_assert!(p.chars().all(|c| text.contains(c) || "()/0123456789 \n…truncated".contains(c)));
            }
        }
    }
}
