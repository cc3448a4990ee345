//! Privacy end to end: a session's dialogue is its owner's alone (no session fixation), 热门问题 never carry
//! anybody's words, passwords and numbers are masked before storage, logout and expiry clear the dialogue,
//! sessions are stored on their first turn, old rows are swept, and the per-session and per-address budgets hold.

use crate::auth::demo_login;
use ehall_tests::{chat, connect, connect_with_token, spawn_app, spawn_app_with, test_settings, TestDb};
use serde_json::Value;
use server::settings::{Limits, Retention};
use sqlx::Row;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Every text stored anywhere a user's words could end up: the question log, dialogue states, notices.
async fn stored_texts(pool: &sqlx::AnyPool) -> String {
    let mut all = String::new();
    for sql in ["SELECT text AS t FROM question_log", "SELECT state_json AS t FROM sessions"] {
        for row in sqlx::query(sql).fetch_all(pool).await.expect("readable") {
            all.push_str(&row.get::<String, _>("t"));
            all.push('\n');
        }
    }
    all
}

#[tokio::test]
async fn a_guest_socket_on_a_session_a_user_logged_into_reads_nothing_of_it() {
    let app = spawn_app().await;
    // The attacker opens a guest socket and notes its session id…
    let mut attacker = connect(app.addr, None).await;
    let session = attacker.session();
    let first = attacker.send_text("a1", "你好").await;
    assert_eq!(first["type"], "reply", "{first}");
    // …the victim logs in on that id and writes a 意见反馈 with a phone number.
    let token = demo_login(&app, Some(&session), "2021001234", "demo-student").await;
    let mut victim = connect_with_token(app.addr, Some(&session), Some(&token)).await;
    assert_eq!(victim.session(), session, "the victim's dialogue continues under the id");
    victim.send_text("v1", "我要提意见").await;
    let contact_step = victim.send_text("v2", "宿舍楼道的灯坏了一周了").await;
    assert!(contact_step.to_string().contains("联系方式"), "{contact_step}");

    // The attacker's next frame is refused and the connection closed with 1008; nothing of the victim's comes back.
    let refused = attacker.send_text("a2", "跳过").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "unauthorized", "{refused}");
    assert!(!refused.to_string().contains("灯坏了"), "{refused}");
    match attacker.next_message().await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1008, "{frame:?}"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Reconnecting as a guest with the id, or asking over HTTP with it, starts a new session.
    let mut again = connect(app.addr, Some(&session)).await;
    assert_ne!(again.session(), session);
    let reply = again.send_text("a3", "跳过").await;
    assert!(!reply.to_string().contains("灯坏了"), "{reply}");
    let over_http = chat(app.addr, Some(&session), "修改").await;
    assert_ne!(over_http["session"], session.as_str(), "{over_http}");
    assert!(!over_http.to_string().contains("灯坏了"), "{over_http}");

    // The victim's form is intact and theirs to finish.
    let confirm = victim.send_text("v3", "跳过").await;
    assert!(confirm.to_string().contains("宿舍楼道的灯坏了一周了"), "{confirm}");
}

#[tokio::test]
async fn a_phone_number_typed_by_many_never_becomes_a_popular_question() {
    let app = spawn_app().await;
    // 25 askers, each asking a real question and then sending their phone number.
    for _ in 0..25 {
        let first = chat(app.addr, None, "校园卡丢了怎么补办").await;
        let session = first["session"].as_str().expect("a session").to_owned();
        chat(app.addr, Some(&session), "13812345678").await;
        chat(app.addr, Some(&session), "我的电话是13812345678，麻烦联系我").await;
    }
    for audience in [None, Some("student"), Some("teacher"), Some("guest")] {
        let path = match audience {
            Some(a) => format!("/api/v1/popular?audience={a}"),
            None => "/api/v1/popular".to_owned(),
        };
        let (status, _, body) = ehall_tests::get(app.addr, &path).await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("138"), "{path}: {body}");
        let popular: Value = serde_json::from_str(&body).expect("JSON");
        assert!(!popular["questions"].as_array().is_none_or(Vec::is_empty), "traffic made something popular: {body}");
    }
    let welcome = connect(app.addr, None).await.welcome;
    assert!(!welcome.to_string().contains("138"), "{welcome}");
    let stored = stored_texts(&app.db.pool().await).await;
    assert!(!stored.contains("13812345678"), "the number is masked in storage");
    assert!(stored.contains("[已隐去：手机号]"), "{stored}");
}

#[tokio::test]
async fn passwords_in_any_phrasing_are_refused_and_stored_nowhere() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    for (n, text) in [
        "账号zhangsan@tjcu.edu.cn 密码Abc12345",
        "密碼是Xyz98765",
        "my password is hunter22",
        "身份证120104200001011234 银行卡6222020200001234567 怎么绑定",
    ]
    .iter()
    .enumerate()
    {
        let reply = client.send_text(&format!("p{n}"), text).await;
        assert_eq!(reply["type"], "reply", "{reply}");
        for secret in ["Abc12345", "Xyz98765", "hunter22", "120104200001011234", "6222020200001234567"] {
            assert!(!reply.to_string().contains(secret), "not echoed: {reply}");
        }
        if n < 3 {
            assert!(reply["text"].as_str().unwrap_or_default().contains("不要在对话中发送密码"), "{reply}");
        }
    }
    let stored = stored_texts(&app.db.pool().await).await;
    for secret in ["Abc12345", "Xyz98765", "hunter22", "120104200001011234", "6222020200001234567"] {
        assert!(!stored.contains(secret), "{secret} is stored: {stored}");
    }
}

