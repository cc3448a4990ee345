//! Connection-level limits over real TCP on 127.0.0.1: idle and half-open connections are closed by the
//! header-read timeout, one address cannot hold every connection (websockets included), the global cap holds, a
//! stopped server does not wait on idle sockets, and one address cannot ask more new questions than its share.
//! Every test opens a handful of sockets, bounded in count and time.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use ehall_tests::{spawn_app_with, test_settings, TestApp, TestDb, WAIT};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn app_with(limits: impl FnOnce(&mut server::settings::Limits)) -> TestApp {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    limits(&mut settings.limits);
    spawn_app_with(db, settings).await
}

/// A TCP connection to `server` from the loopback address `source` (127.0.0.x: a second client address).
async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Reads until the server closes the connection; false if it is still open after [`WAIT`].
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read_until_closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(WAIT, read_until_closed).await.is_ok()
}

/// One `GET /healthz` on `stream` (keep-alive); returns the status line.
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf)).await.expect("answered in time").unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed_by_the_header_read_timeout() {
    let app = app_with(|l| l.header_read_timeout = Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: te").await.unwrap();
    let mut kept_alive = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(healthz_on(&mut kept_alive).await, "HTTP/1.1 200 OK");
    assert!(closed_by_server(&mut silent).await, "a connection that never sends is closed");
    assert!(closed_by_server(&mut half).await, "a connection that never finishes its headers is closed");
    assert!(closed_by_server(&mut kept_alive).await, "an idle keep-alive connection is closed");
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection_websockets_included() {
    let app = app_with(|l| {
        l.max_connections_per_address = 3;
        l.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let (websocket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await.unwrap();
    // The address holds its 3 connections: a 4th, plain or websocket, is closed at once.
    let mut refused = TcpStream::connect(app.addr).await.unwrap();
    assert!(closed_by_server(&mut refused).await, "a connection over the address cap is closed");
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await.is_err());
    // Another address is served as usual, websockets too.
    let mut other = connect_from([127, 0, 0, 2], app.addr).await;
    assert_eq!(healthz_on(&mut other).await, "HTTP/1.1 200 OK");
    let other_ws = connect_from([127, 0, 0, 3], app.addr).await;
    let (mut other_ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", app.addr), other_ws).await.unwrap();
    use futures_util::StreamExt;
    let welcome = tokio::time::timeout(WAIT, other_ws.next()).await.unwrap().unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"), "{welcome:?}");
    // A closed websocket gives its slot back.
    drop(websocket);
    let mut served = None;
    for _ in 0..100 {
        let mut again = TcpStream::connect(app.addr).await.unwrap();
        again.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), again.read(&mut buf)).await {
            if n > 0 {
                served = Some(String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served.as_deref(), Some("HTTP/1.1 200 OK"));
    drop(held);
}

#[tokio::test]
async fn the_global_cap_refuses_connections_past_it() {
    let app = app_with(|l| {
        l.max_open_connections = 2;
        l.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let first = connect_from([127, 0, 0, 2], app.addr).await;
    let _second = connect_from([127, 0, 0, 3], app.addr).await;
    let mut third = connect_from([127, 0, 0, 4], app.addr).await;
    assert!(closed_by_server(&mut third).await, "a connection over the global cap is closed");
    drop(first);
    // Once a slot is free, the server answers again (the freed slot comes back when the server sees the close).
    let mut metrics = None;
    for _ in 0..100 {
        let client = reqwest::Client::new();
        if let Ok(response) = client.get(app.http_url("/metrics")).timeout(Duration::from_secs(2)).send().await {
            metrics = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = metrics.expect("served once a slot is free");
    assert!(metrics.contains("ehall_refused_connections_total{reason=\"server_full\"}"), "{metrics}");
}

#[tokio::test]
async fn a_stopped_server_does_not_wait_on_idle_or_half_open_connections() {
    let app = app_with(|l| {
        // Neither timeout may end these connections before the test's own wait does.
        l.header_read_timeout = Duration::from_secs(600);
        l.shutdown_grace = Duration::from_secs(600);
    })
    .await;
    let mut sockets = Vec::new();
    for i in 0..10 {
        let mut socket = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 0 {
            socket.write_all(b"POST /api/v1/chat HTTP/1.1\r\nHost: test\r\nContent-Le").await.unwrap();
        }
        sockets.push(socket);
    }
    let mut kept_alive = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(healthz_on(&mut kept_alive).await, "HTTP/1.1 200 OK");
    // `stop` panics unless the server ends within WAIT.
    app.stop().await;
    for socket in &mut sockets {
        assert!(closed_by_server(socket).await);
    }
}

#[tokio::test]
async fn an_address_over_its_question_budget_gets_429_and_other_requests_pass() {
    let app = app_with(|l| {
        l.question_burst = 2;
        l.questions_per_second = 0.001;
    })
    .await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = client
            .post(app.http_url("/api/v1/chat"))
            .header("content-type", "application/json")
            .body(r#"{"text":"校园卡丢了怎么办"}"#)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let health = client.get(app.http_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "the question budget leaves other requests alone");
}
