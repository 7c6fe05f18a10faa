//! A fake chat platform for the dispatcher tests: the token and message endpoints of
//! Feishu, DingTalk, WeChat and WeCom, their media uploads (multipart, as the platforms
//! take them) and card updates (Feishu's message patch, WeCom's `update_template_card`),
//! a forward receiver, and images to download (`/media/<name>`), on one loopback port. It
//! checks app credentials and tokens the way the platforms do (a token must have been
//! issued by it and not revoked; a request without one is refused with the platform's
//! token-invalid code), deduplicates Feishu sends by `uuid`, lets a WeCom `ResponseCode`
//! update a card once, checks forward signatures, and can be told to answer with scripted
//! failures or to be slow.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// A message the fake accepted.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// `feishu`, `dingtalk`, `dingtalk-session`, `wechat`, `wecom` or `forward`.
    pub platform: String,
    /// The request path.
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// The headers (lower-case names).
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct Inner {
    /// App id -> secret, for token requests.
    apps: HashMap<String, String>,
    /// Tokens issued and still valid.
    tokens: HashSet<String>,
    token_requests: HashMap<String, u32>,
    send_requests: HashMap<String, u32>,
    delivered: Vec<Delivered>,
    feishu_uuids: HashSet<String>,
    /// Scripted answers by platform, used before the normal answer.
    script: HashMap<String, VecDeque<(u16, String)>>,
    /// Requests by platform answered normally before the script starts.
    script_after: HashMap<String, u32>,
    /// An answer given every time, by platform.
    always: HashMap<String, (u16, String)>,
    forward_secret: String,
    /// DingTalk robot arrivals (the signed timestamps, ms), to enforce 20 per minute.
    robot_arrivals: Vec<i64>,
    /// Sends the fake throttled (DingTalk 130101), as DingTalk would.
    throttled: u32,
    /// Platforms whose token endpoint refuses the caller's IP (not on the allow-list).
    refused_ips: HashSet<String>,
    /// WeCom response codes already used to update a card.
    used_response_codes: HashSet<String>,
    /// Uploads accepted, by platform.
    uploads: HashMap<String, u32>,
    /// Downloads served from `/media/`.
    downloads: u32,
}

/// The fake platform: started on a free port, stopped when the test's runtime ends.
#[derive(Clone)]
pub struct FakePlatform {
    inner: Arc<Mutex<Inner>>,
    latency_ms: Arc<AtomicU64>,
    counter: Arc<AtomicU64>,
    /// Its base URL.
    pub url: String,
}

