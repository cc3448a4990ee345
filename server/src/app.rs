//! The running application: shared state, start-up (knowledge, engine, database) and the serve loop.

use crate::routes;
use crate::settings::{Limits, Settings};
use crate::store::{self, SessionStore, StoreError};
use arc_swap::ArcSwap;
use bot::Engine;
use knowledge::{KnowledgeBase, LoadErrors};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The engine currently answering; swapped whole when the knowledge base is reloaded, so a turn in progress keeps
/// the engine it started with.
#[derive(Clone)]
pub struct EngineHandle(Arc<ArcSwap<Engine>>);

impl EngineHandle {
    pub fn new(engine: Engine) -> EngineHandle {
        EngineHandle(Arc::new(ArcSwap::from_pointee(engine)))
    }

    pub fn current(&self) -> Arc<Engine> {
        self.0.load_full()
    }

    /// Installs a new engine for every later turn.
    pub fn replace(&self, engine: Engine) {
        self.0.store(Arc::new(engine));
    }
}

/// Tells long-lived connections (websockets) that the server is shutting down.
#[derive(Clone)]
pub struct Closing(Arc<watch::Sender<bool>>);

impl Closing {
    fn new() -> Closing {
        Closing(Arc::new(watch::channel(false).0))
    }

    fn close(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // An error means the sender is gone, which also means the server is going away.
        let _ = rx.wait_for(|closing| *closing).await;
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub store: Arc<dyn SessionStore>,
    /// Bounds engine turns running at once; each holds a permit for as long as it runs.
    pub turn_permits: Arc<Semaphore>,
    pub limits: Arc<Limits>,
    pub closing: Closing,
}

impl AppState {
    pub fn new(engine: Engine, store: Arc<dyn SessionStore>, limits: Limits) -> AppState {
        AppState {
            engine: EngineHandle::new(engine),
            store,
            turn_permits: Arc::new(Semaphore::new(limits.max_concurrent_turns)),
            limits: Arc::new(limits),
            closing: Closing::new(),
        }
    }
}

/// A built application, ready to serve.
pub struct App {
    pub state: AppState,
    /// The SQL store behind `state.store`, for callers that need the pool itself.
    pub sql: store::SqlStore,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("the knowledge base in {dir} does not load:\n{errors}")]
    Knowledge { dir: String, errors: LoadErrors },
    #[error("cannot build the search index: {0}")]
    Engine(#[from] knowledge::retrieve::RetrieveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("knowledge loading was interrupted: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Loads the knowledge base in `dir` and builds an engine over it, off the async workers (indexing is CPU work).
pub async fn load_engine(dir: &Path) -> Result<Engine, StartupError> {
    let owned = dir.to_owned();
    let kb = tokio::task::spawn_blocking(move || KnowledgeBase::load(&owned))
        .await?
        .map_err(|errors| StartupError::Knowledge { dir: dir.display().to_string(), errors })?;
    tracing::info!(services = kb.services.len(), apps = kb.apps.len(), faqs = kb.faqs.len(), "knowledge loaded");
    let engine = tokio::task::spawn_blocking(move || Engine::lexical(Arc::new(kb))).await??;
    Ok(engine)
}

/// Loads the knowledge, builds the engine and opens (and migrates) the database.
#[tracing::instrument(skip_all, fields(data_dir = %settings.data_dir.display()))]
pub async fn build_app(settings: &Settings) -> Result<App, StartupError> {
    let engine = load_engine(&settings.data_dir).await?;
    let sql = store::connect(settings.database_url.expose()).await?;
    tracing::info!("database ready");
    let state = AppState::new(engine, Arc::new(sql.clone()), settings.limits.clone());
    Ok(App { state, sql })
}

/// All routes, with their shared layers.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves until `shutdown` resolves, then stops accepting, tells websockets to close and waits for requests
/// in flight.
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let closing = state.closing.clone();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            closing.close();
        })
        .await
}
