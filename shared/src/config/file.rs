//! The configuration file's typed tree: every section and field botgate reads, exactly as
//! written (references unresolved, nothing validated beyond its shape). Unknown keys are
//! refused. `botgate.schema.json` is generated from these types.

use std::collections::BTreeMap;

use botgate_core::{EventKind, Platform};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::leaf::{Flag, Located, Num, OneOrMany, Scalar, Text};
use crate::template::MessageSpec;

/// A botgate configuration: bots, and what to do with their events.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "botgate configuration")]
pub struct ConfigFile {
    /// Where events are remembered and queued.
    #[serde(default)]
    pub gateway: Option<Gateway>,
    /// How the dispatcher sends.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// Named notification targets: custom group bots by webhook, or a chat through a bot.
    #[serde(default)]
    pub targets: Option<BTreeMap<String, Target>>,
    /// The notify API (`POST /notify/{target}`, `POST /alertmanager/{target}`); off without it.
    #[serde(default)]
    pub notify_api: Option<NotifyApi>,
    /// Alert routes for Alertmanager and Grafana webhooks, and the people they mention.
    #[serde(default)]
    pub alerts: Option<Alerts>,
    /// Notifications sent on a schedule (or by the scheduler function's input).
    #[serde(default)]
    pub notifications: Option<BTreeMap<String, Notification>>,
    /// What the dispatcher does with each event: the first matching rule wins.
    #[serde(default)]
    pub rules: Option<Vec<Rule>>,
    /// `botgate serve`'s HTTP listener limits (the Lambda functions ignore them).
    #[serde(default)]
    pub serve: Option<Serve>,
    /// The long connections of `botgate connect` and `botgate serve` (bots with `mode:
    /// long_connection`; the Lambda functions ignore it).
    #[serde(default)]
    pub connector: Option<Connector>,
    /// The bots, by id: the callback URL is `https://<api>/<platform>/<bot id>`.
    #[schemars(required, extend("propertyNames" = {"pattern": "^[A-Za-z0-9_-]+$"}))]
    pub bots: Option<BTreeMap<String, Bot>>,
}

/// How a bot receives its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiveMode {
    /// The platform calls botgate's callback URL.
    #[default]
    Webhook,
    /// botgate opens a long connection (Feishu/Lark 长连接, DingTalk Stream mode).
    LongConnection,
}

/// `connector:` the long connections of `botgate connect` and `botgate serve`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// How often a WebSocket ping probes each connection, in ms (default 10000).
    pub ping_interval_ms: Option<Located<Num>>,
    /// A connection that has sent nothing for this long, pings unanswered, is dead (a
    /// zombie) and is replaced, in ms (default 20000; more than ping_interval_ms).
    pub silence_timeout_ms: Option<Located<Num>>,
    /// The longest pause between reconnect attempts, in ms (default 60000; the backoff
    /// doubles from 1 s up to it, with jitter).
    pub reconnect_max_ms: Option<Located<Num>>,
    /// On SIGTERM, how long events being queued may take to finish, in ms (default 10000).
    pub shutdown_grace_ms: Option<Located<Num>>,
    /// How many events of one connection are claimed and queued at once (default 8, 1 to
    /// 64). Events of one chat always go one after another, in the order they arrived.
    pub ingest_lanes: Option<Located<Num>>,
}

/// `serve:` the limits of `botgate serve`'s listener.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// A request's headers must arrive within this, in seconds (default 10).
    pub header_read_timeout_secs: Option<Located<Num>>,
    /// A whole request must be done within this, in seconds (default 30).
    pub request_timeout_secs: Option<Located<Num>>,
    /// An idle keep-alive connection is closed after this, in seconds (default 60).
    pub idle_timeout_secs: Option<Located<Num>>,
    /// Open connections at most (default 1024); more are closed at once.
    pub max_connections: Option<Located<Num>>,
    /// On shutdown, how long requests in flight may take to finish, in seconds (default 10).
    pub shutdown_grace_secs: Option<Located<Num>>,
}

/// Which dedup store to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// In process memory (local runs and tests).
    #[default]
    Memory,
    /// A DynamoDB table.
    Dynamodb,
}

/// Which queue to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    /// In process memory (local runs and tests).
    #[default]
    Memory,
    /// An SQS FIFO queue.
    Sqs,
}

