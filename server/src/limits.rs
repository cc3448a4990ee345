//! Process-level limits: the open-file limit that bounds how many websockets one process can hold, and a
//! per-client-IP request budget (HTTP requests and websocket connects) in front of every route.
//!
//! The per-connection frame budget lives in `routes/ws.rs`; this one stops a single address from opening
//! connection after connection or flooding the HTTP API. Refusals are `429` with the protocol's `rate_limited`
//! code.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bot::protocol::{ErrorCode, FrameError};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// One address's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A token bucket per client IP: `burst` requests at once, refilled at `per_second`. A burst of 0 turns it off
/// (behind a load balancer every request comes from the balancer's address: limit there instead).
#[derive(Debug)]
pub struct IpRateLimiter {
    enabled: bool,
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Addresses tracked before idle (full) buckets are swept; bounds the limiter's memory under a spoofed flood.
const SWEEP_ABOVE: usize = 10_000;

impl IpRateLimiter {
    pub fn new(burst: u32, per_second: f64) -> IpRateLimiter {
        IpRateLimiter {
            enabled: burst > 0,
            burst: f64::from(burst.max(1)),
            per_second: per_second.max(0.0),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `ip`; false when its bucket is empty.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        if !self.enabled {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let refill = now.saturating_duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How many addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Middleware: refuses a request with `429 rate_limited` when its peer address is over budget. Requests whose
/// peer is unknown (an app served without connect info, as in router unit tests) pass.
pub async fn limit_per_ip(
    State(limiter): State<Arc<IpRateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer {
        if !limiter.allow(ip, Instant::now()) {
            tracing::warn!(%ip, "per-address request budget exceeded");
            let e = FrameError::new(ErrorCode::RateLimited, "请求太频繁，请稍后再试", None);
            return ApiError::Frame(e).into_response();
        }
    }
    next.run(request).await
}

/// The default budget: generous for a campus NAT with many users behind one address.
pub const DEFAULT_IP_BURST: u32 = 600;
pub const DEFAULT_IP_PER_SECOND: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = IpRateLimiter::new(3, 1.0);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.allow(ip, t0)));
        assert!(!limiter.allow(ip, t0));
        assert!(limiter.allow(other, t0), "addresses have their own buckets");
        assert!(!limiter.allow(ip, t0 + Duration::from_millis(500)));
        assert!(limiter.allow(ip, t0 + Duration::from_millis(1600)));
    }

    #[test]
    fn full_buckets_are_swept_when_many_addresses_are_tracked() {
        let limiter = IpRateLimiter::new(2, 10.0);
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE as u32 {
            limiter.allow(IpAddr::from(i.to_be_bytes()), t0);
        }
        limiter.allow([1, 2, 3, 4].into(), t0 + Duration::from_secs(5));
        assert!(limiter.tracked() < 10, "{}", limiter.tracked());
    }

    #[test]
    fn a_zero_burst_turns_the_limit_off() {
        let limiter = IpRateLimiter::new(0, 0.0);
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.allow([10, 0, 0, 1].into(), t0)));
    }
}
