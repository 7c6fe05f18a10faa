//! The HTTP layer under every delivery: a request, a response, and how it failed. Real
//! sends go through `reqwest` (rustls); a dry run prints the exact request instead.

use std::fmt::Write as _;
use std::sync::Mutex;

use thiserror::Error;

/// An outgoing HTTP request (always JSON when it has a body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The full URL, query included.
    pub url: String,
    /// Extra headers (`Content-Type: application/json` is implied by a body).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Option<String>,
}

impl HttpRequest {
    /// A JSON POST.
    pub fn post(url: impl Into<String>, body: String) -> Self {
        Self {
            method: "POST",
            url: url.into(),
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// A GET.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: None,
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

/// Sends HTTP requests.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Sends one request.
    async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError>;
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
        let method = if req.method == "GET" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let mut b = self.client.request(method, &req.url);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &req.body {
            b = b
                .header("content-type", "application/json; charset=utf-8")
                .body(body.clone());
        }
        let classify = |e: reqwest::Error| {
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
        };
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
