//! The running application: shared state, start-up (knowledge, engine, database) and the serve loop.

use crate::routes;
use crate::settings::{Limits, Settings};
use crate::store::{self, SessionStore, StoreError};
use arc_swap::ArcSwap;
use bot::Engine;
use knowledge::embed::queue::QueryEmbedderConfig;
use knowledge::setup::{build_retriever, Semantic};
use knowledge::{KnowledgeBase, LoadErrors, Tuning};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
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
        // A reloaded engine keeps answering personal questions from the same campus data.
        if let (None, Some(campus)) = (engine.campus(), self.current().campus()) {
            engine.set_campus(campus);
        }
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
    /// Bounds open websockets; each connection holds a permit until it closes.
    pub connection_permits: Arc<Semaphore>,
    pub limits: Arc<Limits>,
    /// Per-address and per-session budgets (requests, questions, turns).
    pub budgets: Arc<crate::limits::Budgets>,
    pub closing: Closing,
    /// The portal (campus data, notices); `None` until the database is open.
    pub portal: Option<crate::campus::Portal>,
    /// WeCom, 智能机器人 and 今日校园, when configured.
    pub channels: Arc<crate::channels::dispatch::Channels>,
    /// The admin API's context (knowledge in the database, live reload); `None` in apps built without one.
    pub admin: Option<Arc<crate::admin::AdminContext>>,
    /// 统一身份认证 login: token signing, session binding, the demo CAS server.
    pub auth: Arc<crate::auth::Auth>,
    /// Events between replicas (knowledge reloads, notices); local-only on SQLite.
    pub events: store::notify::Events,
    /// The service desk (转人工); `None` in apps built without a database.
    pub handoff: Option<Arc<crate::handoff::HandoffDesk>>,
}

impl AppState {
    pub fn new(engine: Engine, store: Arc<dyn SessionStore>, limits: Limits, auth: Arc<crate::auth::Auth>) -> AppState {
        AppState {
            engine: EngineHandle::new(engine),
            store,
            turn_permits: Arc::new(Semaphore::new(limits.max_concurrent_turns)),
            connection_permits: Arc::new(Semaphore::new(limits.max_connections)),
            budgets: crate::limits::Budgets::from_limits(&limits),
            limits: Arc::new(limits),
            closing: Closing::new(),
            portal: None,
            channels: Arc::new(crate::channels::dispatch::Channels::disabled()),
            admin: None,
            auth,
            events: store::notify::Events::local(),
            handoff: None,
        }
    }
}

