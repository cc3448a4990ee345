//! The HTTP transport: chat, its error bodies, health checks and the widget's files.

use ehall_tests::{assert_reply, chat, get, post_chat, spawn_app};
use serde_json::json;

#[tokio::test]
async fn chat_returns_a_session_and_a_reply_frame() {
    let app = spawn_app().await;
    let body = chat(app.addr, None, "校园卡丢了怎么补办").await;
    let session = body["session"].as_str().expect("a session id");
    assert!(session.starts_with("s_"), "{body}");
    assert_reply(&body["reply"], None);
    assert_eq!(app.db.turns(session).await, 1);
}

#[tokio::test]
async fn chat_with_an_id_answers_it_and_an_action_body_works() {
    let app = spawn_app().await;
    let (status, body) = post_chat(app.addr, &json!({"id": "q1", "text": "你好"}).to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_reply(&body["reply"], Some("q1"));
    let action = json!({"session": body["session"], "action": "menu.open", "args": {}});
    let (status, again) = post_chat(app.addr, &action.to_string()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["session"], body["session"]);
    assert_reply(&again["reply"], None);
}

#[tokio::test]
async fn the_same_session_continues_over_http_and_an_unknown_one_is_replaced() {
    let app = spawn_app().await;
    let first = chat(app.addr, None, "怎么申请助学金").await;
    let session = first["session"].as_str().expect("session").to_owned();
    let second = chat(app.addr, Some(&session), "需要什么材料").await;
    assert_eq!(second["session"], session.as_str());
    assert_eq!(app.db.turns(&session).await, 2);

    let fresh = chat(app.addr, Some("s_does_not_exist"), "你好").await;
    let fresh_id = fresh["session"].as_str().expect("session");
    assert_ne!(fresh_id, "s_does_not_exist");
    assert_ne!(fresh_id, session);
    let odd = chat(app.addr, Some("'; DROP TABLE sessions; --"), "你好").await;
    assert!(odd["session"].as_str().is_some_and(|s| s.starts_with("s_")));
}

#[tokio::test]
async fn bad_bodies_get_json_errors_with_stable_codes() {
    let app = spawn_app().await;
    let long = json!({"text": "好".repeat(2001)}).to_string();
    let huge = json!({"text": "a".repeat(40_000)}).to_string();
    let cases = [
        ("not json", 400, "malformed_frame"),
        ("[1]", 400, "malformed_frame"),
        ("{}", 422, "invalid_field"),
        (r#"{"text": 5}"#, 422, "invalid_field"),
        (r#"{"text": "a", "action": "b"}"#, 422, "invalid_field"),
        (r#"{"session": 1, "text": "a"}"#, 422, "invalid_field"),
        (r#"{"action": "x", "args": [1]}"#, 422, "invalid_field"),
        (r#"{"text": "  "}"#, 422, "empty_text"),
        (long.as_str(), 413, "text_too_long"),
        (huge.as_str(), 413, "text_too_long"),
    ];
    for (body, status, code) in cases {
        let (got_status, got) = post_chat(app.addr, body).await;
        let shown: String = body.chars().take(40).collect();
        assert_eq!(got_status, status, "{shown}: {got}");
        assert_eq!(got["error"]["code"], code, "{shown}: {got}");
        assert!(got["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{got}");
        assert_eq!(got.as_object().map(|o| o.len()), Some(1), "only the error object: {got}");
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let (status, _, body) = get(app.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, content_type, body) = get(app.addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("application/json"));
    let ready: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(ready["database"], "ok");
    assert!(ready["knowledge"]["services"].as_u64().is_some_and(|n| n > 0), "{ready}");
}

#[tokio::test]
async fn the_widget_and_its_page_are_served() {
    let app = spawn_app().await;
    let (status, content_type, body) = get(app.addr, "/widget.js").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/javascript"), "{content_type}");
    assert_eq!(body, server::routes::assets::WIDGET_JS);
    let (status, content_type, body) = get(app.addr, "/").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(body, include_str!("../../server/static/index.html"));
    let (status, _, _) = get(app.addr, "/no-such-page").await;
    assert_eq!(status, 404);
}
