//! The admin side's persistence as one handle, [`AdminStores`]: the knowledge records with their audit trail, the
//! question log as admins read it, the resolved review questions and the feedback inbox, each a trait implemented
//! over the server's pool (SQLite or PostgreSQL). Tests can swap any one of them.

use super::admin_records::{KnowledgeRecordStore, SqlKnowledgeRecords};
use super::inbox::{FeedbackInbox, SqlFeedbackInbox};
use super::question_log::{QuestionLogReader, SqlQuestionLog};
use super::review::{ReviewStore, SqlReview};
use sqlx::AnyPool;
use std::sync::Arc;

/// Every store the admin API uses. Cheap to clone.
#[derive(Clone)]
pub struct AdminStores {
    pub records: Arc<dyn KnowledgeRecordStore>,
    pub question_log: Arc<dyn QuestionLogReader>,
    pub review: Arc<dyn ReviewStore>,
    pub inbox: Arc<dyn FeedbackInbox>,
}

impl AdminStores {
    /// Each store over the same pool (a pool clone shares its connections).
    pub fn over(pool: &AnyPool) -> AdminStores {
        AdminStores {
            records: Arc::new(SqlKnowledgeRecords::new(pool.clone())),
            question_log: Arc::new(SqlQuestionLog::new(pool.clone())),
            review: Arc::new(SqlReview::new(pool.clone())),
            inbox: Arc::new(SqlFeedbackInbox::new(pool.clone())),
        }
    }
}

/// Callers that hold the server's pool (start-up, the replica reload) hand it to the admin module as it is.
impl From<&AnyPool> for AdminStores {
    fn from(pool: &AnyPool) -> AdminStores {
        AdminStores::over(pool)
    }
}

impl From<AnyPool> for AdminStores {
    fn from(pool: AnyPool) -> AdminStores {
        AdminStores::over(&pool)
    }
}
