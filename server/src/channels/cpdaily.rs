//! 今日校园 (cpdaily) channel contract of our own design (spec §2.5): HMAC-SHA256 signed requests, replay and idempotency guards, payloads and a retrying push client.
//!
//! Every request in either direction carries `X-App-Id`, `X-Timestamp` (seconds), `X-Nonce` (16–64 hex chars)
//! and `X-Signature = hex(HMAC-SHA256(secret, METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n" sha256_hex(body)))`,
//! where PATH is the request target's path plus `?query` when there is one, exactly as sent.
//! Receivers reject timestamps more than 300 s away and nonces seen in the last 10 minutes;
//! pushes carry an `Idempotency-Key` that stays the same across retries.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use bot::protocol::Reply;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::wecom_render::card_link;

/// Header naming the calling application.
pub const HEADER_APP_ID: &str = "X-App-Id";
/// Header with the signing time in seconds since the epoch.
pub const HEADER_TIMESTAMP: &str = "X-Timestamp";
/// Header with a single-use random hex string.
pub const HEADER_NONCE: &str = "X-Nonce";
/// Header with the lowercase hex HMAC-SHA256 signature.
pub const HEADER_SIGNATURE: &str = "X-Signature";
/// Header with the key under which the receiver deduplicates a push (24 h).
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Largest accepted clock difference, in seconds.
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
/// How long a nonce is remembered; covers the whole ±300 s window.
pub const NONCE_TTL_SECS: u64 = 600;
/// How long an idempotency key or event id is remembered.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;
/// Shortest accepted nonce, in hex characters.
pub const MIN_NONCE_LEN: usize = 16;
/// Longest accepted nonce, in hex characters.
pub const MAX_NONCE_LEN: usize = 64;
/// Longest accepted idempotency key or event id.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex SHA-256 of the raw body bytes (the empty body hashes to `e3b0c442…b855`).
pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The exact string that is signed: `METHOD\nPATH\nTIMESTAMP\nNONCE\nsha256_hex(body)`; the method is upper-cased.
pub fn string_to_sign(method: &str, path: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    format!("{}\n{path}\n{timestamp}\n{nonce}\n{}", method.to_ascii_uppercase(), body_sha256_hex(body))
}

/// `hex(HMAC-SHA256(secret, string_to_sign(…)))`.
pub fn sign(secret: &[u8], method: &str, path: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign(method, path, timestamp, nonce, body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A fresh 32-hex-character nonce from the OS CSPRNG.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// Seconds since the epoch by the system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpdailyAuthError {
    /// A required header is absent or not visible ASCII.
    #[error("missing or unreadable header {0}")]
    MissingHeader(&'static str),
    /// `X-Timestamp` is not a decimal number of seconds.
    #[error("malformed timestamp")]
    MalformedTimestamp,
    /// `X-Nonce` is not 16–64 hex characters.
    #[error("malformed nonce")]
    MalformedNonce,
    /// `Idempotency-Key` is empty or longer than 128 characters.
    #[error("malformed idempotency key")]
    MalformedIdempotencyKey,
    /// `X-App-Id` names no configured application.
    #[error("unknown app id")]
    UnknownApp,
    /// The timestamp is more than 300 s from our clock.
    #[error("timestamp outside the allowed window ({skew_secs} s)")]
    StaleTimestamp { skew_secs: u64 },
    /// The signature does not match.
    #[error("signature mismatch")]
    BadSignature,
    /// The nonce was already used within the last 10 minutes.
    #[error("nonce already used")]
    ReplayedNonce,
    /// The replay store could not answer; fail closed.
    #[error("replay store unavailable: {0}")]
    Store(#[from] SeenStoreError),
}

impl CpdailyAuthError {
    /// A stable snake_case code for error bodies (`{"error": {"code": …, "message": …}}`).
    pub fn code(&self) -> &'static str {
        match self {
            CpdailyAuthError::MissingHeader(_) => "missing_header",
            CpdailyAuthError::MalformedTimestamp => "malformed_timestamp",
            CpdailyAuthError::MalformedNonce => "malformed_nonce",
            CpdailyAuthError::MalformedIdempotencyKey => "malformed_idempotency_key",
            CpdailyAuthError::UnknownApp => "unknown_app",
            CpdailyAuthError::StaleTimestamp { .. } => "stale_timestamp",
            CpdailyAuthError::BadSignature => "bad_signature",
            CpdailyAuthError::ReplayedNonce => "replayed_nonce",
            CpdailyAuthError::Store(_) => "replay_store_unavailable",
        }
    }

    /// The HTTP status a receiver should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            CpdailyAuthError::MissingHeader(_)
            | CpdailyAuthError::MalformedTimestamp
            | CpdailyAuthError::MalformedNonce
            | CpdailyAuthError::MalformedIdempotencyKey => 400,
            CpdailyAuthError::UnknownApp | CpdailyAuthError::StaleTimestamp { .. } | CpdailyAuthError::BadSignature => {
                401
            }
            CpdailyAuthError::ReplayedNonce => 409,
            CpdailyAuthError::Store(_) => 503,
        }
    }
}