/// `gateway:` storage and queue settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Where delivered event ids are remembered: memory (default; one process only) or dynamodb.
    pub store: Option<Located<StoreKind>>,
    /// Where accepted events go: memory (default) or sqs (a FIFO queue).
    pub queue: Option<Located<QueueKind>>,
    /// The DynamoDB table (store dynamodb): partition key `pk`, TTL attribute `expiration`.
    pub table: Option<Text>,
    /// The SQS FIFO queue URL (queue sqs).
    pub queue_url: Option<Text>,
    /// The events' dead-letter queue (queue sqs): a record that can never succeed (not an
    /// event, or its bot was removed) goes there at once instead of after every retry.
    pub dead_letter_queue_url: Option<Text>,
    /// How long an event id is remembered, in seconds (default 86400; Feishu retries for about 7 hours).
    pub dedup_retention_secs: Option<Located<Num>>,
    /// The largest queue message in bytes (default 262144); larger events are refused with 413.
    pub max_message_bytes: Option<Located<Num>>,
    /// How long conversation state lives after its last change, in seconds (default 3600).
    pub state_ttl_secs: Option<Located<Num>>,
    /// How far back the scheduler's minute tick catches up runs it missed, in seconds
    /// (default 900, 60 to 86400). Each due run is still sent once.
    pub schedule_lookback_secs: Option<Located<Num>>,
    /// How often a warm instance (and `botgate serve`) checks the configuration's source
    /// (`s3://...` or a file) for a change, in seconds (default 60, at least 1).
    pub config_refresh_secs: Option<Located<Num>>,
}

/// `delivery:` how the dispatcher sends.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Print each request instead of sending it (tokens stand in as DRY-RUN-TOKEN).
    pub dry_run: Option<Located<Flag>>,
    /// Timeout of one HTTP request, in milliseconds (default 5000).
    pub timeout_ms: Option<Located<Num>>,
    /// Retries of retryable failures (network errors, 5xx, 429, rate-limit codes).
    pub retry: Option<Retry>,
    /// The platforms' API base URLs (defaults: the platforms' own).
    pub base_urls: Option<BaseUrls>,
    /// The hosts a DingTalk chat bot's sessionWebhook may point at (default [oapi.dingtalk.com]);
    /// replies to any other go through the robot API.
    pub session_webhook_hosts: Option<Vec<String>>,
    /// A circuit breaker per API host: while a host keeps failing, sends to it are held
    /// back on the queue instead of retried (on by default).
    pub circuit_breaker: Option<CircuitBreaker>,
}

/// `delivery.circuit_breaker:` when a host's breaker opens, and for how long.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// On (default true).
    pub enabled: Option<Located<Flag>>,
    /// Open when at least this share of the window's calls failed, in percent (default 50).
    pub failure_percent: Option<Located<Num>>,
    /// ... and the window holds at least this many calls (default 20).
    pub min_calls: Option<Located<Num>>,
    /// The rolling window, in seconds (default 30).
    pub window_secs: Option<Located<Num>>,
    /// How long an open breaker holds sends back, in seconds (default 30).
    pub open_secs: Option<Located<Num>>,
    /// Calls let through to probe the host after that (default 2); the first success closes it.
    pub half_open_probes: Option<Located<Num>>,
}

/// `delivery.retry:` exponential backoff with jitter, within the invocation's deadline.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, the first included (1-20, default 4).
    pub max_attempts: Option<Located<Num>>,
    /// The first backoff in ms (default 200), doubled each time.
    pub base_delay_ms: Option<Located<Num>>,
    /// The largest backoff in ms (default 5000).
    pub max_delay_ms: Option<Located<Num>>,
}

/// `delivery.base_urls:` the platforms' API base URLs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseUrls {
    /// Default https://open.feishu.cn (a Lark bot sets `api_base` instead).
    pub feishu: Option<Text>,
    /// Default https://api.dingtalk.com.
    pub dingtalk: Option<Text>,
    /// Default https://api.weixin.qq.com.
    pub wechat: Option<Text>,
    /// Default https://qyapi.weixin.qq.com.
    pub wecom: Option<Text>,
}

