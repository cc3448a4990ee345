//! End-to-end test helpers: the real server on 127.0.0.1:0 over a fresh SQLite file (or PostgreSQL database with
//! `EHALL_TEST_DATABASE=postgres`), a typed websocket client,
//! an HTTP client and direct access to the database the server writes.
//!
//! Set `TEST_LOG=1` to see the server's logs (`RUST_LOG` filters them), and `EHALL_TEST_DATA_DIR` to run against
//! another knowledge base than the repository's `data/`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::settings::{Limits, Settings};
use server::Secret;
use sqlx::Row;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for any one frame or response before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// The knowledge base the tests run against: `EHALL_TEST_DATA_DIR`, else the repository's `data/`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("EHALL_TEST_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data"),
    }
}

/// The database a test server writes: a SQLite file in its own temporary folder, or, when
/// `EHALL_TEST_DATABASE=postgres`, a fresh PostgreSQL database `test_<uuid>` dropped when the `TestDb` is.
/// Either outlives server restarts.
pub struct TestDb {
    dir: TempDir,
    postgres: Option<PgTestDatabase>,
}

/// The PostgreSQL server the tests use: `EHALL_TEST_POSTGRES_URL`, else the local one with trust auth.
pub fn postgres_server_url() -> String {
    std::env::var("EHALL_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Whether this test run is against PostgreSQL (`EHALL_TEST_DATABASE=postgres`).
pub fn testing_postgres() -> bool {
    std::env::var("EHALL_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// A database of its own on the test PostgreSQL server.
struct PgTestDatabase {
    name: String,
}

/// Runs a short async database job on a runtime of its own, so that it works from sync code and from `Drop`
/// inside a test's runtime alike.
fn on_own_runtime<T: Send + 'static>(job: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(job)
    })
    .join()
    .expect("the database job does not panic")
}

async fn admin_execute(sql: String) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{}/test", postgres_server_url())).await?;
    sqlx::query(&sql).execute(&mut conn).await?;
    conn.close().await
}

impl PgTestDatabase {
    fn create() -> PgTestDatabase {
        let name = format!("test_{}", uuid_simple());
        let sql = format!("CREATE DATABASE {name}");
        on_own_runtime(admin_execute(sql))
            .expect("create a test database (is PostgreSQL running? see scripts/pg-test-db)");
        PgTestDatabase { name }
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = on_own_runtime(admin_execute(sql)) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

fn uuid_simple() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}_{}_{n}", nanos, std::process::id())
}

impl TestDb {
    /// The database this run tests against (`EHALL_TEST_DATABASE`).
    pub fn new() -> TestDb {
        if testing_postgres() {
            TestDb::postgres()
        } else {
            TestDb::sqlite()
        }
    }

    /// A SQLite file, whatever the run.
    pub fn sqlite() -> TestDb {
        TestDb { dir: tempfile::tempdir().expect("create a temp dir"), postgres: None }
    }

    /// A fresh PostgreSQL database, whatever the run.
    pub fn postgres() -> TestDb {
        TestDb { dir: tempfile::tempdir().expect("create a temp dir"), postgres: Some(PgTestDatabase::create()) }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The SQLite file (unused on PostgreSQL).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("ehall.sqlite")
    }

    pub fn url(&self) -> String {
        match &self.postgres {
            Some(pg) => format!("{}/{}", postgres_server_url(), pg.name),
            None => format!("sqlite://{}", self.path().display()),
        }
    }

    /// A separate connection to the server's database, for checking what it stored.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new().max_connections(2).connect(&self.url()).await.expect("open the test database")
    }

    /// The dialogue state stored for a session, parsed.
    pub async fn session_state(&self, session: &str) -> Value {
        let pool = self.pool().await;
        let row = sqlx::query("SELECT state_json FROM sessions WHERE id = $1")
            .bind(session)
            .fetch_one(&pool)
            .await
            .expect("the session is stored");
        pool.close().await;
        serde_json::from_str(&row.get::<String, _>("state_json")).expect("state_json is JSON")
    }

    /// The `turns` counter of a session's stored state.
    pub async fn turns(&self, session: &str) -> u64 {
        self.session_state(session).await["turns"].as_u64().expect("turns is a number")
    }

    /// The question log of a session, oldest first: (channel, text, intent, mode, reply_id).
    pub async fn question_log(&self, session: &str) -> Vec<(String, String, String, String, String)> {
        let pool = self.pool().await;
        let rows = sqlx::query(
            &format!(
                "SELECT channel, text, intent, mode, reply_id FROM question_log WHERE session_id = $1 ORDER BY created_at, {}",
                // Insertion order among rows of the same millisecond.
                if self.is_postgres() { "ctid" } else { "rowid" }
            ),
        )
        .bind(session)
        .fetch_all(&pool)
        .await
        .expect("read the question log");
        pool.close().await;
        rows.iter()
            .map(|r| (r.get("channel"), r.get("text"), r.get("intent"), r.get("mode"), r.get("reply_id")))
            .collect()
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    /// Dropping it (with the `TestApp`) also stops the server.
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        server::telemetry::init("info,sqlx=warn");
    }
}

