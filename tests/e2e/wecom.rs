//! WeCom over real HTTP: the self-built app callback (URL verification, encrypted messages answered passively or
//! through a fake `message/send`, retries answered once, tampering refused) and the 智能机器人 stream flow.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use ehall_tests::{spawn_app, spawn_app_with, test_settings, TestApp, TestDb, WAIT};
use serde_json::{json, Value};
use server::channels::dispatch::{ChannelArgs, ChannelSettings};
use server::channels::wecom_crypto::WecomCrypt;
use server::channels::wecom_xml::XmlFields;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// The spec's Set A configuration (spec/channels.md §1.6).
const TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP_ID: &str = "wx5823bf96d3bd56c7";
const A1_SIGNATURE: &str = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3";
const A1_ECHOSTR: &str = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
const CALLBACK: &str = "/channels/wecom/callback";
const BOT_CALLBACK: &str = "/channels/wecom-bot/callback";

/// What the fake WeCom API saw.
#[derive(Default)]
struct FakeWecom {
    token_requests: Mutex<Vec<HashMap<String, String>>>,
    sent: Mutex<Vec<Value>>,
}

async fn gettoken(State(fake): State<Arc<FakeWecom>>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    fake.token_requests.lock().unwrap().push(query);
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": "fake-token", "expires_in": 7200}))
}

async fn message_send(
    State(fake): State<Arc<FakeWecom>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    assert_eq!(query.get("access_token").map(String::as_str), Some("fake-token"));
    fake.sent.lock().unwrap().push(body);
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": "msg-1"}))
}

/// A fake qyapi on 127.0.0.1:0 with gettoken and message/send; returns its base URL.
async fn spawn_fake_wecom() -> (String, Arc<FakeWecom>) {
    let fake = Arc::new(FakeWecom::default());
    let app = Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/message/send", post(message_send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn channel_args(api_base: Option<&str>, deadline_ms: u64) -> ChannelArgs {
    ChannelArgs {
        wecom_corp_id: Some(CORP_ID.into()),
        wecom_agent_id: Some(1000002),
        wecom_secret: api_base.map(|_| "fake-secret".to_owned()),
        wecom_token: Some(TOKEN.into()),
        wecom_aes_key: Some(AES_KEY.into()),
        wecom_api_base: api_base.map(str::to_owned),
        wecom_passive_deadline_ms: Some(deadline_ms),
        wecom_bot_token: Some(TOKEN.into()),
        wecom_bot_aes_key: Some(AES_KEY.into()),
        ..ChannelArgs::default()
    }
}

async fn spawn_wecom_app(api_base: Option<&str>, deadline_ms: u64) -> TestApp {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.channels = ChannelSettings::from_args(&channel_args(api_base, deadline_ms)).unwrap();
    spawn_app_with(db, settings).await
}

fn app_crypt() -> WecomCrypt {
    WecomCrypt::new(TOKEN, AES_KEY, CORP_ID).unwrap()
}

fn text_message(from: &str, content: &str, msg_id: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
         <CreateTime>1732700000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )
}

/// The current time as WeCom puts it in `timestamp`.
fn now_timestamp() -> String {
    server::channels::dispatch::unix_now().to_string()
}

/// Encrypts and signs `inner` as WeCom would (timestamp now) and posts it; returns status and body text.
async fn post_encrypted(app: &TestApp, inner: &str, tamper_signature: bool) -> (u16, String) {
    let crypt = app_crypt();
    let encrypt = crypt.encrypt(inner).unwrap();
    let timestamp = now_timestamp();
    let mut signature = crypt.signature(&timestamp, "1372623149", &encrypt);
    if tamper_signature {
        signature.replace_range(0..1, if signature.starts_with('0') { "1" } else { "0" });
    }
    post_signed_envelope(app, &encrypt, &timestamp, &signature).await
}

/// Posts an already encrypted message with the given timestamp and signature (nonce 1372623149).
async fn post_signed_envelope(app: &TestApp, encrypt: &str, timestamp: &str, signature: &str) -> (u16, String) {
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
    );
    post_raw_callback(app, CALLBACK, body, timestamp, signature).await
}

