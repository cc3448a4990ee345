//! WeCom server API client for a self-built app: cached `gettoken`, `message/send`, `update_template_card` and AI bot `response_url` posts.
//!
//! The access token is cached until `expires_in` minus a margin, refreshed by one caller at a time
//! (single flight), and refreshed once more when WeCom answers 40014 / 42001. Errors are decided by
//! `errcode`, never by `errmsg` (§1.9). URLs carrying the token are never put into error messages.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::wecom_aibot::AibotActiveReply;
use super::wecom_render::{TemplateCard, WecomOutbound};

/// WeCom's API host.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";
/// How many times a `-1 系统繁忙` answer is retried.
pub const SYSTEM_BUSY_RETRIES: u32 = 2;

/// `errcode` values we treat specially; the rest are kept as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WecomErrcode {
    /// -1: 系统繁忙, retry shortly.
    SystemBusy,
    /// 40001: bad corpsecret.
    InvalidSecret,
    /// 40013: bad CorpID.
    InvalidCorpId,
    /// 40014: invalid access_token (refresh once).
    InvalidAccessToken,
    /// 42001: access_token expired (refresh once).
    AccessTokenExpired,
    /// 45009 / 45033: frequency or concurrency limit.
    RateLimited(i64),
    /// 60020: our egress IP is not in the app's 企业可信IP list.
    IpNotAllowed,
    /// 81013: no valid recipient.
    NoValidRecipient,
    /// Anything else.
    Other(i64),
}

impl WecomErrcode {
    /// Classifies a non-zero errcode.
    pub fn from_code(code: i64) -> WecomErrcode {
        match code {
            -1 => WecomErrcode::SystemBusy,
            40001 | 40091 => WecomErrcode::InvalidSecret,
            40013 => WecomErrcode::InvalidCorpId,
            40014 => WecomErrcode::InvalidAccessToken,
            42001 => WecomErrcode::AccessTokenExpired,
            45009 | 45033 => WecomErrcode::RateLimited(code),
            60020 => WecomErrcode::IpNotAllowed,
            81013 => WecomErrcode::NoValidRecipient,
            other => WecomErrcode::Other(other),
        }
    }

    /// The numeric errcode.
    pub fn code(self) -> i64 {
        match self {
            WecomErrcode::SystemBusy => -1,
            WecomErrcode::InvalidSecret => 40001,
            WecomErrcode::InvalidCorpId => 40013,
            WecomErrcode::InvalidAccessToken => 40014,
            WecomErrcode::AccessTokenExpired => 42001,
            WecomErrcode::RateLimited(code) | WecomErrcode::Other(code) => code,
            WecomErrcode::IpNotAllowed => 60020,
            WecomErrcode::NoValidRecipient => 81013,
        }
    }

    fn needs_new_token(self) -> bool {
        matches!(self, WecomErrcode::InvalidAccessToken | WecomErrcode::AccessTokenExpired)
    }
}

/// Why a WeCom API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WecomApiError {
    /// WeCom answered with a non-zero errcode.
    #[error("WeCom errcode {}: {message}", .code.code())]
    Api { code: WecomErrcode, message: String },
    /// No answer within the configured timeout.
    #[error("WeCom API timed out")]
    Timeout,
    /// Connection or protocol failure (without the URL, which may hold the token).
    #[error("WeCom API transport error: {0}")]
    Transport(String),
    /// A non-2xx HTTP status.
    #[error("WeCom API HTTP status {0}")]
    Status(u16),
    /// The body was not the expected JSON.
    #[error("unreadable WeCom API response: {0}")]
    Decode(String),
    /// The configured base URL cannot be used.
    #[error("invalid WeCom API base URL: {0}")]
    InvalidBaseUrl(String),
}

impl From<reqwest::Error> for WecomApiError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            WecomApiError::Timeout
        } else if error.is_decode() {
            WecomApiError::Decode(error.without_url().to_string())
        } else {
            WecomApiError::Transport(error.without_url().to_string())
        }
    }
}

