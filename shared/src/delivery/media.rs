//! Images and files a platform needs uploaded before it can send them, and updates of sent
//! cards.
//!
//! A message's image or file given by `url` (downloaded, https or this machine only) or
//! `path` (a file on the machine that sends) is uploaded through the bot's platform (Feishu
//! `im/v1/images` and `im/v1/files`; WeChat and WeCom `media/upload`) and sent by the key
//! it gets. Keys are cached by the content's SHA-256, per bot, in process memory and in the
//! shared state store, for less than the platform keeps them (WeChat and WeCom temporary
//! media: 3 days; Feishu keys do not expire): the same image is uploaded once, whichever
//! instance sends it. DingTalk takes images and files by URL (markdown), and WeChat files
//! are sent as links.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::call::{SendError, classify_errcode, json_body};
use super::transport::{HttpRequest, HttpResponse, Multipart, Transport, TransportError};
use crate::bot::Bot;
use crate::state::StateStore;
use botgate_core::event::{Event, Platform};
use botgate_core::message::Message;

/// The largest image uploaded (the platforms take 10 MB).
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// The largest file uploaded (WeCom takes 20 MB).
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;
/// How long a WeChat or WeCom media id is reused: the platforms keep it 3 days.
const TEMPORARY_MEDIA_SECS: i64 = 2 * 86_400;
/// How long a Feishu image or file key is reused (it does not expire).
const PERMANENT_MEDIA_SECS: i64 = 30 * 86_400;
/// The key a dry run sends instead of uploading.
pub const DRY_RUN_MEDIA: &str = "DRY-RUN-MEDIA-KEY";

/// Media keys by content, in process memory before the shared store.
#[derive(Default)]
pub struct MediaCache {
    local: Mutex<HashMap<String, (String, i64)>>,
    shared: Option<Arc<dyn StateStore>>,
}

impl std::fmt::Debug for MediaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaCache")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl MediaCache {
    /// A cache shared with other instances through `store` (`None`: this process only).
    pub fn new(store: Option<Arc<dyn StateStore>>) -> Self {
        Self {
            local: Mutex::default(),
            shared: store,
        }
    }

    pub(crate) async fn get(&self, key: &str, now_secs: i64) -> Option<String> {
        if let Ok(local) = self.local.lock()
            && let Some((media, until)) = local.get(key)
            && *until > now_secs
        {
            return Some(media.clone());
        }
        let store = self.shared.as_ref()?;
        match store.get(key, now_secs).await {
            Ok(Some(doc)) => {
                let media = doc["key"].as_str()?.to_owned();
                let until = doc["until"].as_i64().unwrap_or(now_secs);
                if let Ok(mut local) = self.local.lock() {
                    local.insert(key.to_owned(), (media.clone(), until));
                }
                Some(media)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "media cache: the shared store failed; uploading again");
                None
            }
        }
    }

    pub(crate) async fn put(&self, key: &str, media: &str, until_secs: i64) {
        if let Ok(mut local) = self.local.lock() {
            local.insert(key.to_owned(), (media.to_owned(), until_secs));
        }
        if let Some(store) = &self.shared
            && let Err(e) = store
                .put(key, &json!({"key": media, "until": until_secs}), until_secs)
                .await
        {
            tracing::warn!(error = %e, "media cache: the shared store failed; the key is cached in this process only");
        }
    }
}

/// An image or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Image,
    File,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::File => "file",
        }
    }

    fn max_bytes(self) -> usize {
        match self {
            Self::Image => MAX_IMAGE_BYTES,
            Self::File => MAX_FILE_BYTES,
        }
    }
}

/// What to upload.
pub(crate) struct Content {
    pub(crate) bytes: Arc<Vec<u8>>,
    name: String,
    content_type: String,
}

