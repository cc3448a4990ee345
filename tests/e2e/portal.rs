//! The portal through dialogue, end to end: helpers (a server that exposes its portal, demo CAS login, a websocket
//! client that carries a login token) and the guest's transcripts. The logged-in transcripts are in
//! `portal_user.rs`, forms and notices in `portal_forms.rs`.

use ehall_tests::{connect_with_token, test_settings, Client, TestDb, WAIT};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use server::campus::Portal;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const STUDENT: (&str, &str) = ("2021001234", "demo-student");
pub const TEACHER: (&str, &str) = ("T2008001", "demo-teacher");

/// A running server whose portal the test can reach (to answer a feedback, add a message).
pub struct PortalApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub portal: Portal,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the real server on `db` and keeps a handle on its portal.
pub async fn spawn_portal_app(db: TestDb) -> PortalApp {
    let settings = test_settings(&db);
    spawn_portal_app_with(db, settings).await
}

/// Starts the real server with custom settings and keeps a handle on its portal.
pub async fn spawn_portal_app_with(db: TestDb, settings: server::Settings) -> PortalApp {
    let app = match server::app::build_app_with(&settings, &ehall_tests::shared_retrieval()).await {
        Ok(app) => app,
        Err(e) => panic!("the app does not start: {e}"),
    };
    let portal = app.state.portal.clone().expect("the portal starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, app.state, async move {
        let _ = stopped.await;
    }));
    PortalApp { addr, db, portal, stop, task }
}

impl PortalApp {
    /// Stops the server and hands back its database (for a restart).
    pub async fn stop(self) -> TestDb {
        let PortalApp { db, stop, task, .. } = self;
        let _ = stop.send(());
        let _ = tokio::time::timeout(WAIT, task).await.expect("the server stops in time");
        db
    }
}

fn query_value(url: &str, key: &str) -> Option<String> {
    reqwest::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn location(response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "expected a redirect, got {}", response.status());
    response.headers()["location"].to_str().expect("an ASCII location").to_owned()
}

/// Logs in through the demo CAS as a browser would and returns the login token bound to `session`.
pub async fn login(addr: SocketAddr, session: &str, (user, password): (&str, &str)) -> String {
    let client = reqwest::Client::builder().redirect(Policy::none()).timeout(WAIT).build().expect("an HTTP client");
    let to_cas = location(
        &client.get(format!("http://{addr}/auth/login?session={session}")).send().await.expect("GET /auth/login"),
    );
    let to_cas = if to_cas.starts_with('/') { format!("http://{addr}{to_cas}") } else { to_cas };
    let service = query_value(&to_cas, "service").expect("a service parameter");
    let submitted = client
        .post(format!("http://{addr}/cas/login"))
        .form(&[("username", user), ("password", password), ("service", service.as_str())])
        .send()
        .await
        .expect("POST the CAS form");
    let callback = location(&submitted);
    let page = client.get(&callback).send().await.expect("GET the callback").text().await.expect("a page");
    let start = page.find("var token=\"").expect("the page carries a token") + "var token=\"".len();
    let end = start + page[start..].find('"').expect("the token string ends");
    page[start..end].to_owned()
}

/// A websocket client of the chat protocol that may carry a login token, numbering its frames.
pub struct PortalClient {
    pub welcome: Value,
    client: Client,
    next_id: u32,
}

impl PortalClient {
    pub async fn connect(addr: SocketAddr, session: Option<&str>, token: Option<&str>) -> PortalClient {
        let client = connect_with_token(addr, session, token).await;
        assert_eq!(client.welcome["type"], "welcome", "{}", client.welcome);
        PortalClient { welcome: client.welcome.clone(), client, next_id: 0 }
    }

    /// A guest connects, logs in as `account` and reconnects with the token (same session).
    pub async fn logged_in(addr: SocketAddr, account: (&str, &str)) -> (PortalClient, String) {
        let guest = PortalClient::connect(addr, None, None).await;
        let session = guest.session();
        guest.close().await;
        let token = login(addr, &session, account).await;
        let client = PortalClient::connect(addr, Some(&session), Some(&token)).await;
        assert_eq!(client.welcome["user"]["id"], account.0, "{}", client.welcome);
        (client, token)
    }

    pub fn session(&self) -> String {
        self.client.session()
    }

    pub async fn next_frame(&mut self) -> Value {
        self.client.next_frame().await
    }

    async fn send_frame(&mut self, frame: Value) -> Value {
        let reply = self.client.send_raw(&frame.to_string()).await;
        assert_eq!(reply["type"], "reply", "{reply}");
        reply
    }

    /// Says something and returns the reply.
    pub async fn say(&mut self, text: &str) -> Value {
        self.next_id += 1;
        self.send_frame(json!({"type": "message", "id": format!("m{}", self.next_id), "text": text})).await
    }