/// The authentication headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub app_id: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub idempotency_key: Option<String>,
}

fn header_text<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, CpdailyAuthError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.trim())).map_err(|_| CpdailyAuthError::MissingHeader(name)),
    }
}

impl SignedHeaders {
    /// Signs a request: `timestamp` in seconds, `nonce` from [`new_nonce`].
    pub fn sign(
        app_id: &str,
        secret: &[u8],
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: u64,
        nonce: &str,
    ) -> SignedHeaders {
        let timestamp = timestamp.to_string();
        SignedHeaders {
            app_id: app_id.to_owned(),
            signature: sign(secret, method, path, &timestamp, nonce, body),
            timestamp,
            nonce: nonce.to_owned(),
            idempotency_key: None,
        }
    }

    /// Reads the headers of an incoming request; the idempotency key is optional.
    pub fn from_header_map(headers: &HeaderMap) -> Result<SignedHeaders, CpdailyAuthError> {
        let required = |name: &'static str| -> Result<String, CpdailyAuthError> {
            header_text(headers, name)?
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(CpdailyAuthError::MissingHeader(name))
        };
        Ok(SignedHeaders {
            app_id: required(HEADER_APP_ID)?,
            timestamp: required(HEADER_TIMESTAMP)?,
            nonce: required(HEADER_NONCE)?,
            signature: required(HEADER_SIGNATURE)?,
            idempotency_key: header_text(headers, HEADER_IDEMPOTENCY_KEY)?.map(str::to_owned),
        })
    }

    /// The headers as (name, value) pairs, for any HTTP client.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (HEADER_APP_ID, self.app_id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ];
        if let Some(key) = &self.idempotency_key {
            pairs.push((HEADER_IDEMPOTENCY_KEY, key.clone()));
        }
        pairs
    }
}

/// Why the seen-key store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeenStoreError {
    /// The in-memory store holds its maximum of unexpired keys.
    #[error("store is full ({0} live keys)")]
    Full(usize),
    /// A backing store (e.g. a database) failed.
    #[error("backend failure: {0}")]
    Backend(String),
}

/// A boxed future, so [`SeenKeyStore`] can be used as a trait object.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Remembers keys (nonces, idempotency keys, event ids) for a while; a DB-backed implementation can replace the memory one.
pub trait SeenKeyStore: Send + Sync {
    /// Records `key` until `now + ttl_secs`; `Ok(true)` if it was not already live, `Ok(false)` if it was.
    fn insert_if_absent<'a>(
        &'a self,
        key: &'a str,
        ttl_secs: u64,
        now: u64,
    ) -> StoreFuture<'a, Result<bool, SeenStoreError>>;
}

#[derive(Debug, Default)]
struct MemoryKeys {
    expires_at: HashMap<String, u64>,
    by_expiry: BTreeSet<(u64, String)>,
}

/// A bounded in-memory [`SeenKeyStore`]; expired keys are purged on every insert. When full it refuses (fails closed)
/// rather than forgetting live keys, which would re-open a replay window.
#[derive(Debug)]
pub struct MemorySeenStore {
    capacity: usize,
    keys: std::sync::Mutex<MemoryKeys>,
}

impl MemorySeenStore {
    /// A store holding at most `capacity` live keys.
    pub fn new(capacity: usize) -> MemorySeenStore {
        MemorySeenStore { capacity, keys: std::sync::Mutex::new(MemoryKeys::default()) }
    }