impl AppState {
    /// Runs CPU work that searches the knowledge (admin explain, the unanswered view's guesses) on a blocking
    /// thread inside the turn permits, like an engine turn: it waits at most `limits.queue_timeout` for a slot
    /// (else `Overloaded`), and the slot is held until the work really ends.
    pub async fn run_search<T, F>(&self, work: F) -> Result<T, crate::error::ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        use crate::error::ApiError;
        let permit = tokio::time::timeout(self.limits.queue_timeout, self.turn_permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Overloaded)?
            .map_err(|_| ApiError::Internal("the turn semaphore is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
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
    #[error("cannot load the embedding model: {0}")]
    Model(knowledge::embed::EmbedError),
    #[error("knowledge loading was interrupted: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("cannot set up the channels: {0}")]
    Channels(#[from] crate::channels::dispatch::ChannelSetupError),
    #[error("cannot set up login: {0}")]
    Auth(#[from] crate::auth::AuthError),
}

/// How the engine retrieves: the semantic model (when loaded) and where passage vectors are cached. Kept for the
/// life of the process so that reloading the knowledge reuses the model.
#[derive(Clone)]
pub struct Retrieval {
    pub semantic: Option<Arc<Semantic>>,
    pub vector_cache_dir: PathBuf,
}

impl Retrieval {
    /// Lexical retrieval only.
    pub fn lexical() -> Retrieval {
        Retrieval { semantic: None, vector_cache_dir: PathBuf::new() }
    }

    /// Loads the embedding model when semantic retrieval is wanted and installed; says in the log which it is.
    pub async fn from_settings(settings: &Settings) -> Result<Retrieval, StartupError> {
        let vector_cache_dir = settings.vector_cache_dir.clone();
        if !settings.semantic {
            tracing::info!("semantic retrieval is off by configuration: answering with lexical retrieval only");
            return Ok(Retrieval { semantic: None, vector_cache_dir });
        }
        let root = settings.model_dir.clone();
        let backend = settings.retrieval.backend;
        let loaded = tokio::task::spawn_blocking(move || {
            Semantic::load(&root, backend, QueryEmbedderConfig::default(), SEMANTIC_QUERY_TIMEOUT)
        })
        .await?;
        match loaded {
            Ok(Some(semantic)) => {
                semantic.use_learned_decision(settings.retrieval.learned_decision);
                tracing::info!(model = semantic.model_id(), "semantic retrieval on");
                Ok(Retrieval { semantic: Some(Arc::new(semantic)), vector_cache_dir })
            }
            Ok(None) => {
                tracing::warn!(
                    model_dir = %settings.model_dir.display(),
                    "the embedding model is not installed (run scripts/fetch-models): answering with lexical retrieval only"
                );
                Ok(Retrieval { semantic: None, vector_cache_dir })
            }
            Err(e) => Err(StartupError::Model(e)),
        }
    }
}

/// How long a question may wait for its query vector before the answer is made lexically.
const SEMANTIC_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Loads the knowledge base in `dir` and builds an engine over it, off the async workers (indexing and
/// embedding are CPU work).
pub async fn load_engine(dir: &Path, retrieval: &Retrieval) -> Result<Engine, StartupError> {
    let owned = dir.to_owned();
    let kb = tokio::task::spawn_blocking(move || KnowledgeBase::load(&owned))
        .await?
        .map_err(|errors| StartupError::Knowledge { dir: dir.display().to_string(), errors })?;
    tracing::info!(services = kb.services.len(), apps = kb.apps.len(), faqs = kb.faqs.len(), "knowledge loaded");
    let retrieval = retrieval.clone();
    let engine = tokio::task::spawn_blocking(move || {
        build_retriever(Arc::new(kb), retrieval.semantic.as_deref(), &retrieval.vector_cache_dir, Tuning::default())
            .map(|r| Engine::new(Arc::new(r)))
    })
    .await??;
    Ok(engine)
}

/// Loads the knowledge, builds the engine and opens (and migrates) the database.
#[tracing::instrument(skip_all, fields(data_dir = %settings.data_dir.display()))]
pub async fn build_app(settings: &Settings) -> Result<App, StartupError> {
    let retrieval = Retrieval::from_settings(settings).await?;
    // The server listens at once: while passage vectors are missing from the cache it answers lexically, and
    // swaps in the hybrid engine when the background embedding has saved them.
    if let Some(semantic) = &retrieval.semantic {
        semantic.set_background_embedding(true);
    }
    let app = build_app_with(settings, &retrieval).await?;
    if let Some(semantic) = &retrieval.semantic {
        let (engine, pool, data_dir, rebuild) =
            (app.state.engine.clone(), app.sql.pool().clone(), settings.data_dir.clone(), retrieval.clone());
        let runtime = tokio::runtime::Handle::current();
        semantic.on_vectors_ready(Arc::new(move || {
            let (engine, pool, data_dir, rebuild) = (engine.clone(), pool.clone(), data_dir.clone(), rebuild.clone());
            runtime.spawn(async move {
                match crate::admin::boot_engine(&pool, &data_dir, &rebuild).await {
                    Ok(fresh) => {
                        engine.replace(fresh);
                        tracing::info!("passage vectors ready: answering with hybrid retrieval");
                    }
                    Err(e) => tracing::error!(error = %e, "cannot rebuild the engine with the passage vectors"),
                }
            });
        }));
    }
    Ok(app)
}

/// Like [`build_app`], with retrieval already set up (tests share one loaded model across many apps).
pub async fn build_app_with(settings: &Settings, retrieval: &Retrieval) -> Result<App, StartupError> {
    let sql = store::connect(settings.database_url.expose()).await?;
    // The database holds the knowledge at run time; `data_dir` seeds it on the first start.
    let engine = crate::admin::boot_engine(sql.pool(), &settings.data_dir, retrieval).await?;
    tracing::info!("database ready");
    let auth = crate::auth::Auth::new(&settings.auth, &settings.data_dir, settings.addr, sql.pool().clone())?;
    let mut state = AppState::new(engine, Arc::new(sql.clone()), settings.limits.clone(), Arc::new(auth));
    state.events = store::notify::Events::for_store(&sql);
    let state = crate::admin::with_admin(state, sql.pool().clone(), retrieval, &settings.admin);
    let mut state = crate::campus::attach(state, sql.pool().clone(), settings).await;
    // Before the channels start: their turns go through the desk too.
    let desk = Arc::new(crate::handoff::HandoffDesk::new(
        settings.handoff.clone(),
        Arc::new(store::handoff::SqlHandoffs::new(sql.pool().clone())),
        state.portal.clone(),
        state.engine.clone(),
    ));
    crate::handoff::spawn_sweeper(&desk);
    state.handoff = Some(desk);
    store::replicas::reload_engine_on_knowledge_events(
        &state.events,
        state.engine.clone(),
        sql.pool().clone(),
        settings.data_dir.clone(),
        retrieval.clone(),
    );
    if let Some(portal) = &state.portal {
        store::replicas::deliver_notices_from_replicas(&state.events, portal.hub.clone(), sql.pool().clone());
    }
    state.events.spawn_listener();
    store::retention::spawn(sql.pool().clone(), settings.retention.clone());
    let channels = crate::channels::dispatch::Channels::start(&settings.channels, &state, sql.pool().clone())?;
    // Notices also go to WeCom and 今日校园 when those can send.
    if let (Some(portal), Some(notices)) = (&state.portal, &channels.notices) {
        portal.add_outlet(notices.clone());
    }
    let state = AppState { channels: Arc::new(channels), ..state };
    Ok(App { state, sql })
}

/// All routes, with their shared layers.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves until `shutdown` resolves, then stops accepting, tells websockets to close, drops idle connections and
/// gives requests in flight `limits.shutdown_grace` (`listener.rs`).
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let closing = state.closing.clone();
    let limits = state.limits.clone();
    if let Ok(local) = listener.local_addr() {
        state.auth.on_listening(local);
    }
    let app = router(state);
    crate::listener::serve_connections(listener, app, &limits, shutdown, move || closing.close()).await
}
