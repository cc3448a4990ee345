//! 统一身份认证 login end to end: the demo CAS over real HTTP, tokens on the websocket and HTTP, session binding,
//! takeover protection, logout, and CAS failure documents from a recorded mock.

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use ehall_tests::{spawn_app, spawn_app_with, test_settings, TestApp, TestDb, WAIT};
use futures_util::{SinkExt, StreamExt};
use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use server::Secret;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The secret `test_settings` configures.
const TEST_SECRET: &[u8] = b"e2e-test-login-token-secret";

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).timeout(WAIT).build().expect("an HTTP client")
}

fn location(response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "expected a redirect, got {}", response.status());
    response.headers()["location"].to_str().expect("an ASCII location").to_owned()
}

fn query_value(url: &str, key: &str) -> Option<String> {
    Url::parse(url).expect("an absolute URL").query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// The token the 登录成功 page hands to the widget.
fn token_in_page(html: &str) -> String {
    let start = html.find("var token=\"").expect("the page carries a token") + "var token=\"".len();
    let end = start + html[start..].find('"').expect("the token string ends");
    html[start..end].to_owned()
}

/// Steps through the demo CAS as a browser would, up to the callback's page (status and body).
async fn demo_login_page(
    app: &TestApp,
    session: Option<&str>,
    user: &str,
    password: &str,
) -> (StatusCode, String, String) {
    let client = browser();
    let mut login = app.http_url("/auth/login");
    if let Some(id) = session {
        login.push_str(&format!("?session={id}"));
    }
    let to_cas = location(&client.get(&login).send().await.expect("GET /auth/login"));
    assert!(to_cas.starts_with(&app.http_url("/cas/login?service=")), "{to_cas}");
    let service = query_value(&to_cas, "service").expect("a service parameter");
    assert!(service.starts_with(&app.http_url("/auth/callback")), "{service}");

    let form = client.get(&to_cas).send().await.expect("GET the CAS form");
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.expect("the form");
    assert!(form.contains("账号") && form.contains("密码"), "{form}");

    let submitted = client
        .post(app.http_url("/cas/login"))
        .form(&[("username", user), ("password", password), ("service", service.as_str())])
        .send()
        .await
        .expect("POST the CAS form");
    if !submitted.status().is_redirection() {
        let status = submitted.status();
        return (status, submitted.text().await.expect("a page"), String::new());
    }
    let callback = location(&submitted);
    assert!(callback.starts_with(&service), "{callback}");
    let ticket = query_value(&callback, "ticket").expect("a ticket");
    assert!(ticket.starts_with("ST-"), "{ticket}");
    let page = client.get(&callback).send().await.expect("GET the callback");
    let status = page.status();
    assert_eq!(page.headers()["cache-control"], "no-store");
    (status, page.text().await.expect("a page"), callback)
}

pub(crate) async fn demo_login(app: &TestApp, session: Option<&str>, user: &str, password: &str) -> String {
    let (status, page, _) = demo_login_page(app, session, user, password).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("登录成功"), "{page}");
    token_in_page(&page)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message =
            tokio::time::timeout(WAIT, socket.next()).await.expect("in time").expect("open").expect("readable");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON frames");
        }
    }
}

