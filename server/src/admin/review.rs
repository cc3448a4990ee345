//! The unanswered loop and explanations: fallbacks, clarifies and 👎 grouped for review, one action to add a
//! question to an item or start a FAQ from it; the question log; why the bot answered what it did.

use super::error::AdminError;
use super::identity::{context, Admin};
use super::records::{days_ago, now, Record, RecordKind};
use super::Changed;
use super::DaysQuery;
use crate::app::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use knowledge::normalize::normalize;
use knowledge::retrieve::{Decision, SearchResult};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashMap, HashSet};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/unanswered", get(unanswered))
        .route("/api/v1/admin/unanswered/attach", post(attach))
        .route("/api/v1/admin/unanswered/faq", post(new_faq))
        .route("/api/v1/admin/unanswered/dismiss", post(dismiss))
        .route("/api/v1/admin/questions", get(questions))
        .route("/api/v1/admin/questions/{id}/explain", get(explain_logged))
        .route("/api/v1/admin/questions/{id}/conversation", get(conversation))
        .route("/api/v1/admin/explain", get(explain_text))
}

/// Why a question is up for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    Fallback,
    Clarify,
    ThumbsDown,
}

/// A text's grouping key: normalized, spaces dropped.
pub fn text_key(text: &str) -> String {
    normalize(text).chars().filter(|c| !c.is_whitespace()).collect()
}

fn bigrams(key: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() == 1 {
        return HashSet::from([(chars[0], ' ')]);
    }
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Jaccard similarity of two keys' character bigrams.
pub fn similarity(a: &str, b: &str) -> f32 {
    let (x, y) = (bigrams(a), bigrams(b));
    let union = x.union(&y).count();
    if union == 0 {
        return 0.0;
    }
    x.intersection(&y).count() as f32 / union as f32
}

/// How alike two questions must be to share a group.
const GROUP_SIMILARITY: f32 = 0.5;

/// One logged question up for review.
#[derive(Debug, Clone)]
pub struct ReviewQuestion {
    pub text: String,
    pub reason: ReviewReason,
    pub created_at: String,
}

/// A group of alike questions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReviewGroup {
    /// The most asked wording.
    pub text: String,
    pub count: usize,
    pub reasons: BTreeMap<ReviewReason, usize>,
    /// Every distinct wording with its count.
    pub variants: Vec<(String, usize)>,
    pub last_at: String,
    #[serde(skip)]
    keys: Vec<String>,
}

