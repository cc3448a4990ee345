//! Process-level limits in front of every route: the open-file limit, the per-address and global connection caps
//! (held for a connection's whole life, an upgraded websocket's included), the per-address request budget and the
//! per-address budget of new questions (keyed `governor` limiters).
//!
//! The per-connection frame budget lives in `routes/ws.rs`; these stop a single address from holding every
//! connection, opening connection after connection, flooding the HTTP API or asking more questions than its share
//! of the engine. Refused requests are `429` with the protocol's `rate_limited` code; refused connections are
//! closed at once (before a byte is read), so that they never cost a descriptor for long.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bot::protocol::{ErrorCode, FrameError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Raises the soft RLIMIT_NOFILE to the hard limit (each websocket is one descriptor; the usual soft limit of
/// 1024 would cap connections far below `limits.max_connections`). Returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(limit, "open-file limit");
            Some(limit)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            None
        }
    }
}

/// The open-file limit in force now, when the platform tells.
pub fn open_file_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _hard)| soft)
}

/// The global connection cap: the configured one, lowered to stay below the open-file limit with room for the
/// database pool, the knowledge files and the listener (a tenth of the limit, at least 64 descriptors).
pub fn global_connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else { return configured.max(1) };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let reserve = (limit / 10).max(64);
    configured.min(limit.saturating_sub(reserve)).max(1)
}

/// Counts open connections, in all and per peer address.
#[derive(Debug)]
pub struct ConnectionCaps {
    global: usize,
    per_address: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds its global cap of connections.
    Full,
    /// This address holds its own cap.
    AddressFull,
}

impl ConnectionCaps {
    pub fn new(global: usize, per_address: usize) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps { global: global.max(1), per_address: per_address.max(1), open: Mutex::default() })
    }

    /// Admits one connection from `ip`, or says why not. The guard gives the slot back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionGuard, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_address) = &mut *open;
        if *total >= self.global {
            return Err(Refusal::Full);
        }
        let mine = by_address.entry(ip).or_insert(0);
        if *mine >= self.per_address {
            return Err(Refusal::AddressFull);
        }
        *mine += 1;
        *total += 1;
        Ok(ConnectionGuard { caps: self.clone(), ip })
    }

    /// Connections open now, in all.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_address) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(mine) = by_address.get_mut(&ip) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                by_address.remove(&ip);
            }
        }
    }
}

/// One admitted connection's slot; travels with the socket (into an upgraded websocket too).
#[derive(Debug)]
pub struct ConnectionGuard {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.caps.release(self.ip);
    }
}

/// Addresses tracked before idle keys are swept; bounds a limiter's memory under a flood of addresses.
const SWEEP_ABOVE: usize = 10_000;

/// A keyed token bucket (`governor`'s GCRA): `burst` at once per key, refilled at `per_second`. A burst of 0
/// turns it off (behind a load balancer every request comes from the balancer's address: limit there instead).
pub struct KeyedBudget<K: std::hash::Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

/// A budget per client address.
pub type AddressBudget = KeyedBudget<IpAddr>;

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for KeyedBudget<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedBudget").field("enabled", &self.limiter.is_some()).finish()
    }
}

impl<K: std::hash::Hash + Eq + Clone> KeyedBudget<K> {
    pub fn new(burst: u32, per_second: f64) -> KeyedBudget<K> {
        let Some(burst) = NonZeroU32::new(burst) else { return KeyedBudget { limiter: None } };
        // A rate of 0 (or less) refills once a day: the burst is all there is.
        let period =
            if per_second > 0.0 { Duration::from_secs_f64(1.0 / per_second) } else { Duration::from_secs(86_400) };
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        KeyedBudget { limiter: Some(RateLimiter::keyed(quota)) }
    }