impl FakePlatform {
    /// Starts the fake; `apps` maps app ids (Feishu app_id, DingTalk appKey, WeChat appid,
    /// WeCom corpid) to their secrets.
    pub async fn start(apps: &[(&str, &str)], forward_secret: &str) -> Self {
        let inner = Inner {
            apps: apps.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            forward_secret: forward_secret.to_owned(),
            ..Inner::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            inner: Arc::new(Mutex::new(inner)),
            latency_ms: Arc::new(AtomicU64::new(0)),
            counter: Arc::new(AtomicU64::new(0)),
            url,
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    /// Starts the fake with the credentials of the example configuration's bots.
    pub async fn for_example() -> Self {
        Self::start(
            &[
                ("cli_0rleupfgfeytvez0", "demo-app-secret-not-real"),
                (
                    "dingmfj88k27cmra8su0",
                    "uGZVplMZhBhMugETucJjc8Ekq33Pn1kFEmD0BMTUUBKMqnQVJGuQOqYpurYV3lBd",
                ),
                ("wx1m3vrk1npimbdk01", "demo-app-secret-not-real"),
                ("wwq069yjbtrm6edv7w", "demo-corp-secret-not-real"),
            ],
            FORWARD_SECRET,
        )
        .await
    }

    /// Delays every message request (not token requests) by `ms`.
    pub fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Answers the next message requests of `platform` with these (status, body) first.
    pub fn script(&self, platform: &str, answers: &[(u16, &str)]) {
        self.inner.lock().unwrap().script.insert(
            platform.to_owned(),
            answers.iter().map(|(s, b)| (*s, (*b).to_owned())).collect(),
        );
    }

    /// Answers the next `skip` message requests of `platform` normally, then with these.
    pub fn script_after(&self, platform: &str, skip: u32, answers: &[(u16, &str)]) {
        self.script(platform, answers);
        self.inner
            .lock()
            .unwrap()
            .script_after
            .insert(platform.to_owned(), skip);
    }

    /// Answers every message request of `platform` with (status, body).
    pub fn always(&self, platform: &str, status: u16, body: &str) {
        self.inner
            .lock()
            .unwrap()
            .always
            .insert(platform.to_owned(), (status, body.to_owned()));
    }

    /// Stops answering `platform`'s message requests with [`FakePlatform::always`]'s answer.
    pub fn clear_always(&self, platform: &str) {
        self.inner.lock().unwrap().always.remove(platform);
    }

    /// Makes `platform`'s token endpoint refuse the caller's IP, as WeChat (40164) and WeCom
    /// (60020) do when it is not on the account's allow-list.
    pub fn refuse_ip(&self, platform: &str) {
        self.inner.lock().unwrap().refused_ips.insert(platform.to_owned());
    }

    /// Stops scripted failures.
    pub fn heal(&self) {
        let mut i = self.inner.lock().unwrap();
        i.always.clear();
        i.script.clear();
    }

    /// Revokes every token issued so far (the platform's answer becomes token-invalid).
    pub fn revoke_tokens(&self) {
        self.inner.lock().unwrap().tokens.clear();
    }

    /// Token requests seen for `platform`.
    pub fn token_requests(&self, platform: &str) -> u32 {
        self.inner
            .lock()
            .unwrap()
            .token_requests
            .get(platform)
            .copied()
            .unwrap_or(0)
    }

    /// Message requests seen for `platform` (accepted or not).
    pub fn send_requests(&self, platform: &str) -> u32 {
        self.inner
            .lock()
            .unwrap()
            .send_requests
            .get(platform)
            .copied()
            .unwrap_or(0)
    }

    /// Messages accepted, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.inner.lock().unwrap().delivered.clone()
    }

    /// Messages accepted for `platform`.
    pub fn delivered_to(&self, platform: &str) -> Vec<Delivered> {
        self.delivered()
            .into_iter()
            .filter(|d| d.platform == platform)
            .collect()
    }

    /// Media uploads accepted for `platform` (`feishu`, `wechat`, `wecom`).
    pub fn uploads(&self, platform: &str) -> u32 {
        self.inner.lock().unwrap().uploads.get(platform).copied().unwrap_or(0)
    }

    /// Images served from `/media/<name>` so far.
    pub fn downloads(&self) -> u32 {
        self.inner.lock().unwrap().downloads
    }

    fn issue(&self, platform: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let token = format!("{platform}-token-{n}");
        self.inner.lock().unwrap().tokens.insert(token.clone());
        token
    }
}

/// The forward receiver's shared secret.
pub const FORWARD_SECRET: &str = "forward-secret-for-tests";
/// The custom group bots' signing secret (Feishu and DingTalk).
pub const WEBHOOK_SECRET: &str = "SECn6pw27EfwQRO4M8qBxFlU9kwleYKXMwkmJqzmQK6vnKkHrVt5WwM694ddHRiT";
/// The WeCom group bot key.
pub const WECOM_KEY: &str = "wecom-bot-key";

impl FakePlatform {
    /// Sends the DingTalk robot refused as too fast (more than 20 in 60 s of signed time).
    pub fn throttled(&self) -> u32 {
        self.inner.lock().unwrap().throttled
    }

