//! Analytics over the question log and ratings (per day and channel, modes, satisfaction, top questions and
//! items, items never asked, askers' audiences, latency), and the popular questions of the last days for 想问 /
//! 热门问题, overall and per asker audience (student, teacher, staff, guest).

use super::error::AdminError;
use super::identity::{context, Admin};
use super::DaysQuery;
use crate::app::AppState;
use crate::store::question_log::{QuestionForStats, QuestionLogReader};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use bot::engine::{AskerAudience, Popular};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/analytics", get(analytics)).route("/api/v1/popular", get(popular))
}

/// One logged question, as analytics reads it.
#[derive(Debug, Clone)]
pub struct LoggedQuestion {
    pub day: String,
    /// The session it was asked in (热门问题 count distinct sessions, not repetitions).
    pub session: String,
    pub channel: String,
    pub text: String,
    pub mode: String,
    pub top_item: Option<String>,
    pub latency_ms: i64,
    pub helpful: Option<bool>,
    /// Who asked; `None` for questions logged before the audience was recorded.
    pub audience: Option<AskerAudience>,
}

impl From<QuestionForStats> for LoggedQuestion {
    fn from(q: QuestionForStats) -> LoggedQuestion {
        LoggedQuestion {
            // The stored timestamps are RFC 3339: the first ten characters are the day.
            day: q.created_at.chars().take(10).collect(),
            session: q.session_id,
            channel: q.channel,
            text: q.text,
            mode: q.mode,
            top_item: q.top_item,
            latency_ms: q.latency_ms,
            helpful: q.helpful,
            audience: q.audience.as_deref().and_then(AskerAudience::parse),
        }
    }
}

async fn logged_since(log: &dyn QuestionLogReader, days: i64) -> Result<Vec<LoggedQuestion>, AdminError> {
    let since = super::records::days_ago(days);
    let questions = log.since(&since).await.map_err(AdminError::Store)?;
    Ok(questions.into_iter().map(LoggedQuestion::from).collect())
}