/// A content type from a file name's extension.
fn content_type_of(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// A download's failure as a send error: an unreachable or failing server may answer
/// later; anything else will not.
fn download_error(e: TransportError) -> SendError {
    match e {
        TransportError::Connect(_) | TransportError::NoResponse(_) => SendError::retryable(format!("download: {e}")),
        TransportError::Invalid(_) => SendError::Permanent(format!("download: {e}")),
    }
}

/// The bytes, name and content type of the image or file at `url` (downloaded through
/// `transport`) or `path`.
pub(crate) async fn content(
    transport: &dyn Transport,
    kind: Kind,
    message: &Message,
    url: Option<&str>,
    path: Option<&str>,
) -> Result<Content, SendError> {
    let name = message.file_name().unwrap_or_else(|| kind.as_str().to_owned());
    let (bytes, content_type) = match (url, path) {
        (Some(url), _) => {
            super::endpoint::check(url)
                .map_err(|why| SendError::Permanent(format!("{} URL refused: {why}", kind.as_str())))?;
            let d = transport
                .download(url, kind.max_bytes())
                .await
                .map_err(download_error)?;
            match d.status {
                200..=299 => {}
                429 | 500..=599 => {
                    return Err(SendError::retryable(format!(
                        "the {} URL answered HTTP {}",
                        kind.as_str(),
                        d.status
                    )));
                }
                other => {
                    return Err(SendError::Permanent(format!(
                        "the {} URL answered HTTP {other}",
                        kind.as_str()
                    )));
                }
            }
            (d.bytes, d.content_type)
        }
        (None, Some(path)) => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| SendError::Permanent(format!("cannot read the {} file `{path}`: {e}", kind.as_str())))?;
            if bytes.len() > kind.max_bytes() {
                return Err(SendError::Permanent(format!(
                    "the {} file `{path}` is {} bytes, over the {} the platforms take",
                    kind.as_str(),
                    bytes.len(),
                    kind.max_bytes()
                )));
            }
            (bytes, None)
        }
        (None, None) => {
            return Err(SendError::Permanent(format!(
                "a {} needs a url, a path or a key",
                kind.as_str()
            )));
        }
    };
    if bytes.is_empty() {
        return Err(SendError::Permanent(format!("the {} is empty", kind.as_str())));
    }
    let content_type = content_type
        .filter(|c| !c.is_empty() && !c.starts_with("text/html"))
        .unwrap_or_else(|| content_type_of(&name).to_owned());
    Ok(Content {
        bytes: Arc::new(bytes),
        name,
        content_type,
    })
}

/// The upload of `content` to `platform` at `base` with `token`.
pub(crate) fn upload_request(
    platform: Platform,
    kind: Kind,
    base: &str,
    token: &str,
    content: &Content,
) -> Result<HttpRequest, SendError> {
    let multipart = |field: &str, fields: Vec<(String, String)>| Multipart {
        fields,
        file_field: field.to_owned(),
        file_name: content.name.clone(),
        content_type: content.content_type.clone(),
        bytes: content.bytes.clone(),
    };
    Ok(match (platform, kind) {
        (Platform::Feishu, Kind::Image) => HttpRequest::upload(
            format!("{base}/open-apis/im/v1/images"),
            multipart("image", vec![("image_type".into(), "message".into())]),
        )
        .header("Authorization", format!("Bearer {token}")),
        (Platform::Feishu, Kind::File) => HttpRequest::upload(
            format!("{base}/open-apis/im/v1/files"),
            multipart(
                "file",
                vec![
                    ("file_type".into(), "stream".into()),
                    ("file_name".into(), content.name.clone()),
                ],
            ),
        )
        .header("Authorization", format!("Bearer {token}")),
        (Platform::Wechat | Platform::Wecom, kind) => HttpRequest::upload(
            format!(
                "{base}/cgi-bin/media/upload?access_token={token}&type={}",
                kind.as_str()
            ),
            multipart("media", Vec::new()),
        ),
        (Platform::Dingtalk, _) => {
            return Err(SendError::Permanent("DingTalk takes images and files by URL".into()));
        }
    })
}

/// The key an upload's answer carries (Feishu `data.image_key`/`data.file_key`, WeChat and
/// WeCom `media_id`), or why there is none.
pub(crate) fn upload_response(platform: Platform, resp: &HttpResponse) -> Result<String, SendError> {
    let v = json_body(resp)?;
    let key = match platform {
        Platform::Feishu => {
            super::call::classify_code(
                "code",
                v["code"].as_i64().unwrap_or(-1),
                v["msg"].as_str().unwrap_or_default(),
                &super::feishu::TOKEN_INVALID,
                &super::feishu::RETRYABLE,
            )?;
            v["data"]["image_key"].as_str().or(v["data"]["file_key"].as_str())
        }
        _ => {
            classify_errcode(&v, &super::wechat::TOKEN_INVALID, &[-1])?;
            v["media_id"].as_str()
        }
    };
    key.filter(|k| !k.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| SendError::Permanent("the upload's answer carries no media key".into()))
}

/// How long `platform` keeps an uploaded key usable, less a margin, in seconds.
pub(crate) fn keep_secs(platform: Platform) -> i64 {
    match platform {
        Platform::Feishu => PERMANENT_MEDIA_SECS,
        _ => TEMPORARY_MEDIA_SECS,
    }
}

