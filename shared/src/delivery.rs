//! Sending through the platforms' APIs: one module per platform builds the HTTP request and
//! classifies the answer; this module fetches tokens through the shared [`TokenCache`],
//! retries what is worth retrying with exponential backoff and full jitter inside the
//! caller's deadline, refetches the token once when the platform calls it invalid, and
//! gives up at once on permanent errors.
//!
//! Error classes ([`SendError`]): `Retryable` (network errors before sending, 5xx, 429,
//! Feishu 99991400, DingTalk 130101, WeChat/WeCom -1, ...), `TokenInvalid` (Feishu
//! 99991663/99991664/99991671, WeChat/WeCom 40001/40014/42001, DingTalk 401),
//! `Permanent` (bad parameters, no permission, quota, sign mismatch, ...) and `Ambiguous`
//! (the request went out and no answer came back: it may have been delivered). Ambiguous
//! failures are retried only where the platform deduplicates the resend (Feishu's `uuid`,
//! WeCom's duplicate check); elsewhere a possible duplicate is worse than a possible miss.

pub mod breaker;
pub mod call;
pub mod dingtalk;
pub mod endpoint;
pub mod feishu;
pub mod forward;
pub mod media;
pub mod transport;
pub mod wechat;
pub mod wecom;

use std::sync::Arc;
use std::time::Duration;

use crate::bot::Bot;
use crate::clock::Clock;
use crate::token::{TokenCache, token_key};
use botgate_core::event::{Event, Platform};
use botgate_core::message::Message;
use transport::{HttpRequest, HttpResponse, Transport};

pub(crate) use call::{Call, classify_code};
pub use call::{Idempotency, SendError, Target, json_body, platform_deduplicates};

/// The base URLs of the platforms' APIs (tests point them at a fake platform).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrls {
    /// Feishu open platform (`https://open.feishu.cn`; Lark: `https://open.larksuite.com`).
    pub feishu: String,
    /// DingTalk new API (`https://api.dingtalk.com`).
    pub dingtalk: String,
    /// WeChat Official Account API (`https://api.weixin.qq.com`).
    pub wechat: String,
    /// WeCom API (`https://qyapi.weixin.qq.com`).
    pub wecom: String,
}

impl Default for BaseUrls {
    fn default() -> Self {
        Self {
            feishu: "https://open.feishu.cn".into(),
            dingtalk: "https://api.dingtalk.com".into(),
            wechat: "https://api.weixin.qq.com".into(),
            wecom: "https://qyapi.weixin.qq.com".into(),
        }
    }
}

impl BaseUrls {
    /// The base URL for `bot`: its own `api_base` if set, else the platform's.
    pub fn for_bot(&self, bot: &Bot) -> String {
        if let Some(b) = &bot.api_base {
            return b.trim_end_matches('/').to_owned();
        }
        match bot.platform {
            Platform::Feishu => &self.feishu,
            Platform::Dingtalk => &self.dingtalk,
            Platform::Wechat => &self.wechat,
            Platform::Wecom => &self.wecom,
        }
        .trim_end_matches('/')
        .to_owned()
    }
}

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff, in ms (doubled each time; the actual pause is random up to it).
    pub base_delay_ms: u64,
    /// The largest backoff, in ms.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay_ms: 200,
            max_delay_ms: 5_000,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1-based): "full jitter", uniformly random in
    /// `[cap/2, cap]` where `cap = min(max, base * 2^(retry-1))`; at least `retry_after_ms`.
    pub fn delay_ms(&self, retry: u32, retry_after_ms: Option<u64>) -> u64 {
        let cap = self
            .base_delay_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
            .min(self.max_delay_ms);
        let half = cap / 2;
        let jitter = if half == 0 {
            0
        } else {
            u64::from_le_bytes(botgate_core::crypto::random_bytes::<8>()) % (half + 1)
        };
        (half + jitter).max(retry_after_ms.unwrap_or(0))
    }
}

/// DingTalk's session webhooks are on this host (`https://oapi.dingtalk.com/robot/sendBySession`).
pub fn default_session_hosts() -> Vec<String> {
    vec!["oapi.dingtalk.com".to_owned()]
}