/// The value at quantile `q` (0..1) of sorted values, nearest rank.
pub fn quantile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn top_counts<'a>(values: impl Iterator<Item = &'a str>, n: usize) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().map(|(k, c)| (k.to_owned(), c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// The analytics figures of a set of logged questions; `all_items` (id, title) finds those never asked.
pub fn summarize(log: &[LoggedQuestion], all_items: &[(String, String)]) -> Value {
    let mut per_day: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut modes: BTreeMap<&str, usize> = BTreeMap::new();
    for q in log {
        *per_day.entry(&q.day).or_default().entry(&q.channel).or_default() += 1;
        *modes.entry(&q.mode).or_default() += 1;
    }
    let total = log.len();
    let rate = |m: &str| {
        if total == 0 {
            0.0
        } else {
            *modes.get(m).unwrap_or(&0) as f64 / total as f64
        }
    };
    let up = log.iter().filter(|q| q.helpful == Some(true)).count();
    let down = log.iter().filter(|q| q.helpful == Some(false)).count();
    let questions = log.iter().filter(|q| !q.text.starts_with("action:")).map(|q| q.text.trim());
    let asked: HashSet<&str> = log.iter().filter_map(|q| q.top_item.as_deref()).collect();
    let titles: HashMap<&str, &str> = all_items.iter().map(|(id, t)| (id.as_str(), t.as_str())).collect();
    let top_items: Vec<Value> =
        top_counts(log.iter().filter(|q| q.mode == "answer").filter_map(|q| q.top_item.as_deref()), 15)
            .into_iter()
            .map(|(id, n)| json!({"id": id, "title": titles.get(id.as_str()).copied().unwrap_or(""), "count": n}))
            .collect();
    let never: Vec<Value> = all_items
        .iter()
        .filter(|(id, _)| !asked.contains(id.as_str()))
        .map(|(id, title)| json!({"id": id, "title": title}))
        .collect();
    let mut audiences: BTreeMap<&str, usize> = BTreeMap::new();
    for q in log {
        *audiences.entry(q.audience.map_or("unknown", AskerAudience::as_str)).or_default() += 1;
    }
    let mut latencies: Vec<i64> = log.iter().map(|q| q.latency_ms).collect();
    latencies.sort_unstable();
    json!({
        "total": total,
        "per_day": per_day.iter().map(|(day, ch)| json!({"day": day, "channels": ch, "total": ch.values().sum::<usize>()})).collect::<Vec<_>>(),
        "modes": modes,
        "audiences": audiences,
        "rates": {"answer": rate("answer"), "clarify": rate("clarify"), "fallback": rate("fallback")},
        "satisfaction": {"up": up, "down": down, "rate": if up + down == 0 { Value::Null } else { json!(up as f64 / (up + down) as f64) }},
        "top_questions": top_counts(questions, 15).into_iter().map(|(t, n)| json!({"text": t, "count": n})).collect::<Vec<_>>(),
        "top_items": top_items,
        "never_asked": {"total": never.len(), "items": never.into_iter().take(50).collect::<Vec<_>>()},
        "latency_ms": {"median": quantile(&latencies, 0.5), "p99": quantile(&latencies, 0.99)},
    })
}

async fn analytics(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<DaysQuery>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let days = q.days();
    let log = logged_since(ctx.stores.question_log.as_ref(), days).await?;
    let engine = state.engine.current();
    let kb = engine.knowledge();
    let items: Vec<(String, String)> =
        kb.items().map(|r| (kb.item_id(r).to_owned(), kb.item_title(r).to_owned())).collect();
    let mut v = summarize(&log, &items);
    v["days"] = json!(days);
    let popular = popular_questions(ctx.stores.question_log.as_ref(), POPULAR_DAYS, POPULAR_COUNT, kb).await?;
    v["popular"] = json!(popular.overall);
    v["popular_by_audience"] = by_audience_json(&popular);
    Ok(Json(v))
}

/// Popular questions look this many days back.
pub const POPULAR_DAYS: i64 = 7;
/// How many popular questions are offered.
pub const POPULAR_COUNT: usize = 6;
/// Below this many answered questions in the window, traffic says too little and authored suggestions stay.
pub const POPULAR_MIN_TRAFFIC: usize = 20;
/// Below this many answered questions of one audience, that audience's askers get the overall list.
pub const POPULAR_MIN_AUDIENCE_TRAFFIC: usize = 10;

/// An item counts as popular only when at least this many different sessions were answered with it: one person
/// asking again and again (or a script) cannot put anything on everybody's welcome.
pub const POPULAR_MIN_SESSIONS: usize = 3;

/// The items most answered among `log`, by distinct sessions (answered, not rated unhelpful, at least
/// [`POPULAR_MIN_SESSIONS`] sessions each), each shown as the item's own question or title from `title_of` —
/// never a user's words, so nothing anybody typed (a phone number in a form, a greeting, a typo) reaches another
/// user's welcome. Nothing when fewer than `min_traffic` answered questions are there.
pub fn top_questions(
    log: &[&LoggedQuestion],
    n: usize,
    min_traffic: usize,
    title_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let answered: Vec<&LoggedQuestion> = log
        .iter()
        .copied()
        .filter(|q| {
            q.mode == "answer" && q.top_item.is_some() && !q.text.starts_with("action:") && q.helpful != Some(false)
        })
        .collect();
    if answered.len() < min_traffic.max(1) {
        return Vec::new();
    }
    let mut sessions: HashMap<&str, HashSet<&str>> = HashMap::new();
    for q in &answered {
        if let Some(item) = q.top_item.as_deref() {
            sessions.entry(item).or_default().insert(q.session.as_str());
        }
    }
    let mut ranked: Vec<(&str, usize)> = sessions
        .into_iter()
        .map(|(item, who)| (item, who.len()))
        .filter(|&(_, count)| count >= POPULAR_MIN_SESSIONS)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.into_iter().filter_map(|(item, _)| title_of(item)).take(n).collect()
}

/// 热门问题 of a log: overall (at least [`POPULAR_MIN_TRAFFIC`] answered questions) and for each asker audience
/// with at least [`POPULAR_MIN_AUDIENCE_TRAFFIC`] answered questions of its own; items named by `title_of`.
pub fn popular_of(log: &[LoggedQuestion], n: usize, title_of: &dyn Fn(&str) -> Option<String>) -> Popular {
    let all: Vec<&LoggedQuestion> = log.iter().collect();
    let mut popular = Popular { overall: top_questions(&all, n, POPULAR_MIN_TRAFFIC, title_of), ..Popular::default() };
    for audience in AskerAudience::ALL {
        let theirs: Vec<&LoggedQuestion> = log.iter().filter(|q| q.audience == Some(audience)).collect();
        let top = top_questions(&theirs, n, POPULAR_MIN_AUDIENCE_TRAFFIC, title_of);
        if !top.is_empty() {
            popular.by_audience.insert(audience, top);
        }
    }
    popular
}

/// The popular questions of the last `days`, overall and per audience (empty where traffic is too little), named
/// by the items of `kb` (an item no longer there is left out).
pub async fn popular_questions(
    log: &dyn QuestionLogReader,
    days: i64,
    n: usize,
    kb: &knowledge::KnowledgeBase,
) -> Result<Popular, AdminError> {
    let titles: HashMap<String, String> =
        kb.items().map(|r| (kb.item_id(r).to_owned(), kb.item_title(r).to_owned())).collect();
    let title_of = |id: &str| titles.get(id).cloned();
    Ok(popular_of(&logged_since(log, days).await?, n, &title_of))
}

/// `{"student": [...], …}`: each audience's own list (empty when it has too little traffic of its own).
fn by_audience_json(popular: &Popular) -> Value {
    let map: serde_json::Map<String, Value> = AskerAudience::ALL
        .into_iter()
        .map(|a| {
            let own = popular.by_audience.get(&a).cloned().unwrap_or_default();
            (a.as_str().to_owned(), json!(own))
        })
        .collect();
    Value::Object(map)
}

/// `GET /api/v1/popular`: the 热门问题 the asker's own welcome suggests — the audience of the bearer token's user
/// (a guest without one), its own list when it has enough traffic, else the overall one; empty when there is too
/// little. Other audiences' lists are not shown. Computing them also refreshes the ones the welcome suggests.
async fn popular(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let login = state.auth.resolve_headers(&headers).await;
    let audience = AskerAudience::of(login.user().as_ref());
    let popular = ctx.refresh_popular().await;
    Ok(Json(json!({
        "days": POPULAR_DAYS,
        "audience": audience.as_str(),
        "questions": popular.for_audience(audience),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn a_summary_counts_modes_days_and_never_asked_items() {
        let q = |day: &str, mode: &str, item: Option<&str>, helpful| LoggedQuestion {
            day: day.into(),
            session: "s_1".into(),
            channel: "ws".into(),
            text: "校园卡丢了".into(),
            mode: mode.into(),
            top_item: item.map(str::to_owned),
            latency_ms: 10,
            helpful,
            audience: None,
        };
        let log =
            vec![q("2026-11-26", "answer", Some("a"), Some(true)), q("2026-11-27", "fallback", None, Some(false))];
        let s = summarize(&log, &[("a".into(), "A".into()), ("b".into(), "B".into())]);
        assert_eq!(s["total"], 2);
        assert_eq!(s["per_day"].as_array().map(Vec::len), Some(2));
        assert_eq!(s["rates"]["fallback"], 0.5);
        assert_eq!(s["satisfaction"]["up"], 1);
        assert_eq!(s["never_asked"]["items"][0]["id"], "b");
    }

    fn logged(text: &str, item: Option<&str>, session: usize, audience: Option<AskerAudience>) -> LoggedQuestion {
        LoggedQuestion {
            day: "2026-11-27".into(),
            session: format!("s_{session}"),
            channel: "ws".into(),
            text: text.into(),
            mode: if item.is_some() { "answer" } else { "fallback" }.into(),
            top_item: item.map(str::to_owned),
            latency_ms: 5,
            helpful: None,
            audience,
        }
    }

    fn titles(id: &str) -> Option<String> {
        match id {
            "s-research" => Some("科研经费报销".into()),
            "s-grant" => Some("学生资助申请".into()),
            "s-card" => Some("校园卡补办".into()),
            _ => None,
        }
    }

    #[test]
    fn popular_questions_are_kept_apart_by_audience_and_named_by_the_item() {
        let mut log = Vec::new();
        for i in 0..12 {
            log.push(logged("科研经费怎么报销", Some("s-research"), i, Some(AskerAudience::Teacher)));
        }
        for i in 0..11 {
            log.push(logged("助学金怎么申请", Some("s-grant"), 100 + i, Some(AskerAudience::Student)));
        }
        for i in 0..3 {
            log.push(logged("校园卡丢了怎么补办", Some("s-card"), 200 + i, Some(AskerAudience::Guest)));
            log.push(logged("校园卡丢了", Some("s-card"), 300 + i, None));
        }
        let popular = popular_of(&log, 6, &titles);
        assert_eq!(popular.overall, ["科研经费报销", "学生资助申请", "校园卡补办"], "{popular:?}");
        assert_eq!(popular.for_audience(AskerAudience::Teacher), ["科研经费报销".to_owned()]);
        assert_eq!(popular.for_audience(AskerAudience::Student), ["学生资助申请".to_owned()]);
        // Too few guest questions of their own: guests get the overall list.
        assert!(!popular.by_audience.contains_key(&AskerAudience::Guest));
        assert_eq!(popular.for_audience(AskerAudience::Guest), popular.overall.as_slice());
        let few = popular_of(&log[..15], 6, &titles);
        assert!(few.overall.is_empty(), "too little traffic overall");
        let s = summarize(&log, &[]);
        assert_eq!(s["audiences"]["teacher"], 12);
        assert_eq!(s["audiences"]["unknown"], 3);
    }

    #[test]
    fn one_session_asking_again_and_again_makes_nothing_popular_and_raw_words_never_appear() {
        let mut log = Vec::new();
        // One session repeats a question 50 times; two other sessions ask it once: 3 sessions, popular.
        for _ in 0..50 {
            log.push(logged("13812345678", Some("s-card"), 1, Some(AskerAudience::Teacher)));
        }
        log.push(logged("校园卡丢了", Some("s-card"), 2, Some(AskerAudience::Teacher)));
        // Fallbacks, small talk and form inputs (no item) never count, however many sessions send them.
        for i in 0..40 {
            log.push(logged("你好", None, 10 + i, Some(AskerAudience::Teacher)));
        }
        // 50 turns of one session and one of another: only two sessions, below the minimum.
        let popular = popular_of(&log, 6, &titles);
        assert!(popular.overall.is_empty(), "{popular:?}");
        log.push(logged("补办校园卡", Some("s-card"), 3, Some(AskerAudience::Teacher)));
        let popular = popular_of(&log, 6, &titles);
        assert_eq!(popular.overall, ["校园卡补办"]);
        assert!(popular
            .by_audience
            .values()
            .flatten()
            .chain(&popular.overall)
            .all(|q| !q.contains("138") && q != "你好"));
    }
}