/// The kind of a notification target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    /// A Feishu/Lark custom group bot (signed in the body when `secret` is set).
    FeishuWebhook,
    /// A DingTalk custom group robot (signed in the query when `secret` is set).
    DingtalkWebhook,
    /// A WeCom group bot (the key in the URL is the credential).
    WecomWebhook,
    /// A chat or user through one of the configured bots.
    App,
    /// An Amazon SNS topic (its e-mail, SMS and other subscribers).
    Sns,
    /// E-mail through Amazon SES.
    Email,
}

/// One notification target.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// feishu_webhook, dingtalk_webhook, wecom_webhook, app, sns or email.
    #[serde(rename = "type")]
    pub kind: Located<TargetType>,
    /// Webhooks: the webhook address.
    pub url: Option<Text>,
    /// Feishu and DingTalk webhooks: the signing secret, when the bot has signing on.
    pub secret: Option<Text>,
    /// app: the bot that sends.
    pub bot: Option<Text>,
    /// app: the chat or user id. email: the recipients' addresses, separated by commas.
    pub to: Option<Text>,
    /// sns: the topic's ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`).
    pub topic_arn: Option<Text>,
    /// email: the sender, an address (or `Name <address>`) SES has verified.
    pub from: Option<Text>,
    /// Limits, each at most `max` sends in any `per_secs` (default: the platform's published ones).
    pub rate_limit: Option<Vec<RateLimit>>,
    /// Fold the notifications queued behind this target's rate limit into one digest
    /// message instead of sending them one by one minutes late (default true).
    pub digest: Option<bool>,
    /// Fold only when the rate limit would hold the next notification longer than this,
    /// in seconds (default 30): shorter waits are waited out.
    pub digest_after_secs: Option<Located<Num>>,
    /// The message Alertmanager and Grafana webhooks become on this target, instead of the
    /// built-in card (a route's own `template` comes first): a minijinja template over the
    /// same values as a route's `template`.
    pub alert_template: Option<Located<MessageSpec>>,
}

/// `alerts:` routes for Alertmanager and Grafana webhooks.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// People routes may mention, by name: their id (or mobile number) on each platform.
    pub people: Option<BTreeMap<String, Person>>,
    /// Routers by name: `POST /alertmanager/{name}` and `POST /grafana/{name}` route each
    /// alert through its list (a router may not share a target's name).
    #[schemars(extend("propertyNames" = {"pattern": "^[A-Za-z0-9_-]+$"}))]
    pub routers: Option<BTreeMap<String, Vec<AlertRoute>>>,
    /// On-call rotas by name, for routes' `mention_oncall`.
    pub oncall: Option<BTreeMap<String, Rota>>,
}

/// An on-call rota: the first shift that holds says who is on call.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rota {
    /// The IANA time zone the shifts are read in (default Asia/Shanghai).
    pub timezone: Option<Text>,
    /// The shifts, in order.
    pub shifts: Vec<Shift>,
}

/// One shift: on `days` (default every day) from `from` to `to` (local `HH:MM`; default the
/// whole day; `to` before `from` runs past midnight).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Weekdays: mon, tue, wed, thu, fri, sat, sun.
    pub days: Option<Vec<Text>>,
    /// Local start, `HH:MM`, inclusive.
    pub from: Option<Text>,
    /// Local end, `HH:MM`, exclusive (`24:00` for midnight).
    pub to: Option<Text>,
    /// Who is on call (names in `alerts.people`).
    pub people: Vec<Text>,
}

/// Someone routes can mention: a user id or a mobile number (digits) per platform.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Feishu/Lark open_id or user_id.
    pub feishu: Option<Text>,
    /// DingTalk user id, or mobile number.
    pub dingtalk: Option<Text>,
    /// WeCom userid, or mobile number.
    pub wecom: Option<Text>,
}

