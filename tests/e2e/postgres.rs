//! PostgreSQL: the same store, migrations and server as on SQLite, on a fresh database per test; and the
//! LISTEN/NOTIFY events that connect replicas. (The whole suite also runs on PostgreSQL with
//! `EHALL_TEST_DATABASE=postgres`; these tests run on PostgreSQL in every run.)

use bot::protocol::Mode;
use bot::DialogueState;
use ehall_tests::{assert_reply, chat, connect, spawn_app_with, test_settings, TestDb};
use server::store::notify::{Events, Notice};
use server::store::{Backend, Channel, QuestionRecord, Rating, SessionId, SessionStore, StoredSession};
use sqlx::Row;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn every_migration_runs_and_the_store_round_trips_on_postgres() {
    let db = TestDb::postgres();
    let store = server::store::connect(&db.url()).await.expect("connect and migrate");
    assert_eq!(store.backend(), Backend::Postgres);
    // Connecting again (a second replica starting) finds the migrations applied and changes nothing.
    let again = server::store::connect(&db.url()).await.expect("a second start");
    let applied: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
        .fetch_one(again.pool())
        .await
        .expect("the migrations table")
        .get("n");
    let files = std::fs::read_dir(ehall_tests::repo_root().join("server/migrations")).expect("migrations").count();
    assert_eq!(usize::try_from(applied).unwrap_or(0), files);

    let id = SessionId::generate();
    let session =
        StoredSession { id: id.clone(), user_id: Some("2023001".into()), state: DialogueState::default(), version: 0 };
    store.create(&session).await.expect("create");
    let state = DialogueState { turns: 2, current_item: Some("svc-9".into()), ..DialogueState::default() };
    let question = QuestionRecord {
        channel: Channel::WebSocket,
        text: "校园卡丢了怎么办".into(),
        intent: "service.guide".into(),
        mode: Mode::Answer,
        top_item: Some("svc-9".into()),
        confidence: 0.75,
        latency_ms: 3,
        reply_id: "r_pg1".into(),
    };
    store.record_turn(&id, Some("2023001"), &state, &question).await.expect("record a turn");
    // A guest's write to the user's session is refused by the owner guard, on PostgreSQL as on SQLite.
    let refused = store
        .record_turn(
            &id,
            None,
            &DialogueState::default(),
            &QuestionRecord { reply_id: "r_pg0".into(), ..question.clone() },
        )
        .await;
    assert!(matches!(refused, Err(server::store::StoreError::NotOwner)), "{refused:?}");
    let loaded = again.load(&id).await.expect("load").expect("the session exists");
    assert_eq!(loaded.state, state);
    assert_eq!(loaded.user_id.as_deref(), Some("2023001"));
    assert!(again.reply_in_session("r_pg1", &id).await.expect("lookup"));
    for helpful in [true, false] {
        let rating = Rating { reply_id: "r_pg1".into(), helpful, comment: Some("还行".into()) };
        store.save_rating(&id, &rating).await.expect("rate");
    }
    let row = sqlx::query("SELECT helpful, comment FROM ratings WHERE reply_id = $1")
        .bind("r_pg1")
        .fetch_one(store.pool())
        .await
        .expect("the rating");
    assert_eq!(row.get::<i64, _>("helpful"), 0);
    let conf = sqlx::query("SELECT confidence FROM question_log WHERE reply_id = 'r_pg1'")
        .fetch_one(store.pool())
        .await
        .expect("the log row")
        // PostgreSQL's REAL is float4 and sqlx's Any refuses it as f64 in `get`; the unchecked read widens it
        // (and is a plain f64 on SQLite). Code reading REAL columns must read them this way.
        .try_get_unchecked::<f64, _>("confidence")
        .expect("confidence as f64");
    assert!((conf - 0.75).abs() < 1e-6);
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn the_server_answers_and_resumes_sessions_on_postgres() {
    let db = TestDb::postgres();
    let settings = test_settings(&db);
    let app = spawn_app_with(db, settings).await;
    let mut client = connect(app.addr, None).await;
    let reply = client.send_text("m1", "怎么申请助学金").await;
    assert_reply(&reply, Some("m1"));
    let session = client.session();
    client.close().await;
    let over_http = chat(app.addr, Some(&session), "需要什么材料").await;
    assert_eq!(over_http["session"], session.as_str());
    assert_eq!(app.db.turns(&session).await, 2);
    let log = app.db.question_log(&session).await;
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].0.as_str(), log[1].0.as_str()), ("ws", "http"));
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn events_reach_the_other_replica_and_not_their_sender() {
    let db = TestDb::postgres();
    let a = Events::for_store(&server::store::connect(&db.url()).await.expect("replica a"));
    let b = Events::for_store(&server::store::connect(&db.url()).await.expect("replica b"));
    assert!(a.is_shared() && b.is_shared());
    let reloads = Arc::new(Mutex::new((0u32, 0u32)));
    let notices = Arc::new(Mutex::new(Vec::<(char, Notice)>::new()));
    for (name, events) in [('a', &a), ('b', &b)] {
        let r = reloads.clone();
        events.on_knowledge_changed(Arc::new(move || {
            let r = r.clone();
            Box::pin(async move {
                let mut counts = r.lock().unwrap_or_else(|p| p.into_inner());
                if name == 'a' {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
            })
        }));
        let n = notices.clone();
        events.on_notice(Arc::new(move |notice: &Notice| {
            n.lock().unwrap_or_else(|p| p.into_inner()).push((name, notice.clone()));
        }));
        events.spawn_listener().expect("a listener on PostgreSQL");
    }
    // LISTEN is asynchronous: publish until the other side is surely listening, then count exactly.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.notify_knowledge_changed().await.expect("notify");
    wait_until("b to reload", || reloads.lock().unwrap_or_else(|p| p.into_inner()).1 == 1).await;
    let notice = Notice {
        user_id: "2023001".into(),
        payload: serde_json::json!({"type": "notice", "text": "你的申请已受理"}),
    };
    b.publish_notice(&notice).await.expect("publish");
    wait_until("a to get the notice", || !notices.lock().unwrap_or_else(|p| p.into_inner()).is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*reloads.lock().unwrap_or_else(|p| p.into_inner()), (0, 1), "the sender does not reload itself");
    assert_eq!(*notices.lock().unwrap_or_else(|p| p.into_inner()), vec![('a', notice)]);
    let huge = Notice { user_id: "u".into(), payload: serde_json::json!("长".repeat(4000)) };
    assert!(a.publish_notice(&huge).await.is_err(), "payloads over the NOTIFY limit are refused");
}
