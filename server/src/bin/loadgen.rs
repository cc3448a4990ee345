//! `loadgen`: load for a running `ehall-bot serve` on 127.0.0.1 — N websocket (or HTTP) clients asking
//! questions in a loop for a fixed time, or N idle websockets held open — and a report of answers/s, latency
//! percentiles, errors, the connections held and the server's memory.
//!
//! Every run is bounded (`--duration`, `--hold`, at most ten minutes) and only talks to 127.0.0.1.
//! Questions come from a JSON-lines file (`--questions`, field `q`, `text` or `question`) or, by default, from
//! the knowledge base's own similar questions (`--data-dir`).

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The longest any run may last.
const MAX_SECONDS: f64 = 600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Websocket clients, each asking one question after another.
    Ws,
    /// HTTP clients posting to /api/v1/chat.
    Http,
    /// Websockets that connect, read the welcome and stay silent.
    Idle,
}

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Load and memory figures for ehall-bot on 127.0.0.1")]
struct Args {
    /// The server (127.0.0.1 only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, value_enum, default_value = "ws")]
    mode: Mode,
    /// Concurrent clients (or idle connections).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds of load (ws, http).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Target answers per second over all clients; without it every client asks as fast as it is answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to keep idle connections open once all are up (idle mode).
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// JSON-lines file of questions.
    #[arg(long)]
    questions: Option<PathBuf>,
    /// The knowledge base whose similar questions are asked when no file is given.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The server's process id, to report its memory (VmRSS, VmHWM) and open descriptors.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.addr.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        eprintln!("loadgen only talks to 127.0.0.1");
        return std::process::ExitCode::FAILURE;
    }
    if !(args.duration > 0.0 && args.duration <= MAX_SECONDS && args.hold >= 0.0 && args.hold <= MAX_SECONDS) {
        eprintln!("--duration and --hold must be between 0 and {MAX_SECONDS} seconds");
        return std::process::ExitCode::FAILURE;
    }
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if (n as usize) < args.clients + 64 => {
            eprintln!("warning: only {n} open files allowed; some of the {} connections will fail", args.clients)
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let report = match args.mode {
        Mode::Idle => idle(&args).await?,
        Mode::Ws | Mode::Http => {
            let questions = Arc::new(load_questions(&args)?);
            anyhow::ensure!(!questions.is_empty(), "no questions to ask");
            load(&args, questions).await
        }
    };
    if args.json {
        println!("{report}");
    } else {
        print_readable(&report);
    }
    Ok(())
}

fn load_questions(args: &Args) -> anyhow::Result<Vec<String>> {
    if let Some(path) = &args.questions {
        let text = std::fs::read_to_string(path)?;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let value: Value = serde_json::from_str(line)?;
            let q = ["q", "text", "question"].iter().find_map(|k| value[k].as_str());
            if let Some(q) = q {
                out.push(q.to_owned());
            }
        }
        return Ok(out);
    }
    let kb = knowledge::KnowledgeBase::load(&args.data_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out: Vec<String> = kb.questions.values().flatten().cloned().collect();
    out.sort();
    Ok(out)
}

/// What one client saw.
#[derive(Default)]
struct ClientStats {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

impl ClientStats {
    fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1024 * 1024))
        .max_frame_size(Some(1024 * 1024))
}

