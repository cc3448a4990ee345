//! Prometheus metrics at `/metrics` in the plain text exposition format: questions by channel and mode, the
//! turn latency histogram, open websockets, errors by code, knowledge reloads and the turn writer's group commits.
//!
//! Counters live in one process-wide registry (as Prometheus expects of a process); the websocket gauge is read
//! from the app's connection semaphore when scraped.

use crate::app::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bot::protocol::Mode;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Upper bounds of the latency histogram, in seconds. A lexical answer takes well under a millisecond, so the
/// first buckets split the millisecond; `loadgen` reads them to report the server's own percentiles.
const LATENCY_BUCKETS: [f64; 17] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    /// Per bucket, not cumulative; the exposition sums them.
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
struct Registry {
    questions: Mutex<BTreeMap<(String, String), u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    channel_notices: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    refused_connections: Mutex<BTreeMap<&'static str, u64>>,
    latency: Mutex<Histogram>,
    reloads: AtomicU64,
    group_commits: AtomicU64,
    committed_turns: AtomicU64,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Counts one answered turn and its latency.
pub fn observe_turn(channel: &str, mode: Mode, latency: std::time::Duration) {
    let r = registry();
    let mode = mode.as_str();
    if let Ok(mut q) = r.questions.lock() {
        *q.entry((channel.to_owned(), mode.to_owned())).or_default() += 1;
    }
    if let Ok(mut h) = r.latency.lock() {
        let seconds = latency.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum_seconds += seconds;
    }
}

/// Counts one error answered to a client, by its stable code.
pub fn count_error(code: &str) {
    if let Ok(mut e) = registry().errors.lock() {
        *e.entry(code.to_owned()).or_default() += 1;
    }
}

/// Counts what happened to one notice on an outbound channel (WeCom, 今日校园; `all` for the shared queue).
pub fn count_channel_notice(channel: &'static str, outcome: &'static str) {
    if let Ok(mut c) = registry().channel_notices.lock() {
        *c.entry((channel, outcome)).or_default() += 1;
    }
}

/// Counts one TCP connection closed on accept, by why (`server_full`, `address_full`).
pub fn count_refused_connection(reason: &'static str) {
    if let Ok(mut c) = registry().refused_connections.lock() {
        *c.entry(reason).or_default() += 1;
    }
}

/// Counts one knowledge reload (an admin change going live).
pub fn count_reload() {
    registry().reloads.fetch_add(1, Ordering::Relaxed);
}

/// Counts one group commit of the turn writer and the turns it carried; their ratio is the mean batch size.
pub fn count_group_commit(turns: usize) {
    let r = registry();
    r.group_commits.fetch_add(1, Ordering::Relaxed);
    r.committed_turns.fetch_add(turns as u64, Ordering::Relaxed);
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The exposition text; `open_websockets` is sampled by the caller.
pub fn render(open_websockets: usize) -> String {
    let r = registry();
    let mut out = String::new();
    let _ = writeln!(out, "# HELP ehall_questions_total Questions and actions answered, by channel and reply mode.");
    let _ = writeln!(out, "# TYPE ehall_questions_total counter");
    if let Ok(q) = r.questions.lock() {
        for ((channel, mode), n) in q.iter() {
            let _ =
                writeln!(out, "ehall_questions_total{{channel=\"{}\",mode=\"{}\"}} {n}", escape(channel), escape(mode));
        }
    }
    let _ = writeln!(out, "# HELP ehall_turn_latency_seconds Time to answer one turn, queueing included.");
    let _ = writeln!(out, "# TYPE ehall_turn_latency_seconds histogram");
    if let Ok(h) = r.latency.lock() {
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
            cumulative += n;
            let _ = writeln!(out, "ehall_turn_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "ehall_turn_latency_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "ehall_turn_latency_seconds_sum {}", h.sum_seconds);
        let _ = writeln!(out, "ehall_turn_latency_seconds_count {}", h.count);
    }
    let _ = writeln!(out, "# HELP ehall_websocket_connections Websocket connections open now.");
    let _ = writeln!(out, "# TYPE ehall_websocket_connections gauge");
    let _ = writeln!(out, "ehall_websocket_connections {open_websockets}");
    let _ = writeln!(out, "# HELP ehall_errors_total Errors answered to clients, by code.");
    let _ = writeln!(out, "# TYPE ehall_errors_total counter");
    if let Ok(e) = r.errors.lock() {
        for (code, n) in e.iter() {
            let _ = writeln!(out, "ehall_errors_total{{code=\"{}\"}} {n}", escape(code));
        }
    }
    let _ = writeln!(
        out,
        "# HELP ehall_channel_notices_total Notices pushed through WeCom and 今日校园, by channel and outcome."
    );
    let _ = writeln!(out, "# TYPE ehall_channel_notices_total counter");
    if let Ok(c) = r.channel_notices.lock() {
        for ((channel, outcome), n) in c.iter() {
            let _ = writeln!(out, "ehall_channel_notices_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}");
        }
    }
    let _ = writeln!(out, "# HELP ehall_refused_connections_total Connections closed on accept, by reason.");
    let _ = writeln!(out, "# TYPE ehall_refused_connections_total counter");
    if let Ok(c) = r.refused_connections.lock() {
        for (reason, n) in c.iter() {
            let _ = writeln!(out, "ehall_refused_connections_total{{reason=\"{reason}\"}} {n}");
        }
    }
    let _ = writeln!(out, "# HELP ehall_knowledge_reloads_total Knowledge changes put live without a restart.");
    let _ = writeln!(out, "# TYPE ehall_knowledge_reloads_total counter");
    let _ = writeln!(out, "ehall_knowledge_reloads_total {}", r.reloads.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP ehall_store_group_commits_total Transactions of the turn writer.");
    let _ = writeln!(out, "# TYPE ehall_store_group_commits_total counter");
    let _ = writeln!(out, "ehall_store_group_commits_total {}", r.group_commits.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP ehall_store_committed_turns_total Turns written by those transactions.");
    let _ = writeln!(out, "# TYPE ehall_store_committed_turns_total counter");
    let _ = writeln!(out, "ehall_store_committed_turns_total {}", r.committed_turns.load(Ordering::Relaxed));
    out
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let open = state.limits.max_connections.saturating_sub(state.connection_permits.available_permits());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render(open))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_family() {
        observe_turn("ws", Mode::Answer, std::time::Duration::from_micros(180));
        count_error("rate_limited");
        let text = render(3);
        assert!(text.contains("ehall_questions_total{channel=\"ws\",mode=\"answer\"}"));
        assert!(text.contains("ehall_turn_latency_seconds_bucket{le=\"0.025\"}"));
        // 180 µs lands in the 250 µs bucket, not the 100 µs one (counts are cumulative, and other tests add turns).
        let count_at = |bound: &str| -> u64 {
            let prefix = format!("ehall_turn_latency_seconds_bucket{{le=\"{bound}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|n| n.parse().ok()).unwrap_or(0)
        };
        assert!(count_at("0.00025") > count_at("0.0001"), "{text}");
        assert!(text.contains("ehall_websocket_connections 3"));
        assert!(text.contains("ehall_errors_total{code=\"rate_limited\"}"));
    }
}