/// Outbound settings (`delivery:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Print each request instead of sending it (no tokens fetched).
    pub dry_run: bool,
    /// The platforms' API base URLs.
    pub base_urls: BaseUrls,
    /// Retries.
    pub retry: RetryPolicy,
    /// Timeout of one HTTP request, ms.
    pub timeout_ms: u64,
    /// The hosts a DingTalk session webhook may point at.
    pub session_webhook_hosts: Vec<String>,
    /// The circuit breakers' settings.
    pub circuit_breaker: breaker::BreakerSettings,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            dry_run: false,
            base_urls: BaseUrls::default(),
            retry: RetryPolicy::default(),
            timeout_ms: 5_000,
            session_webhook_hosts: default_session_hosts(),
            circuit_breaker: breaker::BreakerSettings::default(),
        }
    }
}

/// How [`Delivery::call_api`] calls: with the bot's token or not, whether the platform drops
/// a repeated request (so an ambiguous failure may be retried), and the deadline (Unix ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiCall {
    pub(crate) with_token: bool,
    pub(crate) dedupes: bool,
    pub(crate) deadline_ms: i64,
}

/// What a send cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// HTTP attempts made (token requests not counted).
    pub attempts: u32,
}

/// Sends messages: tokens, retries, classification.
pub struct Delivery {
    transport: Arc<dyn Transport>,
    tokens: Arc<TokenCache>,
    clock: Arc<dyn Clock>,
    /// Base URLs.
    pub urls: BaseUrls,
    /// Retry settings.
    pub retry: RetryPolicy,
    /// Dry run: no token requests; every send is printed by the transport instead.
    pub dry_run: bool,
    /// The hosts a DingTalk session webhook may point at (default: DingTalk's own).
    pub session_hosts: Vec<String>,
    /// The longest one request may take (the transport's timeout), ms: a request is not
    /// started unless it can finish before the caller's deadline.
    pub request_timeout_ms: u64,
    /// The circuit breakers of the hosts it calls.
    pub breakers: Arc<breaker::Breakers>,
    /// Uploaded images' and files' keys, by content.
    pub media: media::MediaCache,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("urls", &self.urls)
            .field("retry", &self.retry)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// The token stand-in of dry runs.
pub const DRY_RUN_TOKEN: &str = "DRY-RUN-TOKEN";

impl Delivery {
    /// The transport it sends through, shared.
    pub fn shared_transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// Its token cache, shared.
    pub fn shared_tokens(&self) -> Arc<TokenCache> {
        self.tokens.clone()
    }

    /// A delivery layer.
    pub fn new(transport: Arc<dyn Transport>, tokens: Arc<TokenCache>, clock: Arc<dyn Clock>) -> Self {
        Self {
            transport,
            tokens,
            clock,
            urls: BaseUrls::default(),
            retry: RetryPolicy::default(),
            dry_run: false,
            session_hosts: default_session_hosts(),
            request_timeout_ms: DeliverySettings::default().timeout_ms,
            breakers: Arc::new(breaker::Breakers::default()),
            media: media::MediaCache::default(),
        }
    }

    /// Refuses a call to `url`'s host while its breaker is open; the host otherwise.
    fn gate(&self, url: &str) -> Result<String, SendError> {
        let host = breaker::host_of(url);
        match self.breakers.admit(&host, self.clock.now_ms()) {
            breaker::Admit::Go | breaker::Admit::Probe => Ok(host),
            breaker::Admit::Until(at) => {
                let since = self.breakers.open_since(&host).unwrap_or(at);
                Err(SendError::Held {
                    host: host.clone(),
                    reason: format!(
                        "the circuit breaker of {host} is open (the host has been failing since {since} ms): no call before {at} ms"
                    ),
                    retry_at_ms: at,
                })
            }
        }
    }

    /// Sends one request through its host's breaker: refused at once while the breaker is
    /// open; otherwise sent, classified by `verdict`, and counted.
    async fn guarded<T>(
        &self,
        req: &HttpRequest,
        verdict: impl FnOnce(&HttpResponse) -> Result<T, SendError>,
    ) -> Result<T, SendError> {
        let host = self.gate(&req.url)?;
        let sent = self.transport.send(req).await;
        let now = self.clock.now_ms();
        match sent {
            Err(e) => {
                self.breakers.record(&host, call::transport_health(&e), now);
                Err(e.into())
            }
            Ok(resp) => {
                let v = verdict(&resp);
                self.breakers.record(&host, call::health(&resp, v.as_ref().err()), now);
                v
            }
        }
    }

