//! The websocket transport: welcome, ping, replies, refused frames that leave the connection usable, ratings.

use ehall_tests::{assert_error, assert_reply, connect, data_dir, spawn_app};
use serde_json::json;

#[tokio::test]
async fn the_welcome_frame_names_a_new_guest_session_and_greets() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let w = &client.welcome.clone();
    assert_eq!(w["type"], "welcome");
    assert!(w["session"].as_str().is_some_and(|s| s.starts_with("s_")), "{w}");
    assert!(w["user"].is_null(), "a guest has no user: {w}");
    let kb = knowledge::KnowledgeBase::load(&data_dir()).expect("the knowledge base loads");
    assert_eq!(w["text"], kb.texts.welcome.text.as_str());
    let labels: Vec<&str> =
        w["suggestions"].as_array().expect("suggestions").iter().filter_map(|s| s["label"].as_str()).collect();
    let expected: Vec<&str> = kb.texts.welcome.suggestions.iter().map(String::as_str).collect();
    assert_eq!(labels, expected);
    // The session is stored on its first turn, under the id the welcome named.
    let session = client.session();
    client.send_text("1", "你好").await;
    assert_eq!(app.db.turns(&session).await, 1);
}

#[tokio::test]
async fn two_connections_get_different_sessions() {
    let app = spawn_app().await;
    let a = connect(app.addr, None).await;
    let b = connect(app.addr, None).await;
    assert_ne!(a.session(), b.session());
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    assert_eq!(client.send_raw(r#"{"type":"ping"}"#).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn a_message_gets_a_reply_answering_its_id() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let reply = client.send_text("m1", "校园卡丢了怎么补办").await;
    assert_reply(&reply, Some("m1"));
}

#[tokio::test]
async fn an_action_gets_a_reply() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let frame = json!({"type": "action", "id": "a1", "action": "menu.open", "args": {}}).to_string();
    assert_reply(&client.send_raw(&frame).await, Some("a1"));
}

#[tokio::test]
async fn refused_frames_get_error_codes_and_the_connection_goes_on() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;

    assert_error(&client.send_raw("{not json").await, "malformed_frame", None);
    assert_error(&client.send_raw("[1, 2]").await, "malformed_frame", None);
    assert_error(&client.send_raw(r#"{"type":"dance","id":"d1"}"#).await, "unknown_type", Some("d1"));
    assert_error(&client.send_raw(r#"{"text":"没有类型"}"#).await, "unknown_type", None);
    assert_error(&client.send_raw(r#"{"type":"message","id":"m0"}"#).await, "invalid_field", Some("m0"));
    assert_error(&client.send_text("e1", "   ").await, "empty_text", Some("e1"));
    let too_long = "好".repeat(2001);
    assert_error(&client.send_text("long", &too_long).await, "text_too_long", Some("long"));
    // Exactly the limit is fine.
    assert_reply(&client.send_text("max", &"好".repeat(2000)).await, Some("max"));

    assert_reply(&client.send_text("m2", "图书馆几点开门").await, Some("m2"));
    // None of the refused frames was logged as a question.
    let log = app.db.question_log(&client.session()).await;
    assert_eq!(log.len(), 2, "{log:?}");
}

#[tokio::test]
async fn a_binary_frame_is_refused_and_the_connection_goes_on() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    assert_error(&client.send_binary(&[0x7b, 0x7d]).await, "malformed_frame", None);
    assert_reply(&client.send_text("m1", "你好").await, Some("m1"));
}

#[tokio::test]
async fn a_rating_is_stored_silently_and_an_unknown_reply_is_not_found() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let reply = client.send_text("m1", "怎么申请助学金").await;
    let reply_id = reply["id"].as_str().expect("reply id").to_owned();

    // Nothing answers a rating: the very next frame is the pong of the ping sent after it.
    let rate = json!({"type": "rate", "reply": reply_id, "helpful": false, "comment": "没找到我要的"});
    client.send_only(&rate.to_string()).await;
    assert_eq!(client.send_raw(r#"{"type":"ping"}"#).await["type"], "pong");

    let pool = app.db.pool().await;
    let row: (String, i64, Option<String>) =
        sqlx::query_as("SELECT session_id, helpful, comment FROM ratings WHERE reply_id = $1")
            .bind(&reply_id)
            .fetch_one(&pool)
            .await
            .expect("the rating is stored");
    assert_eq!(row, (client.session(), 0, Some("没找到我要的".to_owned())));

    let unknown = json!({"type": "rate", "reply": "r_nope", "helpful": true});
    assert_error(&client.send_raw(&unknown.to_string()).await, "not_found", None);
    let bad = json!({"type": "rate", "reply": reply_id, "helpful": "yes"});
    assert_error(&client.send_raw(&bad.to_string()).await, "invalid_field", None);
}

#[tokio::test]
async fn a_reply_rated_twice_keeps_the_last_rating() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let reply_id = client.send_text("m1", "校园网怎么缴费").await["id"].as_str().expect("id").to_owned();
    for helpful in [false, true] {
        client.send_only(&json!({"type": "rate", "reply": reply_id, "helpful": helpful}).to_string()).await;
    }
    assert_eq!(client.send_raw(r#"{"type":"ping"}"#).await["type"], "pong");
    let pool = app.db.pool().await;
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT helpful FROM ratings WHERE reply_id = $1")
        .bind(&reply_id)
        .fetch_all(&pool)
        .await
        .expect("read ratings");
    assert_eq!(rows, vec![(1,)]);
}
