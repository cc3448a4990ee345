//! Two `ehall-bot serve` processes on one PostgreSQL database, with no sticky routing between them: a session
//! continues on either, and a knowledge change reaches the other process through LISTEN/NOTIFY.
//!
//! Runs the built binary (`EHALL_BIN`, else `target/debug/ehall-bot`; `cargo build -p server --bin ehall-bot`
//! first). Each test gets its own PostgreSQL database.

use ehall_tests::{assert_reply, chat, connect, repo_root, TestDb, WAIT};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "replica-admin-token-A0001";

/// The server binary under test.
pub fn server_binary() -> std::path::PathBuf {
    match std::env::var_os("EHALL_BIN") {
        Some(bin) => bin.into(),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), Into::into);
            target.join("debug/ehall-bot")
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; the server binds it a moment later).
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local address")
}

/// One `ehall-bot serve` process; killed when dropped.
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub child: Child,
    _workdir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary on `database_url` and waits until `/readyz` answers.
    pub async fn start(database_url: &str, extra_env: &[(&str, &str)]) -> ServerProcess {
        let bin = server_binary();
        assert!(bin.exists(), "{} is missing: run `cargo build -p server --bin ehall-bot` first", bin.display());
        let addr = free_addr();
        let workdir = tempfile::tempdir().expect("a working folder");
        // Every test client shares 127.0.0.1, as a campus does behind a proxy: the per-address and per-session
        // question budgets are off, as docs/deployment.md says to set them there (their own tests are elsewhere).
        let config = workdir.path().join("ehall.toml");
        std::fs::write(&config, "[limits]\nquestion_burst = 0\nsession_turn_burst = 0\n").expect("write the config");
        let mut command = Command::new(&bin);
        command
            .arg("serve")
            .args(["--addr", &addr.to_string(), "--database-url", database_url, "--semantic", "false"])
            .arg("--data-dir")
            .arg(ehall_tests::data_dir())
            .arg("--config")
            .arg(&config)
            .current_dir(workdir.path())
            .env("EHALL_TOKEN_SECRET", "replica-test-token-secret-0123456789")
            .env("EHALL_ADMINS", "A0001")
            .env("EHALL_ADMIN_TOKENS", format!("{ADMIN_TOKEN}=A0001"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() });
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start ehall-bot serve");
        let mut server = ServerProcess { addr, child, _workdir: workdir };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited during start-up: {status}");
            }
            let ready = client.get(format!("http://{}/readyz", self.addr)).timeout(Duration::from_secs(1)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "the server on {} is not ready in time", self.addr);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_card(reply: &Value, id: &str) -> bool {
    reply["cards"].as_array().is_some_and(|cards| cards.iter().any(|c| c["id"] == id))
}

#[tokio::test]
async fn a_session_continues_on_the_other_replica_turn_by_turn() {
    let db = TestDb::postgres();
    let a = ServerProcess::start(&db.url(), &[]).await;
    let b = ServerProcess::start(&db.url(), &[]).await;

    let mut on_a = connect(a.addr, None).await;
    let session = on_a.session();
    assert_reply(&on_a.send_text("m1", "怎么申请助学金").await, Some("m1"));
    // The same session, alternately on each process: each turn must see every earlier one, which only holds
    // when the state is read from the database per turn (a per-process cache would lose the other's turns).
    let mut on_b = connect(b.addr, Some(&session)).await;
    assert_eq!(on_b.session(), session);
    assert_reply(&on_b.send_text("m2", "需要什么材料").await, Some("m2"));
    assert_reply(&on_a.send_text("m3", "在哪里办理").await, Some("m3"));
    let over_http = chat(b.addr, Some(&session), "谢谢").await;
    assert_eq!(over_http["session"], session.as_str());
    assert_eq!(db.turns(&session).await, 4);
    let log = db.question_log(&session).await;
    let texts: Vec<&str> = log.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(texts, ["怎么申请助学金", "需要什么材料", "在哪里办理", "谢谢"]);
}

async fn admin_create_faq(addr: SocketAddr, faq: Value, questions: &[&str]) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/admin/items/faq"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"body": faq, "questions": questions}))
        .timeout(WAIT)
        .send()
        .await
        .expect("the admin API answers");
    let status = response.status();
    assert!(status.is_success(), "create faq: {status} {}", response.text().await.unwrap_or_default());
}