    /// True when a request started now could finish before `deadline_ms`.
    fn has_time(&self, deadline_ms: i64) -> bool {
        let needed = i64::try_from(self.request_timeout_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(200);
        self.clock.now_ms().saturating_add(needed) <= deadline_ms
    }

    /// The error of a request not started for lack of time.
    fn no_time(attempts: u32) -> SendError {
        SendError::retryable(format!(
            "the invocation deadline is near: not starting a request that could not finish ({attempts} made)"
        ))
    }

    /// The token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// The transport.
    pub fn transport(&self) -> &dyn Transport {
        self.transport.as_ref()
    }

    async fn token(&self, bot: &Bot, base: &str) -> Result<String, SendError> {
        if self.dry_run {
            return Ok(DRY_RUN_TOKEN.into());
        }
        let key = token_key(bot.platform.as_str(), &bot.id);
        self.tokens.get(&key, || self.fetch_token(bot, base)).await
    }

    /// Fetches a new access token for `bot` from the platform at `base`, bypassing every
    /// cache (`botgate doctor`; the token cache's fetch): the token and its lifetime in s.
    pub async fn fetch_token(&self, bot: &Bot, base: &str) -> Result<(String, i64), SendError> {
        let req = match bot.platform {
            Platform::Feishu => feishu::token_request(base, bot)?,
            Platform::Dingtalk => dingtalk::token_request(base, bot)?,
            Platform::Wechat => wechat::token_request(base, bot)?,
            Platform::Wecom => wecom::token_request(base, bot)?,
        };
        let platform = bot.platform;
        self.guarded(&req, |resp| match platform {
            Platform::Feishu => feishu::token_response(resp),
            Platform::Dingtalk => dingtalk::token_response(resp),
            Platform::Wechat => wechat::token_response(resp),
            Platform::Wecom => wecom::token_response(resp),
        })
        .await
    }

    /// Sleeps before retry number `attempts`, unless the pause would leave no time for one
    /// more request before `deadline_ms`: then the caller gives up and SQS redelivers.
    async fn pause(&self, attempts: u32, retry_after_ms: Option<u64>, deadline_ms: i64) -> Result<(), SendError> {
        let pause = self.retry.delay_ms(attempts, retry_after_ms);
        let needed = i64::try_from(pause).unwrap_or(i64::MAX).saturating_add(1_000);
        if self.clock.now_ms().saturating_add(needed) > deadline_ms {
            return Err(SendError::retryable(format!(
                "gave up after {attempts} attempts: the invocation deadline is near"
            )));
        }
        tracing::debug!(attempts, pause_ms = pause, "retrying send");
        tokio::time::sleep(Duration::from_millis(pause)).await;
        Ok(())
    }

    /// Sends `message` from `bot` to `target`, retrying inside `deadline_ms` (Unix ms). An
    /// image or file given by URL or path is uploaded first ([`Delivery::with_media`]).
    pub async fn send(
        &self,
        bot: &Bot,
        target: Target<'_>,
        message: &Message,
        idem: Idempotency<'_>,
        deadline_ms: i64,
    ) -> Result<Sent, SendError> {
        let message = self.with_media(bot, message, deadline_ms).await?;
        if let Some(instead) = bot
            .platform
            .card_actions_degrade_to()
            .filter(|_| message.is_interactive())
        {
            tracing::info!(
                bot = %bot.id,
                platform = %bot.platform,
                outcome = "degraded",
                "card: {} has no action buttons; they go as {instead}",
                bot.platform
            );
        }
        let mut call = Call {
            bot,
            base: self.urls.for_bot(bot),
            target,
            message: &message,
            idem,
            now_ms: self.clock.now_ms(),
            session_hosts: &self.session_hosts,
        };
        let with_token = needs_token(&call);
        let platform = bot.platform;
        let verdict = match platform {
            Platform::Feishu => feishu::send_response,
            Platform::Dingtalk => dingtalk::send_response,
            Platform::Wechat => wechat::send_response,
            Platform::Wecom => wecom::send_response,
        };
        let build = |token: &str, resend: bool, now_ms: i64| {
            call.now_ms = now_ms;
            call.idem.resend |= resend;
            match platform {
                Platform::Feishu => feishu::send_request(&call, token),
                Platform::Dingtalk => dingtalk::send_request(&call, token),
                Platform::Wechat => wechat::send_request(&call, token),
                Platform::Wecom => wecom::send_request(&call, token),
            }
        };
        let options = ApiCall {
            with_token,
            dedupes: platform_deduplicates(platform),
            deadline_ms,
        };
        self.call_api(bot, options, build, verdict)
            .await
            .map(|((), attempts)| Sent { attempts })
    }

    /// One call of `bot`'s platform API with its access token: built by `build` for each
    /// attempt (from the token, whether it may repeat an earlier attempt that could have
    /// arrived, and the time), classified by `verdict`, and retried inside the deadline: a
    /// token the platform calls invalid is refetched once, retryable failures are retried
    /// with backoff, an ambiguous one only where the platform drops the repeat. Returns
    /// the verdict's value and the attempts made.
    pub(crate) async fn call_api<T>(
        &self,
        bot: &Bot,
        options: ApiCall,
        mut build: impl FnMut(&str, bool, i64) -> Result<HttpRequest, SendError>,
        verdict: impl Fn(&HttpResponse) -> Result<T, SendError>,
    ) -> Result<(T, u32), SendError> {
        let base = self.urls.for_bot(bot);
        let mut attempts = 0;
        let mut refetched = false;
        let mut resend = false;
        loop {
            if !self.has_time(options.deadline_ms) {
                return Err(Self::no_time(attempts));
            }
            attempts += 1;
            let token = if options.with_token {
                self.token(bot, &base).await.map(Some)
            } else {
                Ok(None)
            };
            let (result, token) = match token {
                Err(e) => (Err(e), None),
                Ok(token) => {
                    let result = match build(token.as_deref().unwrap_or_default(), resend, self.clock.now_ms()) {
                        Ok(req) => self.guarded(&req, &verdict).await,
                        Err(e) => Err(e),
                    };
                    (result, token)
                }
            };
            let err = match result {
                Ok(v) => return Ok((v, attempts)),
                Err(e) => e,
            };
            let retry_after = match (err, token) {
                (SendError::TokenInvalid(reason), Some(token)) if !refetched => {
                    tracing::info!(bot = %bot.id, reason, "token refused by the platform; refetching once");
                    refetched = true;
                    self.tokens
                        .invalidate(&token_key(bot.platform.as_str(), &bot.id), &token)
                        .await?;
                    attempts -= 1;
                    continue;
                }
                (SendError::TokenInvalid(reason), _) => return Err(SendError::retryable(reason)),
                (SendError::Retryable { retry_after_ms, .. }, _) if attempts < self.retry.max_attempts => {
                    retry_after_ms
                }
                (SendError::Ambiguous(_), _) if attempts < self.retry.max_attempts && options.dedupes => {
                    resend = true;
                    None
                }
                (e, _) => return Err(e),
            };
            self.pause(attempts, retry_after, options.deadline_ms).await?;
        }
    }

    /// `message` ready for `bot`'s platform: an image or file given by URL or path is
    /// uploaded (or found in the media cache, by content) and replaced by its key; anything
    /// else, and what the platform takes by URL, as it is ([`media`]).
    pub async fn with_media<'m>(
        &self,
        bot: &Bot,
        message: &'m Message,
        deadline_ms: i64,
    ) -> Result<std::borrow::Cow<'m, Message>, SendError> {
        let Some(media::Source { kind, url, path }) = media::needs_upload(bot.platform, message)? else {
            return Ok(std::borrow::Cow::Borrowed(message));
        };
        if self.dry_run {
            tracing::info!(bot = %bot.id, kind = kind.as_str(), source = url.or(path).unwrap_or_default(),
                "dry run: not uploading; the send carries {}", media::DRY_RUN_MEDIA);
            return Ok(std::borrow::Cow::Owned(media::with_key(
                message,
                media::DRY_RUN_MEDIA.to_owned(),
            )));
        }
        let content = media::content(self.transport.as_ref(), kind, message, url, path).await?;
        let cache_key = media::cache_key(bot, kind, &content.bytes);
        let now_secs = self.clock.now_ms().div_euclid(1000);
        if let Some(key) = self.media.get(&cache_key, now_secs).await {
            return Ok(std::borrow::Cow::Owned(media::with_key(message, key)));
        }
        let base = self.urls.for_bot(bot);
        let platform = bot.platform;
        let options = ApiCall {
            with_token: true,
            // A repeated upload costs a second key, never a second message.
            dedupes: true,
            deadline_ms,
        };
        let (key, _) = self
            .call_api(
                bot,
                options,
                |token, _, _| media::upload_request(platform, kind, &base, token, &content),
                |resp| media::upload_response(platform, resp),
            )
            .await?;
        self.media
            .put(&cache_key, &key, now_secs + media::keep_secs(platform))
            .await;
        tracing::info!(bot = %bot.id, kind = kind.as_str(), bytes = content.bytes.len(), outcome = "uploaded", "media");
        Ok(std::borrow::Cow::Owned(media::with_key(message, key)))
    }

