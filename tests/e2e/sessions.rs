//! Sessions across transports and restarts, and the question log.

use ehall_tests::{assert_reply, chat, connect, spawn_app, spawn_app_on};

#[tokio::test]
async fn a_session_started_over_http_continues_over_the_websocket() {
    let app = spawn_app().await;
    let first = chat(app.addr, None, "怎么办理在读证明").await;
    let session = first["session"].as_str().expect("session").to_owned();

    let mut client = connect(app.addr, Some(&session)).await;
    assert_eq!(client.session(), session, "the welcome resumes the HTTP session");
    assert_reply(&client.send_text("w1", "需要什么材料").await, Some("w1"));
    assert_eq!(app.db.turns(&session).await, 2);

    // And back to HTTP.
    let third = chat(app.addr, Some(&session), "在哪里办").await;
    assert_eq!(third["session"], session.as_str());
    assert_eq!(app.db.turns(&session).await, 3);
}

#[tokio::test]
async fn an_unknown_session_on_connect_gets_a_new_id() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, Some("s_unknown123")).await;
    assert_ne!(client.session(), "s_unknown123");
    client.send_text("1", "你好").await;
    assert_eq!(app.db.turns(&client.session()).await, 1, "the new id is the one stored on the first turn");
}

#[tokio::test]
async fn a_session_survives_a_server_restart() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let session = client.session();
    assert_reply(&client.send_text("m1", "校园卡丢了怎么补办").await, Some("m1"));
    assert_eq!(app.db.turns(&session).await, 1);
    let state_before = app.db.session_state(&session).await;

    // Stopping closes the open websocket with "going away".
    let stopping = tokio::spawn(app.stop());
    loop {
        match client.next_message().await {
            None => break,
            Some(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                let code = frame.map(|f| u16::from(f.code));
                assert_eq!(code, Some(1001));
                break;
            }
            Some(_) => continue,
        }
    }
    let db = stopping.await.expect("stopped");

    let app = spawn_app_on(db).await;
    assert_eq!(app.db.session_state(&session).await, state_before, "the state is what was stored");
    let mut client = connect(app.addr, Some(&session)).await;
    assert_eq!(client.session(), session);
    assert_reply(&client.send_text("m2", "需要什么材料").await, Some("m2"));
    assert_eq!(app.db.turns(&session).await, 2, "the dialogue continues where it was");
}

#[tokio::test]
async fn every_question_gets_one_log_row_with_its_reply() {
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let session = client.session();
    let questions = ["你好", "校园卡丢了怎么补办", "谢谢"];
    let mut reply_ids = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let reply = client.send_text(&format!("m{i}"), q).await;
        assert_reply(&reply, Some(format!("m{i}").as_str()));
        reply_ids.push((reply["id"].as_str().expect("id").to_owned(), reply["intent"].clone(), reply["mode"].clone()));
    }
    let over_http = chat(app.addr, Some(&session), "图书馆开放时间").await;
    reply_ids.push((
        over_http["reply"]["id"].as_str().expect("id").to_owned(),
        over_http["reply"]["intent"].clone(),
        over_http["reply"]["mode"].clone(),
    ));

    let log = app.db.question_log(&session).await;
    assert_eq!(log.len(), 4, "{log:?}");
    let texts: Vec<&str> = log.iter().map(|row| row.1.as_str()).collect();
    assert_eq!(texts, ["你好", "校园卡丢了怎么补办", "谢谢", "图书馆开放时间"]);
    let channels: Vec<&str> = log.iter().map(|row| row.0.as_str()).collect();
    assert_eq!(channels, ["ws", "ws", "ws", "http"]);
    for (row, (reply_id, intent, mode)) in log.iter().zip(&reply_ids) {
        assert_eq!(&row.4, reply_id);
        assert_eq!(row.2.as_str(), intent.as_str().expect("intent"));
        assert_eq!(row.3.as_str(), mode.as_str().expect("mode"));
    }
}

#[tokio::test]
async fn a_websocket_follow_up_answers_on_what_another_transport_changed_meanwhile() {
    // The connection remembers the state it wrote last; a turn over HTTP in between bumps the row's version, so
    // the websocket's next turn must not run on its own stale copy.
    let app = spawn_app().await;
    let mut client = connect(app.addr, None).await;
    let session = client.session();
    let on_ws = client.send_text("w1", "校园卡丢了怎么办").await;
    let card_topic = on_ws["cards"][0]["id"].as_str().expect("a card").to_owned();
    let over_http = chat(app.addr, Some(&session), "怎么办理在读证明").await;
    let certificate_topic = over_http["reply"]["cards"][0]["id"].as_str().expect("a card").to_owned();
    assert_ne!(card_topic, certificate_topic);

    let follow_up = client.send_text("w2", "需要什么材料").await;
    assert_reply(&follow_up, Some("w2"));
    assert_eq!(follow_up["cards"][0]["id"], certificate_topic.as_str(), "{follow_up}");
    // And its own turns go on from the state it just wrote.
    let again = client.send_text("w3", "在哪里办").await;
    assert_eq!(again["cards"][0]["id"], certificate_topic.as_str(), "{again}");
    assert_eq!(app.db.turns(&session).await, 4);
}