/// Settings for a test server: port 0, the given database, the test knowledge base.
pub fn test_settings(db: &TestDb) -> Settings {
    Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Secret::new(db.url()),
        data_dir: data_dir(),
        model_dir: repo_root(),
        vector_cache_dir: repo_root().join("var/vectors"),
        semantic: true,
        // Every test client is 127.0.0.1: the per-address question budget is off (tests/e2e/connections.rs tests it).
        // Tests drive many turns from one address and one session quickly; the budgets have their own tests.
        limits: Limits { question_burst: 0, session_turn_burst: 0, ..Limits::default() },
        channels: Default::default(),
        campus: Default::default(),
        retention: Default::default(),
        // The service desk is open around the clock, so that 转人工 queues whenever the tests run.
        handoff: always_open_desk(),
        // The admin tests list their admins in the environment, as an operator would.
        admin: server::settings::AdminSettings::from_environment(),
        retrieval: Default::default(),
        // A fixed secret: tests never write var/token-secret.
        auth: server::auth::AuthSettings {
            token_secret: Some(Secret::new("e2e-test-login-token-secret".to_owned())),
            ..server::auth::AuthSettings::default()
        },
    }
}

/// A service desk open every day, all day (docs/handoff.md), with the default time limits.
pub fn always_open_desk() -> server::handoff::hours::HandoffSettings {
    server::handoff::hours::HandoffSettings {
        days: (1..=7).collect(),
        open: "00:00".to_owned(),
        close: "24:00".to_owned(),
        ..Default::default()
    }
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Retrieval shared by every test server of this process: the embedding model is loaded once (it takes a second
/// and most of a gigabyte), and answers are as the real server gives them. Lexical only when the model is not
/// installed (`scripts/fetch-models`); the README's test command installs it.
pub fn shared_retrieval() -> server::app::Retrieval {
    static RETRIEVAL: std::sync::OnceLock<server::app::Retrieval> = std::sync::OnceLock::new();
    RETRIEVAL
        .get_or_init(|| {
            let root = repo_root();
            let backend = server::settings::RetrievalSettings::from_environment()
                .expect("EHALL_EMBED_BACKEND and EHALL_DECISION are valid")
                .backend;
            let semantic = knowledge::setup::Semantic::load(
                &root,
                backend,
                knowledge::embed::queue::QueryEmbedderConfig::default(),
                std::time::Duration::from_secs(10),
            )
            .expect("the installed embedding model loads");
            server::app::Retrieval {
                semantic: semantic.map(std::sync::Arc::new),
                vector_cache_dir: root.join("var/vectors"),
            }
        })
        .clone()
}

/// Starts the real server on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDb::new()).await
}

/// Starts the real server on an existing database (to test restarts).
pub async fn spawn_app_on(db: TestDb) -> TestApp {
    let settings = test_settings(&db);
    spawn_app_with(db, settings).await
}

/// Starts the real server with custom settings (the address is always 127.0.0.1:0).
pub async fn spawn_app_with(db: TestDb, settings: Settings) -> TestApp {
    init_test_logging();
    let retrieval = shared_retrieval();
    let app = match server::app::build_app_with(&settings, &retrieval).await {
        Ok(app) => app,
        Err(e) => panic!("the app does not start: {e}"),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, app.state, async move {
        let _ = stopped.await;
    }));
    TestApp { addr, db, stop, task }
}

