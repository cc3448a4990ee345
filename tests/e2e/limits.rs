//! The websocket's limits: frame rate, idle time, message size and engine time, each refused in its own way.

use ehall_tests::{assert_error, assert_reply, connect, spawn_app_with, test_settings, TestDb};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn app_with(limits: impl FnOnce(&mut server::settings::Limits)) -> ehall_tests::TestApp {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    limits(&mut settings.limits);
    spawn_app_with(db, settings).await
}

#[tokio::test]
async fn frames_over_the_rate_budget_are_refused_and_the_connection_stays_open() {
    let app = app_with(|l| {
        l.rate_limit_frames = 3;
        l.rate_window = Duration::from_secs(600);
    })
    .await;
    let mut client = connect(app.addr, None).await;
    for _ in 0..3 {
        assert_eq!(client.send_raw(r#"{"type":"ping"}"#).await["type"], "pong");
    }
    assert_error(&client.send_raw(r#"{"type":"ping"}"#).await, "rate_limited", None);
    // A refused frame is not processed: the message below is neither answered nor logged.
    assert_error(&client.send_text("m1", "你好").await, "rate_limited", None);
    assert!(app.db.question_log(&client.session()).await.is_empty());
}

#[tokio::test]
async fn an_idle_connection_is_closed_normally() {
    let app = app_with(|l| l.ws_idle_timeout = Duration::from_millis(300)).await;
    let mut client = connect(app.addr, None).await;
    match client.next_message().await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected a normal close, got {other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_message_ends_only_its_own_connection() {
    let app = app_with(|_| {}).await;
    let mut big = connect(app.addr, None).await;
    let huge = format!(r#"{{"type":"message","text":"{}"}}"#, "a".repeat(20 * 1024));
    big.send_only(&huge).await;
    loop {
        match big.next_message().await {
            None | Some(Message::Close(_)) => break,
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            Some(other) => panic!("expected the connection to end, got {other:?}"),
        }
    }
    let mut next = connect(app.addr, None).await;
    assert_reply(&next.send_text("m1", "你好").await, Some("m1"));
}

#[tokio::test]
async fn an_engine_turn_over_its_time_is_answered_overloaded() {
    let app = app_with(|l| l.turn_timeout = Duration::ZERO).await;
    let mut client = connect(app.addr, None).await;
    assert_error(&client.send_text("slow", &"校园卡补办".repeat(300)).await, "overloaded", Some("slow"));
    assert_eq!(client.send_raw(r#"{"type":"ping"}"#).await["type"], "pong");
}

#[tokio::test]
async fn websockets_over_the_connection_limit_are_refused_until_one_closes() {
    let app = app_with(|l| l.max_connections = 1).await;
    let first = connect(app.addr, None).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("a JSON error body");
            assert_eq!(body["error"]["code"], "overloaded");
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    first.close().await;
    // The slot frees when the server notices the close; retry briefly.
    for attempt in 0.. {
        match tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await {
            Ok(_) => break,
            Err(_) if attempt < 50 => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("the slot never freed: {e}"),
        }
    }
}
