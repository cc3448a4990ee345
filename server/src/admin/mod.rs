//! The admin side: knowledge editing with audit and live reload, the unanswered-question loop, analytics,
//! freshness and explanations, all under `/api/v1/admin/`, and the admin page at `/admin`.
//!
//! The database is the knowledge's source of truth at run time: the first start seeds `knowledge_items` from
//! `data/`, later starts read it back. Every change is validated by the same loader as `data/`, written with its
//! audit line in one transaction, and goes live by rebuilding the retriever off the async workers and swapping
//! the engine (`EngineHandle::replace`); turns in progress finish on the engine they started with.

pub mod analytics;
pub mod bulk;
pub mod bulk_data;
pub mod error;
pub mod export;
pub mod identity;
pub mod inbox;
pub mod items;
pub mod page;
pub mod records;
pub mod review;

use crate::app::{AppState, EngineHandle, Retrieval, StartupError};
use crate::store::admin::AdminStores;
use crate::store::admin_records::RecordWrite;
use axum::Router;
use bot::Engine;
use error::{AdminError, Problem};
use identity::{AdminPolicy, StaticTokens, TokenVerifier};
use knowledge::setup::build_retriever;
use knowledge::store::KnowledgeSet;
use knowledge::{KnowledgeBase, LoadErrors, Tuning};
use records::{AuditEntry, Record};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// `?days=N` of the report routes: a look-back window of 1 to 3,650 days, 30 when not given.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DaysQuery {
    days: Option<i64>,
}

impl DaysQuery {
    pub(crate) fn days(&self) -> i64 {
        self.days.unwrap_or(30).clamp(1, 3650)
    }
}

/// Items not reviewed for this many days are listed as stale unless the admin settings say otherwise.
pub const DEFAULT_STALE_DAYS: i64 = 180;

/// What the admin API shares.
pub struct AdminContext {
    pub stores: AdminStores,
    pub retrieval: Retrieval,
    pub engine: EngineHandle,
    pub verifier: Arc<dyn TokenVerifier>,
    pub policy: AdminPolicy,
    pub stale_after_days: i64,
    /// Serializes knowledge changes: each reads, validates, writes and rebuilds before the next starts.
    edit_lock: tokio::sync::Mutex<()>,
    /// Counts engines installed by admin changes.
    version: AtomicU64,
    /// Tells other replicas (PostgreSQL) to reload after a change.
    events: Option<crate::store::notify::Events>,
}

impl AdminContext {
    /// A context configured by the operator's admin settings (`settings::AdminSettings`).
    pub fn from_settings(
        stores: AdminStores,
        retrieval: Retrieval,
        engine: EngineHandle,
        settings: &crate::settings::AdminSettings,
    ) -> AdminContext {
        AdminContext::new(
            stores,
            retrieval,
            engine,
            Arc::new(StaticTokens::parse(settings.tokens.expose())),
            AdminPolicy::parse(&settings.admins),
            settings.stale_after_days,
        )
    }

    pub fn new(
        stores: AdminStores,
        retrieval: Retrieval,
        engine: EngineHandle,
        verifier: Arc<dyn TokenVerifier>,
        policy: AdminPolicy,
        stale_after_days: i64,
    ) -> AdminContext {
        AdminContext {
            stores,
            retrieval,
            engine,
            verifier,
            policy,
            stale_after_days,
            edit_lock: tokio::sync::Mutex::new(()),
            version: AtomicU64::new(0),
            events: None,
        }
    }