/// One route: alerts whose labels match all `match` go to `targets`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRoute {
    /// Alertmanager matchers: `severity="critical"`, `team=~"db|storage"`, `env!="dev"` (none: every alert).
    #[serde(rename = "match")]
    pub matchers: Option<Vec<Text>>,
    /// The targets the alerts go to.
    pub targets: Vec<Text>,
    /// People to mention (names in `alerts.people`).
    pub mention: Option<Vec<Text>>,
    /// A label whose value names a person in `alerts.people` to mention (`owner`, `oncall`).
    pub mention_label: Option<Text>,
    /// A rota in `alerts.oncall`: mention whoever is on call when the alerts arrive.
    pub mention_oncall: Option<Text>,
    /// The message its targets get instead of the built-in card: a minijinja template (a
    /// string, or a map with `type` text / markdown / card, `title`, `text`, `buttons`,
    /// `color`) over `status`, `alerts` (each with `status`, `labels`, `annotations`,
    /// `starts_at`, `ends_at` in the notify API's `utc_offset`, `generator_url`), `firing`,
    /// `resolved`, `group_labels`, `common_labels`, `common_annotations`, `external_url`,
    /// `silence_url`.
    pub template: Option<Located<MessageSpec>>,
    /// Go on to the next routes after this one matched (default false: the first match takes the alert).
    #[serde(rename = "continue")]
    pub cont: Option<Located<Flag>>,
}

/// At most `max` sends in any `per_secs` seconds.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The window, in seconds.
    pub per_secs: Located<Num>,
    /// Sends allowed in it.
    pub max: Located<Num>,
}

/// `notify_api:` the notify API's settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyApi {
    /// `Authorization: Bearer <bearer_token>` is accepted when set.
    pub bearer_token: Option<Text>,
    /// Signed requests (X-Botgate-Timestamp, X-Botgate-Signature) are accepted when set.
    pub hmac_secret: Option<Text>,
    /// Accepted clock skew of signed requests, in seconds (default 300).
    pub timestamp_window_secs: Option<Located<Num>>,
    /// The UTC offset alert times are shown at (default +08:00).
    pub utc_offset: Option<Text>,
    /// Alert severities that mention everyone (default [critical]).
    pub mention_all: Option<Vec<String>>,
    /// Callers may send minijinja templates with data (default false: a message's title and
    /// text are sent as written). Turn on only for callers you trust with template code.
    pub allow_templates: Option<Located<Flag>>,
    /// The largest request body, in bytes (default 1048576).
    pub max_body_bytes: Option<Located<Num>>,
    /// An Alertmanager webhook with the same body within this many seconds is a retry and
    /// sent once; later it is a `repeat_interval` reminder and sent again (default 600; set
    /// it above Alertmanager's `group_interval` and below its `repeat_interval`).
    pub alertmanager_retry_window_secs: Option<Located<Num>>,
}

/// One scheduled notification.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// EventBridge Scheduler's expression: cron(min hour dom month dow year), rate(5 minutes) or at(2026-12-01T09:00:00).
    pub schedule: Option<Text>,
    /// The IANA time zone the schedule is read in (default Asia/Shanghai).
    pub timezone: Option<Text>,
    /// The targets it goes to.
    pub targets: Located<OneOrMany<String>>,
    /// Template data (the input's `data` is merged over it).
    pub data: Option<Value>,
    /// The message; texts are minijinja templates over `data`, `notification` and `scheduled_time`.
    pub message: Located<MessageSpec>,
}

/// A kind of event a rule can match: one of [`EventKind::ALL`]'s names, strictly (a
/// misspelt kind is refused, where an event's unknown kind would be `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindName(pub EventKind);

impl<'de> Deserialize<'de> for KindName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        EventKind::ALL
            .iter()
            .find(|k| k.as_str() == name)
            .map(|k| Self(*k))
            .ok_or_else(|| {
                let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                serde::de::Error::custom(format!("unknown kind `{name}`, expected one of {}", names.join(", ")))
            })
    }
}

impl Serialize for KindName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl JsonSchema for KindName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KindName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        schemars::json_schema!({
            "description": "The normalized kind of an event (the README's events table).",
            "type": "string",
            "enum": names
        })
    }
}

