//! The unanswered loop and explanations: fallbacks, clarifies and 👎 grouped for review, one action to add a
//! question to an item or start a FAQ from it; the question log; why the bot answered what it did.

use super::error::AdminError;
use super::identity::{context, Admin};
use super::records::{days_ago, now, Record, RecordKind};
use super::Changed;
use super::DaysQuery;
use crate::app::AppState;
use crate::store::admin::AdminStores;
use crate::store::question_log::FlaggedQuestion;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use knowledge::normalize::normalize;
use knowledge::retrieve::{Decision, SearchResult};
use serde::Deserialize;
use serde_json::{json, Value};
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

/// Why a flagged question is up for review: a 👎 outweighs how it was answered.
fn reason_of(q: &FlaggedQuestion) -> ReviewReason {
    match (q.helpful, q.mode.as_str()) {
        (Some(false), _) => ReviewReason::ThumbsDown,
        (_, "fallback") => ReviewReason::Fallback,
        _ => ReviewReason::Clarify,
    }
}

/// The questions of the last `days` that fell back, were clarified or got a 👎, minus those already resolved.
pub async fn review_questions(stores: &AdminStores, days: i64) -> Result<Vec<ReviewQuestion>, AdminError> {
    let since = days_ago(days);
    let flagged = stores.question_log.flagged_since(&since).await.map_err(AdminError::Store)?;
    let resolved: HashSet<String> =
        stores.review.resolved_keys().await.map_err(AdminError::Store)?.into_iter().collect();
    let out = flagged
        .into_iter()
        .filter(|q| !q.text.starts_with("action:") && !resolved.contains(&text_key(&q.text)))
        .map(|q| ReviewQuestion { reason: reason_of(&q), text: q.text, created_at: q.created_at })
        .collect();
    Ok(out)
}

async fn unanswered(
    _: Admin,
    State(state): State<AppState>,
    Query(q): Query<DaysQuery>,
) -> Result<Json<Value>, AdminError> {
    let ctx = context(&state)?;
    let days = q.days();
    let groups = group_questions(&review_questions(&ctx.stores, days).await?);
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

/// Resolves questions by their grouping keys, so that alike wordings leave the review list together.
async fn mark_resolved(
    stores: &AdminStores,
    texts: &[String],
    item_id: Option<&str>,
    actor: &str,
) -> Result<(), AdminError> {
    let keys: Vec<String> = texts.iter().map(|t| text_key(t)).filter(|k| !k.is_empty()).collect();
    stores.review.mark_resolved(&keys, item_id, actor, &now()).await.map_err(AdminError::Store)
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
    mark_resolved(&ctx.stores, &resolved, Some(&req.item_id), &p.id).await?;
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
    mark_resolved(&ctx.stores, &resolved, Some(&id), &p.id).await?;
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
    mark_resolved(&ctx.stores, &req.texts, None, &p.id).await?;
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
    // Filtered here, not in SQL: four times the limit is read so that a filter still fills the page.
    let rows = ctx.stores.question_log.newest(limit * 4).await.map_err(AdminError::Store)?;
    let needle = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut out = Vec::new();
    for row in rows {
        if q.mode.as_ref().is_some_and(|m| *m != row.mode) || needle.is_some_and(|n| !row.text.contains(n)) {
            continue;
        }
        out.push(json!({
            "id": row.id, "channel": row.channel, "text": row.text,
            "intent": row.intent, "mode": row.mode, "top_item": row.top_item,
            "confidence": row.confidence, "latency_ms": row.latency_ms,
            "created_at": row.created_at, "helpful": row.helpful,
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
    let session = ctx.stores.question_log.session_of(&id).await.map_err(AdminError::Store)?;
    let Some(session) = session else {
        return Err(AdminError::NotFound(format!("提问记录 {id}")));
    };
    let rows = ctx.stores.question_log.session_turns(&session).await.map_err(AdminError::Store)?;
    let engine = state.engine.current();
    let kb = engine.knowledge();
    let titles: std::collections::HashMap<&str, &str> = kb.items().map(|r| (kb.item_id(r), kb.item_title(r))).collect();
    let mut turns = Vec::with_capacity(rows.len());
    for row in rows {
        turns.push(json!({
            "id": row.id, "channel": row.channel,
            "text": row.text, "intent": row.intent,
            "mode": row.mode, "created_at": row.created_at,
            "audience": row.audience,
            "item_title": row.top_item.as_deref().and_then(|i| titles.get(i).copied()),
            "top_item": row.top_item, "helpful": row.helpful, "selected": false,
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
    let row = ctx
        .stores
        .question_log
        .outcome(&id)
        .await
        .map_err(AdminError::Store)?
        .ok_or_else(|| AdminError::NotFound(format!("question {id}")))?;
    let logged = json!({
        "id": id, "intent": row.intent, "mode": row.mode,
        "top_item": row.top_item, "confidence": row.confidence,
        "created_at": row.created_at,
    });
    let text = row.text;
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