    /// The signed timestamps (ms) of the DingTalk robot messages accepted.
    pub fn robot_arrivals(&self) -> Vec<i64> {
        self.inner.lock().unwrap().robot_arrivals.clone()
    }
}

fn reply(status: u16, body: Value) -> axum::response::Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn platform_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/open-apis/bot/v2/hook/") {
        Some("feishu-webhook")
    } else if path == "/robot/send" {
        Some("dingtalk-webhook")
    } else if path == "/cgi-bin/webhook/send" {
        Some("wecom-webhook")
    } else if path.starts_with("/open-apis/") {
        Some("feishu")
    } else if path.starts_with("/v1.0/") {
        Some("dingtalk")
    } else if path.starts_with("/robot/sendBySession") {
        Some("dingtalk-session")
    } else if path == "/cgi-bin/stable_token" || path.starts_with("/cgi-bin/message/custom") {
        Some("wechat")
    } else if path.starts_with("/cgi-bin/") {
        Some("wecom")
    } else if path.starts_with("/forward") {
        Some("forward")
    } else {
        None
    }
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The image `/media/<name>` serves: a tiny PNG whose bytes depend on the name, so two
/// names are two images and one name is always the same image.
pub fn media_bytes(name: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(name.as_bytes());
    bytes
}

/// The parts of a `multipart/form-data` body: (name, file name, bytes).
fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return Vec::new();
    };
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let after = &rest[head_end + 4..];
        let Some(end) = find(after, format!("\r\n{delimiter}").as_bytes()) else {
            break;
        };
        let value = after[..end].to_vec();
        let attr = |key: &str| {
            head.split(';')
                .filter_map(|p| p.trim().strip_prefix(&format!("{key}=\"")))
                .map(|v| {
                    v.trim_end_matches(['"', '\r', '\n'])
                        .split('"')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
                .next()
        };
        parts.push((attr("name").unwrap_or_default(), attr("filename"), value));
        rest = &after[end + 2..];
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Media uploads (Feishu `im/v1/images` and `im/v1/files`, WeChat and WeCom
/// `cgi-bin/media/upload`), card updates (Feishu's message patch, WeCom's
/// `update_template_card`) and `/media/` downloads; `None` for every other request.
fn media_and_updates(
    fake: &FakePlatform,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<axum::response::Response> {
    let path = uri.path();
    if let Some(name) = path.strip_prefix("/media/") {
        fake.inner.lock().unwrap().downloads += 1;
        if name.starts_with("missing") {
            return Some((StatusCode::NOT_FOUND, "no such image").into_response());
        }
        return Some((StatusCode::OK, [("content-type", "image/png")], media_bytes(name)).into_response());
    }
    let bearer = headers
        .get("authorization")
        .and_then(|a| a.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::to_owned);
    let valid = |token: &Option<String>| {
        token
            .as_ref()
            .is_some_and(|t| fake.inner.lock().unwrap().tokens.contains(t))
    };
    let record = |platform: &str, body: Value| {
        let mut i = fake.inner.lock().unwrap();
        i.delivered.push(Delivered {
            platform: platform.to_owned(),
            path: path.to_owned(),
            body,
            headers: HashMap::new(),
        });
    };
    let content_type = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default();
    let upload = |platform: &str, field: &str, key: String| {
        let parts = multipart_parts(content_type, body);
        let (_, file_name, bytes) = parts.iter().find(|(n, f, _)| n == field && f.is_some())?;
        *fake.inner.lock().unwrap().uploads.entry(platform.into()).or_default() += 1;
        let fields: serde_json::Map<String, Value> = parts
            .iter()
            .filter(|(_, f, _)| f.is_none())
            .map(|(n, _, v)| (n.clone(), json!(String::from_utf8_lossy(v))))
            .collect();
        record(
            &format!("{platform}-upload"),
            json!({"file_name": file_name, "bytes": bytes.len(), "fields": fields, "key": key}),
        );
        Some(key)
    };
    let digest = |bytes: &[u8]| hex::encode(&botgate::crypto::sha256(&[bytes])[..6]);
    match (method.as_str(), path) {
        ("POST", "/open-apis/im/v1/images" | "/open-apis/im/v1/files") => {
            if !valid(&bearer) {
                return Some(reply(400, json!({"code": 99991663, "msg": "Invalid access token"})));
            }
            let (field, prefix) = if path.ends_with("images") {
                ("image", "img_v3_")
            } else {
                ("file", "file_v3_")
            };
            let key = format!("{prefix}{}", digest(body));
            match upload("feishu", field, key) {
                Some(key) if field == "image" => Some(reply(
                    200,
                    json!({"code": 0, "msg": "success", "data": {"image_key": key}}),
                )),
                Some(key) => Some(reply(
                    200,
                    json!({"code": 0, "msg": "success", "data": {"file_key": key}}),
                )),
                None => Some(reply(400, json!({"code": 234001, "msg": "Invalid request param."}))),
            }
        }
        ("POST", "/cgi-bin/media/upload") => {
            let token = query_param(uri, "access_token");
            if !valid(&token) {
                return Some(reply(200, json!({"errcode": 40014, "errmsg": "invalid access_token"})));
            }
            let platform = if token.as_deref().unwrap_or_default().starts_with("wechat") {
                "wechat"
            } else {
                "wecom"
            };
            let kind = query_param(uri, "type").unwrap_or_default();
            if !matches!(kind.as_str(), "image" | "voice" | "video" | "file") {
                return Some(reply(200, json!({"errcode": 40004, "errmsg": "invalid media type"})));
            }
            match upload(platform, "media", format!("media_{kind}_{}", digest(body))) {
                Some(key) => Some(reply(
                    200,
                    json!({"errcode": 0, "errmsg": "ok", "type": kind, "media_id": key, "created_at": "1795440463"}),
                )),
                None => Some(reply(200, json!({"errcode": 41005, "errmsg": "media data missing"}))),
            }
        }
        ("PATCH", p) if p.starts_with("/open-apis/im/v1/messages/") => {
            if !valid(&bearer) {
                return Some(reply(400, json!({"code": 99991663, "msg": "Invalid access token"})));
            }
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let card = v["content"]
                .as_str()
                .and_then(|c| serde_json::from_str::<Value>(c).ok());
            // Feishu updates shared cards only (`update_multi` before and after).
            match card {
                Some(card) if card["config"]["update_multi"] == true => {
                    record(
                        "feishu-update",
                        json!({"message_id": p.rsplit('/').next(), "card": card}),
                    );
                    Some(reply(200, json!({"code": 0, "msg": "success", "data": {}})))
                }
                _ => Some(reply(400, json!({"code": 230001, "msg": "invalid card content"}))),
            }
        }
        ("POST", "/cgi-bin/message/update_template_card") => {
            if !valid(&query_param(uri, "access_token")) {
                return Some(reply(200, json!({"errcode": 40014, "errmsg": "invalid access_token"})));
            }
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(code) = v["response_code"].as_str() else {
                return Some(reply(200, json!({"errcode": 41001, "errmsg": "response_code missing"})));
            };
            if !v["agentid"].is_number() || !(v["button"].is_object() || v["template_card"].is_object()) {
                return Some(reply(200, json!({"errcode": 44002, "errmsg": "empty post data"})));
            }
            // A response code updates a card once. (WeCom documents the rule, not the code
            // it answers a second use with: a permanent error stands in.)
            if !fake.inner.lock().unwrap().used_response_codes.insert(code.to_owned()) {
                return Some(reply(
                    200,
                    json!({"errcode": 40058, "errmsg": "response_code already used"}),
                ));
            }
            record("wecom-update", v);
            Some(reply(200, json!({"errcode": 0, "errmsg": "ok"})))
        }
        _ => None,
    }
}

async fn handle(
    State(fake): State<FakePlatform>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if let Some(answer) = media_and_updates(&fake, &method, &uri, &headers, &body) {
        return answer;
    }
    let path = uri.path().to_owned();
    if path == "/redirect" {
        // A receiver that answers with a redirect elsewhere (botgate must not follow it).
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "/forward/landing")],
            "moved",
        )
            .into_response();
    }
    let Some(platform) = platform_of(&path) else {
        return reply(404, json!({"error": "no such endpoint"}));
    };
    let raw = String::from_utf8_lossy(&body).into_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();

    // Token endpoints.
    let refused = |platform: &str| fake.inner.lock().unwrap().refused_ips.contains(platform);
    if path == "/cgi-bin/stable_token" && refused("wechat") {
        return reply(
            200,
            json!({"errcode": 40164, "errmsg": "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6745a1b2-1c2d3e4f-5a6b7c8d"}),
        );
    }
    if path == "/cgi-bin/gettoken" && refused("wecom") {
        return reply(
            200,
            json!({"errcode": 60020, "errmsg": "not allow to access from your ip, hint: [1732500000123456789], from ip: 203.0.113.7"}),
        );
    }
    let token_of = |id: &str, secret: &str| {
        let i = fake.inner.lock().unwrap();
        i.apps.get(id).is_some_and(|s| s == secret)
    };
    match path.as_str() {
        "/open-apis/auth/v3/tenant_access_token/internal" => {
            *fake
                .inner
                .lock()
                .unwrap()
                .token_requests
                .entry("feishu".into())
                .or_default() += 1;
            return if token_of(
                body["app_id"].as_str().unwrap_or(""),
                body["app_secret"].as_str().unwrap_or(""),
            ) {
                reply(
                    200,
                    json!({"code": 0, "msg": "ok", "tenant_access_token": fake.issue("feishu"), "expire": 7200}),
                )
            } else {
                reply(200, json!({"code": 10014, "msg": "app secret invalid"}))
            };
        }
        "/v1.0/oauth2/accessToken" => {
            *fake
                .inner
                .lock()
                .unwrap()
                .token_requests
                .entry("dingtalk".into())
                .or_default() += 1;
            return if token_of(
                body["appKey"].as_str().unwrap_or(""),
                body["appSecret"].as_str().unwrap_or(""),
            ) {
                reply(200, json!({"accessToken": fake.issue("dingtalk"), "expireIn": 7200}))
            } else {
                reply(
                    400,
                    json!({"code": "invalidClientIdOrSecret", "message": "bad appKey or appSecret"}),
                )
            };
        }
        "/cgi-bin/stable_token" => {
            *fake
                .inner
                .lock()
                .unwrap()
                .token_requests
                .entry("wechat".into())
                .or_default() += 1;
            return if token_of(
                body["appid"].as_str().unwrap_or(""),
                body["secret"].as_str().unwrap_or(""),
            ) {
                reply(200, json!({"access_token": fake.issue("wechat"), "expires_in": 7200}))
            } else {
                reply(200, json!({"errcode": 40125, "errmsg": "invalid appsecret"}))
            };
        }
        "/cgi-bin/gettoken" => {
            *fake
                .inner
                .lock()
                .unwrap()
                .token_requests
                .entry("wecom".into())
                .or_default() += 1;
            let ok = token_of(
                &query_param(&uri, "corpid").unwrap_or_default(),
                &query_param(&uri, "corpsecret").unwrap_or_default(),
            );
            return if ok {
                reply(
                    200,
                    json!({"errcode": 0, "errmsg": "ok", "access_token": fake.issue("wecom"), "expires_in": 7200}),
                )
            } else {
                reply(200, json!({"errcode": 40001, "errmsg": "invalid credential"}))
            };
        }
        _ => {}
    }

    // Message endpoints.
    *fake
        .inner
        .lock()
        .unwrap()
        .send_requests
        .entry(platform.into())
        .or_default() += 1;
    let latency = fake.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let scripted = {
        let mut i = fake.inner.lock().unwrap();
        let waiting = i.script_after.get_mut(platform).filter(|n| **n > 0).map(|n| {
            *n -= 1;
        });
        let next = if waiting.is_some() {
            None
        } else {
            i.script.get_mut(platform).and_then(VecDeque::pop_front)
        };
        next.or_else(|| i.always.get(platform).cloned())
    };
    if let Some((status, body)) = scripted {
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        return reply(status, v);
    }
    let token = match platform {
        "feishu" => headers
            .get("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_owned),
        "dingtalk" => headers.get("x-acs-dingtalk-access-token").cloned(),
        "wechat" | "wecom" => query_param(&uri, "access_token"),
        _ => None,
    };
    let valid = token
        .as_ref()
        .is_some_and(|t| fake.inner.lock().unwrap().tokens.contains(t));
    match platform {
        "feishu-webhook" => {
            let ts = body["timestamp"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0);
            let want = botgate::platform::feishu::webhook_sign(WEBHOOK_SECRET, ts);
            if body["sign"].as_str() != Some(want.as_str()) {
                return reply(
                    200,
                    json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
                );
            }
        }
        "dingtalk-webhook" => {
            let ts = query_param(&uri, "timestamp").unwrap_or_default();
            let want = botgate::platform::dingtalk::hmac_sign(WEBHOOK_SECRET, &ts);
            if query_param(&uri, "sign").as_deref() != Some(want.as_str()) {
                return reply(200, json!({"errcode": 310000, "errmsg": "sign not match"}));
            }
            let at: i64 = ts.parse().unwrap_or(0);
            let mut i = fake.inner.lock().unwrap();
            let recent = i.robot_arrivals.iter().filter(|t| **t > at - 60_000).count();
            if recent >= 20 {
                i.throttled += 1;
                return reply(
                    200,
                    json!({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
                );
            }
            i.robot_arrivals.push(at);
        }
        "wecom-webhook" if query_param(&uri, "key").as_deref() != Some(WECOM_KEY) => {
            return reply(200, json!({"errcode": 93000, "errmsg": "invalid webhook url"}));
        }
        "feishu" if !valid => return reply(400, json!({"code": 99991663, "msg": "Invalid access token"})),
        "dingtalk" if !valid => {
            return reply(
                401,
                json!({"code": "InvalidAuthentication", "message": "token invalid"}),
            );
        }
        "wechat" | "wecom" if !valid => return reply(200, json!({"errcode": 40014, "errmsg": "invalid access_token"})),
        "forward" => {
            let i = fake.inner.lock().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let ts = headers.get("x-botgate-timestamp").cloned().unwrap_or_default();
            let sig = headers.get("x-botgate-signature").cloned().unwrap_or_default();
            if !botgate::delivery::forward::verify(&i.forward_secret, &ts, &sig, &raw, now) {
                return reply(401, json!({"error": "bad signature"}));
            }
        }
        _ => {}
    }
    // Per-platform shape checks.
    let bad = match platform {
        "feishu" => {
            !body["content"].is_string()
                || body["msg_type"].as_str().is_none()
                || serde_json::from_str::<Value>(body["content"].as_str().unwrap_or("")).is_err()
        }
        "wechat" => body["touser"].as_str().is_none() || body["msgtype"].as_str().is_none(),
        "wecom" => body["touser"].as_str().is_none() || !body["agentid"].is_number(),
        "dingtalk" => body["robotCode"].as_str().is_none() || !body["msgParam"].is_string(),
        _ => false,
    };
    if bad {
        return match platform {
            "feishu" => reply(400, json!({"code": 230001, "msg": "invalid request"})),
            "dingtalk" => reply(400, json!({"code": "invalidParameter", "message": "bad body"})),
            _ => reply(200, json!({"errcode": 44002, "errmsg": "empty post data"})),
        };
    }
    let mut i = fake.inner.lock().unwrap();
    if platform == "feishu"
        && let Some(uuid) = body["uuid"].as_str()
        && !i.feishu_uuids.insert(uuid.to_owned())
    {
        // Feishu drops a repeat of the same uuid within an hour, answering success.
        return reply(200, json!({"code": 0, "msg": "success", "data": {}}));
    }
    i.delivered.push(Delivered {
        platform: platform.to_owned(),
        path,
        body,
        headers,
    });
    match platform {
        "feishu" => reply(
            200,
            json!({"code": 0, "msg": "success", "data": {"message_id": "om_fake"}}),
        ),
        "dingtalk" => reply(200, json!({"processQueryKey": "fake"})),
        "forward" => reply(204, Value::Null),
        "feishu-webhook" => reply(200, json!({"code": 0, "msg": "success", "data": {}})),
        _ => reply(200, json!({"errcode": 0, "errmsg": "ok"})),
    }
}
