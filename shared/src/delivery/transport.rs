//! The HTTP layer under every delivery: a request, a response, and how it failed. Real
//! sends go through `reqwest` (rustls); a dry run prints the exact request instead.

use std::fmt::Write as _;
use std::sync::Mutex;

use thiserror::Error;

/// An outgoing HTTP request: a JSON body, a multipart upload, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST` or `PATCH`.
    pub method: &'static str,
    /// The full URL, query included.
    pub url: String,
    /// Extra headers (`Content-Type: application/json` is implied by a body).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Option<String>,
    /// A `multipart/form-data` upload instead of a JSON body.
    pub multipart: Option<Multipart>,
}

/// A `multipart/form-data` body: text fields, then one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// Text fields, in order.
    pub fields: Vec<(String, String)>,
    /// The file's field name (`media`, `image`, `file`).
    pub file_field: String,
    /// The file name sent.
    pub file_name: String,
    /// The file's content type.
    pub content_type: String,
    /// The file's bytes.
    pub bytes: std::sync::Arc<Vec<u8>>,
}

impl Multipart {
    /// The body's bytes and its `Content-Type` (with the boundary).
    pub fn encode(&self) -> (Vec<u8>, String) {
        let boundary = format!("botgate-{}", botgate_core::crypto::random_nonce(24));
        let quoted = |s: &str| s.replace(['"', '\r', '\n'], "_");
        let mut out = Vec::with_capacity(self.bytes.len() + 512);
        for (k, v) in &self.fields {
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{v}\r\n",
                    quoted(k)
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                quoted(&self.file_field),
                quoted(&self.file_name),
                self.content_type
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.bytes);
        out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (out, format!("multipart/form-data; boundary={boundary}"))
    }
}

impl HttpRequest {
    /// A JSON POST.
    pub fn post(url: impl Into<String>, body: String) -> Self {
        Self {
            method: "POST",
            url: url.into(),
            headers: Vec::new(),
            body: Some(body),
            multipart: None,
        }
    }

    /// A JSON PATCH.
    pub fn patch(url: impl Into<String>, body: String) -> Self {
        Self {
            method: "PATCH",
            ..Self::post(url, body)
        }
    }

    /// A multipart POST (an upload).
    pub fn upload(url: impl Into<String>, multipart: Multipart) -> Self {
        Self {
            method: "POST",
            url: url.into(),
            headers: Vec::new(),
            body: None,
            multipart: Some(multipart),
        }
    }

    /// A GET.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: None,
            multipart: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The URL with its credentials replaced by `***`, for logs and dry runs: query values
    /// that carry one (`access_token`, `key`, `sign`, `corpsecret`, `secret`, `session`) and
    /// the token in a Feishu group bot's path (`/bot/v2/hook/<token>`).
    pub fn redacted_url(&self) -> String {
        let (base, query) = self.url.split_once('?').unwrap_or((&self.url, ""));
        let base = match base.find(FEISHU_HOOK_PATH) {
            Some(i) => format!("{}{FEISHU_HOOK_PATH}***", &base[..i]),
            None => base.to_owned(),
        };
        if query.is_empty() {
            return base;
        }
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(k)) => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        format!("{base}?{}", parts.join("&"))
    }

    /// The request as text, the way it goes on the wire, with its credentials replaced by
    /// `***` (the URL's, the token headers', and secret or signature fields in the body).
    pub fn to_text(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.redacted_url());
        if self.body.is_some() {
            out.push_str("Content-Type: application/json; charset=utf-8\n");
        }
        for (k, v) in &self.headers {
            let v = if SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(k)) {
                match v.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} ***"),
                    None => "***".to_owned(),
                }
            } else {
                v.clone()
            };
            let _ = writeln!(out, "{k}: {v}");
        }
        if let Some(b) = &self.body {
            out.push('\n');
            out.push_str(&redacted_body(b));
            out.push('\n');
        }
        if let Some(m) = &self.multipart {
            out.push_str("Content-Type: multipart/form-data\n\n");
            for (k, v) in &m.fields {
                let _ = writeln!(out, "{k}={v}");
            }
            let _ = writeln!(
                out,
                "{}=@{} ({} bytes, {})",
                m.file_field,
                m.file_name,
                m.bytes.len(),
                m.content_type
            );
        }
        out
    }
}

const SECRET_PARAMS: [&str; 7] = [
    "access_token",
    "key",
    "sign",
    "corpsecret",
    "secret",
    "appsecret",
    "session",
];
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "x-acs-dingtalk-access-token",
    "x-botgate-signature",
    "cookie",
];
const SECRET_FIELDS: [&str; 7] = [
    "sign",
    "secret",
    "app_secret",
    "appSecret",
    "corpsecret",
    "access_token",
    "token",
];
const FEISHU_HOOK_PATH: &str = "/bot/v2/hook/";

/// A JSON body with its secret fields' values replaced (at any depth).
fn redacted_body(body: &str) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    if SECRET_FIELDS.contains(&k.as_str()) && item.is_string() {
                        *item = serde_json::Value::String("***".into());
                    } else {
                        walk(item);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            walk(&mut v);
            v.to_string()
        }
        Err(_) => body.to_owned(),
    }
}

/// A response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// `Retry-After`, in seconds, when the server sent one.
    pub retry_after_secs: Option<u64>,
}

