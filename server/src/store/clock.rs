//! The timestamps stored rows carry: RFC 3339 in UTC with milliseconds, which sorts as text on SQLite and
//! PostgreSQL alike, so that `ORDER BY created_at` is chronological.

use chrono::{DateTime, SecondsFormat, Utc};

/// A moment as the tables store it.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current moment as the tables store it.
pub fn now() -> String {
    stamp(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_with_milliseconds() {
        let at = DateTime::from_timestamp_millis(1_764_000_000_123).expect("a valid moment");
        assert_eq!(stamp(at), "2025-11-24T16:00:00.123Z");
    }
}