/// The cache key of `bytes` uploaded for `bot` as `kind`.
pub(crate) fn cache_key(bot: &Bot, kind: Kind, bytes: &[u8]) -> String {
    let digest = hex::encode(botgate_core::crypto::sha256(&[bytes]));
    format!("media#{}#{}#{}#{digest}", bot.platform, bot.id, kind.as_str())
}

/// An image or file to upload: its kind, and where it is (a URL, a local path).
pub(crate) struct Source<'m> {
    pub(crate) kind: Kind,
    pub(crate) url: Option<&'m str>,
    pub(crate) path: Option<&'m str>,
}

/// What of `message` needs uploading for `platform`: an image or file without a key
/// (`None`: nothing). A platform that takes it by URL gets it as it is; a local file cannot
/// be sent there.
pub(crate) fn needs_upload(platform: Platform, message: &Message) -> Result<Option<Source<'_>>, SendError> {
    let (kind, url, path) = match message {
        Message::Image { key: None, url, path } => (Kind::Image, url.as_deref(), path.as_deref()),
        Message::File {
            key: None, url, path, ..
        } => (Kind::File, url.as_deref(), path.as_deref()),
        _ => return Ok(None),
    };
    if matches!(
        (platform, kind),
        (Platform::Dingtalk, _) | (Platform::Wechat, Kind::File)
    ) {
        // Sent by URL: a markdown image, or a link.
        return match url {
            Some(_) => Ok(None),
            None => Err(SendError::Permanent(format!(
                "{platform} takes {}s by URL: a `path` cannot be sent there (use `url`)",
                kind.as_str()
            ))),
        };
    }
    Ok(Some(Source { kind, url, path }))
}

/// `message` with its image's or file's key set.
pub(crate) fn with_key(message: &Message, key: String) -> Message {
    let mut m = message.clone();
    if let Message::Image { key: k, .. } | Message::File { key: k, .. } = &mut m {
        *k = Some(key);
    }
    m
}

/// The request that replaces the card of `event` with `message` on `bot`'s platform (with
/// `token`): Feishu patches the card message; WeCom updates the card of the event's
/// `ResponseCode` for the person who pressed. DingTalk and WeChat cards cannot be updated.
pub(crate) fn update_card_request(
    bot: &Bot,
    base: &str,
    token: &str,
    event: &Event,
    message: &Message,
) -> Result<HttpRequest, SendError> {
    match bot.platform {
        Platform::Feishu => {
            let mid = event.reply.message_id.as_deref().ok_or_else(|| {
                SendError::Permanent("the event names no card message to update (no open_message_id)".into())
            })?;
            let content = botgate_core::platform::feishu::render::card(message).to_string();
            Ok(HttpRequest::patch(
                format!("{base}/open-apis/im/v1/messages/{mid}"),
                json!({"content": content}).to_string(),
            )
            .header("Authorization", format!("Bearer {token}")))
        }
        Platform::Wecom => {
            let code = event.reply.response_code.as_deref().ok_or_else(|| {
                SendError::Permanent(
                    "the event carries no ResponseCode: only a card event's card can be updated".into(),
                )
            })?;
            let user = event
                .sender_id
                .as_deref()
                .ok_or_else(|| SendError::Permanent("the card event names no user".into()))?;
            let agent = super::wecom::agent(bot, event.reply.agent_id.as_deref())?;
            let task_id = event
                .action
                .as_ref()
                .and_then(|a| a.task_id.clone())
                .unwrap_or_else(|| format!("bg-{}", &crate::queue::fifo_id(&event.event_id)[..32]));
            let body = botgate_core::platform::wecom::update_card_body(message, &task_id, code, &[user], &agent);
            Ok(HttpRequest::post(
                format!("{base}/cgi-bin/message/update_template_card?access_token={token}"),
                body.to_string(),
            ))
        }
        Platform::Dingtalk | Platform::Wechat => Err(SendError::Permanent(format!(
            "cards sent on {} cannot be updated (its robot messages are final)",
            bot.platform
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_of("chart.PNG"), "image/png");
        assert_eq!(content_type_of("a.jpeg"), "image/jpeg");
        assert_eq!(content_type_of("report"), "application/octet-stream");
    }

    #[test]
    fn multipart_carries_fields_and_the_file() {
        let m = Multipart {
            fields: vec![("image_type".into(), "message".into())],
            file_field: "image".into(),
            file_name: "a\"b.png".into(),
            content_type: "image/png".into(),
            bytes: Arc::new(vec![0, 1, 2]),
        };
        let (body, ct) = m.encode();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("name=\"image_type\"\r\n\r\nmessage\r\n"), "{text}");
        assert!(text.contains("name=\"image\"; filename=\"a_b.png\""), "{text}");
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }
}