/// One rule: `when` (every field given must match) and what to do.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Its name (in logs and effect keys; default `rule-<index>`).
    pub name: Option<String>,
    /// The conditions; an empty map matches every event.
    pub when: Option<Located<When>>,
    /// Answer the event where it came from.
    pub reply: Option<Located<MessageSpec>>,
    /// Send a message through a bot to a chat or user.
    pub notify: Option<Located<NotifyAction>>,
    /// POST the event, signed, to your HTTPS endpoint.
    pub forward: Option<Located<ForwardAction>>,
    /// Card actions: answer in the callback's response (a toast, a new card, new button
    /// labels), within the platform's deadline.
    pub answer: Option<Located<AnswerAction>>,
    /// Card actions: replace the card through the platform's API (after the answer).
    pub update_card: Option<Located<MessageSpec>>,
    /// Acknowledge and do nothing.
    pub ignore: Option<bool>,
    /// Several actions, in order.
    pub actions: Option<Vec<Located<ActionItem>>>,
    /// Set the conversation state (values are templates).
    pub set_state: Option<Located<BTreeMap<String, Scalar>>>,
    /// Delete the conversation state.
    pub clear_state: Option<bool>,
    /// Let the next matching rules run too.
    #[serde(rename = "continue")]
    pub keep_going: Option<bool>,
}

/// `when:` the conditions of a rule. Each field takes one value or a list.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The platform.
    pub platform: Option<OneOrMany<Platform>>,
    /// The bot id.
    pub bot: Option<OneOrMany<Scalar>>,
    /// The platform's name for the event (`im.message.receive_v1`, `subscribe`, `robot_message`, ...).
    pub event_type: Option<OneOrMany<Scalar>>,
    /// The normalized kind.
    pub kind: Option<OneOrMany<KindName>>,
    /// p2p or group.
    pub chat_type: Option<OneOrMany<Scalar>>,
    /// The sender's id.
    pub sender: Option<OneOrMany<Scalar>>,
    /// The menu or event key.
    pub key: Option<OneOrMany<Scalar>>,
    /// The text, exactly (trimmed).
    pub text: Option<Text>,
    /// A command word such as /help, and its arguments.
    pub command: Option<Text>,
    /// A regular expression; named groups become `captures`.
    pub regex: Option<Text>,
    /// Every key given equals the stored conversation state's.
    pub state: Option<Map<String, Value>>,
    /// A card action: its `name` (the button's or select's `action`), the `option` chosen,
    /// and `value` fields it sent back.
    pub action: Option<ActionWhen>,
}

/// `when.action:` what a card action sent back.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionWhen {
    /// The action's name.
    pub name: Option<OneOrMany<Scalar>>,
    /// The option chosen in a select.
    pub option: Option<OneOrMany<Scalar>>,
    /// Fields of the value it sent back, each equal to this.
    pub value: Option<Map<String, Value>>,
}

/// `answer:` the answer to a card action, in the callback's response.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerAction {
    /// Feishu: a toast for the person who pressed: a text (a template), or `{type: info |
    /// success | warning | error, text}`.
    pub toast: Option<ToastSpec>,
    /// Feishu: the card that replaces the pressed one, for everyone (a message; action
    /// buttons on it work as on any card). WeCom: a card without buttons relabels the
    /// pressed buttons with its title.
    pub card: Option<MessageSpec>,
    /// WeCom: the pressed buttons' new label (a template); they can no longer be pressed.
    pub button: Option<String>,
}

/// A toast: a text, or its look and text.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ToastSpec {
    /// The text (an info toast).
    Text(String),
    /// The look and the text.
    Styled {
        /// info (default), success, warning or error.
        #[serde(default, rename = "type")]
        kind: botgate_core::answer::ToastKind,
        /// The text (a template).
        text: String,
    },
}

/// `notify:` a message through a bot to a chat or user.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyAction {
    /// The bot that sends.
    pub bot: Text,
    /// The chat or user id (a template).
    pub to: Text,
    /// text (default), markdown or card.
    #[serde(default, rename = "type")]
    pub kind: crate::template::MessageKind,
    /// The title (a template).
    pub title: Option<String>,
    /// The text (a template).
    pub text: String,
    /// Link buttons (cards).
    #[serde(default)]
    pub buttons: Vec<botgate_core::message::Button>,
    /// The header colour (cards).
    pub color: Option<String>,
    /// Who to mention.
    #[serde(default)]
    pub mentions: botgate_core::message::Mentions,
}

/// `forward:` the event as signed JSON to an HTTPS endpoint.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardAction {
    /// The endpoint (https://; http:// only to this machine).
    pub url: Text,
    /// The HMAC key the receiver checks the signature with.
    pub secret: Text,
    /// DingTalk: include the chat bot's sessionWebhook (a URL that can post to the
    /// conversation until it expires) for a receiver that replies itself. Off by default:
    /// credentials never leave botgate unless asked for.
    #[serde(default)]
    pub include_session_webhook: bool,
}

