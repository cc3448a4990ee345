//! The knowledge records the admin side edits (`knowledge_items`) and their audit trail (`admin_audit`), behind
//! [`KnowledgeRecordStore`].
//!
//! Rows come back as stored (kind as text, body and similar questions as JSON text): turning them into the
//! admin's `Record` (and refusing an unknown kind) is the admin module's business, not the database's.

use super::StoreError;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

/// One `knowledge_items` row.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeRow {
    /// `service`, `app`, `faq`, … (the admin's `RecordKind::as_str`).
    pub kind: String,
    pub id: String,
    /// The record's body, as the JSON text of its `data/` entry.
    pub body_json: String,
    /// The similar questions, as a JSON array of strings.
    pub questions_json: String,
    pub owner_department: Option<String>,
    pub last_reviewed: String,
    pub retired: bool,
    pub position: i64,
    pub updated_at: String,
    pub updated_by: String,
}

/// An audit line to append (its id is made by the store).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditLine {
    pub actor: String,
    pub action: String,
    pub kind: String,
    pub item_id: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub created_at: String,
}

/// One `admin_audit` row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub kind: String,
    pub item_id: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub created_at: String,
}

/// One record a change touched: the record as it is now (when it still exists) and the audit line saying so.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub record: Option<KnowledgeRow>,
    pub audit: NewAuditLine,
}

/// Where the knowledge records and their audit trail live.
#[async_trait::async_trait]
pub trait KnowledgeRecordStore: Send + Sync + 'static {
    /// Every record, in kind and file order.
    async fn load_all(&self) -> Result<Vec<KnowledgeRow>, StoreError>;
    async fn load_one(&self, kind: &str, id: &str) -> Result<Option<KnowledgeRow>, StoreError>;
    async fn count(&self) -> Result<i64, StoreError>;
    /// Writes the first records (from `data/`) in one transaction.
    async fn seed(&self, records: &[KnowledgeRow]) -> Result<(), StoreError>;
    /// Writes a change in one transaction: each record replaced (or inserted), each with its audit line, so that
    /// no change is live without its audit and no audit describes a change that did not happen.
    async fn apply(&self, writes: &[RecordWrite]) -> Result<(), StoreError>;
    /// The newest audit lines, of one item when `item_id` is given.
    async fn audit_trail(&self, item_id: Option<&str>, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
}

/// [`KnowledgeRecordStore`] over the server's pool.
#[derive(Clone)]
pub struct SqlKnowledgeRecords {
    pool: AnyPool,
}

impl SqlKnowledgeRecords {
    pub fn new(pool: AnyPool) -> SqlKnowledgeRecords {
        SqlKnowledgeRecords { pool }
    }
}

const COLUMNS: &str =
    "kind, id, body_json, questions_json, owner_department, last_reviewed, retired, position, updated_at, updated_by";