/// Posts `body` to a WeCom callback path with the given signature parameters.
async fn post_raw_callback(app: &TestApp, path: &str, body: String, timestamp: &str, signature: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(app.http_url(path))
        .query(&[("msg_signature", signature), ("timestamp", timestamp), ("nonce", "1372623149")])
        .header("content-type", "text/xml")
        .body(body)
        .timeout(WAIT)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// How many questions were logged, in all.
async fn logged_questions(app: &TestApp) -> i64 {
    use sqlx::Row;
    let pool = app.db.pool().await;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM question_log").fetch_one(&pool).await.unwrap();
    pool.close().await;
    row.get::<i64, _>("n")
}

/// Checks and opens an encrypted passive reply; returns the plaintext's fields.
fn open_passive(body: &str) -> XmlFields {
    let envelope = XmlFields::parse(body).unwrap();
    let plaintext = app_crypt()
        .decrypt_verified(
            envelope.get("MsgSignature").unwrap(),
            envelope.get("TimeStamp").unwrap(),
            envelope.get("Nonce").unwrap(),
            envelope.get("Encrypt").unwrap(),
        )
        .unwrap();
    XmlFields::parse(&plaintext).unwrap()
}

async fn get_with_query(app: &TestApp, path: &str, query: &[(&str, &str)]) -> (u16, String, String) {
    let response = reqwest::Client::new().get(app.http_url(path)).query(query).timeout(WAIT).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn url_verification_echoes_the_decrypted_echostr_exactly() {
    let app = spawn_wecom_app(None, 4000).await;
    let query =
        [("msg_signature", A1_SIGNATURE), ("timestamp", "1409659589"), ("nonce", "263014780"), ("echostr", A1_ECHOSTR)];
    let (status, content_type, body) = get_with_query(&app, CALLBACK, &query).await;
    assert_eq!((status, body.as_str()), (200, "1616140317555161061"));
    assert!(content_type.starts_with("text/plain"), "{content_type}");

    let mut forged = query;
    forged[0].1 = "0000000000000000000000000000000000000000";
    let (status, _, body) = get_with_query(&app, CALLBACK, &forged).await;
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        (error["error"]["code"].as_str(), error["error"]["wecom_code"].as_i64()),
        (Some("wecom_bad_signature"), Some(-40001))
    );

    let (status, _, body) = get_with_query(&app, CALLBACK, &query[..3]).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_question_is_answered_passively_with_the_service_card_and_a_retry_once() {
    let (api_base, fake) = spawn_fake_wecom().await;
    let app = spawn_wecom_app(Some(&api_base), 15_000).await;
    let inner = text_message("2021001234", "助学金怎么申请", "7001");
    let (status, body) = post_encrypted(&app, &inner, false).await;
    assert_eq!(status, 200, "{body}");
    let reply = open_passive(&body);
    assert_eq!(reply.get("ToUserName"), Some("2021001234"));
    assert_eq!(reply.get("FromUserName"), Some(CORP_ID));
    assert_eq!(reply.get("MsgType"), Some("news"), "{body}");
    let titles: Vec<&str> = reply.all("Articles/item/Title").collect();
    assert!(titles.contains(&"学生助学金申请"), "{titles:?}");
    assert!(reply.all("Articles/item/Url").all(|url| url.starts_with("http")));

    // WeCom's retry of the same MsgId is acknowledged empty and not answered again.
    let (status, body) = post_encrypted(&app, &inner, false).await;
    assert_eq!((status, body.as_str()), (200, ""));
    // The text before the card goes through message/send, once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = fake.sent.lock().unwrap().clone();
    assert!(sent.len() <= 1 && sent.iter().all(|m| m["msgtype"] == "text" && m["touser"] == "2021001234"), "{sent:?}");
}

#[tokio::test]
async fn a_slow_answer_goes_through_message_send_once() {
    let (api_base, fake) = spawn_fake_wecom().await;
    let app = spawn_wecom_app(Some(&api_base), 1).await;
    let inner = text_message("2021001234", "助学金怎么申请", "7002");
    let (status, body) = post_encrypted(&app, &inner, false).await;
    assert_eq!((status, body.as_str()), (200, ""), "past the deadline the callback is acknowledged empty");
    let (status, body) = post_encrypted(&app, &inner, false).await;
    assert_eq!((status, body.as_str()), (200, ""));

    let started = std::time::Instant::now();
    let sent = loop {
        let sent = fake.sent.lock().unwrap().clone();
        if sent.iter().any(|m| m["msgtype"] != "text") || started.elapsed() > WAIT {
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = fake.sent.lock().unwrap().clone();
    assert_eq!(all.len(), sent.len(), "the retried message is answered once: {all:?}");
    assert!(all.iter().all(|m| m["touser"] == "2021001234" && m["agentid"] == 1000002), "{all:?}");
    let card = all.iter().find(|m| m["msgtype"] != "text").expect("a card message is sent");
    let shown = card.to_string();
    assert!(shown.contains("学生助学金申请"), "{shown}");
    assert!(["news", "textcard", "template_card"].contains(&card["msgtype"].as_str().unwrap()), "{shown}");
    let tokens = fake.token_requests.lock().unwrap().clone();
    assert_eq!(tokens.len(), 1, "the token is cached");
    assert_eq!(tokens[0].get("corpid").map(String::as_str), Some(CORP_ID));
    assert_eq!(tokens[0].get("corpsecret").map(String::as_str), Some("fake-secret"));
}

#[tokio::test]
async fn a_template_card_button_runs_its_action() {
    let app = spawn_wecom_app(None, 15_000).await;
    // The key our button_interaction cards carry: the chat action and its arguments.
    let event = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[2021001234]]></FromUserName>\
         <CreateTime>1732700100</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[item.show?{{\"id\":\"s1-xg-grant\"}}]]></EventKey>\
         <TaskId><![CDATA[r_1]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>\
         <ResponseCode><![CDATA[rc-1]]></ResponseCode><AgentID>1000002</AgentID></xml>"
    );
    let (status, body) = post_encrypted(&app, &event, false).await;
    assert_eq!(status, 200, "{body}");
    let reply = open_passive(&body);
    let shown: Vec<&str> = reply.all("Articles/item/Title").chain(reply.all("Content")).collect();
    assert!(shown.iter().any(|t| t.contains("学生助学金申请")), "{shown:?}");
    let pool = app.db.pool().await;
    let logged: Vec<String> =
        sqlx::query_scalar("SELECT text FROM question_log WHERE channel = 'wecom'").fetch_all(&pool).await.unwrap();
    assert_eq!(logged, ["action:item.show"]);
}

#[tokio::test]
async fn tampered_or_broken_callbacks_are_refused_without_harm() {
    let app = spawn_wecom_app(None, 4000).await;
    let inner = text_message("u1", "你好", "7003");
    let (status, body) = post_encrypted(&app, &inner, true).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "wecom_bad_signature");

    let crypt = app_crypt();
    let signature = crypt.signature("1", "2", "not base64!!");
    let response = reqwest::Client::new()
        .post(app.http_url(CALLBACK))
        .query(&[("msg_signature", signature.as_str()), ("timestamp", "1"), ("nonce", "2")])
        .body("<xml><Encrypt><![CDATA[not base64!!]]></Encrypt></xml>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(
        (error["error"]["code"].as_str(), error["error"]["wecom_code"].as_i64()),
        (Some("wecom_bad_base64"), Some(-40010))
    );

    let response = reqwest::Client::new()
        .post(app.http_url(CALLBACK))
        .query(&[("msg_signature", "x"), ("timestamp", "1"), ("nonce", "2")])
        .body("not xml at all")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // Another corp's message under our token and key: receive id mismatch.
    let other = WecomCrypt::new(TOKEN, AES_KEY, "wwOTHERCORP").unwrap();
    let encrypt = other.encrypt(&inner).unwrap();
    let signature = other.signature("1", "2", &encrypt);
    let response = reqwest::Client::new()
        .post(app.http_url(CALLBACK))
        .query(&[("msg_signature", signature.as_str()), ("timestamp", "1"), ("nonce", "2")])
        .body(format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["wecom_code"], -40005);

    // The server still answers.
    let (status, _, _) = get_with_query(&app, "/healthz", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unconfigured_channels_answer_not_found_with_a_clear_error() {
    let app = spawn_app().await;
    for path in [CALLBACK, BOT_CALLBACK] {
        let (status, _, body) =
            get_with_query(&app, path, &[("msg_signature", "x"), ("timestamp", "1"), ("nonce", "2"), ("echostr", "e")])
                .await;
        assert_eq!(status, 404, "{path}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "channel_not_configured");
        assert!(error["error"]["message"].as_str().unwrap().contains("EHALL_"), "{body}");
    }
}

fn bot_crypt() -> WecomCrypt {
    WecomCrypt::new(TOKEN, AES_KEY, "").unwrap()
}

/// Posts an encrypted 智能机器人 callback; returns status and the decrypted JSON reply (Null for an empty body).
async fn post_bot(app: &TestApp, callback: &Value) -> (u16, Value) {
    let crypt = bot_crypt();
    let encrypt = crypt.encrypt(&callback.to_string()).unwrap();
    let (timestamp, nonce) = (now_timestamp(), "998877");
    let signature = crypt.signature(&timestamp, nonce, &encrypt);
    let response = reqwest::Client::new()
        .post(app.http_url(BOT_CALLBACK))
        .query(&[("msg_signature", signature.as_str()), ("timestamp", timestamp.as_str()), ("nonce", nonce)])
        .body(json!({"encrypt": encrypt}).to_string())
        .timeout(WAIT)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    if text.is_empty() || status != 200 {
        return (status, Value::Null);
    }
    let envelope: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(envelope["nonce"], nonce, "the reply uses the request's nonce");
    let plaintext = crypt
        .decrypt_verified(
            envelope["msgsignature"].as_str().unwrap(),
            &envelope["timestamp"].as_u64().unwrap().to_string(),
            envelope["nonce"].as_str().unwrap(),
            envelope["encrypt"].as_str().unwrap(),
        )
        .unwrap();
    (status, serde_json::from_str(&plaintext).unwrap())
}

#[tokio::test]
async fn the_ai_bot_streams_the_answer_until_finished() {
    let app = spawn_wecom_app(None, 1).await;
    let question = json!({
        "msgid": "bot-msg-1", "aibotid": "AIBOTID", "chattype": "single", "from": {"userid": "2021001234"},
        "response_url": "http://127.0.0.1:9/unused", "msgtype": "text", "text": {"content": "助学金怎么申请"}
    });
    let (status, first) = post_bot(&app, &question).await;
    assert_eq!(status, 200);
    assert_eq!(first["msgtype"], "stream", "{first}");
    assert_eq!(first["stream"]["finish"], false, "past the deadline the first frame is a placeholder: {first}");
    let stream_id = first["stream"]["id"].as_str().unwrap().to_owned();

    // A repeated callback of the same message continues the same stream.
    let (_, again) = post_bot(&app, &question).await;
    assert_eq!(again["stream"]["id"], stream_id.as_str());

    let refresh = json!({
        "msgid": "bot-refresh-1", "aibotid": "AIBOTID", "chattype": "single", "from": {"userid": "2021001234"},
        "msgtype": "stream", "stream": {"id": stream_id}
    });
    let started = std::time::Instant::now();
    let last = loop {
        let (status, frame) = post_bot(&app, &refresh).await;
        assert_eq!(status, 200);
        assert_eq!(frame["stream"]["id"], stream_id.as_str());
        if frame["stream"]["finish"] == true || started.elapsed() > WAIT {
            break frame;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["stream"]["finish"], true, "{last}");
    let content = last["stream"]["content"].as_str().unwrap();
    assert!(content.contains("学生助学金申请"), "the whole answer, cards as links: {content}");
    if last["msgtype"] == "stream_with_template_card" {
        assert!(last["template_card"]["card_type"].is_string(), "{last}");
    } else {
        assert_eq!(last["msgtype"], "stream");
    }

    let (status, welcome) = post_bot(
        &app,
        &json!({"msgid": "ev-1", "msgtype": "event", "from": {"userid": "u"}, "event": {"eventtype": "enter_chat"}}),
    )
    .await;
    assert_eq!((status, welcome["msgtype"].as_str()), (200, Some("text")));
}

/// Waits until the fake WeCom API has received at least `count` messages, for at most `WAIT`.
async fn sent_messages(fake: &FakeWecom, count: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let sent = fake.sent.lock().unwrap().clone();
        if sent.len() >= count || started.elapsed() > WAIT {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn notices_reach_the_user_through_message_send() {
    use bot::campus::{FeedbackStatus, Message};
    let (api_base, fake) = spawn_fake_wecom().await;
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.channels = ChannelSettings::from_args(&channel_args(Some(&api_base), 4000)).unwrap();
    let app = crate::portal::spawn_portal_app_with(db, settings).await;
    let pool = app.db.pool().await;
    sqlx::query(
        "INSERT INTO portal_feedback (id, user_id, kind, content, contact, status, answer, created_at, updated_at) \
         VALUES ('GD20261128001', '2021001234', 'ticket', '宿舍网络经常断线', NULL, 'submitted', NULL, $1, $1)",
    )
    .bind("2026-11-28T08:00:00.000Z")
    .execute(&pool)
    .await
    .unwrap();
    // The teacher's WeCom UserID is not their 工号.
    sqlx::query(
        "INSERT INTO wecom_bindings (wecom_user_id, campus_id, name, role, created_at) \
         VALUES ('lilaoshi', 'T2008001', NULL, NULL, '2026-11-28T08:00:00Z')",
    )
    .execute(&pool)
    .await
    .unwrap();

    // The admin's answer (the same entry the admin API's inbox calls): the student is not connected anywhere, so
    // the notice is kept for the web, and goes to WeCom at once, to UserID = 学工号.
    let answer = "已派工程师检修宿舍交换机，请明天再试。";
    let answered = app.portal.answer_feedback("GD20261128001", answer, FeedbackStatus::Answered).await.unwrap();
    assert!(answered.is_some());
    let sent = sent_messages(&fake, 2).await;
    assert_eq!(sent.len(), 2, "the notice text and its card: {sent:?}");
    for message in &sent {
        assert_eq!(message["touser"], "2021001234", "{message}");
        assert_eq!(message["agentid"], 1000002, "{message}");
    }
    assert_eq!(sent[0]["msgtype"], "text");
    let text = sent[0]["text"]["content"].as_str().unwrap();
    assert!(text.contains("GD20261128001") && text.contains(answer), "{text}");
    assert_eq!(sent[1]["msgtype"], "textcard", "{}", sent[1]);
    assert_eq!(sent[1]["textcard"]["title"], "工单 GD20261128001");
    let description = sent[1]["textcard"]["description"].as_str().unwrap();
    assert!(description.contains("<div class=\"highlight\">编号：GD20261128001</div>"), "{description}");
    assert!(description.contains("已答复"), "{description}");

    // A new 消息通知 for a member bound in wecom_bindings: to their UserID, as a button card (标为已读).
    let message = Message {
        id: "M-wecom-1".into(),
        title: "请审核调停课申请".into(),
        body: "会计学2101班提交了调停课申请。".into(),
        sender: "教务系统".into(),
        sent_at: "2021-06-23 08:00".into(),
        read: false,
    };
    app.portal.add_message("T2008001", &message).await.unwrap();
    let sent = sent_messages(&fake, 4).await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent[2..].iter().all(|m| m["touser"] == "lilaoshi"), "{sent:?}");
    assert!(sent[2]["text"]["content"].as_str().unwrap().contains("请审核调停课申请"), "{}", sent[2]);
    let card = &sent[3]["template_card"];
    assert_eq!(card["card_type"], "button_interaction", "{}", sent[3]);
    assert_eq!(card["main_title"]["title"], "请审核调停课申请");
    assert_eq!(card["button_list"][0]["key"], "message.read?{\"id\":\"M-wecom-1\"}");
    assert!(card["task_id"].as_str().is_some_and(|t| t.starts_with("nt_")), "{card}");
    // One access token for all of it: the cached one.
    assert_eq!(fake.token_requests.lock().unwrap().len(), 1);
    // Both notices are counted on /metrics (process-wide counters: other tests may add to them).
    let metrics_url = format!("http://{}/metrics", app.addr);
    let deadline = std::time::Instant::now() + ehall_tests::WAIT;
    loop {
        let body = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
        let sent_count = body
            .lines()
            .find_map(|l| l.strip_prefix("ehall_channel_notices_total{channel=\"wecom\",outcome=\"sent\"} "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if sent_count >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "wecom notices not counted on /metrics:\n{body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn callbacks_outside_the_timestamp_window_or_with_an_inexact_signature_are_refused() {
    let app = spawn_wecom_app(None, 15_000).await;
    let crypt = app_crypt();
    let inner = text_message("u-replay", "你好", "7101");
    let encrypt = crypt.encrypt(&inner).unwrap();
    let now = server::channels::dispatch::unix_now();
    for (timestamp, why) in [
        ("1409659813".to_owned(), "a 2014 timestamp"),
        ((now - 301).to_string(), "five minutes and a second ago"),
        ((now + 301).to_string(), "five minutes and a second ahead"),
        ("soon".to_owned(), "not a number"),
    ] {
        let signature = crypt.signature(&timestamp, "1372623149", &encrypt);
        let (status, body) = post_signed_envelope(&app, &encrypt, &timestamp, &signature).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "wecom_stale_timestamp", "{why}");
    }
    let timestamp = (now - 200).to_string();
    let signature = crypt.signature(&timestamp, "1372623149", &encrypt);
    let (status, body) = post_signed_envelope(&app, &encrypt, &timestamp, &signature.to_uppercase()).await;
    assert_eq!(status, 401, "an upper-case signature is not WeCom's: {body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "wecom_bad_signature");
    assert_eq!(logged_questions(&app).await, 0, "nothing refused was answered");
    let (status, body) = post_signed_envelope(&app, &encrypt, &timestamp, &signature).await;
    assert_eq!(status, 200, "inside the window and signed exactly: answered ({body})");
    // The 智能机器人 checks the same window.
    let bot = bot_crypt();
    let question = json!({"msgid": "bot-stale", "chattype": "single", "from": {"userid": "u"}, "msgtype": "text", "text": {"content": "你好"}});
    let encrypt = bot.encrypt(&question.to_string()).unwrap();
    let signature = bot.signature("1409659813", "1372623149", &encrypt);
    let (status, body) =
        post_raw_callback(&app, BOT_CALLBACK, json!({"encrypt": encrypt}).to_string(), "1409659813", &signature).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn oversized_wecom_texts_and_bodies_are_refused_without_running_or_storing_them() {
    let app = spawn_wecom_app(None, 15_000).await;
    let long = "长".repeat(bot::protocol::MAX_TEXT_CHARS + 1);
    let (status, body) = post_encrypted(&app, &text_message("u-long", &long, "7201"), false).await;
    assert_eq!(status, 200, "{body}");
    let reply = open_passive(&body);
    assert_eq!(reply.get("MsgType"), Some("text"));
    assert!(reply.get("Content").unwrap().contains("消息过长"), "{body}");

    let (status, stream) = post_bot(
        &app,
        &json!({"msgid": "bot-long", "chattype": "single", "from": {"userid": "u-long"}, "msgtype": "text", "text": {"content": long}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stream["stream"]["finish"], true, "{stream}");
    assert!(stream["stream"]["content"].as_str().unwrap().contains("消息过长"), "{stream}");
    assert_eq!(logged_questions(&app).await, 0, "over-size texts are neither answered nor stored");

    // A body over any real message (100 KiB; the limit is 4 × max_message_bytes) is refused unread.
    let huge = "a".repeat(100 * 1024);
    for path in [CALLBACK, BOT_CALLBACK] {
        let (status, body) = post_raw_callback(&app, path, huge.clone(), &now_timestamp(), "x").await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "body_too_large");
    }
    // A text just at the limit is still answered.
    let at_limit = "校".repeat(bot::protocol::MAX_TEXT_CHARS);
    let (status, body) = post_encrypted(&app, &text_message("u-long", &at_limit, "7202"), false).await;
    assert_eq!(status, 200, "{body}");
    assert!(!open_passive(&body).get("Content").unwrap_or_default().contains("消息过长"));
}

/// Posts a WeCom text message and returns the passive reply's `Content` (a text reply).
async fn say_on_wecom(app: &TestApp, from: &str, content: &str, msg_id: &str) -> String {
    let (status, body) = post_encrypted(app, &text_message(from, content, msg_id), false).await;
    assert_eq!(status, 200, "{body}");
    let reply = open_passive(&body);
    reply.get("Content").unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_person_answers_a_wecom_user_through_message_send_while_the_bot_stays_silent() {
    use crate::admin::{call, ADMIN_TOKEN};
    crate::admin::configure_admins();
    let (api_base, fake) = spawn_fake_wecom().await;
    let app = spawn_wecom_app(Some(&api_base), 15_000).await;
    let user = "2021001234";
    let waiting = say_on_wecom(&app, user, "转人工", "8001").await;
    assert!(waiting.contains("人工客服"), "{waiting}");

    let (status, list) = call(&app, reqwest::Method::GET, "/api/v1/admin/handoffs", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200, "{list}");
    let entry = list["items"].as_array().unwrap().iter().find(|h| h["user"]["id"] == user).cloned();
    let entry = entry.unwrap_or_else(|| panic!("the WeCom user is queued: {list}"));
    assert_eq!(entry["channel"], "wecom");
    let id = entry["id"].as_str().unwrap().to_owned();
    let path = |tail: &str| format!("/api/v1/admin/handoffs/{id}{tail}");
    let (status, _) = call(&app, reqwest::Method::POST, &path("/take"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200);
    let sent = sent_messages(&fake, 1).await;
    assert!(sent[0]["text"]["content"].as_str().unwrap_or("").contains("已接入"), "{sent:?}");

    let words = json!({"text": "您好，请问是哪一项申请？"});
    let (status, _) = call(&app, reqwest::Method::POST, &path("/messages"), Some(ADMIN_TOKEN), Some(words)).await;
    assert_eq!(status, 200);
    let sent = sent_messages(&fake, 2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["touser"], user);
    let text = sent[1]["text"]["content"].as_str().unwrap_or("");
    assert!(
        text.contains("您好，请问是哪一项申请？") && text.contains("人工客服"),
        "the user sees who answers: {text}"
    );

    // The user's answer goes to the person: a short receipt, no bot answer.
    let relayed = say_on_wecom(&app, user, "助学金怎么申请", "8002").await;
    assert!(relayed.contains("已转给人工客服"), "{relayed}");
    let (_, detail) = call(&app, reqwest::Method::GET, &path(""), Some(ADMIN_TOKEN), None).await;
    let texts: Vec<&str> = detail["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"助学金怎么申请"), "{detail}");

    let (status, _) = call(&app, reqwest::Method::POST, &path("/release"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200);
    let sent = sent_messages(&fake, 3).await;
    assert!(sent[2]["text"]["content"].as_str().unwrap_or("").contains("机器人继续为您服务"), "{sent:?}");
    // Handed back: the bot answers with the service again.
    let (status, body) = post_encrypted(&app, &text_message(user, "助学金怎么申请", "8003"), false).await;
    assert_eq!(status, 200);
    assert_eq!(open_passive(&body).get("MsgType"), Some("news"), "{body}");
    app.stop().await;
}
