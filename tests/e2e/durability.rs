//! Durability: the real `ehall-bot serve` process is killed with SIGKILL in the middle of a load of 意见反馈
//! submissions from several logged-in clients, and after a restart on the same database every submission whose
//! `feedback` card reached its client is stored, with its content (a card goes out only after its row is
//! committed).
//!
//! Runs the built binary as a separate process (`crate::replicas::ServerProcess`), on the suite's database
//! (a SQLite file, or PostgreSQL with `EHALL_TEST_DATABASE=postgres`).

use crate::portal::{login, STUDENT, TEACHER};
use crate::replicas::ServerProcess;
use ehall_tests::{TestDb, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CLIENTS: usize = 8;
/// Four frames per submission: 28 frames per connection, under its budget of 30 per 10 s, so none is refused.
const SUBMISSIONS_PER_CLIENT: usize = 7;
/// The server is killed once this many cards have arrived: well inside the load, however fast the machine.
const KILL_AFTER: usize = CLIENTS * SUBMISSIONS_PER_CLIENT / 3;
const ADMIN_TOKEN: &str = "durability-admin-token-A0001";

/// A submission the client saw acknowledged: the number on its `feedback` card and the text it submitted.
#[derive(Debug)]
struct Acknowledged {
    number: String,
    content: String,
}

/// A websocket logged in as `account` (through the demo CAS), past its welcome frame.
async fn logged_in_socket(addr: SocketAddr, account: (&str, &str)) -> Socket {
    let (mut guest, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("connect in time")
        .expect("websocket handshake");
    let welcome = next_frame(&mut guest).await.expect("a welcome frame");
    let session = welcome["session"].as_str().expect("the welcome carries a session").to_owned();
    let _ = guest.close(None).await;
    let token = login(addr, &session, account).await;
    let url = format!("ws://{addr}/ws?session={session}&token={token}");
    let (mut socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("handshake");
    let welcome = next_frame(&mut socket).await.expect("a welcome frame");
    assert_eq!(welcome["user"]["id"], account.0, "logged in: {welcome}");
    socket
}

/// The next JSON frame, or `None` once the connection is gone (the server was killed).
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Sends one frame and reads its reply (past any pushed `notice`); `None` once the connection is gone.
async fn exchange(socket: &mut Socket, frame: Value) -> Option<Value> {
    socket.send(Message::text(frame.to_string())).await.ok()?;
    loop {
        let reply = next_frame(socket).await?;
        if reply["type"] == "notice" {
            continue;
        }
        assert_eq!(reply["type"], "reply", "every frame of the load is answered: {reply}");
        assert_eq!(reply["in_reply_to"], frame["id"], "{reply}");
        return Some(reply);
    }
}

/// Submits 意见反馈 forms until the connection dies or the client's share is done; returns what was acknowledged.
async fn submit_until_killed(
    mut socket: Socket,
    client: usize,
    acknowledged_so_far: Arc<AtomicUsize>,
    enough: Arc<Notify>,
) -> Vec<Acknowledged> {
    let mut acknowledged = Vec::new();
    for i in 0..SUBMISSIONS_PER_CLIENT {
        let content = format!("耐久测试：希望宿舍调换能在线办理（客户端{client}第{i}条）");
        let steps = [
            json!({"type": "message", "id": format!("c{client}s{i}a"), "text": "我要反馈"}),
            json!({"type": "message", "id": format!("c{client}s{i}b"), "text": content}),
            json!({"type": "action", "id": format!("c{client}s{i}c"), "action": "form.skip", "args": {}}),
            json!({"type": "message", "id": format!("c{client}s{i}d"), "text": "确认"}),
        ];
        let mut last = Value::Null;
        for step in steps {
            match exchange(&mut socket, step).await {
                Some(reply) => last = reply,
                None => return acknowledged,
            }
        }
        assert_eq!(last["intent"], "feedback.submitted", "the confirmation submits: {last}");
        let card = last["cards"]
            .as_array()
            .and_then(|cards| cards.iter().find(|c| c["kind"] == "feedback"))
            .unwrap_or_else(|| panic!("a submission is acknowledged with a feedback card: {last}"));
        let number = card["id"]
            .as_str()
            .and_then(|id| id.strip_prefix("feedback:"))
            .unwrap_or_else(|| panic!("the card names its number: {card}"))
            .to_owned();
        acknowledged.push(Acknowledged { number, content });
        if acknowledged_so_far.fetch_add(1, Ordering::SeqCst) + 1 >= KILL_AFTER {
            enough.notify_one();
        }
    }
    acknowledged
}

#[tokio::test]
async fn every_acknowledged_feedback_survives_a_sigkill() {
    let db = TestDb::new();
    let admin_env = format!("{ADMIN_TOKEN}=A0001");
    let env = [("EHALL_ADMIN_TOKENS", admin_env.as_str())];
    let mut server = ServerProcess::start(&db.url(), &env).await;
    let addr = server.addr;

    // Every client logs in before the load starts, so that the kill only ever interrupts submissions.
    let mut sockets = Vec::new();
    for c in 0..CLIENTS {
        sockets.push(logged_in_socket(addr, if c % 2 == 0 { STUDENT } else { TEACHER }).await);
    }
    let counter = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let clients: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(c, socket)| tokio::spawn(submit_until_killed(socket, c, counter.clone(), enough.clone())))
        .collect();
    tokio::time::timeout(WAIT * 3, enough.notified()).await.expect("the load acknowledges submissions in time");
    // SIGKILL: no shutdown path runs, nothing is flushed by the server.
    server.child.kill().expect("SIGKILL the server");
    let _ = server.child.wait();
    let mut acknowledged = Vec::new();
    for c in clients {
        acknowledged.extend(c.await.expect("a client task ends without a failed check"));
    }
    assert!(acknowledged.len() >= KILL_AFTER, "{} acknowledged before the kill", acknowledged.len());
    assert!(
        acknowledged.len() < CLIENTS * SUBMISSIONS_PER_CLIENT,
        "the kill came after the load had finished ({} submissions)",
        acknowledged.len()
    );

    // The restart recovers the database (SQLite replays its WAL); then every acknowledged submission is stored.
    drop(server);
    let restarted = ServerProcess::start(&db.url(), &env).await;
    let pool = db.pool().await;
    let stored: HashMap<String, String> =
        sqlx::query("SELECT id, content FROM portal_feedback WHERE kind = 'feedback'")
            .fetch_all(&pool)
            .await
            .expect("read the feedback table")
            .iter()
            .map(|r| (r.get::<String, _>("id"), r.get::<String, _>("content")))
            .collect();
    pool.close().await;
    let lost: Vec<&Acknowledged> = acknowledged.iter().filter(|a| stored.get(&a.number) != Some(&a.content)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged submissions were lost: {lost:?}", lost.len(), acknowledged.len());

    // The restarted server serves them too (the admin inbox reads the same table).
    let inbox: Value = reqwest::Client::new()
        .get(format!("http://{}/api/v1/admin/feedback?limit=1000", restarted.addr))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(WAIT)
        .send()
        .await
        .expect("the inbox answers")
        .error_for_status()
        .expect("the inbox is readable")
        .json()
        .await
        .expect("the inbox is JSON");
    let listed: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap_or_else(|| panic!("the inbox lists feedback: {inbox}"))
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    for a in &acknowledged {
        assert!(listed.contains(&a.number.as_str()), "{} is not in the restarted server's inbox", a.number);
    }
    eprintln!(
        "{} acknowledged submissions before the SIGKILL, all stored ({} rows after the restart)",
        acknowledged.len(),
        stored.len()
    );
    drop(restarted);
    // Let the server's PostgreSQL connections go before the test database is dropped.
    tokio::time::sleep(Duration::from_millis(50)).await;
}
