//! Durability: the server is killed with SIGKILL in the middle of a load, and every turn whose reply a client
//! received is in the database after a restart (the reply goes out only after its turn is committed).
//!
//! The acknowledged write is the question-log row of each `reply` (the portal's feedback submissions, when
//! they exist, follow the same commit-then-answer path). Runs on the suite's database (SQLite, or PostgreSQL
//! with `EHALL_TEST_DATABASE=postgres`).

use crate::replicas::ServerProcess;
use ehall_tests::TestDb;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 12;
/// Below the per-connection frame budget (30 per 10 s), so that every frame is answered.
const QUESTIONS_PER_CLIENT: usize = 25;

/// Asks questions until the connection dies; returns the reply ids received.
async fn ask_until_killed(addr: std::net::SocketAddr, client: usize) -> Vec<String> {
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await
    else {
        return vec![];
    };
    let _welcome = socket.next().await;
    let questions = [
        "怎么申请助学金",
        "校园卡丢了怎么补办",
        "校园网怎么缴费",
        "成绩单在哪里打印",
        "请假流程",
    ];
    let mut acknowledged = Vec::new();
    for i in 0..QUESTIONS_PER_CLIENT {
        let frame = json!({"type": "message", "id": format!("c{client}m{i}"), "text": questions[(client + i) % questions.len()]});
        if socket.send(Message::text(frame.to_string())).await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if value["type"] == "reply" {
                    acknowledged.push(value["id"].as_str().unwrap_or_default().to_owned());
                }
            }
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acknowledged
}

#[tokio::test]
async fn every_acknowledged_turn_survives_a_sigkill() {
    let db = TestDb::new();
    let mut server = ServerProcess::start(&db.url(), &[]).await;
    let addr = server.addr;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(ask_until_killed(addr, c)))
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // SIGKILL: no shutdown path runs, nothing is flushed by the server.
    server.child.kill().expect("SIGKILL the server");
    let _ = server.child.wait();
    let mut acknowledged = Vec::new();
    for c in clients {
        acknowledged.extend(c.await.expect("client task"));
    }
    assert!(
        !acknowledged.is_empty(),
        "the load produced no replies before the kill"
    );
    assert!(
        acknowledged.len() < CLIENTS * QUESTIONS_PER_CLIENT,
        "the kill came after the load had finished"
    );

    // A restart recovers the database (SQLite replays its WAL), then every acknowledged turn must be there.
    drop(server);
    let restarted = ServerProcess::start(&db.url(), &[]).await;
    let pool = db.pool().await;
    let stored: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT reply_id FROM question_log")
            .fetch_all(&pool)
            .await
            .expect("read the question log")
            .into_iter()
            .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged turns were lost: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
    eprintln!(
        "{} acknowledged turns, all stored ({} rows in the log)",
        acknowledged.len(),
        stored.len()
    );
    drop(restarted);
}