/// Asks `addr` until it answers `question` with the card `card`, for at most `within`.
async fn answers_with_card(addr: SocketAddr, question: &str, card: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let reply = chat(addr, None, question).await;
        if has_card(&reply["reply"], card) || has_card(&reply, card) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_knowledge_event_makes_the_other_replica_reload_from_the_database() {
    let db = TestDb::postgres();
    let a = ServerProcess::start(&db.url(), &[]).await;
    let b = ServerProcess::start(&db.url(), &[]).await;
    let faq = json!({"id": "f-replica-locker", "question": "图书馆储物柜钥匙丢了怎么办？", "answer": "请到图书馆一楼服务台登记，押金可退。"});
    admin_create_faq(a.addr, faq, &["储物柜钥匙找不到了"]).await;
    assert!(answers_with_card(a.addr, "图书馆储物柜钥匙丢了怎么办", "f-replica-locker", Duration::ZERO).await);
    // The event the admin module publishes after a change (`Events::notify_knowledge_changed`), sent here by
    // hand so that this test proves the receiving side on its own.
    let pool = db.pool().await;
    sqlx::query("SELECT pg_notify('ehall_knowledge', '{\"origin\":\"test\"}')").execute(&pool).await.expect("notify");
    let started = Instant::now();
    assert!(
        answers_with_card(b.addr, "图书馆储物柜钥匙丢了怎么办", "f-replica-locker", Duration::from_secs(10)).await,
        "the other replica does not answer with the new FAQ"
    );
    eprintln!("replica B answered with the new FAQ {} ms after the event", started.elapsed().as_millis());
}

#[tokio::test]
async fn an_admin_edit_on_one_replica_is_live_on_the_other_within_seconds() {
    let db = TestDb::postgres();
    let a = ServerProcess::start(&db.url(), &[]).await;
    let b = ServerProcess::start(&db.url(), &[]).await;
    let faq = json!({"id": "f-replica-umbrella", "question": "图书馆能借雨伞吗？", "answer": "图书馆一楼服务台可借爱心雨伞。"});
    admin_create_faq(a.addr, faq, &["下雨了去哪借伞"]).await;
    assert!(answers_with_card(b.addr, "图书馆能借雨伞吗", "f-replica-umbrella", Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_feedback_answered_on_one_replica_reaches_the_authors_websocket_on_the_other() {
    use crate::portal::{login, PortalClient, STUDENT};
    let db = TestDb::postgres();
    let a = ServerProcess::start(&db.url(), &[]).await;
    let b = ServerProcess::start(&db.url(), &[]).await;
    let pool = db.pool().await;
    sqlx::query(
        "INSERT INTO portal_feedback (id, user_id, kind, content, contact, status, answer, created_at, updated_at) \
         VALUES ('GD20261128009', $1, 'ticket', '图书馆三楼插座没电', NULL, 'submitted', NULL, $2, $2)",
    )
    .bind(STUDENT.0)
    .bind("2026-11-28T08:00:00.000Z")
    .execute(&pool)
    .await
    .expect("a feedback row");

    // The student is logged in on B only; the admin answers on A.
    let guest = PortalClient::connect(b.addr, None, None).await;
    let session = guest.session();
    guest.close().await;
    let token = login(b.addr, &session, STUDENT).await;
    let mut on_b = PortalClient::connect(b.addr, Some(&session), Some(&token)).await;
    assert_eq!(on_b.welcome["user"]["id"], STUDENT.0, "{}", on_b.welcome);

    let answer = "已通知后勤维修，今天下午修好。";
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/admin/feedback/GD20261128009", a.addr))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"status": "answered", "answer": answer}))
        .timeout(WAIT)
        .send()
        .await
        .expect("the admin API answers");
    assert!(response.status().is_success(), "{}", response.status());

    let notice = on_b.next_frame().await;
    assert_eq!(notice["type"], "notice", "{notice}");
    assert!(notice["text"].as_str().is_some_and(|t| t.contains(answer)), "{notice}");
    assert_eq!(notice["cards"][0]["kind"], "feedback", "{notice}");

    // A kept it (no session there); B's delivery marks it delivered, so the next login does not show it again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM portal_notices WHERE user_id = $1 AND delivered = 0")
                .bind(STUDENT.0)
                .fetch_one(&pool)
                .await
                .expect("count");
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the notice B delivered is still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    on_b.close().await;
    let mut again = PortalClient::connect(a.addr, Some(&session), Some(&token)).await;
    let reply = again.say("你好").await;
    assert_eq!(reply["type"], "reply", "no notice before the reply: {reply}");
    again.close().await;
}