    /// How many times admin changes have replaced the engine.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    /// Applies a change to the stored records: `change` edits the full list (it sees retired records too) and
    /// says what it did; the result is validated, stored with its audit lines and put live.
    pub async fn change<F>(&self, actor: &str, change: F) -> Result<Vec<Record>, AdminError>
    where
        F: FnOnce(&mut Vec<Record>) -> Result<Vec<Changed>, AdminError>,
    {
        let _guard = self.edit_lock.lock().await;
        let mut all = records::load_all(self.stores.records.as_ref()).await?;
        let before = all.clone();
        let changed = change(&mut all)?;
        let set = records::to_set(&all)?;
        let kb = tokio::task::spawn_blocking(move || records::build_knowledge(&set))
            .await
            .map_err(|e| AdminError::Internal(format!("validation task failed: {e}")))??;
        let mut after_records = Vec::new();
        let mut writes = Vec::with_capacity(changed.len());
        for c in &changed {
            let after = all.iter().find(|r| r.kind == c.kind && r.id == c.id);
            let prior = before.iter().find(|r| r.kind == c.kind && r.id == c.id);
            after_records.extend(after.cloned());
            writes.push(RecordWrite {
                record: after.map(records::row_of),
                audit: records::audit_line(AuditEntry {
                    actor,
                    action: c.action,
                    kind: c.kind,
                    item_id: &c.id,
                    before: prior,
                    after,
                }),
            });
        }
        self.stores.records.apply(&writes).await.map_err(AdminError::Store)?;
        self.install(kb).await?;
        Ok(after_records)
    }

    /// Builds the retriever over a validated knowledge base and swaps it in.
    async fn install(&self, kb: KnowledgeBase) -> Result<(), AdminError> {
        let retrieval = self.retrieval.clone();
        let started = std::time::Instant::now();
        let engine = tokio::task::spawn_blocking(move || engine_over(kb, &retrieval))
            .await
            .map_err(|e| AdminError::Internal(format!("rebuild task failed: {e}")))?
            .map_err(|e| AdminError::Internal(format!("cannot rebuild the retriever: {e}")))?;
        self.engine.replace(engine);
        crate::metrics::count_reload();
        let version = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(version, elapsed_ms = started.elapsed().as_millis() as u64, "knowledge change is live");
        self.refresh_popular().await;
        if let Some(events) = &self.events {
            // The change is committed and live here; another replica that misses the event still has it on its
            // next start, so a failed publish is logged, not failed.
            if let Err(e) = events.notify_knowledge_changed().await {
                tracing::warn!(error = %e, "could not tell the other replicas about the knowledge change");
            }
        }
        Ok(())
    }
}

impl AdminContext {
    /// Recomputes the 热门问题 of real traffic (overall and per audience) and hands them to the engine answering
    /// now, for its welcome. On a database error the engine keeps the ones it has.
    pub async fn refresh_popular(&self) -> bot::engine::Popular {
        let engine = self.engine.current();
        match analytics::popular_questions(
            self.stores.question_log.as_ref(),
            analytics::POPULAR_DAYS,
            analytics::POPULAR_COUNT,
            engine.knowledge(),
        )
        .await
        {
            Ok(popular) => {
                engine.set_popular(popular.clone());
                popular
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot compute the popular questions");
                engine.popular()
            }
        }
    }
}

/// How often the welcome's 热门问题 are recomputed from the question log.
const POPULAR_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// One record a change touched, for its audit line.
#[derive(Debug, Clone)]
pub struct Changed {
    pub kind: records::RecordKind,
    pub id: String,
    pub action: &'static str,
}

fn engine_over(kb: KnowledgeBase, retrieval: &Retrieval) -> Result<Engine, knowledge::retrieve::RetrieveError> {
    build_retriever(Arc::new(kb), retrieval.semantic.as_deref(), &retrieval.vector_cache_dir, Tuning::default())
        .map(|r| Engine::new(Arc::new(r)))
}

