//! 今日校园 webhook over real HTTP: signed, fresh, single-use requests answered with the rendered reply; forged,
//! stale and replayed requests refused; a retried event gets the very same answer.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use ehall_tests::{spawn_app_with, test_settings, TestApp, TestDb, WAIT};
use serde_json::{json, Value};
use server::channels::cpdaily::{new_nonce, unix_now, SignedHeaders};
use server::channels::dispatch::{ChannelArgs, ChannelSettings};
use std::time::Duration;

const APP_ID: &str = "campus-gateway";
const SECRET: &str = "cpdaily-test-secret";
const WEBHOOK: &str = "/channels/cpdaily/webhook";

async fn spawn_cpdaily_app() -> TestApp {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    let args = ChannelArgs {
        cpdaily_app_id: Some(APP_ID.into()),
        cpdaily_secret: Some(SECRET.into()),
        ..ChannelArgs::default()
    };
    settings.channels = ChannelSettings::from_args(&args).unwrap();
    if let Some(cpdaily) = settings.channels.cpdaily.as_mut() {
        // The first answer of a fresh test server may be slow to warm up; the contract's 3 s is for production.
        cpdaily.reply_deadline = Duration::from_secs(15);
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
    SignedHeaders::sign(
        APP_ID,
        secret.as_bytes(),
        "POST",
        WEBHOOK,
        body.as_bytes(),
        timestamp,
        &new_nonce(),
    )
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
    assert!(
        answer["reply"]["link"]
            .as_str()
            .is_none_or(|link| link.starts_with("http")),
        "{answer}"
    );

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
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("stale_timestamp"))
    );

    let mut tampered = sign(SECRET, &body, unix_now());
    tampered.app_id = "someone-else".into();
    let (status, error) = post_signed(&app, &body, &tampered).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("unknown_app")));

    // A signed body altered on the way.
    let headers = sign(SECRET, &body, unix_now());
    let altered = body.replace("在读证明", "成绩单");
    let (status, error) = post_signed(&app, &altered, &headers).await;
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("bad_signature")));

    let response = reqwest::Client::new()
        .post(app.http_url(WEBHOOK))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "missing_header");
}