#[tokio::test]
async fn an_expired_login_clears_the_dialogue_of_its_session() {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.auth.token_ttl = Duration::from_secs(2);
    let app = spawn_app_with(db, settings).await;
    let token = demo_login(&app, None, "2021001234", "demo-student").await;
    let mut user = connect_with_token(app.addr, None, Some(&token)).await;
    let session = user.session();
    user.send_text("u1", "我要提意见").await;
    user.send_text("u2", "工资条上的补贴少发了").await;
    assert!(app.db.session_state(&session).await.to_string().contains("补贴少发"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The next connect with the expired token ends the session: unbound, the form gone.
    let guest = connect_with_token(app.addr, Some(&session), Some(&token)).await;
    assert_eq!(guest.welcome["user"], Value::Null, "{}", guest.welcome);
    let state = app.db.session_state(&session).await;
    assert!(!state.to_string().contains("补贴少发"), "{state}");
}

#[tokio::test]
async fn connecting_alone_stores_no_session_and_the_first_turn_does() {
    let app = spawn_app().await;
    let pool = app.db.pool().await;
    let count = |pool: sqlx::AnyPool| async move {
        sqlx::query("SELECT COUNT(*) AS n FROM sessions").fetch_one(&pool).await.expect("count").get::<i64, _>("n")
    };
    for _ in 0..5 {
        connect(app.addr, None).await.close().await;
    }
    assert_eq!(count(pool.clone()).await, 0, "connecting stores nothing");
    let mut client = connect(app.addr, None).await;
    client.send_text("1", "你好").await;
    assert_eq!(count(pool.clone()).await, 1, "the first turn stores the session");
}

#[tokio::test]
async fn the_retention_sweep_removes_old_questions_and_idle_guest_sessions() {
    let app = spawn_app().await;
    let old = chat(app.addr, None, "助学金怎么申请").await["session"].as_str().expect("a session").to_owned();
    let recent = chat(app.addr, None, "校园卡丢了怎么补办").await["session"].as_str().expect("a session").to_owned();
    let pool = app.db.pool().await;
    // Age the first session and its question by 200 days.
    let long_ago =
        (chrono::Utc::now() - chrono::Duration::days(200)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for sql in [
        "UPDATE question_log SET created_at = $1 WHERE session_id = $2",
        "UPDATE sessions SET created_at = $1, updated_at = $1 WHERE id = $2",
    ] {
        sqlx::query(sql).bind(long_ago.clone()).bind(old.clone()).execute(&pool).await.expect("aged");
    }
    let swept =
        server::store::retention::sweep(&pool, &Retention::default(), chrono::Utc::now()).await.expect("a sweep");
    assert_eq!((swept.questions, swept.sessions), (1, 1), "{swept:?}");
    let left: Vec<String> = sqlx::query("SELECT id FROM sessions")
        .fetch_all(&pool)
        .await
        .expect("sessions")
        .iter()
        .map(|r| r.get("id"))
        .collect();
    assert_eq!(left, std::slice::from_ref(&recent));
    assert_eq!(app.db.question_log(&recent).await.len(), 1);
    assert!(app.db.question_log(&old).await.is_empty());
}

#[tokio::test]
async fn one_session_and_one_address_have_their_own_turn_budgets() {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.limits =
        Limits { session_turn_burst: 3, session_turns_per_second: 0.001, question_burst: 0, ..Limits::default() };
    let app = spawn_app_with(db, settings).await;
    let first = chat(app.addr, None, "你好").await;
    let session = first["session"].as_str().expect("a session").to_owned();
    chat(app.addr, Some(&session), "你好").await;
    chat(app.addr, Some(&session), "你好").await;
    // The fourth turn of that session is refused, over HTTP and over a websocket alike; other sessions go on.
    let (status, body) =
        ehall_tests::post_chat(app.addr, &serde_json::json!({"text": "你好", "session": session}).to_string()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    let mut other = connect(app.addr, None).await;
    assert_eq!(other.send_text("o1", "你好").await["type"], "reply");

    // Per address over the websocket: a budget of 2 questions, the third refused with `rate_limited`.
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.limits =
        Limits { question_burst: 2, questions_per_second: 0.001, session_turn_burst: 0, ..Limits::default() };
    let app = spawn_app_with(db, settings).await;
    let mut client = connect(app.addr, None).await;
    assert_eq!(client.send_text("q1", "你好").await["type"], "reply");
    assert_eq!(client.send_text("q2", "你好").await["type"], "reply");
    let refused = client.send_text("q3", "你好").await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("rate_limited")),
        "{refused}"
    );
    assert_eq!(refused["in_reply_to"], "q3");
}

#[tokio::test]
async fn an_oversized_websocket_message_is_closed_with_1009_and_counted() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let bad = client.send_raw("{not json").await;
    assert_eq!(bad["code"], "malformed_frame");
    let huge = format!(r#"{{"type":"message","id":"x","text":"{}"}}"#, "长".repeat(20_000));
    client.send_only(&huge).await;
    match client.next_message().await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009, "{frame:?}"),
        other => panic!("expected a close frame with 1009, got {other:?}"),
    }
    let (_, _, metrics) = ehall_tests::get(app.addr, "/metrics").await;
    assert!(metrics.contains(r#"ehall_errors_total{code="malformed_frame"}"#), "{metrics}");
    assert!(metrics.contains(r#"ehall_errors_total{code="text_too_long"}"#), "{metrics}");
}