/// Groups questions greedily: each joins the first group whose first key is alike enough.
pub fn group_questions(questions: &[ReviewQuestion]) -> Vec<ReviewGroup> {
    let mut groups: Vec<(String, ReviewGroup, HashMap<String, usize>)> = Vec::new();
    for q in questions {
        let key = text_key(&q.text);
        if key.is_empty() {
            continue;
        }
        let found = groups
            .iter_mut()
            .find(|(lead, g, _)| *lead == key || g.keys.contains(&key) || similarity(lead, &key) >= GROUP_SIMILARITY);
        let (_, group, counts) = match found {
            Some(g) => g,
            None => {
                let g = ReviewGroup {
                    text: q.text.clone(),
                    count: 0,
                    reasons: BTreeMap::new(),
                    variants: Vec::new(),
                    last_at: String::new(),
                    keys: Vec::new(),
                };
                groups.push((key.clone(), g, HashMap::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        group.count += 1;
        *group.reasons.entry(q.reason).or_default() += 1;
        if q.created_at > group.last_at {
            group.last_at = q.created_at.clone();
        }
        if !group.keys.contains(&key) {
            group.keys.push(key);
        }
        *counts.entry(q.text.trim().to_owned()).or_default() += 1;
    }
    let mut out: Vec<ReviewGroup> = groups
        .into_iter()
        .map(|(_, mut g, counts)| {
            let mut variants: Vec<(String, usize)> = counts.into_iter().collect();
            variants.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            if let Some((top, _)) = variants.first() {
                g.text = top.clone();
            }
            g.variants = variants;
            g
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_at.cmp(&a.last_at)));
    out
}

async fn resolved_keys(pool: &AnyPool) -> Result<HashSet<String>, AdminError> {
    let rows = sqlx::query("SELECT text_key FROM review_resolved").fetch_all(pool).await?;
    rows.iter().map(|r| r.try_get::<String, _>("text_key").map_err(AdminError::from)).collect()
}

/// The questions of the last `days` that fell back, were clarified or got a 👎, minus those already resolved.
pub async fn review_questions(pool: &AnyPool, days: i64) -> Result<Vec<ReviewQuestion>, AdminError> {
    let since = days_ago(days);
    let rows = sqlx::query(
        "SELECT q.text AS text, q.mode AS mode, q.created_at AS created_at, r.helpful AS helpful \
         FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id \
         WHERE q.created_at >= $1 AND (q.mode <> 'answer' OR r.helpful = 0) ORDER BY q.created_at",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    let resolved = resolved_keys(pool).await?;
    let mut out = Vec::new();
    for row in rows {
        let text: String = row.try_get("text")?;
        if text.starts_with("action:") || resolved.contains(&text_key(&text)) {
            continue;
        }
        let mode: String = row.try_get("mode")?;
        let helpful: Option<i64> = row.try_get("helpful")?;
        let reason = match (helpful, mode.as_str()) {
            (Some(0), _) => ReviewReason::ThumbsDown,
            (_, "fallback") => ReviewReason::Fallback,
            _ => ReviewReason::Clarify,
        };
        out.push(ReviewQuestion { text, reason, created_at: row.try_get("created_at")? });
    }
    Ok(out)
}

async fn unanswered(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<DaysQuery>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let days = q.days();
    let groups = group_questions(&review_questions(&ctx.pool, days).await?);
    // The retriever's best guess helps the reviewer pick the item.
    let engine = state.engine.current();
    let texts: Vec<String> = groups.iter().map(|g| g.text.clone()).collect();
    let guesses = state
        .run_search(move || {
            texts
                .iter()
                .map(|t| {
                    let r = engine.retriever().search(t, None).ok()?;
                    let c = r.candidates.first()?;
                    let kb = engine.knowledge();
                    Some(json!({"id": kb.item_id(c.item), "title": kb.item_title(c.item), "kind": c.item.kind}))
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let out: Vec<Value> = groups
        .iter()
        .zip(guesses)
        .map(|(g, guess)| {
            let mut v = json!(g);
            v["suggested_item"] = guess.unwrap_or(Value::Null);
            v
        })
        .collect();
    Ok(Json(json!({ "days": days, "groups": out })))
}

async fn mark_resolved(pool: &AnyPool, texts: &[String], item_id: Option<&str>, actor: &str) -> Result<(), AdminError> {
    let mut tx = pool.begin().await?;
    for text in texts {
        let key = text_key(text);
        if key.is_empty() {
            continue;
        }
        sqlx::query("DELETE FROM review_resolved WHERE text_key = $1").bind(&key).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO review_resolved (text_key, item_id, resolved_by, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&key)
            .bind(item_id.map(str::to_owned))
            .bind(actor)
            .bind(now())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Adds a reviewed question to an item as a similar question.
#[derive(Debug, Deserialize)]
struct AttachRequest {
    text: String,
    item_id: String,
    /// Other wordings of the group, resolved with it (not added as questions).
    #[serde(default)]
    also_resolve: Vec<String>,
}

async fn attach(
    Admin(p): Admin,
    State(state): State<AppState>,
    Json(req): Json<AttachRequest>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let text = req.text.trim().to_owned();
    if text.is_empty() {
        return Err(AdminError::field("text", "问题不能为空"));
    }
    let item_id = req.item_id.clone();
    let saved = ctx
        .change(&p.id, |all| {
            let r = all
                .iter_mut()
                .find(|r| r.kind.has_questions() && r.id == item_id && !r.retired)
                .ok_or_else(|| AdminError::field("item_id", format!("没有这个事项、应用或常见问题：'{item_id}'")))?;
            if !r.questions.contains(&text) {
                r.questions.push(text.clone());
            }
            r.updated_at = now();
            r.updated_by = p.id.clone();
            Ok(vec![Changed { kind: r.kind, id: r.id.clone(), action: "add_question" }])
        })
        .await?;
    let mut resolved = req.also_resolve;
    resolved.push(req.text);
    mark_resolved(&ctx.pool, &resolved, Some(&req.item_id), &p.id).await?;
    Ok(Json(json!({ "saved": saved, "live": true })))
}

/// Starts a FAQ from a reviewed question.
#[derive(Debug, Deserialize)]
struct NewFaqRequest {
    text: String,
    /// The FAQ's question as shown; the reviewed text when absent.
    question: Option<String>,
    answer: String,
    related_service: Option<String>,
    related_app: Option<String>,
    owner_department: Option<String>,
    #[serde(default)]
    also_resolve: Vec<String>,
}

async fn new_faq(
    Admin(p): Admin,
    State(state): State<AppState>,
    Json(req): Json<NewFaqRequest>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let text = req.text.trim().to_owned();
    let question = req.question.as_deref().map(str::trim).filter(|q| !q.is_empty()).unwrap_or(&text).to_owned();
    if question.is_empty() {
        return Err(AdminError::field("question", "问题不能为空"));
    }
    if req.answer.trim().is_empty() {
        return Err(AdminError::field("answer", "答案不能为空"));
    }
    let id = format!("f-admin-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let faq = knowledge::Faq {
        id: id.clone(),
        question: question.clone(),
        answer: req.answer.trim().to_owned(),
        related_service: req.related_service.filter(|s| !s.trim().is_empty()),
        related_app: req.related_app.filter(|s| !s.trim().is_empty()),
    };
    let body = serde_json::to_value(&faq).map_err(|e| AdminError::Internal(e.to_string()))?;
    let questions = if text != question && !text.is_empty() { vec![text.clone()] } else { Vec::new() };
    let saved = ctx
        .change(&p.id, |all| {
            let position = all.iter().filter(|r| r.kind == RecordKind::Faq).map(|r| r.position + 1).max().unwrap_or(0);
            let at = now();
            all.push(Record {
                kind: RecordKind::Faq,
                id: id.clone(),
                body,
                questions,
                owner_department: req.owner_department,
                last_reviewed: at.clone(),
                retired: false,
                position,
                updated_at: at,
                updated_by: p.id.clone(),
            });
            Ok(vec![Changed { kind: RecordKind::Faq, id: id.clone(), action: "create_from_question" }])
        })
        .await?;
    let mut resolved = req.also_resolve;
    resolved.push(req.text);
    mark_resolved(&ctx.pool, &resolved, Some(&id), &p.id).await?;
    Ok(Json(json!({ "saved": saved, "live": true, "id": id })))
}

#[derive(Debug, Deserialize)]
struct DismissRequest {
    texts: Vec<String>,
}

async fn dismiss(
    Admin(p): Admin,
    State(state): State<AppState>,
    Json(req): Json<DismissRequest>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    mark_resolved(&ctx.pool, &req.texts, None, &p.id).await?;
    Ok(Json(json!({ "dismissed": req.texts.len() })))
}

#[derive(Debug, Deserialize)]
struct QuestionsQuery {
    mode: Option<String>,
    q: Option<String>,
    limit: Option<i64>,
}

/// The question log, newest first.
async fn questions(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<QuestionsQuery>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // REAL is 4 bytes on PostgreSQL, 8 on SQLite: the CAST makes it a double (an f64) on both.
    let rows = sqlx::query(
        "SELECT q.id AS id, q.channel AS channel, q.text AS text, q.intent AS intent, q.mode AS mode, q.top_item AS top_item, \
         CAST(q.confidence AS DOUBLE PRECISION) AS confidence, q.latency_ms AS latency_ms, q.created_at AS created_at, r.helpful AS helpful \
         FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id ORDER BY q.created_at DESC LIMIT $1",
    )
    .bind(limit * 4)
    .fetch_all(&ctx.pool)
    .await?;
    let needle = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut out = Vec::new();
    for row in rows {
        let mode: String = row.try_get("mode")?;
        let text: String = row.try_get("text")?;
        if q.mode.as_ref().is_some_and(|m| *m != mode) || needle.is_some_and(|n| !text.contains(n)) {
            continue;
        }
        let helpful: Option<i64> = row.try_get("helpful")?;
        out.push(json!({
            "id": row.try_get::<String, _>("id")?, "channel": row.try_get::<String, _>("channel")?, "text": text,
            "intent": row.try_get::<String, _>("intent")?, "mode": mode, "top_item": row.try_get::<Option<String>, _>("top_item")?,
            "confidence": row.try_get::<f64, _>("confidence")?, "latency_ms": row.try_get::<i64, _>("latency_ms")?,
            "created_at": row.try_get::<String, _>("created_at")?, "helpful": helpful.map(|h| h != 0),
        }));
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(Json(json!({ "questions": out })))
}

/// `GET /api/v1/admin/questions/{id}/conversation`: the whole dialogue of the session a logged question was asked
/// in, oldest first: each turn's (masked) text, its outcome and the item answered, by title.
async fn conversation(
    _: Admin,
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let session: Option<String> = sqlx::query("SELECT session_id FROM question_log WHERE id = $1")
        .bind(&id)
        .fetch_optional(&ctx.pool)
        .await?
        .map(|row| row.try_get("session_id"))
        .transpose()?;
    let Some(session) = session else {
        return Err(AdminError::NotFound(format!("提问记录 {id}")));
    };
    let rows = sqlx::query(
        "SELECT q.id AS id, q.channel AS channel, q.text AS text, q.intent AS intent, q.mode AS mode, \
         q.top_item AS top_item, q.created_at AS created_at, q.audience AS audience, r.helpful AS helpful \
         FROM question_log q LEFT JOIN ratings r ON r.reply_id = q.reply_id WHERE q.session_id = $1 \
         ORDER BY q.created_at, q.id LIMIT 500",
    )
    .bind(&session)
    .fetch_all(&ctx.pool)
    .await?;
    let engine = state.engine.current();
    let kb = engine.knowledge();
    let titles: std::collections::HashMap<&str, &str> = kb.items().map(|r| (kb.item_id(r), kb.item_title(r))).collect();
    let mut turns = Vec::with_capacity(rows.len());
    for row in rows {
        let top_item: Option<String> = row.try_get("top_item")?;
        let helpful: Option<i64> = row.try_get("helpful")?;
        turns.push(json!({
            "id": row.try_get::<String, _>("id")?, "channel": row.try_get::<String, _>("channel")?,
            "text": row.try_get::<String, _>("text")?, "intent": row.try_get::<String, _>("intent")?,
            "mode": row.try_get::<String, _>("mode")?, "created_at": row.try_get::<String, _>("created_at")?,
            "audience": row.try_get::<Option<String>, _>("audience")?,
            "item_title": top_item.as_deref().and_then(|i| titles.get(i).copied()),
            "top_item": top_item, "helpful": helpful.map(|h| h != 0), "selected": false,
        }));
    }
    for t in &mut turns {
        if t["id"] == id.as_str() {
            t["selected"] = json!(true);
        }
    }
    Ok(Json(json!({ "session": session, "turns": turns })))
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Answer => "answer",
        Decision::Clarify => "clarify",
        Decision::NoMatch => "no_match",
    }
}

/// A search result as the explain view shows it.
pub fn explanation(engine: &bot::Engine, text: &str, result: &SearchResult) -> Value {
    let kb = engine.knowledge();
    let retriever = engine.retriever();
    let phrasing = |i: usize| retriever.phrasing(i).map(|p| p.text.clone());
    let candidates: Vec<Value> = result
        .candidates
        .iter()
        .take(10)
        .map(|c| {
            json!({
                "id": kb.item_id(c.item), "kind": c.item.kind, "title": kb.item_title(c.item), "fused": c.fused,
                "lexical_rank": c.lexical_rank.map(|r| r + 1),
                "lexical_score": c.lexical.as_ref().map(|l| l.score),
                "coverage": c.lexical.as_ref().map(|l| l.coverage),
                "matched_terms": c.lexical.as_ref().map(|l| l.matched_terms.clone()).unwrap_or_default(),
                "lexical_phrasing": c.lexical.as_ref().and_then(|l| phrasing(l.best_phrasing)),
                "dense_rank": c.dense_rank.map(|r| r + 1),
                "cosine": c.dense.map(|d| d.cosine),
                "dense_phrasing": c.dense.and_then(|d| phrasing(d.best_phrasing)),
            })
        })
        .collect();
    json!({
        "text": text, "terms": result.query_terms, "decision": decision_str(result.decision),
        "confidence": result.confidence, "dense_used": result.dense_used, "dense_error": result.dense_error,
        "candidates": candidates,
    })
}

async fn explain(state: &AppState, text: String, logged: Option<Value>) -> Result<Json<Value>, AdminError> {
    let engine = state.engine.current();
    let value = state
        .run_search(move || {
            let result = engine.retriever().search(&text, None).map_err(|e| AdminError::Internal(e.to_string()))?;
            Ok::<Value, AdminError>(explanation(&engine, &text, &result))
        })
        .await??;
    let mut value = value;
    if let Some(l) = logged {
        value["logged"] = l;
    }
    Ok(Json(value))
}

#[derive(Debug, Deserialize)]
struct ExplainQuery {
    text: String,
}

async fn explain_text(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<ExplainQuery>,
) -> Result<Json<Value>, AdminError> {
    if q.text.trim().is_empty() {
        return Err(AdminError::field("text", "问题不能为空"));
    }
    explain(&state, q.text, None).await
}

async fn explain_logged(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    // REAL is 4 bytes on PostgreSQL, 8 on SQLite: the CAST makes it a double (an f64) on both.
    let row = sqlx::query(
        "SELECT text, intent, mode, top_item, CAST(confidence AS DOUBLE PRECISION) AS confidence, created_at \
         FROM question_log WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(&ctx.pool)
    .await?
    .ok_or_else(|| AdminError::NotFound(format!("question {id}")))?;
    let text: String = row.try_get("text")?;
    let logged = json!({
        "id": id, "intent": row.try_get::<String, _>("intent")?, "mode": row.try_get::<String, _>("mode")?,
        "top_item": row.try_get::<Option<String>, _>("top_item")?, "confidence": row.try_get::<f64, _>("confidence")?,
        "created_at": row.try_get::<String, _>("created_at")?,
    });
    explain(&state, text, Some(logged)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, reason: ReviewReason) -> ReviewQuestion {
        ReviewQuestion { text: text.into(), reason, created_at: "2026-11-27T10:00:00.000Z".into() }
    }

    #[test]
    fn alike_questions_share_a_group() {
        let groups = group_questions(&[
            q("宿舍空调坏了找谁修", ReviewReason::Fallback),
            q("宿舍空调坏了找谁修？", ReviewReason::ThumbsDown),
            q("宿舍空调坏了找谁", ReviewReason::Clarify),
            q("图书馆几点关门", ReviewReason::Fallback),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].count, 3);
        assert_eq!(groups[0].reasons.len(), 3);
        assert_eq!(groups[1].text, "图书馆几点关门");
    }
}