    /// Live keys (after the last purge).
    pub fn len(&self) -> usize {
        self.keys.lock().map(|keys| keys.expires_at.len()).unwrap_or(0)
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert_now(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, SeenStoreError> {
        let mut keys = self.keys.lock().map_err(|_| SeenStoreError::Backend("poisoned lock".into()))?;
        while let Some((expiry, _)) = keys.by_expiry.first() {
            if *expiry > now {
                break;
            }
            if let Some((_, expired)) = keys.by_expiry.pop_first() {
                keys.expires_at.remove(&expired);
            }
        }
        if keys.expires_at.contains_key(key) {
            return Ok(false);
        }
        if keys.expires_at.len() >= self.capacity {
            return Err(SeenStoreError::Full(self.capacity));
        }
        let expiry = now.saturating_add(ttl_secs);
        keys.expires_at.insert(key.to_owned(), expiry);
        keys.by_expiry.insert((expiry, key.to_owned()));
        Ok(true)
    }
}

impl SeenKeyStore for MemorySeenStore {
    fn insert_if_absent<'a>(
        &'a self,
        key: &'a str,
        ttl_secs: u64,
        now: u64,
    ) -> StoreFuture<'a, Result<bool, SeenStoreError>> {
        let result = self.insert_now(key, ttl_secs, now);
        Box::pin(async move { result })
    }
}

/// A request that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub app_id: String,
    pub idempotency_key: Option<String>,
}

/// Checks signed requests from the campus gateway: known app, ±300 s, signature, then single-use nonce.
pub struct CpdailyVerifier {
    secrets: HashMap<String, Vec<u8>>,
    store: Arc<dyn SeenKeyStore>,
    window_secs: u64,
}

impl std::fmt::Debug for CpdailyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpdailyVerifier")
            .field("apps", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn is_valid_nonce(nonce: &str) -> bool {
    (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

impl CpdailyVerifier {
    /// A verifier for `(app_id, secret)` pairs backed by `store`.
    pub fn new(secrets: impl IntoIterator<Item = (String, Vec<u8>)>, store: Arc<dyn SeenKeyStore>) -> CpdailyVerifier {
        CpdailyVerifier { secrets: secrets.into_iter().collect(), store, window_secs: TIMESTAMP_WINDOW_SECS }
    }

    /// Verifies one request. `path` is the request target's path and query as received; `now` is our clock in seconds.
    pub async fn verify(
        &self,
        method: &str,
        path: &str,
        headers: &SignedHeaders,
        body: &[u8],
        now: u64,
    ) -> Result<VerifiedRequest, CpdailyAuthError> {
        let secret = self.secrets.get(&headers.app_id).ok_or(CpdailyAuthError::UnknownApp)?;
        if headers.timestamp.is_empty() || !headers.timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CpdailyAuthError::MalformedTimestamp);
        }
        let timestamp: u64 = headers.timestamp.parse().map_err(|_| CpdailyAuthError::MalformedTimestamp)?;
        let skew_secs = now.abs_diff(timestamp);
        if skew_secs > self.window_secs {
            return Err(CpdailyAuthError::StaleTimestamp { skew_secs });
        }
        if !is_valid_nonce(&headers.nonce) {
            return Err(CpdailyAuthError::MalformedNonce);
        }
        if let Some(key) = &headers.idempotency_key {
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(CpdailyAuthError::MalformedIdempotencyKey);
            }
        }
        let expected = sign(secret, method, path, &headers.timestamp, &headers.nonce, body);
        let received = headers.signature.to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
            return Err(CpdailyAuthError::BadSignature);
        }
        // Only signed requests reach the store, so strangers cannot fill it.
        let nonce_key = format!("nonce:{}:{}", headers.app_id, headers.nonce.to_ascii_lowercase());
        if !self.store.insert_if_absent(&nonce_key, NONCE_TTL_SECS, now).await? {
            return Err(CpdailyAuthError::ReplayedNonce);
        }
        Ok(VerifiedRequest { app_id: headers.app_id.clone(), idempotency_key: headers.idempotency_key.clone() })
    }

    /// Claims an idempotency key or event id for 24 h; `Ok(false)` means it was already processed (answer as before, do nothing).
    pub async fn claim_once(&self, app_id: &str, key: &str, now: u64) -> Result<bool, SeenStoreError> {
        let scoped = format!("once:{app_id}:{key}");
        self.store.insert_if_absent(&scoped, IDEMPOTENCY_TTL_SECS, now).await
    }
}