/// Connects to `/ws` with optional session and token; returns the welcome and the socket.
async fn ws(addr: SocketAddr, session: Option<&str>, token: Option<&str>) -> (Value, Socket) {
    let mut params = Vec::new();
    if let Some(s) = session {
        params.push(format!("session={s}"));
    }
    if let Some(t) = token {
        params.push(format!("token={t}"));
    }
    let url = format!("ws://{addr}/ws?{}", params.join("&"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket handshake");
    let welcome = next_frame(&mut socket).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (welcome, socket)
}

async fn say(socket: &mut Socket, text: &str) -> Value {
    socket.send(Message::text(json!({"type": "message", "id": "m", "text": text}).to_string())).await.expect("send");
    next_frame(socket).await
}

fn student() -> Value {
    json!({"id": "2021001234", "name": "张三", "role": "学生"})
}

#[tokio::test]
async fn a_guest_logs_in_through_the_demo_cas_and_the_websocket_knows_them() {
    let app = spawn_app().await;
    let (welcome, mut guest) = ws(app.addr, None, None).await;
    assert_eq!(welcome["user"], Value::Null);
    let session = welcome["session"].as_str().expect("a session").to_owned();

    // 登录 in the chat gives the login card, its link completed with this session.
    let reply = say(&mut guest, "登录").await;
    assert_eq!(reply["intent"], "auth.login", "{reply}");
    let card = &reply["cards"][0];
    assert_eq!(card["kind"], "login");
    assert_eq!(card["actions"][0]["type"], "open_url");
    assert_eq!(card["actions"][0]["url"], app.http_url(&format!("/auth/login?session={session}")));

    let token = demo_login(&app, Some(&session), "2021001234", "demo-student").await;

    // The same session, now with the user, on the websocket and in every turn.
    let (welcome, mut socket) = ws(app.addr, Some(&session), Some(&token)).await;
    assert_eq!(welcome["session"], session.as_str());
    assert_eq!(welcome["user"], student());
    assert!(welcome["text"].as_str().unwrap_or_default().starts_with("张三"), "{welcome}");
    let reply = say(&mut socket, "我要登录").await;
    assert!(reply["text"].as_str().unwrap_or_default().contains("您已登录为张三（学生，2021001234）"), "{reply}");
    // The token alone finds the session.
    let (welcome, _) = ws(app.addr, None, Some(&token)).await;
    assert_eq!((welcome["session"].as_str(), &welcome["user"]), (Some(session.as_str()), &student()));

    // HTTP with a bearer token: the same user and session.
    let response = browser()
        .post(app.http_url("/api/v1/chat"))
        .bearer_auth(&token)
        .json(&json!({"text": "登录"}))
        .send()
        .await
        .expect("POST /api/v1/chat");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["session"], session.as_str());
    assert!(body["reply"]["text"].as_str().unwrap_or_default().contains("您已登录为张三"), "{body}");
}

#[tokio::test]
async fn every_demo_account_maps_to_its_role_and_a_ticket_is_single_use() {
    let app = spawn_app().await;
    let accounts = [
        ("T2008001", "demo-teacher", json!({"id": "T2008001", "name": "李老师", "role": "教师"})),
        ("S2015002", "demo-staff", json!({"id": "S2015002", "name": "王工", "role": "职工"})),
        ("A0001", "demo-admin", json!({"id": "A0001", "name": "管理员", "role": "职工"})),
    ];
    for (id, password, user) in accounts {
        let (status, page, callback) = demo_login_page(&app, None, id, password).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let token = token_in_page(&page);
        let (welcome, _) = ws(app.addr, None, Some(&token)).await;
        assert_eq!(welcome["user"], user);
        // Reloading the callback replays a used ticket: refused, with a way to log in again.
        let again = browser().get(&callback).send().await.expect("GET the callback again");
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        let again = again.text().await.expect("a page");
        assert!(again.contains("登录凭证无效或已过期") && again.contains("重新登录"), "{again}");
    }
    // The admin flag travels in the token.
    let (_, page, _) = demo_login_page(&app, None, "A0001", "demo-admin").await;
    let token = token_in_page(&page);
    let signer = server::auth::TokenSigner::new(TEST_SECRET, Duration::from_secs(60)).expect("a signer");
    let claims = signer.verify(&token, unix_now()).expect("a genuine token");
    assert!(claims.admin);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_nothing_is_issued() {
    let app = spawn_app().await;
    let (status, page, _) = demo_login_page(&app, None, "2021001234", "not-the-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("账号或密码错误"), "{page}");
    let (status, page, _) = demo_login_page(&app, None, "nobody", "demo-student").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    // The demo CAS serves only our own services.
    let foreign =
        browser().get(app.http_url("/cas/login?service=https%3A%2F%2Fevil.example%2Fsteal")).send().await.expect("GET");
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    i64::try_from(since.as_secs()).expect("fits")
}

#[tokio::test]
async fn forged_and_expired_tokens_make_a_guest_who_is_told_so() {
    let app = spawn_app().await;
    let (welcome, _) = ws(app.addr, None, None).await;
    let session = welcome["session"].as_str().expect("a session").to_owned();
    let token = demo_login(&app, Some(&session), "2021001234", "demo-student").await;
    let user =
        bot::protocol::UserInfo { id: "2021001234".into(), name: "张三".into(), role: bot::protocol::Role::Student };

    let other_key =
        server::auth::TokenSigner::new(b"some-other-secret-123456", Duration::from_secs(3600)).expect("signer");
    let (forged, _) = other_key.sign(&user, true, &session, unix_now());
    let right_key = server::auth::TokenSigner::new(TEST_SECRET, Duration::from_secs(60)).expect("signer");
    let (expired, _) = right_key.sign(&user, false, &session, unix_now() - 3600);
    let mut claims = right_key.verify(&token, unix_now()).expect("genuine");
    claims.user.role = bot::protocol::Role::Teacher;
    let (payload, _) =
        right_key.encode(&claims).split_once('.').map(|(p, m)| (p.to_owned(), m.to_owned())).expect("a dot");
    let (_, genuine_mac) = token.split_once('.').expect("a dot");
    let tampered = format!("{payload}.{genuine_mac}");

    for bad in [forged.as_str(), tampered.as_str(), "garbage"] {
        let (welcome, mut socket) = ws(app.addr, Some(&session), Some(bad)).await;
        assert_eq!(welcome["user"], Value::Null, "{bad}: {welcome}");
        assert!(welcome["text"].as_str().unwrap_or_default().contains("登录已过期"), "{welcome}");
        assert_ne!(welcome["session"], session.as_str(), "a guest cannot resume the user's session");
        let reply = say(&mut socket, "登录").await;
        assert_eq!(reply["cards"][0]["kind"], "login", "{reply}");
    }
    let response = browser()
        .post(app.http_url("/api/v1/chat"))
        .bearer_auth(&forged)
        .json(&json!({"text": "登录", "session": session}))
        .send()
        .await
        .expect("POST");
    let body: Value = response.json().await.expect("JSON");
    assert_ne!(body["session"], session.as_str());
    assert_eq!(body["reply"]["cards"][0]["kind"], "login", "{body}");

    // A genuine token past its time ends its session as a logout does: the session is a guest's from then on,
    // with its dialogue cleared, so resuming it reads nothing of the user's.
    let (welcome, mut socket) = ws(app.addr, Some(&session), Some(&expired)).await;
    assert_eq!(welcome["user"], Value::Null, "{welcome}");
    assert!(welcome["text"].as_str().unwrap_or_default().contains("登录已过期"), "{welcome}");
    let reply = say(&mut socket, "登录").await;
    assert_eq!(reply["cards"][0]["kind"], "login", "{reply}");
    let (welcome, _) = ws(app.addr, Some(&session), Some(&token)).await;
    assert_eq!(welcome["user"], Value::Null, "the session's login is over: {welcome}");
}

#[tokio::test]
async fn a_session_bound_to_one_user_cannot_be_taken_over() {
    let app = spawn_app().await;
    let (welcome, _) = ws(app.addr, None, None).await;
    let session = welcome["session"].as_str().expect("a session").to_owned();
    let student_token = demo_login(&app, Some(&session), "2021001234", "demo-student").await;

    // The teacher logs in "into" the student's session: they get a session of their own.
    let teacher_token = demo_login(&app, Some(&session), "T2008001", "demo-teacher").await;
    let (welcome, _) = ws(app.addr, None, Some(&teacher_token)).await;
    assert_eq!(welcome["user"]["id"], "T2008001");
    assert_ne!(welcome["session"], session.as_str());
    // Nor can they resume it with their own token, nor can a guest.
    let (welcome, _) = ws(app.addr, Some(&session), Some(&teacher_token)).await;
    assert_eq!(welcome["user"]["id"], "T2008001");
    assert_ne!(welcome["session"], session.as_str());
    let (welcome, _) = ws(app.addr, Some(&session), None).await;
    assert_eq!(welcome["user"], Value::Null);
    assert_ne!(welcome["session"], session.as_str());
    let guest_http = ehall_tests::chat(app.addr, Some(&session), "你好").await;
    assert_ne!(guest_http["session"], session.as_str());
    // The student still can.
    let (welcome, _) = ws(app.addr, Some(&session), Some(&student_token)).await;
    assert_eq!((welcome["session"].as_str(), &welcome["user"]), (Some(session.as_str()), &student()));
}

#[tokio::test]
async fn logout_needs_the_token_ends_the_session_and_clears_its_dialogue() {
    let app = spawn_app().await;
    let (welcome, _) = ws(app.addr, None, None).await;
    let session = welcome["session"].as_str().expect("a session").to_owned();
    let token = demo_login(&app, Some(&session), "2021001234", "demo-student").await;
    let (_, mut open_socket) = ws(app.addr, Some(&session), Some(&token)).await;
    // 退出登录 in the chat: the logout card, completed with the session.
    let reply = say(&mut open_socket, "退出登录").await;
    let logout_url = reply["cards"][0]["actions"][0]["url"].as_str().expect("a logout link").to_owned();
    assert_eq!(logout_url, app.http_url(&format!("/auth/logout?session={session}")));
    // Something private is pending in the session: a 意见反馈 being written.
    say(&mut open_socket, "我要提意见").await;
    let pending = say(&mut open_socket, "工资条上的补贴少发了两个月").await;
    assert!(pending.to_string().contains("联系"), "the form asks for a contact next: {pending}");

    // Opening that link (a GET anyone who sees the URL can make) ends only the CAS login, never the session.
    let response = browser().get(&logout_url).send().await.expect("GET /auth/logout");
    let to_cas = location(&response);
    assert!(to_cas.starts_with(&app.http_url("/cas/logout?service=")), "{to_cas}");
    let (still, _) = ws(app.addr, Some(&session), Some(&token)).await;
    assert_eq!(still["user"], student(), "a GET logs nobody out: {still}");

    // POST without a token, or with a forged one: refused, nothing changes.
    let client = reqwest::Client::new();
    let refused = client.post(app.http_url("/auth/logout")).send().await.expect("POST");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused = client.post(app.http_url("/auth/logout")).bearer_auth("x.y").send().await.expect("POST");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // POST with the token: logged out.
    let done = client.post(app.http_url("/auth/logout")).bearer_auth(&token).send().await.expect("POST");
    assert_eq!(done.status(), StatusCode::OK);
    let body: Value = done.json().await.expect("JSON");
    assert_eq!(body["logged_out"], true, "{body}");

    // The connection still open is a guest's from its next turn on, and the pending form is gone.
    let reply = say(&mut open_socket, "跳过").await;
    assert!(!reply.to_string().contains("补贴少发"), "the form is not read back: {reply}");
    let reply = say(&mut open_socket, "登录").await;
    assert_eq!(reply["cards"][0]["kind"], "login", "{reply}");
    // The token is over; the session is a guest's again, so a guest resumes it — with nothing of the user's in it.
    let (welcome, _) = ws(app.addr, Some(&session), Some(&token)).await;
    assert_eq!(welcome["user"], Value::Null);
    assert!(welcome["text"].as_str().unwrap_or_default().contains("登录已过期"));
    let (welcome, mut guest) = ws(app.addr, Some(&session), None).await;
    assert_eq!(welcome["session"], session.as_str());
    let reply = say(&mut guest, "确认").await;
    assert!(!reply.to_string().contains("补贴少发"), "{reply}");
    let pool = app.db.pool().await;
    let state: String = sqlx::query_scalar("SELECT state_json FROM sessions WHERE id = $1")
        .bind(&session)
        .fetch_one(&pool)
        .await
        .expect("the session row");
    assert!(!state.contains("补贴少发"), "{state}");
}

/// A mock school CAS that answers every validation with one recorded document.
async fn recorded_cas(document: &'static str) -> String {
    let app = Router::new().route(
        "/authserver/p3/serviceValidate",
        get(move |Query(_): Query<HashMap<String, String>>| async move { document }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/authserver")
}

const INVALID_TICKET: &str = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationFailure code="INVALID_TICKET">
    Ticket ST-1856339-aA5Yuvrxzpv8Tau1cYQ7 not recognized
  </cas:authenticationFailure>
</cas:serviceResponse>"#;

const INVALID_SERVICE: &str = r#"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationFailure code='INVALID_SERVICE'>Ticket ST-1 does not match supplied service</cas:authenticationFailure></cas:serviceResponse>"#;

const NOT_CAS: &str = "<html><body>统一身份认证 维护中</body></html>";

#[tokio::test]
async fn failure_documents_of_a_real_cas_map_to_clear_pages_and_bind_nothing() {
    for (document, status, message) in [
        (INVALID_TICKET, StatusCode::UNAUTHORIZED, "登录凭证无效或已过期"),
        (INVALID_SERVICE, StatusCode::UNAUTHORIZED, "登录凭证与本服务不匹配"),
        (NOT_CAS, StatusCode::BAD_GATEWAY, "无法识别"),
    ] {
        let cas_url = recorded_cas(document).await;
        let db = TestDb::new();
        let mut settings = test_settings(&db);
        settings.auth.demo_cas = false;
        settings.auth.cas_url = Some(cas_url.clone());
        settings.auth.token_secret = Some(Secret::new("a-production-like-secret-value".into()));
        let app = spawn_app_with(db, settings).await;
        let (welcome, mut guest) = ws(app.addr, None, None).await;
        let session = welcome["session"].as_str().expect("a session").to_owned();
        // A turn stores the guest's session (connecting alone does not).
        say(&mut guest, "你好").await;

        // Login goes to the configured CAS, and the demo CAS is not served.
        let to_cas = location(
            &browser().get(app.http_url(&format!("/auth/login?session={session}"))).send().await.expect("GET"),
        );
        assert!(to_cas.starts_with(&format!("{cas_url}/login?service=")), "{to_cas}");
        let demo = browser().get(app.http_url("/cas/login")).send().await.expect("GET");
        assert_eq!(demo.status(), StatusCode::NOT_FOUND);

        let callback =
            app.http_url(&format!("/auth/callback?session={session}&ticket=ST-1856339-aA5Yuvrxzpv8Tau1cYQ7"));
        let page = browser().get(&callback).send().await.expect("GET the callback");
        assert_eq!(page.status(), status);
        let page = page.text().await.expect("a page");
        assert!(page.contains("登录失败") && page.contains(message), "{page}");
        assert!(!page.contains("var token"), "{page}");
        // Nothing was bound: a guest still resumes the session.
        let (welcome, _) = ws(app.addr, Some(&session), None).await;
        assert_eq!(welcome["session"], session.as_str());
    }
}

#[tokio::test]
async fn a_callback_without_a_ticket_and_foreign_return_addresses_are_refused() {
    let app = spawn_app().await;
    let page = browser().get(app.http_url("/auth/callback?session=s_x")).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    // A foreign return address is dropped from the service URL: the token can only go to our pages.
    let to_cas = location(
        &browser().get(app.http_url("/auth/login?return=https%3A%2F%2Fevil.example%2F")).send().await.expect("GET"),
    );
    let service = query_value(&to_cas, "service").expect("a service");
    assert!(!service.contains("evil"), "{service}");
    let to_cas = location(&browser().get(app.http_url("/auth/login?return=%2Findex.html")).send().await.expect("GET"));
    let service = query_value(&to_cas, "service").expect("a service");
    assert_eq!(query_value(&service, "return").as_deref(), Some(app.http_url("/index.html").as_str()));
}