async fn load(args: &Args, questions: Arc<Vec<String>>) -> Value {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let per_client_interval = args.rate.map(|r| Duration::from_secs_f64(args.clients as f64 / r.max(0.001)));
    let rss_before = args.server_pid.and_then(proc_status);
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let questions = questions.clone();
        let addr = args.addr;
        let mode = args.mode;
        tasks.push(tokio::spawn(async move {
            match mode {
                Mode::Http => http_client(addr, i, &questions, deadline, per_client_interval).await,
                _ => ws_client(addr, i, &questions, deadline, per_client_interval).await,
            }
        }));
    }
    let mut all = ClientStats::default();
    for t in tasks {
        if let Ok(stats) = t.await {
            all.latencies_us.extend(stats.latencies_us);
            for (k, v) in stats.errors {
                *all.errors.entry(k).or_default() += v;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = args.server_pid.and_then(proc_status);
    all.latencies_us.sort_unstable();
    let answers = all.latencies_us.len();
    json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "clients": args.clients,
        "seconds": round2(elapsed),
        "target_rate": args.rate,
        "answers": answers,
        "answers_per_s": round2(answers as f64 / elapsed),
        "latency_ms": {
            "p50": percentile_ms(&all.latencies_us, 0.50),
            "p95": percentile_ms(&all.latencies_us, 0.95),
            "p99": percentile_ms(&all.latencies_us, 0.99),
            "max": all.latencies_us.last().map(|&us| f64::from(us) / 1000.0),
        },
        "errors": all.errors,
        "server_before": rss_before,
        "server_after": rss_after,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((sorted_us.len() as f64) * p).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    Some(f64::from(sorted_us[idx]) / 1000.0)
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn pace(next_send: &mut Instant, interval: Option<Duration>) {
    if let Some(interval) = interval {
        tokio::time::sleep_until((*next_send).into()).await;
        *next_send += interval;
    }
}

async fn ws_client(
    addr: SocketAddr,
    index: usize,
    questions: &[String],
    deadline: Instant,
    interval: Option<Duration>,
) -> ClientStats {
    let mut stats = ClientStats::default();
    let url = format!("ws://{addr}/ws");
    let mut socket = match tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true).await {
        Ok((socket, _)) => socket,
        Err(e) => {
            stats.error(&format!("connect: {e}"));
            return stats;
        }
    };
    // The welcome frame.
    if !matches!(socket.next().await, Some(Ok(Message::Text(_)))) {
        stats.error("no welcome");
        return stats;
    }
    // Clients start at different questions and spread their first sends over one interval.
    let mut n = index * 7919;
    let mut next_send = Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64((index % 97) as f64 / 97.0));
    while Instant::now() < deadline {
        pace(&mut next_send, interval).await;
        if Instant::now() >= deadline {
            break;
        }
        let text = &questions[n % questions.len()];
        n += 1;
        let frame = json!({"type": "message", "id": format!("m{n}"), "text": text}).to_string();
        let sent = Instant::now();
        if socket.send(Message::text(frame)).await.is_err() {
            stats.error("send failed");
            break;
        }
        let reply = loop {
            match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => break Some(t),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => break None,
            }
        };
        let Some(reply) = reply else {
            stats.error("connection lost");
            break;
        };
        let value: Value = serde_json::from_str(reply.as_str()).unwrap_or(Value::Null);
        match value["type"].as_str() {
            Some("reply") => stats.latencies_us.push(micros(sent.elapsed())),
            Some("error") => stats.error(value["code"].as_str().unwrap_or("error")),
            _ => stats.error("unexpected frame"),
        }
    }
    let _ = socket.close(None).await;
    stats
}

async fn http_client(
    addr: SocketAddr,
    index: usize,
    questions: &[String],
    deadline: Instant,
    interval: Option<Duration>,
) -> ClientStats {
    let mut stats = ClientStats::default();
    let client = match reqwest::Client::builder().pool_max_idle_per_host(1).timeout(Duration::from_secs(30)).build() {
        Ok(c) => c,
        Err(e) => {
            stats.error(&format!("client: {e}"));
            return stats;
        }
    };
    let url = format!("http://{addr}/api/v1/chat");
    let mut session: Option<String> = None;
    let mut n = index * 7919;
    let mut next_send = Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64((index % 97) as f64 / 97.0));
    while Instant::now() < deadline {
        pace(&mut next_send, interval).await;
        if Instant::now() >= deadline {
            break;
        }
        let text = &questions[n % questions.len()];
        n += 1;
        let mut body = json!({"text": text});
        if let Some(s) = &session {
            body["session"] = json!(s);
        }
        let sent = Instant::now();
        let response = match client.post(&url).json(&body).send().await {
            Ok(r) => r,
            Err(_) => {
                stats.error("request failed");
                continue;
            }
        };
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            stats.latencies_us.push(micros(sent.elapsed()));
            if session.is_none() {
                session = value["session"].as_str().map(str::to_owned);
            }
        } else {
            let code = value["error"]["code"].as_str().or(value["code"].as_str()).unwrap_or("http error");
            stats.error(&format!("{} {code}", status.as_u16()));
        }
    }
    stats
}

