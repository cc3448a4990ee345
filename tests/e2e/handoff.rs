//! 转人工 (docs/handoff.md) through the real server: a websocket user asks for a person, an admin takes the
//! conversation over the admin API and writes into it live, the bot stays silent meanwhile, and hands back;
//! 结束人工; a take someone else beat; out of hours and nobody-took-it, both ending in a 工单 with the contact card.

use crate::admin::{admin_app, call, ADMIN_TOKEN};
use ehall_tests::{connect, spawn_app_with, test_settings, Client, TestApp, TestDb, WAIT};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const OTHER_ADMIN_TOKEN: &str = "test-admin-token-A0002";

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = call(app, Method::GET, path, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

async fn post(app: &TestApp, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    call(app, Method::POST, path, Some(token), body).await
}

/// The open handoff of a session, as the queue lists it.
async fn queued(app: &TestApp, session: &str) -> Value {
    let list = get(app, "/api/v1/admin/handoffs").await;
    list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|h| h["session"] == session).cloned())
        .unwrap_or_else(|| panic!("session {session} is not in the queue: {list}"))
}

/// The session's handoff among the last closed ones, if it is there.
async fn closed_for(app: &TestApp, session: &str) -> Option<Value> {
    let list = get(app, "/api/v1/admin/handoffs?status=closed").await;
    list["items"].as_array().and_then(|items| items.iter().find(|h| h["session"] == session).cloned())
}

/// Reads frames until one satisfies `wanted` (notices may interleave with replies).
async fn frame_where(client: &mut Client, wanted: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let frame = client.next_frame().await;
            if wanted(&frame) {
                return frame;
            }
        }
    })
    .await
    .expect("the awaited frame arrives in time")
}