    /// Replaces the card `event` came from with `message`, through `bot`'s platform
    /// ([`media::update_card_request`]), retried like a send: a repeated update shows once.
    pub async fn update_card(
        &self,
        bot: &Bot,
        event: &Event,
        message: &Message,
        deadline_ms: i64,
    ) -> Result<Sent, SendError> {
        let base = self.urls.for_bot(bot);
        let options = ApiCall {
            with_token: true,
            dedupes: true,
            deadline_ms,
        };
        let verdict = match bot.platform {
            Platform::Feishu => feishu::send_response,
            _ => wecom::send_response,
        };
        self.call_api(
            bot,
            options,
            |token, _, _| media::update_card_request(bot, &base, token, event, message),
            verdict,
        )
        .await
        .map(|((), attempts)| Sent { attempts })
    }

    /// Sends one request as is (forwarding), with the same retry loop; `dedupes` says
    /// whether the receiver drops a repeat (so ambiguous failures may be retried).
    pub async fn send_raw(
        &self,
        req: &HttpRequest,
        classify: fn(&HttpResponse) -> Result<(), SendError>,
        dedupes: bool,
        deadline_ms: i64,
    ) -> Result<Sent, SendError> {
        let mut attempts = 0;
        loop {
            if !self.has_time(deadline_ms) {
                return Err(Self::no_time(attempts));
            }
            attempts += 1;
            let result = self.guarded(req, classify).await;
            let retry_after = match result {
                Ok(()) => return Ok(Sent { attempts }),
                Err(SendError::Retryable { retry_after_ms, .. }) if attempts < self.retry.max_attempts => {
                    retry_after_ms
                }
                Err(SendError::Ambiguous(_)) if dedupes && attempts < self.retry.max_attempts => None,
                Err(e) => return Err(e),
            };
            self.pause(attempts, retry_after, deadline_ms).await?;
        }
    }
}

