//! `loadgen`: load for a running `ehall-bot serve` on 127.0.0.1 — N websocket (or HTTP) clients asking
//! questions in a loop for a fixed time, or N idle websockets held open — and a report of answers/s, latency
//! percentiles, errors, the connections held and the server's memory.
//!
//! Every run is bounded (`--duration`, `--hold`, at most ten minutes) and only talks to 127.0.0.1.
//! Questions come from a JSON-lines file (`--questions`, field `q`, `text` or `question`) or, by default, from
//! the knowledge base's own similar questions (`--data-dir`). `--never-seen` makes every question asked unique
//! (a per-client counter appended), so no answer or query-vector cache helps: the normal case at a peak.
//! The report also gives the server's own turn-latency percentiles, from the difference of two `/metrics`
//! scrapes (taken before and after the run) of its latency histogram.

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
    /// Make every question unique (a counter appended), so no cache answers it.
    #[arg(long)]
    never_seen: bool,
}

/// The text sent for the `n`th question of client `index`.
fn question_text<'a>(questions: &'a [String], index: usize, n: usize, never_seen: bool) -> std::borrow::Cow<'a, str> {
    let text = &questions[n % questions.len()];
    if never_seen {
        // A bracketed number is noise to retrieval (no item mentions it) but makes the text, and its vector, new;
        // the run's tag keeps a second run against the same server from hitting the first run's cached vectors.
        std::borrow::Cow::Owned(format!("{text}（{}-{index}-{n}）", run_tag()))
    } else {
        std::borrow::Cow::Borrowed(text.as_str())
    }
}

/// A number fixed for this process and unlikely to repeat across runs (the clock's nanoseconds at first use).
fn run_tag() -> u32 {
    static TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *TAG.get_or_init(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() % 1_000_000)
    })
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
    let histogram_before = scrape_latency_histogram(args.addr).await;
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let questions = questions.clone();
        let addr = args.addr;
        let mode = args.mode;
        let never_seen = args.never_seen;
        tasks.push(tokio::spawn(async move {
            match mode {
                Mode::Http => http_client(addr, i, &questions, never_seen, deadline, per_client_interval).await,
                _ => ws_client(addr, i, &questions, never_seen, deadline, per_client_interval).await,
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
    let server_latency = match (histogram_before, scrape_latency_histogram(args.addr).await) {
        (Some(before), Some(after)) => server_percentiles(&before, &after),
        _ => Value::Null,
    };
    all.latencies_us.sort_unstable();
    let answers = all.latencies_us.len();
    json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "never_seen": args.never_seen,
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
        "server_latency_ms": server_latency,
        "errors": all.errors,
        "server_before": rss_before,
        "server_after": rss_after,
    })
}

/// The server's turn-latency histogram from `/metrics`: (upper bound in seconds, cumulative count), `+Inf` last.
async fn scrape_latency_histogram(addr: SocketAddr) -> Option<Vec<(f64, u64)>> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().ok()?;
    let text = client.get(format!("http://{addr}/metrics")).send().await.ok()?.text().await.ok()?;
    Some(parse_latency_histogram(&text))
}

fn parse_latency_histogram(text: &str) -> Vec<(f64, u64)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("ehall_turn_latency_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// p50/p95/p99 of the turns the server answered between two scrapes, in ms, interpolated linearly inside the
/// bucket the rank falls in (so as exact as the buckets: 0.1–0.25–0.5–1 ms at the low end).
fn server_percentiles(before: &[(f64, u64)], after: &[(f64, u64)]) -> Value {
    let delta: Vec<(f64, u64)> = after
        .iter()
        .map(|&(bound, n)| {
            let was = before.iter().find(|(b, _)| *b == bound).map_or(0, |&(_, n0)| n0);
            (bound, n.saturating_sub(was))
        })
        .collect();
    let total = delta.last().map_or(0, |&(_, n)| n);
    if total == 0 {
        return Value::Null;
    }
    let at = |p: f64| -> Option<f64> {
        let rank = (total as f64 * p).ceil();
        let mut lower = (0.0, 0u64);
        for &(bound, cumulative) in &delta {
            if cumulative as f64 >= rank {
                if !bound.is_finite() {
                    return None; // beyond the last bucket: unknown
                }
                let inside = (cumulative - lower.1).max(1) as f64;
                let seconds = lower.0 + (bound - lower.0) * (rank - lower.1 as f64) / inside;
                return Some(round3(seconds * 1000.0));
            }
            lower = (bound, cumulative);
        }
        None
    };
    json!({ "turns": total, "p50": at(0.50), "p95": at(0.95), "p99": at(0.99) })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
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
    never_seen: bool,
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
        let text = question_text(questions, index, n, never_seen);
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
    never_seen: bool,
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
        let text = question_text(questions, index, n, never_seen);
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
    let s = &report["server_latency_ms"];
    println!("server turn latency ms ({} turns): p50 {} p95 {} p99 {}", s["turns"], s["p50"], s["p95"], s["p99"]);
    println!("errors: {}", report["errors"]);
    println!("server before: {}", report["server_before"]);
    println!("server after: {}", report["server_after"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "ehall_turn_latency_seconds_bucket{le=\"0.0001\"} 1\n\
        ehall_turn_latency_seconds_bucket{le=\"0.00025\"} 1\n\
        ehall_turn_latency_seconds_bucket{le=\"0.001\"} 2\n\
        ehall_turn_latency_seconds_bucket{le=\"+Inf\"} 2\n";
    const AFTER: &str = "ehall_turn_latency_seconds_bucket{le=\"0.0001\"} 1\n\
        ehall_turn_latency_seconds_bucket{le=\"0.00025\"} 101\n\
        ehall_turn_latency_seconds_bucket{le=\"0.001\"} 200\n\
        ehall_turn_latency_seconds_bucket{le=\"+Inf\"} 202\n";

    #[test]
    fn the_histogram_is_read_from_the_exposition() {
        let h = parse_latency_histogram(AFTER);
        assert_eq!(h.len(), 4);
        assert_eq!(h[1], (0.00025, 101));
        assert!(h[3].0.is_infinite());
    }

    #[test]
    fn percentiles_come_from_the_turns_of_the_run_only() {
        let p = server_percentiles(&parse_latency_histogram(BEFORE), &parse_latency_histogram(AFTER));
        // 200 turns in the run: 100 in (0.1, 0.25] ms, 98 in (0.25, 1] ms, 2 beyond the last finite bound.
        assert_eq!(p["turns"], 200);
        assert_eq!(p["p50"], 0.25);
        assert_eq!(p["p95"], 0.939, "rank 190 is 90 of the bucket's 98 turns into (0.25, 1] ms: {p}");
        assert_eq!(p["p99"], 1.0, "rank 198 is the bucket's last turn: {p}");
        let only_slow =
            server_percentiles(&[], &parse_latency_histogram("ehall_turn_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(only_slow["p50"].is_null(), "a rank past the last finite bound is unknown, not a number: {only_slow}");
    }

    #[test]
    fn never_seen_questions_differ_every_time() {
        let qs = vec!["补办校园卡".to_owned()];
        assert_eq!(question_text(&qs, 0, 5, false), "补办校园卡");
        assert_ne!(question_text(&qs, 0, 5, true), question_text(&qs, 0, 6, true));
        assert_ne!(question_text(&qs, 1, 5, true), question_text(&qs, 0, 5, true));
        assert!(question_text(&qs, 1, 5, true).contains(&format!("（{}-1-5）", run_tag())));
    }
}