    /// Takes one unit of `key`'s budget; false when it is spent.
    pub fn allow(&self, key: K) -> bool {
        let Some(limiter) = &self.limiter else { return true };
        if limiter.len() > SWEEP_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(&key).is_ok()
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// The budgets of the middleware, the websocket and the turns.
#[derive(Debug)]
pub struct Budgets {
    /// Every HTTP request and websocket connect, per address.
    pub requests: AddressBudget,
    /// Questions asked per address (`POST /api/v1/chat` and websocket messages and actions); sized to the engine,
    /// not to the network.
    pub questions: AddressBudget,
    /// Turns per session, whatever connections they come over.
    pub session_turns: KeyedBudget<String>,
}

impl Budgets {
    pub fn from_limits(limits: &crate::settings::Limits) -> Arc<Budgets> {
        Arc::new(Budgets {
            requests: AddressBudget::new(limits.ip_burst, limits.ip_per_second),
            questions: AddressBudget::new(limits.question_burst, limits.questions_per_second),
            session_turns: KeyedBudget::new(limits.session_turn_burst, limits.session_turns_per_second),
        })
    }
}

/// Whether a request asks the engine a new question.
fn asks_a_question(request: &Request) -> bool {
    request.method() == Method::POST && request.uri().path() == "/api/v1/chat"
}

/// Middleware: refuses a request with `429 rate_limited` when its peer address is over its request budget, or
/// over its question budget for a question. Requests whose peer is unknown (an app served without connect info,
/// as in router unit tests) pass.
pub async fn limit_per_ip(State(budgets): State<Arc<Budgets>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = peer {
        if !budgets.requests.allow(ip) {
            tracing::warn!(%ip, "per-address request budget exceeded");
            return rate_limited("请求太频繁，请稍后再试");
        }
        if asks_a_question(&request) && !budgets.questions.allow(ip) {
            tracing::warn!(%ip, "per-address question budget exceeded");
            return rate_limited("提问太频繁，请稍后再试");
        }
    }
    next.run(request).await
}

fn rate_limited(message: &str) -> Response {
    let e = FrameError::new(ErrorCode::RateLimited, message, None);
    ApiError::Frame(e).into_response()
}

/// The default request budget: generous for a campus NAT with many users behind one address.
pub const DEFAULT_IP_BURST: u32 = 600;
pub const DEFAULT_IP_PER_SECOND: f64 = 100.0;

/// New questions (not yet in the query-vector cache) the engine answers per second: every one is an embedding of
/// about 35 ms on the single embedding worker (`docs/benchmarks.md`: 28 answers/s, cold cache). Repeated questions
/// are far cheaper, but a client choosing its questions can make every one new.
const ENGINE_NEW_QUESTIONS_PER_SECOND: f64 = 28.0;

/// The default per-address question rate: a quarter of the engine's, so that one address alone cannot fill the
/// embedding queue and the turn permits (four busy addresses can; the queue timeout then answers `overloaded`).
pub const DEFAULT_QUESTIONS_PER_SECOND: f64 = ENGINE_NEW_QUESTIONS_PER_SECOND / 4.0;

/// Questions one address may ask at once before the rate applies (a class asking together behind one NAT).
pub const DEFAULT_QUESTION_BURST: u32 = 20;

/// Turns one session may take at once, and per second after that: a person reads each answer before the next
/// question, so even quick clicking stays far below; a script driving one session is held to the engine's share
/// of one address.
pub const DEFAULT_SESSION_TURN_BURST: u32 = 15;
pub const DEFAULT_SESSION_TURNS_PER_SECOND: f64 = 2.0;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_its_burst_per_address() {
        let budget = AddressBudget::new(3, 0.001);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| budget.allow(ip)));
        assert!(!budget.allow(ip));
        assert!(budget.allow(other), "addresses have their own budgets");
    }

    #[test]
    fn a_session_budget_is_kept_per_session_id() {
        let budget: KeyedBudget<String> = KeyedBudget::new(2, 0.001);
        assert!(budget.allow("s_a".to_owned()) && budget.allow("s_a".to_owned()));
        assert!(!budget.allow("s_a".to_owned()));
        assert!(budget.allow("s_b".to_owned()));
    }

    #[test]
    fn a_zero_burst_turns_the_budget_off() {
        let budget = AddressBudget::new(0, 0.0);
        assert!((0..1000).all(|_| budget.allow([10, 0, 0, 1].into())));
        assert_eq!(budget.tracked(), 0);
    }

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_slots_come_back() {
        let caps = ConnectionCaps::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = caps.admit(a).expect("first");
        let _second = caps.admit(a).expect("second");
        assert_eq!(caps.admit(a).unwrap_err(), Refusal::AddressFull);
        let _third = caps.admit(b).expect("another address");
        assert_eq!(caps.admit(b).unwrap_err(), Refusal::Full);
        drop(first);
        assert_eq!(caps.open(), 2);
        assert!(caps.admit(a).is_ok(), "a closed connection gives its slot back");
    }

    #[test]
    fn the_global_cap_stays_below_the_open_file_limit() {
        assert_eq!(global_connection_cap(100_000, Some(1024)), 1024 - 102);
        assert_eq!(global_connection_cap(500, Some(1_048_576)), 500);
        assert_eq!(global_connection_cap(500, None), 500);
        assert!(global_connection_cap(500, Some(10)) >= 1);
    }
}