/// One self-built app's API settings.
#[derive(Clone)]
pub struct WecomApiConfig {
    /// Default [`DEFAULT_BASE_URL`]; tests point it at a local fake.
    pub base_url: String,
    pub corp_id: String,
    /// The app's Secret (never logged).
    pub corp_secret: String,
    pub agent_id: i64,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// A cached token is renewed this long before WeCom says it expires.
    pub token_refresh_margin: Duration,
    /// Pause before retrying a `-1 系统繁忙`.
    pub busy_retry_delay: Duration,
}

impl std::fmt::Debug for WecomApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WecomApiConfig")
            .field("base_url", &self.base_url)
            .field("corp_id", &self.corp_id)
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

impl WecomApiConfig {
    /// Settings with WeCom's host, a 10 s timeout and a 5 minute refresh margin.
    pub fn new(corp_id: &str, corp_secret: &str, agent_id: i64) -> WecomApiConfig {
        WecomApiConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            corp_id: corp_id.to_owned(),
            corp_secret: corp_secret.to_owned(),
            agent_id,
            request_timeout: Duration::from_secs(10),
            token_refresh_margin: Duration::from_secs(300),
            busy_retry_delay: Duration::from_millis(500),
        }
    }
}

/// Who receives an active message; empty lists are omitted, `"@all"` in users means everyone in the app's scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    pub users: Vec<String>,
    pub parties: Vec<String>,
    pub tags: Vec<String>,
}

impl Recipients {
    /// One member by UserID.
    pub fn user(user_id: &str) -> Recipients {
        Recipients { users: vec![user_id.to_owned()], ..Recipients::default() }
    }
}

/// What `message/send` reports back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReceipt {
    pub msgid: Option<String>,
    /// Present for interactive template cards; single use, for `update_template_card`.
    pub response_code: Option<String>,
    /// Recipients WeCom dropped (user ids come back lower-cased).
    pub invalid_users: Vec<String>,
    pub invalid_parties: Vec<String>,
    pub invalid_tags: Vec<String>,
    pub unlicensed_users: Vec<String>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    value: String,
    renew_at: Instant,
}

/// The client; share one per app (it owns the token cache).
#[derive(Debug)]
pub struct WecomApiClient {
    http: reqwest::Client,
    config: WecomApiConfig,
    base_url: url::Url,
    token: Mutex<Option<CachedToken>>,
}

fn split_ids(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_str)
        .map(|s| s.split('|').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn string_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Fails with the body's errcode when it is not 0; a missing errcode counts as 0.
fn check_errcode(body: &Value) -> Result<(), WecomApiError> {
    let code = body.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    if code == 0 {
        Ok(())
    } else {
        Err(WecomApiError::Api {
            code: WecomErrcode::from_code(code),
            message: body.get("errmsg").and_then(Value::as_str).unwrap_or_default().to_owned(),
        })
    }
}

#[derive(Serialize)]
struct SendEnvelope<'a> {
    #[serde(skip_serializing_if = "String::is_empty")]
    touser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    toparty: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    totag: String,
    agentid: i64,
    #[serde(flatten)]
    message: &'a WecomOutbound,
}

#[derive(Serialize)]
struct UpdateTemplateCardEnvelope<'a> {
    userids: &'a [String],
    agentid: i64,
    response_code: &'a str,
    template_card: &'a TemplateCard,
}

