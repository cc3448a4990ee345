//! The admin API: live knowledge edits while clients keep chatting, access control, audit, validation, the
//! unanswered loop, explain, analytics, 热门问题 per audience, department-scoped freshness for admins logged in
//! through CAS, metrics and the OpenAPI document.

use ehall_tests::{chat, connect, connect_with_token, spawn_app, TestApp, WAIT};
use serde_json::{json, Value};
use sqlx::Row;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-A0001";
const DEPT_ADMIN_TOKEN: &str = "test-admin-token-A0002";
const STUDENT_TOKEN: &str = "test-student-token-S0001";

/// The admin identities of these tests (the same values for every test of the process).
pub(crate) fn configure_admins() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY (edition 2021: set_var is safe): set once, before any test server reads them, to fixed values.
        // S2015002 (the demo CAS's 职工 王工) is an admin by this list only, bound to 后勤管理处.
        std::env::set_var("EHALL_ADMINS", "A0001,A0002,S2015002:后勤管理处");
        std::env::set_var(
            "EHALL_ADMIN_TOKENS",
            format!("{ADMIN_TOKEN}=A0001,{DEPT_ADMIN_TOKEN}=A0002:网信办,{STUDENT_TOKEN}=S0001"),
        );
    });
}

pub(crate) async fn admin_app() -> TestApp {
    configure_admins();
    spawn_app().await
}

pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, app.http_url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the request is sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let (status, body) = call(app, reqwest::Method::GET, path, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

#[tokio::test]
async fn an_edited_phone_is_answered_at_once_while_another_client_keeps_chatting() {
    let app = admin_app().await;
    let question = "校园网故障报修电话是多少";
    let before = chat(app.addr, None, question).await;
    assert!(!before.to_string().contains("22229999"), "{before}");

    // A concurrent client chats all along the edit; every turn must be answered.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let addr = app.addr;
    let background = {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        tokio::spawn(async move {
            let mut client = connect(addr, None).await;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) || n < 3 {
                n += 1;
                let frame = client.send_text(&format!("c{n}"), "校园卡丢了怎么补办").await;
                assert_eq!(frame["type"], "reply", "{frame}");
                answered.fetch_add(1, Ordering::Relaxed);
                // Under the websocket's rate limit (30 frames per 10 s).
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            }
        })
    };

    let record = admin_get(&app, "/api/v1/admin/items/service/s1-it-network-repair").await;
    let mut body = record["body"].clone();
    body["contact"]["phone"] = json!("22229999");
    let (status, saved) = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/admin/items/service/s1-it-network-repair",
        Some(ADMIN_TOKEN),
        Some(json!({ "body": body })),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["live"], true);

    let after = chat(app.addr, None, question).await;
    assert!(after.to_string().contains("22229999"), "the next answer shows the new phone: {after}");

    stop.store(true, Ordering::Relaxed);
    background.await.expect("the concurrent client got every answer");
    assert!(answered.load(Ordering::Relaxed) >= 3);

    let audit = admin_get(&app, "/api/v1/admin/audit?item=s1-it-network-repair").await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["actor"], "A0001", "{audit}");
    assert_eq!(entry["action"], "edit");
    assert_eq!(entry["before"]["body"]["contact"]["phone"], "26669577");
    assert_eq!(entry["after"]["body"]["contact"]["phone"], "22229999");
    assert!(entry["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    // The database is the source of truth: a restart on the same database keeps the edit.
    let db = app.stop().await;
    let again = ehall_tests::spawn_app_on(db).await;
    let answer = chat(again.addr, None, question).await;
    assert!(answer.to_string().contains("22229999"), "{answer}");
}

#[tokio::test]
async fn guests_get_401_and_non_admins_403() {
    let app = admin_app().await;
    let (status, body) = call(&app, reqwest::Method::GET, "/api/v1/admin/items", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = call(&app, reqwest::Method::GET, "/api/v1/admin/items", Some("not-a-known-token"), None).await;
    assert_eq!(status, 401);
    let (status, body) = call(&app, reqwest::Method::GET, "/api/v1/admin/items", Some(STUDENT_TOKEN), None).await;
    assert_eq!(status, 403, "{body}");
    let put = json!({"body": {"id": "x"}});
    let (status, _) =
        call(&app, reqwest::Method::PUT, "/api/v1/admin/items/faq/x", Some(STUDENT_TOKEN), Some(put)).await;
    assert_eq!(status, 403);
    let me = admin_get(&app, "/api/v1/admin/me").await;
    assert_eq!(me["id"], "A0001");
}

#[tokio::test]
async fn validation_errors_name_the_field_and_change_nothing() {
    let app = admin_app().await;
    let record = admin_get(&app, "/api/v1/admin/items/service/s1-it-network-repair").await;
    let mut body = record["body"].clone();
    body["department"] = json!("没有这个部门");
    let path = "/api/v1/admin/items/service/s1-it-network-repair";
    let (status, err) = call(&app, reqwest::Method::PUT, path, Some(ADMIN_TOKEN), Some(json!({ "body": body }))).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "department", "{err}");

    let mut missing = record["body"].clone();
    missing.as_object_mut().expect("an object").remove("summary");
    let (status, err) =
        call(&app, reqwest::Method::PUT, path, Some(ADMIN_TOKEN), Some(json!({ "body": missing }))).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "summary", "{err}");

    let unchanged = admin_get(&app, path).await;
    assert_eq!(unchanged["body"], record["body"]);
    let audit = admin_get(&app, "/api/v1/admin/audit").await;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(0), "{audit}");
}

