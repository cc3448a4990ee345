//! 今日校园 webhook over real HTTP: signed, fresh, single-use requests answered with the rendered reply; forged,
//! stale and replayed requests refused; a retried event gets the very same answer.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use ehall_tests::{spawn_app_with, test_settings, TestApp, TestDb, WAIT};
use serde_json::{json, Value};
use server::channels::cpdaily::{new_nonce, unix_now, SignedHeaders};
use server::channels::dispatch::{ChannelArgs, ChannelSettings};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP_ID: &str = "campus-gateway";
const SECRET: &str = "cpdaily-test-secret";
const WEBHOOK: &str = "/channels/cpdaily/webhook";

async fn spawn_cpdaily_app() -> TestApp {
    spawn_cpdaily_app_with(None, Duration::from_secs(15)).await
}

async fn spawn_cpdaily_app_with(push_url: Option<String>, reply_deadline: Duration) -> TestApp {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    let args = ChannelArgs {
        cpdaily_app_id: Some(APP_ID.into()),
        cpdaily_secret: Some(SECRET.into()),
        cpdaily_push_url: push_url,
        ..ChannelArgs::default()
    };
    settings.channels = ChannelSettings::from_args(&args).unwrap();
    if let Some(cpdaily) = settings.channels.cpdaily.as_mut() {
        // The first answer of a fresh test server may be slow to warm up; the contract's 3 s is for production.
        cpdaily.reply_deadline = reply_deadline;
    }
    spawn_app_with(db, settings).await
}

fn event(event_id: &str, text: &str) -> String {
    json!({"event_id": event_id, "type": "message", "from": {"xgh": "2021001234", "tenant": "tjcu"}, "text": text, "ts": unix_now()})
        .to_string()
}

async fn post_signed(app: &TestApp, body: &str, headers: &SignedHeaders) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(app.http_url(WEBHOOK))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .timeout(WAIT);
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn sign(secret: &str, body: &str, timestamp: u64) -> SignedHeaders {
    SignedHeaders::sign(APP_ID, secret.as_bytes(), "POST", WEBHOOK, body.as_bytes(), timestamp, &new_nonce())
}

#[tokio::test]
async fn a_signed_message_is_answered_and_its_retry_gets_the_same_answer() {
    let app = spawn_cpdaily_app().await;
    let body = event("ev-1001", "助学金怎么申请");
    let headers = sign(SECRET, &body, unix_now());
    let (status, answer) = post_signed(&app, &body, &headers).await;
    assert_eq!(status, 200, "{answer}");
    let text = answer["reply"]["text"].as_str().unwrap();
    assert!(text.contains("学生助学金申请"), "{text}");
    assert!(answer["reply"]["link"].as_str().is_none_or(|link| link.starts_with("http")), "{answer}");

    // The very same request again is a replay.
    let (status, error) = post_signed(&app, &body, &headers).await;
    assert_eq!((status, error["error"]["code"].as_str()), (409, Some("replayed_nonce")));

    // The gateway's retry (same event, signed afresh) gets the first answer, not a second turn.
    let retry = sign(SECRET, &body, unix_now());
    let (status, again) = post_signed(&app, &body, &retry).await;
    assert_eq!((status, &again), (200, &answer));
    let pool = app.db.pool().await;
    let turns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM question_log WHERE channel = 'cpdaily'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(turns, 1, "one engine turn for one event");
}

#[tokio::test]
async fn forged_and_stale_requests_are_refused() {
    let app = spawn_cpdaily_app().await;
    let body = event("ev-2001", "怎么开在读证明");
    let (status, error) = post_signed(&app, &body, &sign("wrong-secret", &body, unix_now())).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("bad_signature")));

    let (status, error) = post_signed(&app, &body, &sign(SECRET, &body, unix_now() - 301)).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("stale_timestamp")));

    let mut tampered = sign(SECRET, &body, unix_now());
    tampered.app_id = "someone-else".into();
    let (status, error) = post_signed(&app, &body, &tampered).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("unknown_app")));

    // A signed body altered on the way.
    let headers = sign(SECRET, &body, unix_now());
    let altered = body.replace("在读证明", "成绩单");
    let (status, error) = post_signed(&app, &altered, &headers).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("bad_signature")));

    let response = reqwest::Client::new().post(app.http_url(WEBHOOK)).body(body.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "missing_header");
}

/// What the fake campus gateway received: (verified, body).
type Pushes = Arc<Mutex<Vec<(bool, Value)>>>;

/// What the fake gateway received, once it has received something (or after [`WAIT`]).
async fn received_pushes(pushes: &Pushes) -> Vec<(bool, Value)> {
    let started = std::time::Instant::now();
    while pushes.lock().unwrap().is_empty() && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pushes.lock().unwrap().clone()
}