fn needs_token(call: &Call<'_>) -> bool {
    match call.bot.platform {
        Platform::Dingtalk => dingtalk::session_webhook(call).is_none(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::call::{classify_status, snippet};

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 100,
            max_delay_ms: 1000,
        };
        for _ in 0..100 {
            let d1 = p.delay_ms(1, None);
            assert!((50..=100).contains(&d1), "{d1}");
            let d3 = p.delay_ms(3, None);
            assert!((200..=400).contains(&d3), "{d3}");
            let d9 = p.delay_ms(9, None);
            assert!((500..=1000).contains(&d9), "{d9}");
            assert!(p.delay_ms(1, Some(3000)) >= 3000);
        }
    }

    #[test]
    fn status_classes() {
        let r = |status, body: &str| HttpResponse {
            status,
            body: body.into(),
            retry_after_secs: Some(2),
        };
        assert_eq!(
            classify_status(&r(429, "")),
            Some(SendError::Retryable {
                reason: "HTTP 429: ".into(),
                retry_after_ms: Some(2000)
            })
        );
        assert!(matches!(
            classify_status(&r(503, "x")),
            Some(SendError::Retryable { .. })
        ));
        assert_eq!(classify_status(&r(200, "")), None);
        assert!(matches!(json_body(&r(200, "<html>")), Err(SendError::Permanent(_))));
        assert_eq!(snippet("é".repeat(150).as_str()).len(), 200);
    }
}
