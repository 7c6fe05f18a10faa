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

    /// The URL with credential-bearing query values (`access_token`, `key`, `sign`,
    /// `corpsecret`, `secret`) replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        let Some((base, query)) = self.url.split_once('?') else {
            return self.url.clone();
        };
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.contains(&k) => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        format!("{base}?{}", parts.join("&"))
    }

    /// The request as text, the way it goes on the wire (dry runs).
    pub fn to_text(&self) -> String {
        let mut out = format!("{} {}\n", self.method, self.url);
        if self.body.is_some() {
            out.push_str("Content-Type: application/json; charset=utf-8\n");
        }
        for (k, v) in &self.headers {
            let _ = writeln!(out, "{k}: {v}");
        }
        if let Some(b) = &self.body {
            out.push('\n');
            out.push_str(b);
            out.push('\n');
        }
        out
    }
}

const SECRET_PARAMS: [&str; 6] = ["access_token", "key", "sign", "corpsecret", "secret", "appsecret"];

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
    fn redacts_credentials_in_urls() {
        let r = HttpRequest::get("https://x/cgi-bin/gettoken?corpid=c&corpsecret=s3&access_token=t&a=b");
        assert_eq!(
            r.redacted_url(),
            "https://x/cgi-bin/gettoken?corpid=c&corpsecret=***&access_token=***&a=b"
        );
        assert_eq!(HttpRequest::get("https://x/y").redacted_url(), "https://x/y");
    }
}