/// Opens `clients` idle websockets (a few hundred handshakes at a time), holds them, reports memory.
async fn idle(args: &Args) -> anyhow::Result<Value> {
    let started = Instant::now();
    let rss_before = args.server_pid.and_then(proc_status);
    let opening = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::new();
    let url = format!("ws://{}/ws", args.addr);
    for _ in 0..args.clients {
        let opening = opening.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = opening.acquire_owned().await.ok()?;
            let (mut socket, _) = tokio::time::timeout(
                Duration::from_secs(30),
                tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true),
            )
            .await
            .ok()?
            .ok()?;
            match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => Some(socket),
                _ => None,
            }
        }));
    }
    let mut sockets = Vec::with_capacity(args.clients);
    let mut failed = 0usize;
    for t in tasks {
        match t.await {
            Ok(Some(s)) => sockets.push(s),
            _ => failed += 1,
        }
    }
    let opened_in = started.elapsed().as_secs_f64();
    // Let the server settle (sessions written, buffers released) before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_held = args.server_pid.and_then(proc_status);
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let held = sockets.len();
    for mut s in sockets {
        let _ = tokio::time::timeout(Duration::from_millis(50), s.close(None)).await;
    }
    let per_connection = match (&rss_before, &rss_held) {
        (Some(b), Some(h)) if held > 0 => {
            let grow = h["vm_rss_kb"].as_f64().unwrap_or(0.0) - b["vm_rss_kb"].as_f64().unwrap_or(0.0);
            Some(round2(grow * 1024.0 / held as f64))
        }
        _ => None,
    };
    Ok(json!({
        "mode": "idle",
        "clients": args.clients,
        "held": held,
        "failed": failed,
        "open_seconds": round2(opened_in),
        "server_before": rss_before,
        "server_held": rss_held,
        "bytes_per_connection": per_connection,
    }))
}

/// VmRSS, VmHWM (kB) and open descriptors of a process, from /proc.
fn proc_status(pid: u32) -> Option<Value> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let fds = std::fs::read_dir(Path::new(&format!("/proc/{pid}/fd"))).map(|d| d.count()).ok();
    Some(
        json!({"vm_rss_kb": field("VmRSS:"), "vm_hwm_kb": field("VmHWM:"), "threads": field("Threads:"), "open_fds": fds}),
    )
}

fn print_readable(report: &Value) {
    if report["mode"] == "idle" {
        println!(
            "idle: {} of {} connections held ({} failed), opened in {} s",
            report["held"], report["clients"], report["failed"], report["open_seconds"]
        );
        println!("server before: {}", report["server_before"]);
        println!("server holding them: {}", report["server_held"]);
        println!("bytes per connection: {}", report["bytes_per_connection"]);
        return;
    }
    let l = &report["latency_ms"];
    println!(
        "{}: {} clients, {} s: {} answers, {} answers/s",
        report["mode"], report["clients"], report["seconds"], report["answers"], report["answers_per_s"]
    );
    println!("latency ms: p50 {} p95 {} p99 {} max {}", l["p50"], l["p95"], l["p99"], l["max"]);
    println!("errors: {}", report["errors"]);
    println!("server before: {}", report["server_before"]);
    println!("server after: {}", report["server_after"]);
}