impl TestApp {
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server gracefully and hands back its database.
    pub async fn stop(self) -> TestDb {
        let TestApp { db, stop, task, .. } = self;
        let _ = stop.send(());
        let served = tokio::time::timeout(WAIT, task).await.expect("the server stops in time");
        served.expect("the server task ends cleanly").expect("the server ends without error");
        db
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A websocket client that speaks the chat protocol.
pub struct Client {
    /// The `welcome` frame received on connect.
    pub welcome: Value,
    socket: Socket,
}

/// Connects to `/ws`, resuming `session` when given, and reads the welcome frame.
pub async fn connect(addr: SocketAddr, session: Option<&str>) -> Client {
    connect_with_token(addr, session, None).await
}

/// Connects to `/ws` with an optional session to resume and an optional login token, and reads the welcome frame.
pub async fn connect_with_token(addr: SocketAddr, session: Option<&str>, token: Option<&str>) -> Client {
    let query: Vec<String> =
        [("session", session), ("token", token)].iter().filter_map(|(k, v)| v.map(|v| format!("{k}={v}"))).collect();
    let url = if query.is_empty() { format!("ws://{addr}/ws") } else { format!("ws://{addr}/ws?{}", query.join("&")) };
    let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("websocket handshake");
    let mut client = Client { welcome: Value::Null, socket };
    client.welcome = client.next_frame().await;
    client
}

impl Client {
    /// The session id the welcome frame gave.
    pub fn session(&self) -> String {
        self.welcome["session"].as_str().expect("welcome carries a session").to_owned()
    }

    /// Sends a `message` frame and returns the next frame (the reply, or an error frame).
    pub async fn send_text(&mut self, id: &str, text: &str) -> Value {
        self.send_raw(&json!({"type": "message", "id": id, "text": text}).to_string()).await
    }

    /// Sends any text and returns the next frame.
    pub async fn send_raw(&mut self, raw: &str) -> Value {
        self.send_only(raw).await;
        self.next_frame().await
    }

    /// Sends a text frame without waiting for an answer.
    pub async fn send_only(&mut self, raw: &str) {
        self.socket.send(Message::text(raw)).await.expect("send a text frame");
    }

    /// Sends a binary frame and returns the next frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Value {
        self.socket.send(Message::binary(bytes.to_vec())).await.expect("send a binary frame");
        self.next_frame().await
    }

    /// The next JSON frame from the server (websocket pings and pongs are skipped).
    pub async fn next_frame(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a frame arrives in time")
                .expect("the connection is open")
                .expect("a readable frame");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("frames are JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next websocket message of any kind, `None` once the connection is closed.
    pub async fn next_message(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.socket.next()).await.expect("a message arrives in time") {
            Some(Ok(message)) => Some(message),
            Some(Err(_)) | None => None,
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Posts a question to `/api/v1/chat` and returns the response body; fails the test unless it is a 200.
pub async fn chat(addr: SocketAddr, session: Option<&str>, text: &str) -> Value {
    let mut body = json!({"text": text});
    if let Some(id) = session {
        body["session"] = json!(id);
    }
    let (status, value) = post_chat(addr, &body.to_string()).await;
    assert_eq!(status, 200, "chat failed: {value}");
    value
}

/// Posts any body to `/api/v1/chat`; returns the status and the JSON body.
pub async fn post_chat(addr: SocketAddr, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/chat"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .timeout(WAIT)
        .send()
        .await
        .expect("the request is answered");
    let status = response.status().as_u16();
    let value = response.json::<Value>().await.expect("the response is JSON");
    (status, value)
}

/// GETs a path; returns the status, content type and body text.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(WAIT)
        .send()
        .await
        .expect("the request is answered");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("a text body"))
}

/// Checks the fields every `reply` frame must have, and that it answers the frame `in_reply_to`.
pub fn assert_reply(frame: &Value, in_reply_to: Option<&str>) {
    assert_eq!(frame["type"], "reply", "not a reply: {frame}");
    assert!(frame["id"].as_str().is_some_and(|id| id.starts_with("r_")), "reply id: {frame}");
    assert_eq!(frame["in_reply_to"].as_str(), in_reply_to, "in_reply_to: {frame}");
    assert!(["answer", "clarify", "fallback"].contains(&frame["mode"].as_str().unwrap_or("")), "mode: {frame}");
    assert!(frame["intent"].as_str().is_some_and(|i| !i.is_empty()), "intent: {frame}");
    assert!(frame["confidence"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)), "confidence: {frame}");
    assert!(frame["text"].as_str().is_some_and(|t| !t.trim().is_empty()), "text: {frame}");
    let cards = frame["cards"].as_array().expect("cards is an array");
    for card in cards {
        assert!(card["kind"].is_string() && card["id"].is_string() && card["title"].is_string(), "card: {card}");
    }
    for s in frame["suggestions"].as_array().expect("suggestions is an array") {
        assert!(s["label"].is_string(), "suggestion: {s}");
    }
}

/// Checks an `error` frame's code and the frame it answers.
pub fn assert_error(frame: &Value, code: &str, in_reply_to: Option<&str>) {
    assert_eq!(frame["type"], "error", "not an error frame: {frame}");
    assert_eq!(frame["code"], code, "error code: {frame}");
    assert!(frame["message"].as_str().is_some_and(|m| !m.is_empty()), "error message: {frame}");
    assert_eq!(frame["in_reply_to"].as_str(), in_reply_to, "in_reply_to: {frame}");
}
