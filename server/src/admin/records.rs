//! The knowledge base in the database (`knowledge_items`): seeding from `data/`, reading it back as a
//! [`KnowledgeSet`], turning records into the stored rows and audit lines of `store::admin_records`.

use super::error::{AdminError, Problem};
use crate::store::admin_records::{KnowledgeRecordStore, KnowledgeRow, NewAuditLine};
use knowledge::store::KnowledgeSet;
use knowledge::{App, BotTexts, Department, Faq, KnowledgeBase, Lexicon, News, Service};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds of knowledge record. Lexicon, texts and systems are single records with id [`SINGLE_ID`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Service,
    App,
    Faq,
    Department,
    News,
    Lexicon,
    Texts,
    Systems,
}

/// The id of the single lexicon, texts and systems records.
pub const SINGLE_ID: &str = "all";

impl RecordKind {
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Service,
        RecordKind::App,
        RecordKind::Faq,
        RecordKind::Department,
        RecordKind::News,
        RecordKind::Lexicon,
        RecordKind::Texts,
        RecordKind::Systems,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Service => "service",
            RecordKind::App => "app",
            RecordKind::Faq => "faq",
            RecordKind::Department => "department",
            RecordKind::News => "news",
            RecordKind::Lexicon => "lexicon",
            RecordKind::Texts => "texts",
            RecordKind::Systems => "systems",
        }
    }

    pub fn parse(s: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the kind is a list of items with their own ids (as opposed to a single record).
    pub fn is_list(self) -> bool {
        !matches!(self, RecordKind::Lexicon | RecordKind::Texts | RecordKind::Systems)
    }

    /// Whether items of this kind can carry similar questions.
    pub fn has_questions(self) -> bool {
        matches!(self, RecordKind::Service | RecordKind::App | RecordKind::Faq)
    }

    /// The body field that is the record's id.
    pub fn id_field(self) -> &'static str {
        match self {
            RecordKind::Department => "name",
            _ => "id",
        }
    }
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub kind: RecordKind,
    pub id: String,
    pub body: Value,
    pub questions: Vec<String>,
    pub owner_department: Option<String>,
    pub last_reviewed: String,
    pub retired: bool,
    pub position: i64,
    pub updated_at: String,
    pub updated_by: String,
}

impl Record {
    /// A title for lists: a service's or app's name, a FAQ's question, a department's name, a news title.
    pub fn title(&self) -> String {
        for key in ["name", "question", "title"] {
            if let Some(Value::String(s)) = self.body.get(key) {
                return s.clone();
            }
        }
        self.id.clone()
    }
}

pub use crate::store::clock::now;

/// The instant `days` days ago, in the stored timestamp format (as [`now`]); callers bound `days`, since chrono
/// panics on a date it cannot represent.
pub fn days_ago(days: i64) -> String {
    crate::store::clock::stamp(chrono::Utc::now() - chrono::Duration::days(days))
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, AdminError> {
    serde_json::to_value(v).map_err(|e| AdminError::Internal(format!("serialize a record: {e}")))
}

/// The records of a knowledge base, as the seed writes them. Owners default to the service's department and to
/// the department of a FAQ's related service.
pub fn records_of(kb: &KnowledgeBase) -> Result<Vec<Record>, AdminError> {
    let set = KnowledgeSet::from_knowledge(kb);
    let at = now();
    let mut out = Vec::new();
    let mut push = |kind: RecordKind, id: &str, body: Value, owner: Option<String>, position: usize| {
        out.push(Record {
            kind,
            id: id.to_owned(),
            questions: set.questions.get(id).cloned().filter(|_| kind.has_questions()).unwrap_or_default(),
            body,
            owner_department: owner,
            last_reviewed: at.clone(),
            retired: false,
            position: position as i64,
            updated_at: at.clone(),
            updated_by: "seed".into(),
        });
    };
    for (i, s) in set.services.iter().enumerate() {
        push(RecordKind::Service, &s.id, to_value(s)?, Some(s.department.clone()), i);
    }
    for (i, a) in set.apps.iter().enumerate() {
        push(RecordKind::App, &a.id, to_value(a)?, None, i);
    }
    for (i, f) in set.faqs.iter().enumerate() {
        let owner = f
            .related_service
            .as_ref()
            .and_then(|name| set.services.iter().find(|s| &s.name == name))
            .map(|s| s.department.clone());
        push(RecordKind::Faq, &f.id, to_value(f)?, owner, i);
    }
    for (i, d) in set.departments.iter().enumerate() {
        push(RecordKind::Department, &d.name, to_value(d)?, Some(d.name.clone()), i);
    }
    for (i, n) in set.news.iter().enumerate() {
        push(RecordKind::News, &n.id, to_value(n)?, None, i);
    }
    push(RecordKind::Lexicon, SINGLE_ID, to_value(&set.lexicon)?, None, 0);
    push(RecordKind::Texts, SINGLE_ID, to_value(&set.texts)?, None, 0);
    push(RecordKind::Systems, SINGLE_ID, to_value(&set.systems)?, None, 0);
    Ok(out)
}

/// A stored row as a record; an unknown kind or a body that is not JSON means the table was written by something
/// else than this server.
fn record_of_row(row: &KnowledgeRow) -> Result<Record, AdminError> {
    let kind = RecordKind::parse(&row.kind)
        .ok_or_else(|| AdminError::Internal(format!("unknown record kind '{}'", row.kind)))?;
    Ok(Record {
        kind,
        id: row.id.clone(),
        body: serde_json::from_str(&row.body_json)
            .map_err(|e| AdminError::Internal(format!("stored body is not JSON: {e}")))?,
        questions: serde_json::from_str(&row.questions_json).unwrap_or_default(),
        owner_department: row.owner_department.clone(),
        last_reviewed: row.last_reviewed.clone(),
        retired: row.retired,
        position: row.position,
        updated_at: row.updated_at.clone(),
        updated_by: row.updated_by.clone(),
    })
}

/// A record as its stored row.
pub fn row_of(r: &Record) -> KnowledgeRow {
    KnowledgeRow {
        kind: r.kind.as_str().to_owned(),
        id: r.id.clone(),
        body_json: r.body.to_string(),
        questions_json: serde_json::to_string(&r.questions).unwrap_or_else(|_| "[]".into()),
        owner_department: r.owner_department.clone(),
        last_reviewed: r.last_reviewed.clone(),
        retired: r.retired,
        position: r.position,
        updated_at: r.updated_at.clone(),
        updated_by: r.updated_by.clone(),
    }
}

/// Every record, in kind and file order.
pub async fn load_all(store: &dyn KnowledgeRecordStore) -> Result<Vec<Record>, AdminError> {
    let rows = store.load_all().await.map_err(AdminError::Store)?;
    rows.iter().map(record_of_row).collect()
}

/// One record.
pub async fn load_one(
    store: &dyn KnowledgeRecordStore,
    kind: RecordKind,
    id: &str,
) -> Result<Option<Record>, AdminError> {
    let row = store.load_one(kind.as_str(), id).await.map_err(AdminError::Store)?;
    row.as_ref().map(record_of_row).transpose()
}

/// What an audit line records.
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub kind: RecordKind,
    pub item_id: &'a str,
    pub before: Option<&'a Record>,
    pub after: Option<&'a Record>,
}