/// The kind of campus id in a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientIdType {
    /// 学工号, the canonical campus id.
    Xgh,
}

/// Who a push goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecipients {
    #[serde(rename = "type")]
    pub id_type: RecipientIdType,
    pub ids: Vec<String>,
}

/// Delivery channels, in preference order; the gateway picks the first one the user is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushChannel {
    Cpdaily,
    Wecom,
    Sms,
}

/// The body of `POST {gateway}/v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    pub to: PushRecipients,
    pub title: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub link: Option<String>,
    pub channels: Vec<PushChannel>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expire_at: Option<u64>,
}

impl PushMessage {
    /// A push to some 学工号 through 今日校园, then WeCom, then SMS.
    pub fn to_xgh(ids: Vec<String>, title: &str, content: &str, link: Option<&str>) -> PushMessage {
        PushMessage {
            to: PushRecipients { id_type: RecipientIdType::Xgh, ids },
            title: title.to_owned(),
            content: content.to_owned(),
            link: link.map(str::to_owned),
            channels: vec![PushChannel::Cpdaily, PushChannel::Wecom, PushChannel::Sms],
            expire_at: None,
        }
    }
}

/// One recipient the gateway could not reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRejection {
    pub id: String,
    pub reason: String,
}

/// The gateway's `202` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAccepted {
    pub message_id: String,
    #[serde(default)]
    pub accepted: Vec<String>,
    #[serde(default)]
    pub rejected: Vec<PushRejection>,
}

/// Inbound event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpdailyEventKind {
    /// A user's chat message.
    Message,
    /// Anything newer than this contract: acknowledge and ignore.
    #[serde(other)]
    Unknown,
}

/// The sender of an inbound event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpdailySender {
    /// 学工号.
    pub xgh: String,
    #[serde(default)]
    pub tenant: Option<String>,
}

/// The body of `POST /channels/cpdaily/webhook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpdailyInboundEvent {
    /// Unique per event; retries repeat it, so it is the dedup key.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: CpdailyEventKind,
    pub from: CpdailySender,
    #[serde(default)]
    pub text: Option<String>,
    pub ts: u64,
}

impl CpdailyInboundEvent {
    /// Parses a webhook body.
    pub fn parse(body: &[u8]) -> Result<CpdailyInboundEvent, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// The reply inside a synchronous webhook answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpdailyReplyBody {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub link: Option<String>,
}

/// The `200` body answering a webhook event within 3 s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpdailyWebhookReply {
    pub reply: CpdailyReplyBody,
}

/// Renders a chat reply as plain text plus one link (the first card's `open_url`): 今日校园 shows no cards.
pub fn render_webhook_reply(reply: &Reply) -> CpdailyWebhookReply {
    let mut lines = vec![reply.text.trim().to_owned()];
    for (index, card) in reply.cards.iter().enumerate().take(5) {
        lines.push(format!("{}. {}", index + 1, card.title));
    }
    let suggestions: Vec<&str> = reply.suggestions.iter().filter_map(|s| s.text.as_deref()).take(3).collect();
    if !suggestions.is_empty() {
        lines.push(format!("您还可以问：{}", suggestions.join("；")));
    }
    lines.retain(|l| !l.is_empty());
    CpdailyWebhookReply {
        reply: CpdailyReplyBody {
            text: lines.join("\n"),
            link: reply.cards.iter().find_map(|card| card_link(card).map(|(_, url)| url.to_owned())),
        },
    }
}