    /// Presses a button and returns the reply.
    pub async fn press(&mut self, action: &str, args: Value) -> Value {
        self.next_id += 1;
        self.send_frame(json!({"type": "action", "id": format!("a{}", self.next_id), "action": action, "args": args}))
            .await
    }

    pub async fn close(self) {
        self.client.close().await;
    }
}

/// The reply's first card.
pub fn first_card(reply: &Value) -> &Value {
    &reply["cards"][0]
}

/// A card's field value by label.
pub fn field<'a>(card: &'a Value, label: &str) -> &'a str {
    card["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["label"] == label)
        .and_then(|f| f["value"].as_str())
        .unwrap_or_default()
}

pub fn text(reply: &Value) -> &str {
    reply["text"].as_str().unwrap_or_default()
}

/// A login card somewhere in the reply (a confident guide may come first for a guest).
fn assert_login_card(reply: &Value) {
    let cards = reply["cards"].as_array().cloned().unwrap_or_default();
    let card = cards.iter().find(|c| c["kind"] == "login").unwrap_or_else(|| panic!("a login card: {reply}"));
    assert!(card["actions"].as_array().is_some_and(|a| a.iter().any(|x| x["type"] == "open_url")), "{reply}");
}

#[tokio::test]
async fn a_guest_is_asked_to_log_in_for_everything_personal() {
    let app = spawn_portal_app(TestDb::new()).await;
    let mut guest = PortalClient::connect(app.addr, None, None).await;
    for q in [
        "饭卡还有多少钱",
        "这个月工资",
        "校园网流量还剩多少",
        "邮箱有没有新邮件",
        "我的待办",
        "助学金申请到哪一步了",
        "我的消息",
        "我的收藏",
        "最近使用",
        "我的反馈处理了吗",
        "查一下2021001234的余额",
    ] {
        let reply = guest.say(q).await;
        assert_login_card(&reply);
        assert!(!text(&reply).contains("128.50"), "{q}: {reply}");
    }
    let reply = guest.press("service.start", json!({"service": "s1-xg-grant"})).await;
    assert_login_card(&reply);
    assert!(text(&reply).contains("学工系统"), "{reply}");
    // 意见反馈 needs no login (a 工单 does).
    let reply = guest.say("我要反馈").await;
    assert_eq!(reply["intent"], "feedback.start", "{reply}");
    guest.say("取消").await;
    let reply = guest.say("报修").await;
    assert_login_card(&reply);
    assert!(reply["cards"].as_array().is_some_and(|c| c.iter().any(|x| x["kind"] == "contact")), "{reply}");
    guest.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_guest_browses_the_catalog_and_the_news_and_search_still_answers() {
    let app = spawn_portal_app(TestDb::new()).await;
    let mut guest = PortalClient::connect(app.addr, None, None).await;

    let reply = guest.say("学生能办哪些事").await;
    let list = first_card(&reply);
    assert_eq!(list["kind"], "list", "{reply}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(8), "{reply}");
    let more = list["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["label"] == "更多"))
        .expect("a 更多 action")
        .clone();
    let next = guest.press("catalog.more", more["args"].clone()).await;
    let next_list = first_card(&next);
    assert_eq!(next_list["kind"], "list", "{next}");
    assert_ne!(next_list["items"][0]["id"], list["items"][0]["id"], "the next page starts further on: {next}");

    let reply = guest.say("教务处有哪些服务").await;
    assert!(
        first_card(&reply)["items"]
            .as_array()
            .is_some_and(|i| i.iter().all(|s| s["subtitle"].as_str().is_some_and(|t| t.starts_with("教务处")))),
        "{reply}"
    );
    let reply = guest.say("IT服务类的事项").await;
    assert!(first_card(&reply)["title"].as_str().is_some_and(|t| t.contains("IT服务")), "{reply}");
    let reply = guest.say("常用服务").await;
    assert_eq!(first_card(&reply)["title"], "常用服务", "{reply}");

    let reply = guest.say("最近有什么通知").await;
    assert_eq!(first_card(&reply)["kind"], "news", "{reply}");
    let reply = guest.say("期末考试时间通知").await;
    assert_eq!(first_card(&reply)["title"], "2020-2021-2期末考试时间通知", "{reply}");

    let reply = guest.say("助学金怎么申请").await;
    assert_eq!(first_card(&reply)["kind"], "service", "{reply}");
    assert_eq!(first_card(&reply)["title"], "学生助学金申请", "{reply}");
    let reply = guest.say("忘记密码怎么办").await;
    assert!(text(&reply).contains("绑定的手机号或邮箱"), "the seed's answer: {reply}");
    guest.close().await;
    app.stop().await;
}