/// The audit line of a change, stamped now; the record before and after are kept whole, as JSON.
pub fn audit_line(e: AuditEntry<'_>) -> NewAuditLine {
    let json = |r: Option<&Record>| r.and_then(|r| serde_json::to_string(r).ok());
    NewAuditLine {
        actor: e.actor.to_owned(),
        action: e.action.to_owned(),
        kind: e.kind.as_str().to_owned(),
        item_id: e.item_id.to_owned(),
        before_json: json(e.before),
        after_json: json(e.after),
        created_at: now(),
    }
}

fn problem(kind: RecordKind, id: &str, e: &serde_json::Error) -> Problem {
    let msg = e.to_string();
    let field = msg.find('`').and_then(|s| msg[s + 1..].find('`').map(|l| msg[s + 1..s + 1 + l].to_owned()));
    Problem { item: Some(format!("{}:{id}", kind.as_str())), field, message: msg }
}

/// The live (not retired) records as a knowledge set; a body that does not fit its type is a problem naming
/// its field.
pub fn to_set(records: &[Record]) -> Result<KnowledgeSet, AdminError> {
    let mut set = KnowledgeSet::default();
    let mut problems = Vec::new();
    fn take<T: serde::de::DeserializeOwned>(r: &Record, problems: &mut Vec<Problem>) -> Option<T> {
        serde_json::from_value(r.body.clone()).map_err(|e| problems.push(problem(r.kind, &r.id, &e))).ok()
    }
    let mut questions = BTreeMap::new();
    for r in records.iter().filter(|r| !r.retired) {
        match r.kind {
            RecordKind::Service => set.services.extend(take::<Service>(r, &mut problems)),
            RecordKind::App => set.apps.extend(take::<App>(r, &mut problems)),
            RecordKind::Faq => set.faqs.extend(take::<Faq>(r, &mut problems)),
            RecordKind::Department => set.departments.extend(take::<Department>(r, &mut problems)),
            RecordKind::News => set.news.extend(take::<News>(r, &mut problems)),
            RecordKind::Lexicon => set.lexicon = take::<Lexicon>(r, &mut problems).unwrap_or_default(),
            RecordKind::Texts => set.texts = take::<BotTexts>(r, &mut problems).unwrap_or_default(),
            RecordKind::Systems => set.systems = take::<BTreeMap<String, String>>(r, &mut problems).unwrap_or_default(),
        }
        if r.kind.has_questions() && !r.questions.is_empty() {
            questions.insert(r.id.clone(), r.questions.clone());
        }
    }
    set.questions = questions;
    if problems.is_empty() {
        Ok(set)
    } else {
        Err(AdminError::Invalid(problems))
    }
}

/// Builds and validates the knowledge base of a set (CPU and file work: call it off the async workers).
pub fn build_knowledge(set: &KnowledgeSet) -> Result<KnowledgeBase, AdminError> {
    set.build().map_err(|errors| {
        AdminError::Invalid(
            errors.0.into_iter().map(|e| Problem { item: e.item, field: e.field, message: e.message }).collect(),
        )
    })
}