/// Bounded exponential backoff: `initial × 2^(n-1)`, capped at `max_backoff`, for at most `max_attempts` tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 6 tries: waits of 1, 2, 4, 8 and 16 s (the spec's 1 s → 5 min curve, bounded in-process;
    /// longer redelivery belongs to a persistent queue).
    fn default() -> Self {
        RetryPolicy { max_attempts: 6, initial_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Settings of the outbound push client.
#[derive(Clone)]
pub struct CpdailyPushConfig {
    /// e.g. `https://gateway.example.edu.cn`; the client posts to `{gateway_url}/v1/messages`.
    pub gateway_url: String,
    pub app_id: String,
    pub secret: Vec<u8>,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for CpdailyPushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpdailyPushConfig")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// Why a push failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpdailyPushError {
    /// The gateway refused the request (4xx other than 408/429): retrying would not help.
    #[error("gateway rejected the push with HTTP {status}")]
    Rejected { status: u16, body: String },
    /// Every attempt failed with a retryable error.
    #[error("gave up after {attempts} attempts: {last_error}")]
    GaveUp { attempts: u32, last_error: String },
    /// The gateway accepted but answered with an unexpected body.
    #[error("unreadable gateway answer: {0}")]
    Decode(String),
    /// The gateway URL is unusable.
    #[error("invalid gateway URL: {0}")]
    InvalidUrl(String),
}

/// Pushes notifications to the campus gateway with signatures, an idempotency key and bounded retries.
#[derive(Debug)]
pub struct CpdailyPushClient {
    http: reqwest::Client,
    config: CpdailyPushConfig,
    endpoint: url::Url,
}

enum AttemptOutcome {
    Done(Result<PushAccepted, CpdailyPushError>),
    Retry(String),
}

impl CpdailyPushClient {
    /// A client for one gateway.
    pub fn new(config: CpdailyPushConfig) -> Result<CpdailyPushClient, CpdailyPushError> {
        let endpoint = url::Url::parse(&format!("{}/v1/messages", config.gateway_url.trim_end_matches('/')))
            .map_err(|e| CpdailyPushError::InvalidUrl(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| CpdailyPushError::InvalidUrl(e.to_string()))?;
        Ok(CpdailyPushClient { http, config, endpoint })
    }

    /// The path (and query) that is signed.
    fn signed_path(&self) -> String {
        match self.endpoint.query() {
            Some(query) => format!("{}?{query}", self.endpoint.path()),
            None => self.endpoint.path().to_owned(),
        }
    }

    /// Pushes with a fresh idempotency key.
    pub async fn push(&self, message: &PushMessage) -> Result<PushAccepted, CpdailyPushError> {
        self.push_with_key(message, &uuid::Uuid::new_v4().to_string()).await
    }

    /// Pushes with the caller's idempotency key (keep it when re-queuing the same notification).
    pub async fn push_with_key(
        &self,
        message: &PushMessage,
        idempotency_key: &str,
    ) -> Result<PushAccepted, CpdailyPushError> {
        let body = serde_json::to_vec(message).map_err(|e| CpdailyPushError::Decode(e.to_string()))?;
        let attempts = self.config.retry.max_attempts.max(1);
        let mut last_error = String::new();
        for attempt in 1..=attempts {
            match self.attempt(&body, idempotency_key).await {
                AttemptOutcome::Done(result) => return result,
                AttemptOutcome::Retry(reason) => last_error = reason,
            }
            if attempt < attempts {
                tokio::time::sleep(self.config.retry.backoff(attempt)).await;
            }
        }
        Err(CpdailyPushError::GaveUp { attempts, last_error })
    }

    async fn attempt(&self, body: &[u8], idempotency_key: &str) -> AttemptOutcome {
        // Each attempt is signed afresh: a retry with an old nonce would be refused as a replay.
        let mut headers = SignedHeaders::sign(
            &self.config.app_id,
            &self.config.secret,
            "POST",
            &self.signed_path(),
            body,
            unix_now(),
            &new_nonce(),
        );
        headers.idempotency_key = Some(idempotency_key.to_owned());
        let mut request =
            self.http.post(self.endpoint.clone()).header("Content-Type", "application/json").body(body.to_vec());
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return AttemptOutcome::Retry(error.without_url().to_string()),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(error) => return AttemptOutcome::Retry(error.without_url().to_string()),
        };
        if status.is_success() {
            return AttemptOutcome::Done(
                serde_json::from_str(&text).map_err(|e| CpdailyPushError::Decode(e.to_string())),
            );
        }
        let retryable = status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
        if retryable {
            AttemptOutcome::Retry(format!("HTTP {}", status.as_u16()))
        } else {
            AttemptOutcome::Done(Err(CpdailyPushError::Rejected { status: status.as_u16(), body: text }))
        }
    }
}

#[cfg(test)]
mod tests;
