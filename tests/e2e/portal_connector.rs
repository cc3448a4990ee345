//! The HTTP/JSON campus connector (`docs/connectors.md`) against a small campus system on 127.0.0.1:0: figures,
//! 办件 and 消息 come from it with each system's token, favorites stay in our database, and a failing system gets
//! a polite answer instead of an error.

use crate::portal::{field, first_card, spawn_portal_app_with, text, PortalClient, STUDENT, TEACHER};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ehall_tests::{test_settings, TestDb};
use serde_json::json;
use server::campus::config::{CampusSettings, CampusSource, CampusSystems, SystemEndpoint};
use server::Secret;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "campus-test-token";

/// What the fake campus system saw.
#[derive(Default)]
struct Seen {
    users: Vec<String>,
    marked_read: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn onecard(State(seen): State<Shared>, headers: HeaderMap, Path(user): Path<String>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Ok(mut s) = seen.lock() {
        s.users.push(user.clone());
    }
    Json(json!({"balance_cents": 4321, "transition_cents": 100, "recent": [{"at": "2026-11-27 12:00", "place": "第三食堂", "amount_cents": -850}]}))
        .into_response()
}

async fn payslip(headers: HeaderMap, Path(_user): Path<String>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

async fn affairs(headers: HeaderMap, Path(_user): Path<String>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!([
        {"id": "X1", "kind": "ongoing", "title": "学生助学金申请", "status": "审核中", "updated_at": "2026-11-20 10:00",
         "steps": [{"name": "学生提交申请", "state": "done"}, {"name": "辅导员审核", "state": "current"}]},
        {"id": "X2", "kind": "todo", "title": "补交申请表", "status": "待处理", "updated_at": "2026-11-21 10:00", "steps": []}
    ]))
    .into_response()
}

async fn messages(headers: HeaderMap, Path(_user): Path<String>) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!([{"id": "m-1", "title": "选课提醒", "body": "选课将于明天开始。", "sender": "教务处", "sent_at": "2026-11-27 08:00", "read": false}]))
        .into_response()
}

async fn mark_read(
    State(seen): State<Shared>,
    headers: HeaderMap,
    Path((_user, id)): Path<(String, String)>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Ok(mut s) = seen.lock() {
        s.marked_read.push(id);
    }
    Json(json!({})).into_response()
}

async fn spawn_campus_system(seen: Shared) -> String {
    let app = Router::new()
        .route("/users/{user}/onecard", get(onecard))
        .route("/users/{user}/payslips/latest", get(payslip))
        .route("/users/{user}/affairs", get(affairs))
        .route("/users/{user}/messages", get(messages))
        .route("/users/{user}/messages/{id}/read", post(mark_read))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn endpoint(base: &str, token: &str) -> Option<SystemEndpoint> {
    Some(SystemEndpoint { base_url: base.to_owned(), token: Secret::new(token.to_owned()) })
}

#[tokio::test]
async fn campus_data_comes_from_the_configured_systems() {
    let seen = Shared::default();
    let base = spawn_campus_system(seen.clone()).await;
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.campus = CampusSettings {
        source: CampusSource::Http,
        timeout_ms: Some(2000),
        mail_binding_url: None,
        systems: CampusSystems {
            onecard: endpoint(&base, TOKEN),
            payroll: endpoint(&base, TOKEN),
            network: endpoint(&base, "a-wrong-token"),
            mail: None,
            affairs: endpoint(&base, TOKEN),
            messages: endpoint(&base, TOKEN),
        },
    };
    let app = spawn_portal_app_with(db, settings).await;
    let (mut me, _) = PortalClient::logged_in(app.addr, STUDENT).await;

    let reply = me.say("饭卡还有多少钱").await;
    assert_eq!(field(first_card(&reply), "卡内余额"), "43.21元", "{reply}");
    assert_eq!(
        seen.lock().map(|s| s.users.clone()).unwrap_or_default(),
        vec!["2021001234".to_owned()],
        "asked for the session's user"
    );
    let reply = me.say("进行中的办件").await;
    assert_eq!(first_card(&reply)["items"].as_array().map(Vec::len), Some(1), "only the ongoing list: {reply}");
    let reply = me.say("助学金申请到哪一步了").await;
    assert!(text(&reply).contains("辅导员审核"), "{reply}");
    let reply = me.say("我的消息").await;
    assert_eq!(first_card(&reply)["title"], "选课提醒", "{reply}");
    let reply = me.press("message.read", json!({"id": "m-1"})).await;
    assert!(text(&reply).contains("已标为已读"), "{reply}");
    assert_eq!(seen.lock().map(|s| s.marked_read.clone()).unwrap_or_default(), vec!["m-1".to_owned()]);

    // A system refusing our token, and one not configured, are "unavailable", never an error frame.
    let reply = me.say("校园网流量还剩多少").await;
    assert_eq!(reply["mode"], "fallback", "{reply}");
    assert!(text(&reply).contains("暂时无法访问"), "{reply}");
    let reply = me.say("邮箱有没有新邮件").await;
    assert!(text(&reply).contains("暂时无法访问"), "{reply}");
    // Favorites stay ours.
    let reply = me.say("收藏教务系统").await;
    assert!(text(&reply).contains("已收藏"), "{reply}");
    me.close().await;

    let (mut teacher, _) = PortalClient::logged_in(app.addr, TEACHER).await;
    let reply = teacher.say("这个月工资").await;
    assert!(text(&reply).contains("暂时没有查到"), "a 404 payslip is no payslip: {reply}");
    teacher.close().await;
    app.stop().await;
}