#[tokio::test]
async fn faqs_are_created_found_and_retired() {
    let app = admin_app().await;
    let faq = json!({"id": "f-admin-test-locker", "question": "图书馆储物柜钥匙丢了怎么办？", "answer": "请到图书馆一楼服务台登记，押金可退。"});
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/admin/items/faq",
        Some(ADMIN_TOKEN),
        Some(json!({"body": faq, "questions": ["储物柜钥匙找不到了"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let answer = chat(app.addr, None, "图书馆储物柜钥匙丢了怎么办").await;
    assert!(answer.to_string().contains("服务台登记"), "{answer}");

    let found = admin_get(&app, "/api/v1/admin/items?kind=faq&q=储物柜").await;
    assert_eq!(found["total"], 1, "{found}");

    let (status, _) =
        call(&app, reqwest::Method::DELETE, "/api/v1/admin/items/faq/f-admin-test-locker", Some(ADMIN_TOKEN), None)
            .await;
    assert_eq!(status, 200);
    let gone = chat(app.addr, None, "图书馆储物柜钥匙丢了怎么办").await;
    assert!(!gone.to_string().contains("服务台登记"), "{gone}");
}

#[tokio::test]
async fn an_unanswered_question_is_grouped_then_attached_and_then_answered() {
    let app = admin_app().await;
    let odd = "蓝鲸打卡积分怎么兑换";
    let first = chat(app.addr, None, odd).await;
    assert_ne!(first["reply"]["mode"], "answer", "the question starts unanswered: {first}");
    chat(app.addr, None, "蓝鲸打卡积分怎么兑换？").await;

    let review = admin_get(&app, "/api/v1/admin/unanswered").await;
    let group = review["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["text"].as_str().is_some_and(|t| t.contains("蓝鲸打卡"))))
        .cloned()
        .unwrap_or_else(|| panic!("the question is listed for review: {review}"));
    assert_eq!(group["count"], 2, "{group}");

    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/admin/unanswered/faq",
        Some(ADMIN_TOKEN),
        Some(json!({"text": odd, "question": "蓝鲸打卡积分如何兑换？", "answer": "蓝鲸打卡积分可在体育部公众号兑换运动装备。"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let now = chat(app.addr, None, odd).await;
    assert_eq!(now["reply"]["mode"], "answer", "{now}");
    assert!(now.to_string().contains("体育部公众号"), "{now}");

    let review = admin_get(&app, "/api/v1/admin/unanswered").await;
    assert!(!review.to_string().contains("蓝鲸打卡"), "resolved questions leave the list: {review}");
}

#[tokio::test]
async fn a_reviewed_question_attached_to_an_item_is_answered_by_it() {
    let app = admin_app().await;
    let odd = "天商ID的那个东西搞不定了咋整";
    let first = chat(app.addr, None, odd).await;
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/admin/unanswered/attach",
        Some(ADMIN_TOKEN),
        Some(json!({"text": odd, "item_id": "s1-it-uid-password"})),
    )
    .await;
    assert_eq!(status, 200, "{body} (first answer: {first})");
    let now = chat(app.addr, None, odd).await;
    assert_eq!(now["reply"]["mode"], "answer", "{now}");
    let item = admin_get(&app, "/api/v1/admin/items/service/s1-it-uid-password").await;
    assert!(item["questions"].as_array().is_some_and(|q| q.iter().any(|x| x == odd)), "{item}");
}

#[tokio::test]
async fn explain_analytics_stale_and_popular() {
    let app = admin_app().await;
    chat(app.addr, None, "校园卡丢了怎么补办").await;
    chat(app.addr, None, "今天天气怎么样").await;

    let questions = admin_get(&app, "/api/v1/admin/questions?limit=10").await;
    let id = questions["questions"][0]["id"].as_str().expect("a logged question").to_owned();
    let why = admin_get(&app, &format!("/api/v1/admin/questions/{id}/explain")).await;
    assert!(why["decision"].is_string(), "{why}");
    assert!(why["terms"].is_array());
    let direct = admin_get(&app, "/api/v1/admin/explain?text=%E6%A0%A1%E5%9B%AD%E5%8D%A1%E4%B8%A2%E4%BA%86").await;
    let top = &direct["candidates"][0];
    assert!(top["fused"].is_number() && top["lexical_rank"].is_number(), "{direct}");

    let stats = admin_get(&app, "/api/v1/admin/analytics?days=7").await;
    assert_eq!(stats["total"], 2, "{stats}");
    assert!(stats["per_day"][0]["channels"]["http"].as_u64() == Some(2), "{stats}");
    assert!(stats["latency_ms"]["median"].is_number());
    assert!(stats["never_asked"]["total"].as_u64().unwrap_or(0) > 10);

    let fresh = admin_get(&app, "/api/v1/admin/stale").await;
    assert_eq!(fresh["total"], 0, "everything was reviewed at seeding: {fresh}");
    let all = admin_get(&app, "/api/v1/admin/stale?days=-1").await;
    assert!(all["total"].as_u64().unwrap_or(0) > 50, "{}", all["total"]);
    let (status, own) =
        call(&app, reqwest::Method::GET, "/api/v1/admin/stale?days=-1", Some(DEPT_ADMIN_TOKEN), None).await;
    assert_eq!(status, 200);
    let items = own["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.iter().all(|i| i["owner_department"] == "网信办"), "{own}");
    // A look-back chrono cannot represent is refused with the field named, and the connection stays usable.
    let huge = format!("/api/v1/admin/stale?days={}", i64::MAX);
    let (status, refused) = call(&app, reqwest::Method::GET, &huge, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_field", "{refused}");
    assert_eq!(refused["error"]["field"], "days", "{refused}");
    let (status, _) = call(&app, reqwest::Method::GET, "/api/v1/admin/stale?days=36500", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200);

    let (status, popular) = call(&app, reqwest::Method::GET, "/api/v1/popular", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(popular["questions"], json!([]), "too little traffic for popular questions: {popular}");
}

#[tokio::test]
async fn metrics_and_every_documented_route() {
    let app = admin_app().await;
    chat(app.addr, None, "校园卡丢了怎么补办").await;
    let (status, text) = call(&app, reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 200);
    let text = text.as_str().expect("plain text").to_owned();
    for family in [
        "ehall_questions_total{channel=\"http\"",
        "ehall_turn_latency_seconds_bucket",
        "ehall_websocket_connections",
        "ehall_errors_total",
    ] {
        assert!(text.contains(family), "{family} in {text}");
    }

    let (status, doc) = call(&app, reqwest::Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            if op.get("x-only-when").is_some() {
                continue;
            }
            let concrete = path.replace("{kind}", "faq").replace("{id}", "no-such-id");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            if concrete == "/ws" {
                continue;
            }
            let resp = reqwest::Client::new().request(m, app.http_url(&concrete)).send().await.expect("sent");
            let not_found = resp.status() == reqwest::StatusCode::NOT_FOUND;
            let routed = resp.status() != reqwest::StatusCode::METHOD_NOT_ALLOWED
                && (!not_found || concrete.contains("no-such-id"));
            assert!(routed, "{method} {path} is documented but not routed ({})", resp.status());
        }
    }
    let (status, _) = call(&app, reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    let (status, ready) = call(&app, reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200, "{ready}");
}

#[tokio::test]
async fn export_writes_the_edited_knowledge_as_a_data_folder() {
    let app = admin_app().await;
    let path = "/api/v1/admin/items/faq/f-service-not-found";
    let record = admin_get(&app, path).await;
    let mut body = record["body"].clone();
    body["answer"] = json!("请在办事大厅“意见反馈”中提出，网信办会协调业务部门上线。");
    let (status, saved) = call(
        &app,
        reqwest::Method::PUT,
        path,
        Some(ADMIN_TOKEN),
        Some(json!({"body": body, "questions": ["找不到想办的事项"]})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");

    let out = tempfile::tempdir().expect("a temp dir");
    let set = server::admin::export::export(&app.db.url(), out.path())
        .await
        .expect("export works")
        .expect("knowledge exported");
    assert!(set.faqs.iter().any(|f| f.answer.contains("网信办会协调")));
    let kb = knowledge::KnowledgeBase::load(out.path()).expect("the exported folder loads like data/");
    let faq = kb.by_id("f-service-not-found").and_then(|r| kb.faq(r)).expect("the FAQ is there");
    assert!(faq.answer.contains("网信办会协调"));
    let item = kb.by_id("f-service-not-found").expect("by id");
    assert!(kb.questions.get(&item).is_some_and(|q| q.iter().any(|x| x == "找不到想办的事项")));
}

/// The title of the first card of a chat response (the item answered).
fn answered_title(response: &Value) -> String {
    assert_eq!(response["reply"]["mode"], "answer", "{response}");
    response["reply"]["cards"][0]["title"].as_str().expect("an answer card").to_owned()
}

#[tokio::test]
async fn the_welcome_suggests_popular_questions_once_there_is_traffic() {
    let app = admin_app().await;
    let authored = connect(app.addr, None).await.welcome["suggestions"].clone();
    // Every chat call without a session is a new session: 12 and 10 different askers.
    let mut card_title = String::new();
    for _ in 0..12 {
        card_title = answered_title(&chat(app.addr, None, "校园卡丢了怎么补办").await);
    }
    for _ in 0..10 {
        chat(app.addr, None, "助学金怎么申请").await;
    }
    let (status, popular) = call(&app, reqwest::Method::GET, "/api/v1/popular", None, None).await;
    assert_eq!(status, 200);
    let questions = popular["questions"].as_array().cloned().unwrap_or_default();
    // Shown as the item's own title, not as anybody's words.
    assert!(questions.iter().any(|q| *q == card_title), "{card_title}: {popular}");
    assert!(popular.get("by_audience").is_none(), "no other audience's list: {popular}");
    let welcome = connect(app.addr, None).await.welcome;
    let texts = suggestion_texts(&welcome);
    assert_eq!(texts.first(), Some(&card_title), "{welcome} (authored: {authored})");
}

#[tokio::test]
async fn feedback_is_listed_answered_and_the_answer_is_kept_as_a_notice_for_its_author() {
    let app = admin_app().await;
    let pool = app.db.pool().await;
    sqlx::query(
        "INSERT INTO portal_feedback (id, user_id, kind, content, contact, status, answer, created_at, updated_at) \
         VALUES ('GD20261127001', '2021001234', 'ticket', '宿舍网络经常断线', NULL, 'submitted', NULL, $1, $1)",
    )
    .bind("2026-11-27T08:00:00.000Z")
    .execute(&pool)
    .await
    .expect("a feedback row");

    let inbox = admin_get(&app, "/api/v1/admin/feedback?status=submitted").await;
    assert_eq!(inbox["items"][0]["id"], "GD20261127001", "{inbox}");

    let path = "/api/v1/admin/feedback/GD20261127001";
    let (status, body) =
        call(&app, reqwest::Method::POST, path, Some(ADMIN_TOKEN), Some(json!({"status": "processing"}))).await;
    assert_eq!(status, 200, "{body}");
    let answer = json!({"status": "answered", "answer": "已派工程师检修宿舍交换机，请明天再试。"});
    let (status, body) = call(&app, reqwest::Method::POST, path, Some(ADMIN_TOKEN), Some(answer)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notified"], true);

    let row = sqlx::query("SELECT status, answer FROM portal_feedback WHERE id = 'GD20261127001'")
        .fetch_one(&pool)
        .await
        .expect("row");
    assert_eq!(row.get::<String, _>("status"), "answered");
    let notices: i64 = sqlx::query("SELECT COUNT(*) AS n FROM portal_notices WHERE user_id = '2021001234'")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
    assert!(notices >= 1, "the answer waits as a notice for its author, who is not connected");
    let (status, _) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/admin/feedback/NOPE",
        Some(ADMIN_TOKEN),
        Some(json!({"status": "closed"})),
    )
    .await;
    assert_eq!(status, 404);
}

/// Logs in through the demo CAS as a browser would (login → CAS form → callback) and returns the login token.
async fn cas_login(app: &TestApp, user: &str, password: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .expect("an HTTP client");
    let location = |r: &reqwest::Response| -> String {
        assert!(r.status().is_redirection(), "a redirect, not {}", r.status());
        r.headers()["location"].to_str().expect("ASCII").to_owned()
    };
    let to_cas = location(&client.get(app.http_url("/auth/login")).send().await.expect("GET /auth/login"));
    let service = reqwest::Url::parse(&to_cas)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.into_owned())
        .expect("a service");
    let submitted = client
        .post(app.http_url("/cas/login"))
        .form(&[("username", user), ("password", password), ("service", service.as_str())])
        .send()
        .await
        .expect("POST the CAS form");
    let callback = location(&submitted);
    let page = client.get(&callback).send().await.expect("GET the callback").text().await.expect("a page");
    let start = page.find("var token=\"").expect("the page carries a token") + "var token=\"".len();
    let end = start + page[start..].find('"').expect("the token ends");
    page[start..end].to_owned()
}

fn suggestion_texts(welcome: &Value) -> Vec<String> {
    welcome["suggestions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["text"].as_str().map(str::to_owned))
        .collect()
}

const TEACHER_QUESTION: &str = "教师资格证怎么认定";
const STUDENT_QUESTION: &str = "助学金怎么申请";

/// Asks `question` `times` times in each of `sessions` sessions of a user (one CAS login per session); returns
/// the last token and the title of the item answered.
async fn ask_as(app: &TestApp, user: (&str, &str), question: &str, sessions: usize, times: usize) -> (String, String) {
    let (mut token, mut title) = (String::new(), String::new());
    for s in 0..sessions {
        token = cas_login(app, user.0, user.1).await;
        let mut client = connect_with_token(app.addr, None, Some(&token)).await;
        for n in 0..times {
            let reply = client.send_text(&format!("{s}-{n}"), question).await;
            assert_eq!(reply["mode"], "answer", "{reply}");
            title = reply["cards"][0]["title"].as_str().expect("a card").to_owned();
        }
    }
    (token, title)
}

#[tokio::test]
async fn each_audience_is_suggested_what_its_own_askers_ask_most() {
    let app = admin_app().await;
    // Teachers and students ask different things, each in 4 sessions: 12 + 12 answered questions pass the overall
    // threshold (20) and each audience's own (10).
    let (teacher_token, teacher_item) = ask_as(&app, ("T2008001", "demo-teacher"), TEACHER_QUESTION, 4, 3).await;
    let (student_token, student_item) = ask_as(&app, ("2021001234", "demo-student"), STUDENT_QUESTION, 4, 3).await;
    let pool = app.db.pool().await;
    let audiences: Vec<(String, i64)> =
        sqlx::query("SELECT audience, COUNT(*) AS n FROM question_log GROUP BY audience ORDER BY audience")
            .fetch_all(&pool)
            .await
            .expect("the log")
            .iter()
            .map(|r| (r.get("audience"), r.get("n")))
            .collect();
    assert_eq!(audiences, [("student".to_owned(), 12), ("teacher".to_owned(), 12)]);

    // `/api/v1/popular` answers for the asker only: the token's audience, a guest without one.
    let popular = |token: Option<String>, query: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/v1/popular{query}");
            let (status, body) = call(app, reqwest::Method::GET, &path, token.as_deref(), None).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let teachers = popular(Some(teacher_token.clone()), "").await;
    assert_eq!(teachers["audience"], "teacher");
    assert_eq!(teachers["questions"], json!([teacher_item]), "{teachers}");
    let students = popular(Some(student_token.clone()), "").await;
    assert_eq!(students["questions"], json!([student_item]), "{students}");
    // Guests asked nothing of their own: they get the overall list; asking for another audience changes nothing.
    let guests = popular(None, "?audience=teacher").await;
    assert_eq!(guests["audience"], "guest");
    let overall = json!([student_item, teacher_item]);
    let mut shown: Vec<Value> = guests["questions"].as_array().cloned().unwrap_or_default();
    shown.sort_by_key(|v| v.as_str().map(str::to_owned));
    let mut expected: Vec<Value> = overall.as_array().cloned().unwrap_or_default();
    expected.sort_by_key(|v| v.as_str().map(str::to_owned));
    assert_eq!(shown, expected, "{guests}");
    assert!(guests.get("by_audience").is_none(), "{guests}");

    // Each welcome suggests its own audience's 热门问题.
    let teacher_welcome = connect_with_token(app.addr, None, Some(&teacher_token)).await.welcome;
    assert_eq!(suggestion_texts(&teacher_welcome), std::slice::from_ref(&teacher_item), "{teacher_welcome}");
    let student_welcome = connect_with_token(app.addr, None, Some(&student_token)).await.welcome;
    assert_eq!(suggestion_texts(&student_welcome), std::slice::from_ref(&student_item), "{student_welcome}");

    let stats = admin_get(&app, "/api/v1/admin/analytics?days=7").await;
    assert_eq!(stats["audiences"]["teacher"], 12, "{stats}");
    assert_eq!(stats["popular_by_audience"]["student"], json!([student_item]));
}

async fn stale_as(app: &TestApp, token: &str, query: &str) -> Value {
    let path = format!("/api/v1/admin/stale?days=-1{query}");
    let (status, body) = call(app, reqwest::Method::GET, &path, Some(token), None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn departments(stale: &Value) -> std::collections::BTreeSet<String> {
    stale["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["owner_department"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn admins_logged_in_through_cas_see_their_own_departments_stale_items() {
    let app = admin_app().await;

    // A CAS admin with the `adminDepartment` attribute (the demo account A0002).
    let scoped = cas_login(&app, "A0002", "demo-dept-admin").await;
    let me = {
        let (status, me) = call(&app, reqwest::Method::GET, "/api/v1/admin/me", Some(&scoped), None).await;
        assert_eq!(status, 200, "{me}");
        me
    };
    assert_eq!(me["department"], "网信办", "{me}");
    let own = stale_as(&app, &scoped, "").await;
    assert_eq!(own["department"], "网信办");
    assert!(own["total"].as_u64().unwrap_or(0) > 0, "{own}");
    assert_eq!(departments(&own), ["网信办".to_owned()].into());
    // Asking for another department does not widen the scope.
    let other = stale_as(&app, &scoped, "&department=%E6%95%99%E5%8A%A1%E5%A4%84").await;
    assert_eq!(departments(&other), ["网信办".to_owned()].into());

    // A CAS user who is an admin by the configured list, which binds them to 后勤管理处.
    let listed = cas_login(&app, "S2015002", "demo-staff").await;
    let theirs = stale_as(&app, &listed, "").await;
    assert!(theirs["total"].as_u64().unwrap_or(0) > 0, "{theirs}");
    assert_eq!(departments(&theirs), ["后勤管理处".to_owned()].into());

    // The admin of all departments sees everything.
    let all = cas_login(&app, "A0001", "demo-admin").await;
    let everything = stale_as(&app, &all, "").await;
    assert!(everything["department"].is_null(), "{}", everything["department"]);
    assert!(departments(&everything).len() > 5);
    assert!(everything["total"].as_u64() > own["total"].as_u64());

    // A CAS user who is no admin still gets 403.
    let student = cas_login(&app, "2021001234", "demo-student").await;
    let (status, _) = call(&app, reqwest::Method::GET, "/api/v1/admin/stale", Some(&student), None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_logged_question_opens_its_sessions_whole_dialogue() {
    let app = admin_app().await;
    let first = chat(app.addr, None, "校园卡丢了怎么补办").await;
    let session = first["session"].as_str().expect("a session").to_owned();
    chat(app.addr, Some(&session), "电话多少").await;
    chat(app.addr, Some(&session), "我的手机号是13912345678").await;
    chat(app.addr, None, "助学金怎么申请").await; // another session, not part of it
    let list = admin_get(&app, "/api/v1/admin/questions?q=%E7%94%B5%E8%AF%9D%E5%A4%9A%E5%B0%91").await;
    let id = list["questions"][0]["id"].as_str().expect("the logged question").to_owned();
    let conversation = admin_get(&app, &format!("/api/v1/admin/questions/{id}/conversation")).await;
    assert_eq!(conversation["session"], session.as_str());
    let turns = conversation["turns"].as_array().expect("turns");
    let texts: Vec<&str> = turns.iter().filter_map(|t| t["text"].as_str()).collect();
    assert_eq!(texts, ["校园卡丢了怎么补办", "电话多少", "我的手机号是[已隐去：手机号]"], "{conversation}");
    assert_eq!(turns[1]["selected"], true);
    assert!(turns[0]["item_title"].as_str().is_some_and(|t| !t.is_empty()), "{conversation}");
    let (status, missing) =
        call(&app, reqwest::Method::GET, "/api/v1/admin/questions/q_nope/conversation", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 404, "{missing}");
}

async fn import_csv(app: &TestApp, kind: &str, csv: &str, apply: bool) -> (u16, Value) {
    let url = app.http_url(&format!("/api/v1/admin/import?kind={kind}{}", if apply { "&apply=true" } else { "" }));
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("POST the import");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

#[tokio::test]
async fn faqs_are_exported_as_csv_previewed_and_imported_and_bad_rows_change_nothing() {
    let app = admin_app().await;
    let resp = reqwest::Client::new()
        .get(app.http_url("/api/v1/admin/export?kind=faq"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET the export");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/csv"));
    let exported = resp.text().await.expect("CSV");
    assert!(
        exported.starts_with('\u{feff}') && exported.contains("id,") && exported.contains("f-service-not-found"),
        "{}",
        &exported[..200.min(exported.len())]
    );

    // The same file back: nothing to change.
    let (status, preview) = import_csv(&app, "faq", &exported, false).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["changes"], json!([]), "{preview}");

    // One new FAQ and one edited answer: previewed, nothing stored yet; then applied and answered at once.
    let csv = "id,question,answer,questions\n\
               f-bulk-reading-room,自习室几点开门？,自习室每天7:15至22:45开放。,\"自习室开放时间\n阅览室几点关门\"\n";
    let (status, preview) = import_csv(&app, "faq", csv, false).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["applied"], false);
    assert_eq!(preview["changes"][0]["action"], "create", "{preview}");
    let before = chat(app.addr, None, "自习室开放时间").await;
    assert!(!before.to_string().contains("22:45"), "a preview stores nothing: {before}");
    let (status, done) = import_csv(&app, "faq", csv, true).await;
    assert_eq!((status, &done["applied"]), (200, &json!(true)), "{done}");
    let after = chat(app.addr, None, "自习室开放时间").await;
    assert!(after.to_string().contains("22:45"), "{after}");

    // A file with a problem is refused as a whole, with the loader's message and the row.
    let bad = "id,question,answer\nf-bulk-empty,,没有问题的答案\nf-bulk-ok,新问题,新答案\n";
    let (status, refused) = import_csv(&app, "faq", bad, true).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["problems"].to_string().contains("f-bulk-empty"), "{refused}");
    let (_, list) =
        call(&app, reqwest::Method::GET, "/api/v1/admin/items?kind=faq&q=f-bulk-ok", Some(ADMIN_TOKEN), None).await;
    assert_eq!(list["total"], 0, "nothing of a refused file is stored: {list}");
}
