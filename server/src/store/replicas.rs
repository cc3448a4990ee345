//! Wires the replica events to the running app: when another replica changed the knowledge base, this process
//! rebuilds its engine from the database (the admin module's `boot_engine`, which reads `knowledge_items`) and
//! swaps it in.

use super::notify::{Events, KnowledgeHook};
use crate::app::{EngineHandle, Retrieval};
use sqlx::AnyPool;
use std::path::PathBuf;
use std::sync::Arc;

/// Registers the knowledge reload on `events`. Captures the engine handle, not the `AppState`, so that the
/// hook does not keep the events (and their listener) alive.
pub fn reload_engine_on_knowledge_events(
    events: &Events,
    engine: EngineHandle,
    pool: AnyPool,
    data_dir: PathBuf,
    retrieval: Retrieval,
) {
    let hook: KnowledgeHook = Arc::new(move || {
        let (engine, pool, data_dir, retrieval) = (engine.clone(), pool.clone(), data_dir.clone(), retrieval.clone());
        Box::pin(async move {
            let started = std::time::Instant::now();
            match crate::admin::boot_engine(&pool, &data_dir, &retrieval).await {
                Ok(fresh) => {
                    engine.replace(fresh);
                    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    tracing::info!(elapsed_ms, "knowledge reloaded after another replica's change");
                }
                Err(e) => tracing::error!(error = %e, "cannot reload the knowledge another replica changed"),
            }
        })
    });
    events.on_knowledge_changed(hook);
}