/// An admin error at start-up (or at a replica's reload) as the start-up error it is: the database failed, or
/// the knowledge it holds does not load.
fn startup_error(e: AdminError) -> StartupError {
    let problem = |message: String| Problem { item: None, field: None, message };
    let problems = match e {
        AdminError::Store(e) => return StartupError::Store(e),
        AdminError::Invalid(problems) => problems,
        other => vec![problem(other.to_string())],
    };
    StartupError::Knowledge {
        dir: "the database (knowledge_items)".into(),
        errors: LoadErrors(
            problems
                .into_iter()
                .map(|p| knowledge::DataError {
                    file: "knowledge_items".into(),
                    item: p.item,
                    field: p.field,
                    message: p.message,
                })
                .collect(),
        ),
    }
}

/// The engine at start-up, and when another replica changed the knowledge (`store::replicas`): seeds the knowledge
/// tables from `data_dir` when they are empty, then builds the engine from the database, with the 热门问题 of
/// recent traffic already set (a reloaded replica's welcome does not fall back to the authored suggestions).
/// `stores` is anything the admin stores are made from (the server's pool).
pub async fn boot_engine(
    stores: impl Into<AdminStores>,
    data_dir: &Path,
    retrieval: &Retrieval,
) -> Result<Engine, StartupError> {
    let stores: AdminStores = stores.into();
    if stores.records.count().await? == 0 {
        let engine_dir = data_dir.to_owned();
        let kb = tokio::task::spawn_blocking(move || KnowledgeBase::load(&engine_dir))
            .await?
            .map_err(|errors| StartupError::Knowledge { dir: data_dir.display().to_string(), errors })?;
        let seed = records::records_of(&kb).map_err(startup_error)?;
        let rows: Vec<_> = seed.iter().map(records::row_of).collect();
        stores.records.seed(&rows).await?;
        tracing::info!(records = seed.len(), dir = %data_dir.display(), "knowledge tables seeded from the data folder");
    }
    let all = records::load_all(stores.records.as_ref()).await.map_err(startup_error)?;
    let set: KnowledgeSet = records::to_set(&all).map_err(startup_error)?;
    let kb = tokio::task::spawn_blocking(move || records::build_knowledge(&set)).await?.map_err(startup_error)?;
    tracing::info!(
        services = kb.services.len(),
        apps = kb.apps.len(),
        faqs = kb.faqs.len(),
        "knowledge loaded from the database"
    );
    let retrieval = retrieval.clone();
    let engine = tokio::task::spawn_blocking(move || engine_over(kb, &retrieval)).await??;
    match analytics::popular_questions(
        stores.question_log.as_ref(),
        analytics::POPULAR_DAYS,
        analytics::POPULAR_COUNT,
        engine.knowledge(),
    )
    .await
    {
        Ok(popular) => engine.set_popular(popular),
        // The periodic refresh sets them later; the authored suggestions stand in meanwhile.
        Err(e) => tracing::warn!(error = %e, "cannot compute the popular questions"),
    }
    Ok(engine)
}

/// Every admin route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(page::router())
        .merge(items::router())
        .merge(review::router())
        .merge(analytics::router())
        .merge(inbox::router())
        .merge(bulk::router())
        .merge(bulk_data::router())
        .merge(crate::handoff::admin::router())
        .layer(axum::middleware::from_fn(error::json_rejections))
}

/// Gives the app its admin context, configured by the admin settings.
/// `stores` is anything the admin stores are made from (the server's pool).
pub fn with_admin(
    mut state: AppState,
    stores: impl Into<AdminStores>,
    retrieval: &Retrieval,
    settings: &crate::settings::AdminSettings,
) -> AppState {
    let mut ctx = AdminContext::from_settings(stores.into(), retrieval.clone(), state.engine.clone(), settings);
    ctx.events = Some(state.events.clone());
    let ctx = Arc::new(ctx);
    // The refresher holds only a weak reference, so it ends with the app.
    let weak = Arc::downgrade(&ctx);
    tokio::spawn(async move {
        loop {
            let Some(ctx) = weak.upgrade() else { break };
            ctx.refresh_popular().await;
            drop(ctx);
            tokio::time::sleep(POPULAR_REFRESH).await;
        }
    });
    state.admin = Some(ctx);
    state
}