#[tokio::test]
async fn an_admin_takes_the_conversation_answers_live_and_hands_back_to_the_bot() {
    let app = admin_app().await;
    let mut user = connect(app.addr, None).await;
    let session = user.session();
    let asked = user.send_text("q1", "助学金怎么申请").await;
    assert_eq!(asked["mode"], "answer", "{asked}");

    let waiting = user.send_text("h1", "转人工").await;
    assert_eq!(waiting["intent"], "handoff.waiting", "{waiting}");
    assert_eq!(waiting["handoff"]["status"], "waiting", "{waiting}");
    assert_eq!(waiting["handoff"]["position"], 0, "{waiting}");
    assert!(waiting["text"].as_str().unwrap_or("").contains("人工客服"), "{waiting}");

    // Words written while waiting go to the desk, not to the engine.
    let relayed = user.send_text("w1", "我的助学金申请被退回了，手机 13912345678").await;
    assert_eq!(relayed["intent"], "handoff.relayed", "{relayed}");
    assert_eq!(relayed["cards"], json!([]), "the bot stays silent: {relayed}");

    let entry = queued(&app, &session).await;
    assert_eq!(entry["status"], "waiting");
    assert_eq!(entry["channel"], "ws");
    assert_eq!(entry["user"], Value::Null, "a guest");
    let id = entry["id"].as_str().expect("an id").to_owned();

    let detail = get(&app, &format!("/api/v1/admin/handoffs/{id}")).await;
    let history: Vec<&str> =
        detail["history"].as_array().expect("history").iter().filter_map(|t| t["text"].as_str()).collect();
    assert!(history.contains(&"助学金怎么申请"), "the admin sees the dialogue before: {detail}");
    assert_eq!(detail["history"][0]["item_title"], "学生助学金申请", "the answered item by its title: {detail}");
    let user_words: Vec<&str> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["from"] == "user")
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(user_words.len(), 1, "{detail}");
    assert!(!user_words[0].contains("13912345678"), "a stored message is masked: {detail}");

    // Writing before taking is refused; taking tells the user who answers.
    let (status, body) =
        post(&app, &format!("/api/v1/admin/handoffs/{id}/messages"), ADMIN_TOKEN, Some(json!({"text": "你好"}))).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("conflict")), "{body}");
    let (status, taken) = post(&app, &format!("/api/v1/admin/handoffs/{id}/take"), ADMIN_TOKEN, None).await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken["handoff"]["status"], "active");
    let joined = frame_where(&mut user, |f| f["type"] == "notice").await;
    assert_eq!(joined["handoff"]["status"], "active", "{joined}");
    assert!(joined["text"].as_str().unwrap_or("").contains("已接入"), "{joined}");

    // Someone else cannot take it any more; the taker taking again is fine.
    let (status, body) = post(&app, &format!("/api/v1/admin/handoffs/{id}/take"), OTHER_ADMIN_TOKEN, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = post(&app, &format!("/api/v1/admin/handoffs/{id}/take"), ADMIN_TOKEN, None).await;
    assert_eq!(status, 200);

    // Bad messages get a clear error and change nothing.
    let too_long = "长".repeat(2001);
    for bad in [json!({"text": "   "}), json!({"text": too_long})] {
        let (status, body) = post(&app, &format!("/api/v1/admin/handoffs/{id}/messages"), ADMIN_TOKEN, Some(bad)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "text", "{body}");
    }
    let (status, body) =
        post(&app, &format!("/api/v1/admin/handoffs/{id}/messages"), OTHER_ADMIN_TOKEN, Some(json!({"text": "我来"})))
            .await;
    assert_eq!(status, 409, "only the taker writes: {body}");

    let (status, sent) = post(
        &app,
        &format!("/api/v1/admin/handoffs/{id}/messages"),
        ADMIN_TOKEN,
        Some(json!({"text": "请把退回原因截图发给我"})),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let words = frame_where(&mut user, |f| f["type"] == "notice").await;
    assert_eq!(words["text"], "请把退回原因截图发给我", "{words}");
    assert_eq!(words["from"]["kind"], "agent", "{words}");
    assert!(!words["from"]["name"].as_str().unwrap_or("").is_empty(), "the user sees who answers: {words}");

    let reply = user.send_text("w2", "好的，原因是材料不全").await;
    assert_eq!(reply["intent"], "handoff.relayed", "{reply}");
    assert_eq!(reply["handoff"]["status"], "active", "{reply}");
    let newer = get(&app, &format!("/api/v1/admin/handoffs/{id}/messages?after={}", sent["message"]["seq"])).await;
    assert_eq!(newer["messages"][0]["text"], "好的，原因是材料不全", "{newer}");
    assert_eq!(newer["messages"][0]["from"], "user", "{newer}");

    // Handing back: the user is told and the bot answers again.
    let (status, released) = post(&app, &format!("/api/v1/admin/handoffs/{id}/release"), ADMIN_TOKEN, None).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["handoff"]["close_reason"], "released");
    let ended = frame_where(&mut user, |f| f["type"] == "notice").await;
    assert_eq!(ended["handoff"]["status"], "ended", "{ended}");
    let answered = user.send_text("q2", "校园网怎么缴费").await;
    assert!(answered["handoff"].is_null(), "{answered}");
    assert_ne!(answered["intent"], "handoff.relayed", "{answered}");
    let (status, _) = post(&app, &format!("/api/v1/admin/handoffs/{id}/release"), ADMIN_TOKEN, None).await;
    assert_eq!(status, 409, "a closed handoff cannot be released twice");
    let closed = get(&app, "/api/v1/admin/handoffs?status=closed").await;
    assert!(closed["items"].as_array().expect("items").iter().any(|h| h["id"] == id.as_str()), "{closed}");
    user.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_user_ends_the_handoff_and_a_reconnect_is_told_where_it_stands() {
    let app = admin_app().await;
    let mut user = connect(app.addr, None).await;
    let session = user.session();
    let waiting = user.send_text("h1", "人工客服").await;
    assert_eq!(waiting["intent"], "handoff.waiting", "{waiting}");
    // A reload comes back to the same handoff and is told so.
    user.close().await;
    let mut user = connect(app.addr, Some(&session)).await;
    let status = frame_where(&mut user, |f| f["type"] == "notice").await;
    assert_eq!(status["handoff"]["status"], "waiting", "{status}");
    let again = user.send_text("h2", "转人工").await;
    assert_eq!(again["intent"], "handoff.relayed", "asking again while queued is relayed: {again}");

    let ended = user.send_text("e1", "结束人工").await;
    assert_eq!(ended["intent"], "handoff.ended", "{ended}");
    assert_eq!(ended["handoff"]["status"], "ended", "{ended}");
    let answered = user.send_text("q1", "助学金怎么申请").await;
    assert_eq!(answered["mode"], "answer", "the bot answers again: {answered}");
    let list = get(&app, "/api/v1/admin/handoffs").await;
    assert!(!list["items"].as_array().expect("items").iter().any(|h| h["session"] == session.as_str()), "{list}");
    let mine = closed_for(&app, &session).await.expect("listed as closed");
    assert_eq!(mine["close_reason"], "user_ended");
    let (status, body) = call(&app, Method::GET, "/api/v1/admin/handoffs?status=bogus", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = call(&app, Method::GET, "/api/v1/admin/handoffs", None, None).await;
    assert_eq!(status, 401, "the queue is for admins only");
    user.close().await;
    app.stop().await;
}

async fn app_with_desk(desk: server::handoff::hours::HandoffSettings) -> TestApp {
    crate::admin::configure_admins();
    let db = TestDb::new();
    let settings = server::Settings { handoff: desk, ..test_settings(&db) };
    spawn_app_with(db, settings).await
}

fn ticket_in(cards: &Value) -> String {
    let feedback = cards.as_array().and_then(|cards| cards.iter().find(|c| c["kind"] == "feedback")).cloned();
    let id = feedback.expect("a 工单 card")["id"].as_str().unwrap_or("").trim_start_matches("feedback:").to_owned();
    assert!(id.starts_with("GD"), "a 工单 number: {id}");
    id
}

#[tokio::test]
async fn outside_the_hours_the_user_gets_the_contact_card_and_a_ticket_with_the_conversation() {
    let closed_desk = server::handoff::hours::HandoffSettings { days: Vec::new(), ..Default::default() };
    let app = app_with_desk(closed_desk).await;
    let mut user = connect(app.addr, None).await;
    user.send_text("q1", "校园网怎么缴费").await;
    let reply = user.send_text("h1", "找真人").await;
    assert_eq!(reply["intent"], "handoff.closed", "{reply}");
    assert_eq!(reply["handoff"]["status"], "closed", "{reply}");
    let kinds: Vec<&str> =
        reply["cards"].as_array().expect("cards").iter().filter_map(|c| c["kind"].as_str()).collect();
    assert!(kinds.contains(&"contact"), "{reply}");
    let ticket = ticket_in(&reply["cards"]);
    assert!(reply["text"].as_str().unwrap_or("").contains(&ticket), "{reply}");
    let inbox = get(&app, "/api/v1/admin/feedback").await;
    let filed = inbox["items"].as_array().and_then(|items| items.iter().find(|f| f["id"] == ticket.as_str()).cloned());
    let filed = filed.expect("the 工单 is in the inbox");
    assert!(
        filed["content"].as_str().unwrap_or("").contains("校园网怎么缴费"),
        "the conversation is attached: {filed}"
    );
    // Nothing was queued, so the bot keeps answering.
    let answered = user.send_text("q2", "助学金怎么申请").await;
    assert_eq!(answered["mode"], "answer", "{answered}");
    user.close().await;
    app.stop().await;
}

#[tokio::test]
async fn nobody_taking_it_in_time_files_a_ticket_and_tells_the_user() {
    let quick = server::handoff::hours::HandoffSettings { wait_timeout_secs: 1, ..ehall_tests::always_open_desk() };
    let app = app_with_desk(quick).await;
    let mut user = connect(app.addr, None).await;
    let session = user.session();
    let waiting = user.send_text("h1", "转人工").await;
    assert_eq!(waiting["intent"], "handoff.waiting", "{waiting}");
    user.send_text("w1", "宿舍空调坏了找谁").await;
    let notice = tokio::time::timeout(Duration::from_secs(10), frame_where(&mut user, |f| f["type"] == "notice"))
        .await
        .expect("the timeout notice arrives");
    assert_eq!(notice["handoff"]["status"], "timed_out", "{notice}");
    let kinds: Vec<&str> =
        notice["cards"].as_array().expect("cards").iter().filter_map(|c| c["kind"].as_str()).collect();
    assert!(kinds.contains(&"contact"), "{notice}");
    let ticket = ticket_in(&notice["cards"]);
    let inbox = get(&app, "/api/v1/admin/feedback").await;
    let filed = inbox["items"].as_array().and_then(|items| items.iter().find(|f| f["id"] == ticket.as_str()).cloned());
    assert!(
        filed.expect("filed")["content"].as_str().unwrap_or("").contains("宿舍空调坏了找谁"),
        "the words written while waiting are attached"
    );
    let mine = closed_for(&app, &session).await.expect("closed");
    assert_eq!((mine["close_reason"].clone(), mine["ticket"].clone()), (json!("timed_out"), json!(ticket)));
    let answered = user.send_text("q1", "助学金怎么申请").await;
    assert_eq!(answered["mode"], "answer", "{answered}");
    user.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_user_who_closed_every_connection_has_left_and_the_queue_lets_go_of_them() {
    let quick = server::handoff::hours::HandoffSettings { user_gone_secs: 1, ..ehall_tests::always_open_desk() };
    let app = app_with_desk(quick).await;
    let mut user = connect(app.addr, None).await;
    let session = user.session();
    let waiting = user.send_text("h1", "转人工").await;
    assert_eq!(waiting["intent"], "handoff.waiting", "{waiting}");
    // While connected, the user stays in the queue past the limit.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let entry = queued(&app, &session).await;
    assert_eq!(entry["user_online"], true, "{entry}");
    user.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let closed = loop {
        if let Some(mine) = closed_for(&app, &session).await {
            break mine;
        }
        assert!(std::time::Instant::now() < deadline, "the handoff of a user who left is still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(closed["close_reason"], "user_left", "{closed}");
    // Coming back later, the bot answers: nothing is handed off any more.
    let mut back = connect(app.addr, Some(&session)).await;
    let answered = back.send_text("q1", "助学金怎么申请").await;
    assert_eq!(answered["mode"], "answer", "{answered}");
    back.close().await;
    app.stop().await;
}