/// How a request failed before a response arrived.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TransportError {
    /// The connection could not be made: the request was certainly not delivered.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The request may have been delivered (timed out waiting, or the connection broke).
    #[error("no response: {0}")]
    NoResponse(String),
    /// The request could not be built (bad URL).
    #[error("bad request: {0}")]
    Invalid(String),
}

/// A downloaded file (an image or file to upload to a platform).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub bytes: Vec<u8>,
    /// The `Content-Type`, when the server sent one.
    pub content_type: Option<String>,
}

/// Sends HTTP requests.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends one request.
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Downloads `url` (a GET), refusing a body over `max_bytes`. Transports that cannot
    /// download say so.
    async fn download(&self, url: &str, max_bytes: usize) -> Result<Download, TransportError> {
        let _ = (url, max_bytes);
        Err(TransportError::Invalid("this transport does not download".into()))
    }
}

/// The real thing: reqwest over rustls, with a per-request timeout.
#[cfg(feature = "net")]
#[derive(Debug, Clone)]
pub struct Reqwest {
    client: reqwest::Client,
}

#[cfg(feature = "net")]
impl Reqwest {
    /// A client with `timeout` per request (connect included).
    pub fn new(timeout: std::time::Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            // A 3xx is an answer, never an instruction: following it would let a platform's
            // (or a forward receiver's) redirect send our request, token included, elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(std::time::Duration::from_secs(3)))
            .user_agent(concat!("botgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

#[cfg(feature = "net")]
#[async_trait::async_trait]
impl Transport for Reqwest {
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match req.method {
            "GET" => reqwest::Method::GET,
            "PATCH" => reqwest::Method::PATCH,
            "PUT" => reqwest::Method::PUT,
            _ => reqwest::Method::POST,
        };
        let mut b = self.client.request(method, &req.url);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &req.body {
            b = b
                .header("content-type", "application/json; charset=utf-8")
                .body(body.clone());
        } else if let Some(m) = &req.multipart {
            let (body, content_type) = m.encode();
            b = b.header("content-type", content_type).body(body);
        }
        let resp = b.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let retry_after_secs = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = resp.text().await.map_err(classify)?;
        Ok(HttpResponse {
            status,
            body,
            retry_after_secs,
        })
    }

    async fn download(&self, url: &str, max_bytes: usize) -> Result<Download, TransportError> {
        let mut resp = self.client.get(url).send().await.map_err(classify)?;
        let too_big = || TransportError::Invalid(format!("the download is larger than {max_bytes} bytes"));
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX))
        {
            return Err(too_big());
        }
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Download {
            status,
            bytes,
            content_type,
        })
    }
}

/// A reqwest error as a transport error: whether the request could have arrived.
#[cfg(feature = "net")]
fn classify(e: reqwest::Error) -> TransportError {
    // reqwest errors carry the URL, which may hold a key: keep only the kind.
    let (builder, connect) = (e.is_builder(), e.is_connect());
    let what = e.without_url().to_string();
    if builder {
        TransportError::Invalid(what)
    } else if connect {
        TransportError::Connect(what)
    } else {
        TransportError::NoResponse(what)
    }
}

/// A dry run: prints each request to standard output (or keeps it, for tests) and answers
/// with the platforms' success shape.
#[derive(Debug, Default)]
pub struct DryRun {
    keep: bool,
    /// The requests kept (when built with [`DryRun::recording`]).
    pub requests: Mutex<Vec<HttpRequest>>,
}

impl DryRun {
    /// Prints every request.
    pub fn printing() -> Self {
        Self::default()
    }

    /// Keeps every request instead of printing it.
    pub fn recording() -> Self {
        Self {
            keep: true,
            requests: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl Transport for DryRun {
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        if self.keep {
            if let Ok(mut r) = self.requests.lock() {
                r.push(req.clone());
            }
        } else {
            println!("--- dry run: the request botgate would send ---\n{}---", req.to_text());
        }
        Ok(HttpResponse {
            status: 200,
            body: r#"{"code":0,"errcode":0,"msg":"dry run","errmsg":"ok"}"#.into(),
            retry_after_secs: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_text_hides_every_credential() {
        let r = HttpRequest::post(
            "https://oapi.dingtalk.com/robot/send?access_token=AT123&timestamp=1&sign=SG%2B9",
            r#"{"msgtype":"text","sign":"feishu-sign","timestamp":"1","nested":{"secret":"S3"}}"#.into(),
        )
        .header("Authorization", "Bearer tok-abc")
        .header("x-acs-dingtalk-access-token", "tok-def");
        let text = r.to_text();
        for secret in ["AT123", "SG%2B9", "feishu-sign", "S3", "tok-abc", "tok-def"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("timestamp=1") && text.contains("Bearer ***"), "{text}");
        let hook = HttpRequest::post(
            "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c-secret",
            "{}".into(),
        );
        assert_eq!(hook.redacted_url(), "https://open.feishu.cn/open-apis/bot/v2/hook/***");
        let session = HttpRequest::post(
            "https://oapi.dingtalk.com/robot/sendBySession?session=s3ss",
            "{}".into(),
        );
        assert!(!session.to_text().contains("s3ss"));
    }

    #[test]
    fn redacts_credentials_in_urls() {
        let r = HttpRequest::get("https://x/cgi-bin/gettoken?corpid=c&corpsecret=s3&access_token=t&a=b");
        assert_eq!(
            r.redacted_url(),
            "https://x/cgi-bin/gettoken?corpid=c&corpsecret=***&access_token=***&a=b"
        );
        assert_eq!(HttpRequest::get("https://x/y").redacted_url(), "https://x/y");
    }
}