impl WecomApiClient {
    /// A client for one app.
    pub fn new(config: WecomApiConfig) -> Result<WecomApiClient, WecomApiError> {
        let base_url = url::Url::parse(&config.base_url)
            .map_err(|e| WecomApiError::InvalidBaseUrl(format!("{}: {e}", config.base_url)))?;
        if base_url.cannot_be_a_base() {
            return Err(WecomApiError::InvalidBaseUrl(config.base_url.clone()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| WecomApiError::Transport(e.to_string()))?;
        Ok(WecomApiClient { http, config, base_url, token: Mutex::new(None) })
    }

    /// The app's settings.
    pub fn config(&self) -> &WecomApiConfig {
        &self.config
    }

    fn endpoint(&self, path: &str) -> Result<url::Url, WecomApiError> {
        let mut joined = self.base_url.clone();
        let base_path = joined.path().trim_end_matches('/').to_owned();
        joined.set_path(&format!("{base_path}/{}", path.trim_start_matches('/')));
        Ok(joined)
    }

    async fn read_json(response: reqwest::Response) -> Result<Value, WecomApiError> {
        let status = response.status();
        if !status.is_success() {
            return Err(WecomApiError::Status(status.as_u16()));
        }
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| WecomApiError::Decode(e.to_string()))
    }

    /// A valid access token: the cached one, or a fresh one from `gettoken` (one fetch at a time).
    pub async fn access_token(&self) -> Result<String, WecomApiError> {
        // Holding the lock across the fetch makes concurrent callers wait for one refresh instead of each calling gettoken.
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.renew_at {
                return Ok(token.value.clone());
            }
        }
        let mut url = self.endpoint("cgi-bin/gettoken")?;
        url.query_pairs_mut()
            .append_pair("corpid", &self.config.corp_id)
            .append_pair("corpsecret", &self.config.corp_secret);
        let body = Self::read_json(self.http.get(url).send().await?).await?;
        check_errcode(&body)?;
        let value = string_field(&body, "access_token")
            .ok_or_else(|| WecomApiError::Decode("gettoken answered without access_token".into()))?;
        let lifetime = Duration::from_secs(body.get("expires_in").and_then(Value::as_u64).unwrap_or(7200));
        let renew_at = Instant::now() + lifetime.saturating_sub(self.config.token_refresh_margin);
        *cached = Some(CachedToken { value: value.clone(), renew_at });
        Ok(value)
    }

