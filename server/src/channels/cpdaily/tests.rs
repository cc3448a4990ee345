//! Tests of `cpdaily`.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.
use super::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use bot::protocol::{Card, CardAction, CardKind, Mode, Suggestion};
use std::sync::atomic::{AtomicUsize, Ordering};

const SECRET: &[u8] = b"cpdaily-demo-secret";
const VECTOR_BODY: &str =
    r#"{"to":{"type":"xgh","ids":["20210001"]},"title":"您的在读证明已开具","content":"点击查看并下载。"}"#;

fn verifier() -> (CpdailyVerifier, Arc<MemorySeenStore>) {
    let store = Arc::new(MemorySeenStore::new(1000));
    (CpdailyVerifier::new([("chatbot".to_owned(), SECRET.to_vec())], store.clone()), store)
}

fn signed(body: &str, timestamp: u64, nonce: &str) -> SignedHeaders {
    SignedHeaders::sign("chatbot", SECRET, "POST", "/v1/messages", body.as_bytes(), timestamp, nonce)
}

#[test]
fn signatures_match_independently_computed_vectors() {
    // Computed with Python's hmac/hashlib over the same canonical string.
    assert_eq!(
        body_sha256_hex(VECTOR_BODY.as_bytes()),
        "eb83127f31dedf59461168c3182edbb069ad1384d7c646f73fbcea1a7d439c51"
    );
    assert_eq!(
        sign(SECRET, "POST", "/v1/messages", "1712345678", "8f0c2d1e4b9a7c55", VECTOR_BODY.as_bytes()),
        "d09cab1b2016df2a150c7c05686fa3aed1e7baf277c5c329147080956c0d1171"
    );
    assert_eq!(
        sign(SECRET, "get", "/v1/messages/abc?x=1", "1712345678", "00112233445566778899aabbccddeeff", b""),
        "130845328ff1d4de534a79c8d6def161181c2290e1611c522f7122500af170d3"
    );
    assert_eq!(
        string_to_sign("post", "/v1/messages", "1", "ab", b""),
        "POST\n/v1/messages\n1\nab\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[tokio::test]
async fn a_signed_request_verifies_once_and_replays_are_refused() {
    let (verifier, _) = verifier();
    let headers = signed(VECTOR_BODY, 1712345678, "8f0c2d1e4b9a7c55");
    let verified = verifier.verify("POST", "/v1/messages", &headers, VECTOR_BODY.as_bytes(), 1712345700).await.unwrap();
    assert_eq!(verified.app_id, "chatbot");
    let replay = verifier.verify("POST", "/v1/messages", &headers, VECTOR_BODY.as_bytes(), 1712345701).await;
    assert_eq!(replay, Err(CpdailyAuthError::ReplayedNonce));
    assert_eq!(CpdailyAuthError::ReplayedNonce.http_status(), 409);
    assert_eq!(CpdailyAuthError::ReplayedNonce.code(), "replayed_nonce");
}

#[tokio::test]
async fn the_window_is_three_hundred_seconds_either_way() {
    let (verifier, _) = verifier();
    let body = b"{}";
    let at = |ts: u64, nonce: &str| SignedHeaders::sign("chatbot", SECRET, "POST", "/p", body, ts, nonce);
    assert!(verifier.verify("POST", "/p", &at(1000, "00000000000000000001"), body, 1300).await.is_ok());
    assert!(verifier.verify("POST", "/p", &at(1600, "00000000000000000002"), body, 1300).await.is_ok());
    assert_eq!(
        verifier.verify("POST", "/p", &at(999, "00000000000000000003"), body, 1300).await,
        Err(CpdailyAuthError::StaleTimestamp { skew_secs: 301 })
    );
    assert_eq!(
        verifier.verify("POST", "/p", &at(1601, "00000000000000000004"), body, 1300).await.unwrap_err().http_status(),
        401
    );
}

#[tokio::test]
async fn tampering_and_malformed_headers_are_typed_errors() {
    let (verifier, store) = verifier();
    let headers = signed(VECTOR_BODY, 1000, "8f0c2d1e4b9a7c55");
    let body = VECTOR_BODY.as_bytes();
    assert_eq!(
        verifier.verify("POST", "/v1/messages", &headers, b"{}", 1000).await,
        Err(CpdailyAuthError::BadSignature)
    );
    assert_eq!(verifier.verify("PUT", "/v1/messages", &headers, body, 1000).await, Err(CpdailyAuthError::BadSignature));
    assert_eq!(verifier.verify("POST", "/v1/other", &headers, body, 1000).await, Err(CpdailyAuthError::BadSignature));
    assert!(store.is_empty(), "unsigned requests must not touch the nonce store");
    let mut other = headers.clone();
    other.app_id = "stranger".into();
    assert_eq!(verifier.verify("POST", "/v1/messages", &other, body, 1000).await, Err(CpdailyAuthError::UnknownApp));
    let mut bad_ts = headers.clone();
    bad_ts.timestamp = "-5".into();
    assert_eq!(
        verifier.verify("POST", "/v1/messages", &bad_ts, body, 1000).await,
        Err(CpdailyAuthError::MalformedTimestamp)
    );
    for nonce in ["short", "zzzzzzzzzzzzzzzzzz", &"a".repeat(65)] {
        let h = signed(VECTOR_BODY, 1000, nonce);
        assert_eq!(
            verifier.verify("POST", "/v1/messages", &h, body, 1000).await,
            Err(CpdailyAuthError::MalformedNonce)
        );
    }
    let mut long_key = signed(VECTOR_BODY, 1000, "8f0c2d1e4b9a7c56");
    long_key.idempotency_key = Some("k".repeat(200));
    assert_eq!(
        verifier.verify("POST", "/v1/messages", &long_key, body, 1000).await,
        Err(CpdailyAuthError::MalformedIdempotencyKey)
    );
    let mut upper = signed(VECTOR_BODY, 1000, "8f0c2d1e4b9a7c57");
    upper.signature = upper.signature.to_uppercase();
    assert!(verifier.verify("POST", "/v1/messages", &upper, body, 1000).await.is_ok());
}

#[test]
fn headers_are_read_from_a_header_map() {
    let mut map = HeaderMap::new();
    let headers = signed("{}", 5, "8f0c2d1e4b9a7c55");
    for (name, value) in headers.pairs() {
        map.insert(name, value.parse().unwrap());
    }
    assert_eq!(SignedHeaders::from_header_map(&map).unwrap(), headers);
    map.insert(HEADER_IDEMPOTENCY_KEY, "k1".parse().unwrap());
    assert_eq!(SignedHeaders::from_header_map(&map).unwrap().idempotency_key.as_deref(), Some("k1"));
    map.remove(HEADER_NONCE);
    assert_eq!(SignedHeaders::from_header_map(&map), Err(CpdailyAuthError::MissingHeader(HEADER_NONCE)));
}

#[tokio::test]
async fn the_memory_store_expires_keys_and_is_bounded() {
    let store = MemorySeenStore::new(2);
    assert_eq!(store.insert_if_absent("a", 600, 0).await, Ok(true));
    assert_eq!(store.insert_if_absent("a", 600, 599).await, Ok(false));
    assert_eq!(store.insert_if_absent("b", 10, 0).await, Ok(true));
    assert_eq!(store.insert_if_absent("c", 600, 5).await, Err(SeenStoreError::Full(2)));
    // At t=10 "b" has expired and makes room.
    assert_eq!(store.insert_if_absent("c", 600, 10).await, Ok(true));
    assert_eq!(store.insert_if_absent("a", 600, 600).await, Ok(true), "a expired at 600 and may be reused");
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn a_full_store_fails_closed() {
    let store = Arc::new(MemorySeenStore::new(1));
    let verifier = CpdailyVerifier::new([("chatbot".to_owned(), SECRET.to_vec())], store);
    verifier
        .verify("POST", "/p", &SignedHeaders::sign("chatbot", SECRET, "POST", "/p", b"", 1, "0000000000000001"), b"", 1)
        .await
        .unwrap();
    let error = verifier
        .verify("POST", "/p", &SignedHeaders::sign("chatbot", SECRET, "POST", "/p", b"", 1, "0000000000000002"), b"", 1)
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), 503);
}

#[tokio::test]
async fn idempotency_keys_and_event_ids_are_claimed_once_per_day() {
    let (verifier, _) = verifier();
    assert_eq!(verifier.claim_once("chatbot", "evt-1", 0).await, Ok(true));
    assert_eq!(verifier.claim_once("chatbot", "evt-1", 86_399).await, Ok(false));
    assert_eq!(verifier.claim_once("other", "evt-1", 1).await, Ok(true));
    assert_eq!(verifier.claim_once("chatbot", "evt-1", 86_400).await, Ok(true));
}

#[test]
fn payloads_match_the_contract() {
    let mut message = PushMessage::to_xgh(
        vec!["20210001".into()],
        "您的在读证明已开具",
        "点击查看并下载。",
        Some("https://chat.example.edu.cn/h5/session/abc"),
    );
    message.expire_at = Some(1712432078);
    assert_eq!(
        serde_json::to_value(&message).unwrap(),
        serde_json::json!({
            "to": {"type": "xgh", "ids": ["20210001"]},
            "title": "您的在读证明已开具",
            "content": "点击查看并下载。",
            "link": "https://chat.example.edu.cn/h5/session/abc",
            "channels": ["cpdaily", "wecom", "sms"],
            "expire_at": 1712432078
        })
    );
    let accepted: PushAccepted = serde_json::from_str(
        r#"{"message_id":"m1","accepted":["20210001"],"rejected":[{"id":"20219999","reason":"unbound"}]}"#,
    )
    .unwrap();
    assert_eq!(accepted.rejected[0].reason, "unbound");
    let event = CpdailyInboundEvent::parse(
            r#"{"event_id":"e1","type":"message","from":{"xgh":"20210001","tenant":"tjcu"},"text":"怎么开在读证明","ts":1712345678}"#.as_bytes(),
        )
        .unwrap();
    assert_eq!(
        (event.kind, event.from.xgh.as_str(), event.text.as_deref()),
        (CpdailyEventKind::Message, "20210001", Some("怎么开在读证明"))
    );
    let future =
        CpdailyInboundEvent::parse(br#"{"event_id":"e2","type":"read_receipt","from":{"xgh":"1"},"ts":1}"#).unwrap();
    assert_eq!(future.kind, CpdailyEventKind::Unknown);
    assert!(CpdailyInboundEvent::parse(b"{}").is_err());
}

#[test]
fn replies_render_as_text_and_one_link() {
    let mut card = Card::new(CardKind::Service, "s1", "在读证明开具");
    card.actions =
        vec![CardAction::OpenUrl { label: "在线办理".into(), url: "https://ehall.example.edu.cn/s1".into() }];
    let reply = Reply {
        id: "r".into(),
        in_reply_to: None,
        mode: Mode::Answer,
        intent: "service.guide".into(),
        confidence: 0.9,
        text: "可以在线申请。".into(),
        cards: vec![card],
        suggestions: vec![Suggestion::text("需要什么材料")],
        handoff: None,
    };
    assert_eq!(
        serde_json::to_value(render_webhook_reply(&reply)).unwrap(),
        serde_json::json!({"reply": {"text": "可以在线申请。\n1. 在读证明开具\n您还可以问：需要什么材料", "link": "https://ehall.example.edu.cn/s1"}})
    );
}

#[test]
fn backoff_doubles_and_is_capped() {
    let policy = RetryPolicy::default();
    let waits: Vec<u64> = (1..=10).map(|n| policy.backoff(n).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    assert_eq!(policy.backoff(100).as_secs(), 300);
}

/// A fake gateway that verifies every request with the real verifier and fails the first `failures` with `status`.
struct FakeGateway {
    verifier: CpdailyVerifier,
    failures: AtomicUsize,
    status: StatusCode,
    calls: AtomicUsize,
    keys: std::sync::Mutex<Vec<(String, String)>>,
}

async fn fake_messages(
    State(gateway): State<Arc<FakeGateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    gateway.calls.fetch_add(1, Ordering::SeqCst);
    let signed = match SignedHeaders::from_header_map(&headers) {
        Ok(signed) => signed,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if let Err(e) = gateway.verifier.verify(method.as_str(), &path, &signed, &body, unix_now()).await {
        return (StatusCode::UNAUTHORIZED, e.to_string());
    }
    gateway.keys.lock().unwrap().push((signed.idempotency_key.unwrap_or_default(), signed.nonce));
    if gateway.failures.load(Ordering::SeqCst) > 0 {
        gateway.failures.fetch_sub(1, Ordering::SeqCst);
        return (gateway.status, "try later".into());
    }
    let message: PushMessage = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let answer = PushAccepted { message_id: "m-1".into(), accepted: message.to.ids, rejected: Vec::new() };
    (StatusCode::ACCEPTED, serde_json::to_string(&answer).unwrap())
}

async fn start_gateway(failures: usize, status: StatusCode) -> (Arc<FakeGateway>, String) {
    let (verifier, _) = verifier();
    let gateway = Arc::new(FakeGateway {
        verifier,
        failures: AtomicUsize::new(failures),
        status,
        calls: AtomicUsize::new(0),
        keys: std::sync::Mutex::new(Vec::new()),
    });
    let app = Router::new().route("/gw/v1/messages", post(fake_messages)).with_state(gateway.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (gateway, format!("http://{address}/gw/"))
}

fn push_client(gateway_url: &str, secret: &[u8], max_attempts: u32) -> CpdailyPushClient {
    CpdailyPushClient::new(CpdailyPushConfig {
        gateway_url: gateway_url.to_owned(),
        app_id: "chatbot".into(),
        secret: secret.to_vec(),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
    })
    .unwrap()
}

fn message() -> PushMessage {
    PushMessage::to_xgh(vec!["20210001".into()], "办结通知", "您的在读证明已开具。", None)
}

#[tokio::test]
async fn a_push_is_retried_with_the_same_key_and_fresh_nonces() {
    let (gateway, url) = start_gateway(2, StatusCode::SERVICE_UNAVAILABLE).await;
    let accepted = push_client(&url, SECRET, 5).push_with_key(&message(), "idem-1").await.unwrap();
    assert_eq!(accepted.accepted, ["20210001"]);
    let keys = gateway.keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|(key, _)| key == "idem-1"));
    assert_ne!(keys[0].1, keys[1].1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let (gateway, url) = start_gateway(100, StatusCode::TOO_MANY_REQUESTS).await;
    let error = push_client(&url, SECRET, 3).push(&message()).await.unwrap_err();
    assert_eq!(error, CpdailyPushError::GaveUp { attempts: 3, last_error: "HTTP 429".into() });
    assert_eq!(gateway.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (gateway, url) = start_gateway(0, StatusCode::OK).await;
    let error = push_client(&url, b"wrong secret", 5).push(&message()).await.unwrap_err();
    assert!(matches!(error, CpdailyPushError::Rejected { status: 401, ref body } if body.contains("signature")));
    assert_eq!(gateway.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_gateway_gives_up() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = push_client(&url, SECRET, 2).push(&message()).await.unwrap_err();
    assert!(matches!(error, CpdailyPushError::GaveUp { attempts: 2, .. }));
}