fn knowledge_row_of(row: &AnyRow) -> Result<KnowledgeRow, sqlx::Error> {
    // Stored as an integer: SQLite has no boolean and the schema is shared with PostgreSQL.
    let retired: i64 = row.try_get("retired")?;
    Ok(KnowledgeRow {
        kind: row.try_get("kind")?,
        id: row.try_get("id")?,
        body_json: row.try_get("body_json")?,
        questions_json: row.try_get("questions_json")?,
        owner_department: row.try_get("owner_department")?,
        last_reviewed: row.try_get("last_reviewed")?,
        retired: retired != 0,
        position: row.try_get("position")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn audit_row_of(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        kind: row.try_get("kind")?,
        item_id: row.try_get("item_id")?,
        before_json: row.try_get("before_json")?,
        after_json: row.try_get("after_json")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts or replaces a record inside a transaction.
async fn upsert(tx: &mut Transaction<'_, Any>, r: &KnowledgeRow) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM knowledge_items WHERE kind = $1 AND id = $2")
        .bind(&r.kind)
        .bind(&r.id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(&format!("INSERT INTO knowledge_items ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(&r.kind)
        .bind(&r.id)
        .bind(&r.body_json)
        .bind(&r.questions_json)
        .bind(r.owner_department.clone())
        .bind(&r.last_reviewed)
        .bind(i64::from(r.retired))
        .bind(r.position)
        .bind(&r.updated_at)
        .bind(&r.updated_by)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Appends an audit line: inside the same transaction as a record change, or on its own (the inbox's status
/// changes and answers).
pub(super) async fn append_audit<'e, E>(executor: E, line: &NewAuditLine) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO admin_audit (id, actor, action, kind, item_id, before_json, after_json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(format!("au_{}", uuid::Uuid::new_v4().simple()))
    .bind(&line.actor)
    .bind(&line.action)
    .bind(&line.kind)
    .bind(&line.item_id)
    .bind(line.before_json.clone())
    .bind(line.after_json.clone())
    .bind(&line.created_at)
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl KnowledgeRecordStore for SqlKnowledgeRecords {
    async fn load_all(&self) -> Result<Vec<KnowledgeRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM knowledge_items ORDER BY kind, position, id"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(knowledge_row_of).collect::<Result<_, _>>()?)
    }

    async fn load_one(&self, kind: &str, id: &str) -> Result<Option<KnowledgeRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM knowledge_items WHERE kind = $1 AND id = $2"))
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(knowledge_row_of).transpose()?)
    }

    async fn count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM knowledge_items").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    async fn seed(&self, records: &[KnowledgeRow]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for r in records {
            upsert(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for write in writes {
            if let Some(r) = &write.record {
                upsert(&mut tx, r).await?;
            }
            append_audit(&mut *tx, &write.audit).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_trail(&self, item_id: Option<&str>, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = match item_id {
            Some(item) => {
                sqlx::query("SELECT * FROM admin_audit WHERE item_id = $1 ORDER BY created_at DESC LIMIT $2")
                    .bind(item.to_owned())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM admin_audit ORDER BY created_at DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(audit_row_of).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(id: &str, retired: bool) -> KnowledgeRow {
        KnowledgeRow {
            kind: "faq".into(),
            id: id.into(),
            body_json: format!(r#"{{"id":"{id}"}}"#),
            questions_json: r#"["校园卡丢了"]"#.into(),
            owner_department: Some("一卡通中心".into()),
            last_reviewed: "2026-12-01T00:00:00.000Z".into(),
            retired,
            position: 0,
            updated_at: "2026-12-01T00:00:00.000Z".into(),
            updated_by: "seed".into(),
        }
    }

    fn audit(item_id: &str, at: &str) -> NewAuditLine {
        NewAuditLine {
            actor: "admin-1".into(),
            action: "retire".into(),
            kind: "faq".into(),
            item_id: item_id.into(),
            before_json: None,
            after_json: Some("{}".into()),
            created_at: at.into(),
        }
    }

    #[tokio::test]
    async fn records_round_trip_and_a_change_is_written_with_its_audit_line() {
        let dir = tempfile::tempdir().unwrap();
        let sql = crate::store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        let store = SqlKnowledgeRecords::new(sql.pool().clone());
        assert_eq!(store.count().await.unwrap(), 0);
        store.seed(&[row("f-1", false), row("f-2", false)]).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 2);

        let writes = [
            RecordWrite { record: Some(row("f-1", true)), audit: audit("f-1", "2026-12-02T00:00:00.000Z") },
            RecordWrite { record: None, audit: audit("f-2", "2026-12-03T00:00:00.000Z") },
        ];
        store.apply(&writes).await.unwrap();
        assert_eq!(store.load_one("faq", "f-1").await.unwrap(), Some(row("f-1", true)));
        assert_eq!(store.load_all().await.unwrap().len(), 2, "a write without a record only audits");

        let trail = store.audit_trail(None, 10).await.unwrap();
        assert_eq!(trail.iter().map(|a| a.item_id.as_str()).collect::<Vec<_>>(), ["f-2", "f-1"], "newest first");
        assert!(trail.iter().all(|a| a.id.starts_with("au_")));
        let of_one = store.audit_trail(Some("f-1"), 10).await.unwrap();
        assert_eq!(of_one.len(), 1);
        assert_eq!(of_one[0].after_json.as_deref(), Some("{}"));
    }
}