    /// Forgets `stale` if it is still the cached token (another caller may already have refreshed it).
    async fn invalidate_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|token| token.value == stale) {
            *cached = None;
        }
    }

    /// POSTs JSON to `path?access_token=…`, refreshing the token once on 40014/42001 and retrying `-1` a little.
    pub async fn post_with_token<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<Value, WecomApiError> {
        let mut refreshed = false;
        let mut busy_retries = 0;
        loop {
            let token = self.access_token().await?;
            let mut url = self.endpoint(path)?;
            url.query_pairs_mut().append_pair("access_token", &token);
            let answer = Self::read_json(self.http.post(url).json(body).send().await?).await?;
            match check_errcode(&answer) {
                Ok(()) => return Ok(answer),
                Err(WecomApiError::Api { code, .. }) if code.needs_new_token() && !refreshed => {
                    refreshed = true;
                    self.invalidate_token(&token).await;
                }
                Err(WecomApiError::Api { code: WecomErrcode::SystemBusy, .. })
                    if busy_retries < SYSTEM_BUSY_RETRIES =>
                {
                    busy_retries += 1;
                    tokio::time::sleep(self.config.busy_retry_delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends one active message (`message/send`).
    pub async fn send(&self, recipients: &Recipients, message: &WecomOutbound) -> Result<SendReceipt, WecomApiError> {
        let envelope = SendEnvelope {
            touser: recipients.users.join("|"),
            toparty: recipients.parties.join("|"),
            totag: recipients.tags.join("|"),
            agentid: self.config.agent_id,
            message,
        };
        let answer = self.post_with_token("cgi-bin/message/send", &envelope).await?;
        Ok(SendReceipt {
            msgid: string_field(&answer, "msgid"),
            response_code: string_field(&answer, "response_code"),
            invalid_users: split_ids(answer.get("invaliduser")),
            invalid_parties: split_ids(answer.get("invalidparty")),
            invalid_tags: split_ids(answer.get("invalidtag")),
            unlicensed_users: split_ids(answer.get("unlicenseduser")),
        })
    }

    /// Sends several messages in order, stopping at the first failure.
    pub async fn send_all(
        &self,
        recipients: &Recipients,
        messages: &[WecomOutbound],
    ) -> Result<Vec<SendReceipt>, WecomApiError> {
        let mut receipts = Vec::with_capacity(messages.len());
        for message in messages {
            receipts.push(self.send(recipients, message).await?);
        }
        Ok(receipts)
    }

    /// Replaces a sent interactive card for `user_ids` (`message/update_template_card`, single-use `response_code`).
    pub async fn update_template_card(
        &self,
        user_ids: &[String],
        response_code: &str,
        template_card: &TemplateCard,
    ) -> Result<(), WecomApiError> {
        let envelope = UpdateTemplateCardEnvelope {
            userids: user_ids,
            agentid: self.config.agent_id,
            response_code,
            template_card,
        };
        self.post_with_token("cgi-bin/message/update_template_card", &envelope).await.map(|_| ())
    }

    /// Posts an AI bot active reply to its one-shot `response_url` (plain JSON, no token).
    pub async fn post_aibot_response(&self, response_url: &str, reply: &AibotActiveReply) -> Result<(), WecomApiError> {
        let url = url::Url::parse(response_url).map_err(|e| WecomApiError::InvalidBaseUrl(e.to_string()))?;
        let answer = Self::read_json(self.http.post(url).json(reply).send().await?).await?;
        check_errcode(&answer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use crate::channels::wecom_aibot::AibotMarkdown;
    use axum::extract::{Query, State};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A fake WeCom API: hands out tokens `tok-1`, `tok-2`, …; tokens in `revoked` get `revoked_code`.
    #[derive(Default)]
    struct FakeWecom {
        gettoken_calls: AtomicUsize,
        send_calls: AtomicUsize,
        revoked: std::sync::Mutex<Vec<String>>,
        revoked_code: std::sync::Mutex<i64>,
        revoke_every_token: std::sync::atomic::AtomicBool,
        send_errcodes: std::sync::Mutex<Vec<i64>>,
        sent: std::sync::Mutex<Vec<Value>>,
        expires_in: std::sync::Mutex<u64>,
        send_delay_ms: std::sync::atomic::AtomicU64,
    }

    async fn fake_gettoken(
        State(fake): State<Arc<FakeWecom>>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Json<Value> {
        if query.get("corpsecret").map(String::as_str) != Some("secret") {
            return Json(serde_json::json!({"errcode": 40001, "errmsg": "invalid credential"}));
        }
        let n = fake.gettoken_calls.fetch_add(1, Ordering::SeqCst) + 1;
        // Give concurrent callers a chance to pile up on the cache lock.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let expires_in = *fake.expires_in.lock().unwrap();
        Json(
            serde_json::json!({"errcode": 0, "errmsg": "ok", "access_token": format!("tok-{n}"), "expires_in": expires_in}),
        )
    }

    async fn fake_send(
        State(fake): State<Arc<FakeWecom>>,
        Query(query): Query<HashMap<String, String>>,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        fake.send_calls.fetch_add(1, Ordering::SeqCst);
        let delay = fake.send_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let token = query.get("access_token").cloned().unwrap_or_default();
        let revoked = fake.revoke_every_token.load(Ordering::SeqCst) || fake.revoked.lock().unwrap().contains(&token);
        if revoked {
            let code = *fake.revoked_code.lock().unwrap();
            return Json(serde_json::json!({"errcode": code, "errmsg": "access_token invalid, hint: [x]"}));
        }
        if let Some(code) = fake.send_errcodes.lock().unwrap().pop() {
            return Json(serde_json::json!({"errcode": code, "errmsg": "scripted"}));
        }
        fake.sent.lock().unwrap().push(body);
        Json(
            serde_json::json!({"errcode": 0, "errmsg": "ok", "invaliduser": "nobody|ghost", "invalidparty": "", "msgid": "MSG1", "response_code": "RC1"}),
        )
    }

    async fn fake_aibot_response(State(fake): State<Arc<FakeWecom>>, Json(body): Json<Value>) -> Json<Value> {
        fake.sent.lock().unwrap().push(body);
        Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
    }

    async fn start_fake() -> (Arc<FakeWecom>, String) {
        let fake = Arc::new(FakeWecom::default());
        *fake.expires_in.lock().unwrap() = 7200;
        *fake.revoked_code.lock().unwrap() = 42001;
        let app = Router::new()
            .route("/cgi-bin/gettoken", get(fake_gettoken))
            .route("/cgi-bin/message/send", post(fake_send))
            .route("/cgi-bin/message/update_template_card", post(fake_send))
            .route("/cgi-bin/aibot/response", post(fake_aibot_response))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (fake, format!("http://{address}"))
    }

    fn client(base_url: &str) -> WecomApiClient {
        let mut config = WecomApiConfig::new("wwcorp", "secret", 1000002);
        config.base_url = base_url.to_owned();
        config.request_timeout = Duration::from_secs(5);
        config.busy_retry_delay = Duration::from_millis(1);
        WecomApiClient::new(config).unwrap()
    }

    #[tokio::test]
    async fn the_token_is_cached_across_sends() {
        let (fake, base) = start_fake().await;
        let client = client(&base);
        let receipt = client.send(&Recipients::user("20210001"), &WecomOutbound::text("您好")).await.unwrap();
        client.send(&Recipients::user("20210001"), &WecomOutbound::text("再见")).await.unwrap();
        assert_eq!(fake.gettoken_calls.load(Ordering::SeqCst), 1);
        assert_eq!(receipt.msgid.as_deref(), Some("MSG1"));
        assert_eq!(receipt.response_code.as_deref(), Some("RC1"));
        assert_eq!(receipt.invalid_users, ["nobody", "ghost"]);
        assert!(receipt.invalid_parties.is_empty());
        let sent = fake.sent.lock().unwrap().clone();
        assert_eq!(
            sent[0],
            serde_json::json!({"touser": "20210001", "agentid": 1000002, "msgtype": "text", "text": {"content": "您好"}})
        );
    }

    #[tokio::test]
    async fn a_token_inside_the_margin_is_renewed() {
        let (fake, base) = start_fake().await;
        *fake.expires_in.lock().unwrap() = 200; // below the 300 s margin: never reusable
        let client = client(&base);
        client.access_token().await.unwrap();
        let second = client.access_token().await.unwrap();
        assert_eq!(second, "tok-2");
        assert_eq!(fake.gettoken_calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let (fake, base) = start_fake().await;
        let client = Arc::new(client(&base));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.access_token().await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), "tok-1");
        }
        assert_eq!(fake.gettoken_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_expired_token_is_refreshed_once_and_the_send_retried() {
        let (fake, base) = start_fake().await;
        let client = client(&base);
        assert_eq!(client.access_token().await.unwrap(), "tok-1");
        fake.revoked.lock().unwrap().push("tok-1".into());
        client.send(&Recipients::user("u"), &WecomOutbound::text("x")).await.unwrap();
        assert_eq!(fake.gettoken_calls.load(Ordering::SeqCst), 2);
        assert_eq!(fake.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_token_rejected_twice_is_an_error_not_a_loop() {
        let (fake, base) = start_fake().await;
        *fake.revoked_code.lock().unwrap() = 40014;
        fake.revoke_every_token.store(true, Ordering::SeqCst);
        let client = client(&base);
        let error = client.send(&Recipients::user("u"), &WecomOutbound::text("x")).await.unwrap_err();
        assert_eq!(
            error,
            WecomApiError::Api {
                code: WecomErrcode::InvalidAccessToken,
                message: "access_token invalid, hint: [x]".into()
            }
        );
        assert_eq!(fake.gettoken_calls.load(Ordering::SeqCst), 2);
        assert_eq!(fake.send_calls.load(Ordering::SeqCst), 2);
        assert!(!error.to_string().contains("tok-"));
    }

    #[tokio::test]
    async fn errcodes_are_typed_and_busy_is_retried() {
        let (fake, base) = start_fake().await;
        let client = client(&base);
        fake.send_errcodes.lock().unwrap().push(81013);
        let error = client.send(&Recipients::user("ghost"), &WecomOutbound::text("x")).await.unwrap_err();
        assert!(matches!(error, WecomApiError::Api { code: WecomErrcode::NoValidRecipient, .. }));
        fake.send_errcodes.lock().unwrap().extend([-1, -1]);
        client.send(&Recipients::user("u"), &WecomOutbound::text("x")).await.unwrap();
        fake.send_errcodes.lock().unwrap().extend([-1, -1, -1]);
        let error = client.send(&Recipients::user("u"), &WecomOutbound::text("x")).await.unwrap_err();
        assert!(matches!(error, WecomApiError::Api { code: WecomErrcode::SystemBusy, .. }));
        assert_eq!(WecomErrcode::from_code(60020), WecomErrcode::IpNotAllowed);
        assert_eq!(WecomErrcode::from_code(12345).code(), 12345);
    }

    #[tokio::test]
    async fn a_bad_secret_fails_gettoken_with_40001() {
        let (_fake, base) = start_fake().await;
        let mut config = WecomApiConfig::new("wwcorp", "wrong", 1);
        config.base_url = base;
        let error = WecomApiClient::new(config).unwrap().access_token().await.unwrap_err();
        assert!(matches!(error, WecomApiError::Api { code: WecomErrcode::InvalidSecret, .. }));
    }

    #[tokio::test]
    async fn slow_answers_time_out() {
        let (fake, base) = start_fake().await;
        fake.send_delay_ms.store(2000, Ordering::SeqCst);
        let mut config = WecomApiConfig::new("wwcorp", "secret", 1);
        config.base_url = base;
        config.request_timeout = Duration::from_millis(300);
        let error = WecomApiClient::new(config).unwrap().send(&Recipients::user("u"), &WecomOutbound::text("x")).await;
        assert_eq!(error, Err(WecomApiError::Timeout));
    }

    #[tokio::test]
    async fn unreachable_hosts_and_bad_urls_are_typed() {
        let mut config = WecomApiConfig::new("wwcorp", "secret", 1);
        config.base_url = "not a url".into();
        assert!(matches!(WecomApiClient::new(config), Err(WecomApiError::InvalidBaseUrl(_))));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        assert!(matches!(client(&closed).access_token().await, Err(WecomApiError::Transport(_))));
    }

    #[tokio::test]
    async fn template_card_updates_and_aibot_responses_post_json() {
        let (fake, base) = start_fake().await;
        let client = client(&base);
        let WecomOutbound::TemplateCard { template_card } = crate::channels::wecom_render::render_template_card(
            &bot::protocol::Card::new(bot::protocol::CardKind::News, "n", "通知"),
            &crate::channels::wecom_render::RenderOptions::default(),
            "t1",
        ) else {
            panic!("expected a template card")
        };
        client.update_template_card(&["u1".to_owned()], "RC1", &template_card).await.unwrap();
        let reply = AibotActiveReply::Markdown { markdown: AibotMarkdown { content: "办结".into(), feedback: None } };
        client.post_aibot_response(&format!("{base}/cgi-bin/aibot/response?response_code=X"), &reply).await.unwrap();
        let sent = fake.sent.lock().unwrap().clone();
        assert_eq!(sent[0]["response_code"], "RC1");
        assert_eq!(sent[0]["agentid"], 1000002);
        assert_eq!(sent[1], serde_json::json!({"msgtype": "markdown", "markdown": {"content": "办结"}}));
    }
}
