//! `[handoff]` settings: whether the service desk takes conversations, its hours in its own time zone, and the
//! time limits of the queue (docs/handoff.md).

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, Utc};
use serde::Deserialize;
use std::time::Duration;

/// The service desk's configuration, as `[handoff]` of the config file gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffSettings {
    /// `false`: a request for a person gets the contact card only.
    pub enabled: bool,
    /// ISO weekdays with service hours (1 = Monday … 7 = Sunday).
    pub days: Vec<u8>,
    /// Opening time, `HH:MM` local time.
    pub open: String,
    /// Closing time, `HH:MM` local time; `24:00` means midnight at the end of the day.
    pub close: String,
    /// The desk's time zone as hours east of UTC (China: 8).
    pub utc_offset_hours: i32,
    /// A waiting user nobody took gets the contact card and a 工单 after this many seconds.
    pub wait_timeout_secs: u64,
    /// A web user whose every connection closed is taken as gone after this many seconds (a reload returns in time).
    pub user_gone_secs: u64,
    /// An active handoff with no message either way ends after this many seconds.
    pub idle_close_secs: u64,
}

impl Default for HandoffSettings {
    fn default() -> Self {
        HandoffSettings {
            enabled: true,
            days: vec![1, 2, 3, 4, 5],
            open: "08:30".into(),
            close: "17:30".into(),
            utc_offset_hours: 8,
            wait_timeout_secs: 300,
            user_gone_secs: 120,
            idle_close_secs: 1800,
        }
    }
}

/// Minutes since local midnight of an `HH:MM` time; `24:00` is 1440.
fn minutes_of(raw: &str) -> Option<u32> {
    if raw == "24:00" {
        return Some(24 * 60);
    }
    let time = NaiveTime::parse_from_str(raw, "%H:%M").ok()?;
    Some(chrono::Timelike::hour(&time) * 60 + chrono::Timelike::minute(&time))
}

impl HandoffSettings {
    /// Checks the settings; the message names what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(("handoff.days", "weekdays are 1 (Monday) to 7 (Sunday)".into()));
        }
        let (Some(open), Some(close)) = (minutes_of(&self.open), minutes_of(&self.close)) else {
            return Err(("handoff.open", "open and close are HH:MM times (close may be 24:00)".into()));
        };
        if open >= close {
            return Err(("handoff.close", "the desk must close after it opens".into()));
        }
        if !(-12..=14).contains(&self.utc_offset_hours) {
            return Err(("handoff.utc_offset_hours", "must be between -12 and 14".into()));
        }
        if self.wait_timeout_secs == 0 || self.user_gone_secs == 0 || self.idle_close_secs == 0 {
            return Err(("handoff.wait_timeout_secs", "the time limits must be positive".into()));
        }
        Ok(())
    }

    fn zone(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_hours * 3600).unwrap_or_else(|| chrono::Offset::fix(&Utc))
    }

    /// Whether the desk is open at this moment.
    pub fn in_hours(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone());
        let weekday = u8::try_from(local.weekday().number_from_monday()).unwrap_or(0);
        let minute = chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local);
        let (Some(open), Some(close)) = (minutes_of(&self.open), minutes_of(&self.close)) else { return false };
        self.days.contains(&weekday) && open <= minute && minute < close
    }

    /// The hours as users read them: "周一至周五 08:30–17:30".
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
        let mut days: Vec<u8> = self.days.clone();
        days.sort_unstable();
        days.dedup();
        let name = |d: u8| NAMES.get(usize::from(d).saturating_sub(1)).copied().unwrap_or("");
        let contiguous = days.windows(2).all(|w| w[1] == w[0] + 1);
        let span = match (days.first(), days.last()) {
            _ if days.is_empty() => return "暂无人工服务时间".to_owned(),
            _ if days.len() == 7 => "每天".to_owned(),
            (Some(&first), Some(&last)) if contiguous && days.len() > 2 => format!("{}至{}", name(first), name(last)),
            _ => days.iter().map(|&d| name(d)).collect::<Vec<_>>().join("、"),
        };
        format!("{span} {}–{}", self.open, self.close)
    }

    pub fn wait_timeout(&self) -> Duration {
        Duration::from_secs(self.wait_timeout_secs)
    }

    pub fn user_gone(&self) -> Duration {
        Duration::from_secs(self.user_gone_secs)
    }

    pub fn idle_close(&self) -> Duration {
        Duration::from_secs(self.idle_close_secs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_desk_keeps_beijing_office_hours_on_weekdays() {
        let s = HandoffSettings::default();
        // 2026-12-04 is a Friday: 09:00 in Beijing is 01:00 UTC.
        assert!(s.in_hours(at("2026-12-04T01:00:00Z")));
        assert!(!s.in_hours(at("2026-12-04T00:29:00Z")), "08:29 local is before opening");
        assert!(!s.in_hours(at("2026-12-04T09:30:00Z")), "17:30 local is closing time");
        // Saturday 10:00 local.
        assert!(!s.in_hours(at("2026-12-05T02:00:00Z")));
        assert_eq!(s.describe(), "周一至周五 08:30–17:30");
    }

    #[test]
    fn a_desk_open_all_day_every_day_is_always_open() {
        let s = HandoffSettings {
            days: (1..=7).collect(),
            open: "00:00".into(),
            close: "24:00".into(),
            ..Default::default()
        };
        s.validate().unwrap();
        assert!(s.in_hours(at("2026-12-06T15:59:59Z")));
        assert_eq!(s.describe(), "每天 00:00–24:00");
    }

    #[test]
    fn bad_hours_and_days_are_refused() {
        let bad_day = HandoffSettings { days: vec![0], ..Default::default() };
        assert_eq!(bad_day.validate().unwrap_err().0, "handoff.days");
        let backwards = HandoffSettings { open: "18:00".into(), ..Default::default() };
        assert_eq!(backwards.validate().unwrap_err().0, "handoff.close");
        let garbled = HandoffSettings { open: "8点".into(), ..Default::default() };
        assert_eq!(garbled.validate().unwrap_err().0, "handoff.open");
    }
}