/// One item of `actions:`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionItem {
    /// Answer the event.
    Reply(MessageSpec),
    /// Send through a bot.
    Notify(NotifyAction),
    /// Forward the event.
    Forward(ForwardAction),
    /// Answer a card action in the callback's response.
    Answer(AnswerAction),
    /// Replace the event's card.
    UpdateCard(MessageSpec),
    /// Do nothing.
    Ignore(bool),
}

/// One bot: its platform, credentials (under the platform console's names) and options.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bot {
    /// feishu (or lark), dingtalk, wechat or wecom.
    pub platform: Located<Platform>,
    /// How events arrive: webhook (default: the platform calls the callback URL) or
    /// long_connection (Feishu/Lark and DingTalk: botgate opens the connection, so no public
    /// URL is needed; run `botgate connect` or `botgate serve`).
    pub mode: Option<Located<ReceiveMode>>,
    /// Feishu: App ID; WeChat: AppID (the receive id in safe mode).
    pub app_id: Option<Text>,
    /// Feishu, WeChat, DingTalk: App Secret (gets access tokens; signs DingTalk chat bot requests).
    pub app_secret: Option<Text>,
    /// Feishu: Encrypt Key (turns on encryption and request signatures).
    pub encrypt_key: Option<Text>,
    /// Feishu: Verification Token.
    pub verification_token: Option<Text>,
    /// WeChat, WeCom, DingTalk event subscription: Token.
    pub token: Option<Text>,
    /// WeChat, WeCom: EncodingAESKey (43 characters; WeChat: safe mode).
    pub encoding_aes_key: Option<Text>,
    /// WeChat with an encoding_aes_key: still accept plaintext messages (compatible mode,
    /// while migrating; weaker, a plaintext message's signature does not cover its body).
    pub allow_plain: Option<Located<Flag>>,
    /// WeCom: CorpID.
    pub corp_id: Option<Text>,
    /// WeCom: the application's Secret.
    #[serde(alias = "secret")]
    pub corp_secret: Option<Text>,
    /// WeCom: the application's AgentId.
    pub agent_id: Option<Located<Num>>,
    /// DingTalk event subscription: aes_key (43 characters).
    pub aes_key: Option<Text>,
    /// DingTalk: AppKey (the receive id of an internal app's events).
    pub app_key: Option<Text>,
    /// DingTalk: the receive id when it is not the app key (a suite key or corp id).
    pub receive_id: Option<Text>,
    /// DingTalk: the robot code for the robot API (default: app_key).
    pub robot_code: Option<Text>,
    /// The API base URL for this bot's sends (Lark: https://open.larksuite.com).
    pub api_base: Option<Text>,
    /// Accepted clock skew of signed timestamps, in seconds (default 300; at most 3600).
    pub timestamp_window_secs: Option<Located<Num>>,
    /// The largest body accepted, in bytes (default 262144).
    pub max_body_bytes: Option<Located<Num>>,
    /// Feishu: the synchronous answer to card.action.trigger (default {}).
    pub card_answer: Option<Located<Map<String, Value>>>,
    /// Tell someone when this bot's replies cannot be delivered for a while (its API host's
    /// circuit breaker stays open): one notification per outage.
    pub fallback: Option<Fallback>,
    /// WeChat, WeCom: how rule replies are sent. passive (WeChat's default): the first reply
    /// is the callback's answer, free and open to every account type; api (WeCom's
    /// default): the customer-service or application message API; auto: passive first,
    /// further replies through the API.
    pub reply_via: Option<Located<ReplyVia>>,
}

/// `reply_via:` how a WeChat or WeCom bot's rule replies are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyVia {
    /// Through the API (the dispatcher).
    Api,
    /// In the callback's answer (a passive reply), one per message.
    Passive,
    /// Passive first, further replies through the API.
    Auto,
}

/// A bot's `fallback:` whom to tell that its replies are not getting through.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// A target of `targets:` (best on another platform, or SNS).
    pub notify: Text,
    /// After the breaker has been open this long, in seconds (default 300).
    pub after_secs: Option<Located<Num>>,
}