async fn spawn_fake_gateway() -> (String, Pushes) {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use server::channels::cpdaily::{CpdailyVerifier, MemorySeenStore};
    let pushes: Pushes = Arc::default();
    let verifier = Arc::new(CpdailyVerifier::new(
        [(APP_ID.to_owned(), SECRET.as_bytes().to_vec())],
        Arc::new(MemorySeenStore::new(100)),
    ));
    let handler = move |State(pushes): State<Pushes>, headers: HeaderMap, body: Bytes| {
        let verifier = verifier.clone();
        async move {
            let verified = match SignedHeaders::from_header_map(&headers) {
                Ok(signed) => verifier.verify("POST", "/v1/messages", &signed, &body, unix_now()).await.is_ok(),
                Err(_) => false,
            };
            let has_key = headers.contains_key("Idempotency-Key");
            pushes.lock().unwrap().push((verified && has_key, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            (StatusCode::ACCEPTED, axum::Json(json!({"message_id": "m-1", "accepted": ["2021001234"]})))
        }
    };
    let app = axum::Router::new().route("/v1/messages", axum::routing::post(handler)).with_state(pushes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), pushes)
}

#[tokio::test]
async fn a_late_answer_is_pushed_through_the_gateway() {
    let (gateway, pushes) = spawn_fake_gateway().await;
    // A zero deadline: the route gives up at its first look, before any turn (which commits to the database
    // first) can be done. With 1 ms a cached answer sometimes beat it and the reply went out passively.
    let app = spawn_cpdaily_app_with(Some(gateway), Duration::ZERO).await;
    let body = event("ev-3001", "助学金怎么申请");
    let (status, accepted) = post_signed(&app, &body, &sign(SECRET, &body, unix_now())).await;
    assert_eq!((status, accepted["status"].as_str()), (202, Some("accepted")));
    let pushes = received_pushes(&pushes).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let (verified, push) = &pushes[0];
    assert!(verified, "the push is signed with our secret and carries an Idempotency-Key");
    assert_eq!(push["to"], json!({"type": "xgh", "ids": ["2021001234"]}));
    assert!(push["content"].as_str().unwrap().contains("学生助学金申请"), "{push}");
}

#[tokio::test]
async fn a_feedback_answer_is_pushed_to_its_author_through_the_gateway() {
    use bot::campus::FeedbackStatus;
    let (gateway, pushes) = spawn_fake_gateway().await;
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    let args = ChannelArgs {
        cpdaily_app_id: Some(APP_ID.into()),
        cpdaily_secret: Some(SECRET.into()),
        cpdaily_push_url: Some(gateway),
        ..ChannelArgs::default()
    };
    settings.channels = ChannelSettings::from_args(&args).unwrap();
    let app = crate::portal::spawn_portal_app_with(db, settings).await;
    let pool = app.db.pool().await;
    sqlx::query(
        "INSERT INTO portal_feedback (id, user_id, kind, content, contact, status, answer, created_at, updated_at) \
         VALUES ('FK20261128001', '2021001234', 'feedback', '希望增加宿舍调换的在线办理', NULL, 'submitted', NULL, $1, $1)",
    )
    .bind("2026-11-28T08:00:00.000Z")
    .execute(&pool)
    .await
    .unwrap();

    let answer = "已转宿舍管理中心，下周上线。";
    let answered = app.portal.answer_feedback("FK20261128001", answer, FeedbackStatus::Answered).await.unwrap();
    assert!(answered.is_some());
    let pushes = received_pushes(&pushes).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let (verified, push) = &pushes[0];
    assert!(verified, "the push is signed with our secret and carries an Idempotency-Key");
    assert_eq!(push["to"], json!({"type": "xgh", "ids": ["2021001234"]}));
    let title = push["title"].as_str().unwrap();
    assert!(title.starts_with("您的意见反馈（FK20261128001）有了答复"), "{push}");
    let content = push["content"].as_str().unwrap();
    assert!(content.contains(answer), "{content}");
    assert!(content.contains("【意见反馈 FK20261128001】"), "the card, as text: {content}");
    assert!(content.contains("状态：已答复"), "{content}");
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_text_is_refused_without_running_or_storing_it() {
    use sqlx::Row;
    let app = spawn_cpdaily_app().await;
    let body = event("ev-long-1", &"长".repeat(bot::protocol::MAX_TEXT_CHARS + 1));
    let (status, reply) = post_signed(&app, &body, &sign(SECRET, &body, unix_now())).await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["reply"]["text"].as_str().unwrap().contains("消息过长"), "{reply}");
    let pool = app.db.pool().await;
    let logged: i64 = sqlx::query("SELECT COUNT(*) AS n FROM question_log").fetch_one(&pool).await.unwrap().get("n");
    let stored: i64 = sqlx::query("SELECT COUNT(*) AS n FROM channel_dedup WHERE response LIKE '%长长长长%'")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
    pool.close().await;
    assert_eq!((logged, stored), (0, 0), "the text is neither answered nor kept");

    // A body over the channel limit is refused before its signature is even checked.
    let huge = event("ev-long-2", &"a".repeat(100 * 1024));
    let (status, error) = post_signed(&app, &huge, &sign(SECRET, &huge, unix_now())).await;
    assert_eq!((status, error["error"]["code"].as_str()), (413, Some("body_too_large")), "{error}");
}
