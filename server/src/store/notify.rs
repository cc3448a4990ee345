//! Events between replicas over PostgreSQL `LISTEN`/`NOTIFY`: "the knowledge changed" (reload the engine) and
//! "a notice for user X" (push it to their websockets if they are connected here).
//!
//! A process publishes with [`Events::notify_knowledge_changed`] / [`Events::publish_notice`] right after it has
//! acted locally; every *other* process receives the event through its listener task and runs the hooks that
//! the admin and portal modules registered ([`Events::on_knowledge_changed`], [`Events::on_notice`]). Each
//! payload carries the publishing process's instance id, so a process skips its own events. On SQLite there is
//! only one process, so publishing does nothing and no listener runs.
//!
//! Delivery is at most once: a notification sent while a listener is reconnecting is lost. After a reconnect
//! the listener therefore runs the knowledge hooks once (a reload is idempotent); notices are best-effort
//! pushes, and the portal keeps them in the database anyway.

use super::{Backend, SqlStore, StoreError};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The channel that says "the knowledge base was edited; reload it".
pub const KNOWLEDGE_CHANNEL: &str = "ehall_knowledge";
/// The channel that carries a notice for one user.
pub const NOTICE_CHANNEL: &str = "ehall_notice";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
pub const MAX_PAYLOAD_BYTES: usize = 7900;

/// Runs after another replica changed the knowledge base; typically rebuilds the engine and `replace()`s it.
pub type KnowledgeHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;
/// Runs for a notice published by another replica; typically hands it to the local per-user registry.
pub type NoticeHook = Arc<dyn Fn(&Notice) + Send + Sync>;

/// A message for one user's open websockets, whichever replica they are connected to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub user_id: String,
    /// What the portal sends to the user (a frame or card as JSON); opaque here.
    pub payload: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T> {
    origin: String,
    #[serde(flatten)]
    body: T,
}

#[derive(Debug, Serialize, Deserialize)]
struct KnowledgeChanged {}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the event is {0} bytes, more than PostgreSQL's NOTIFY allows")]
    TooLarge(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This process's side of the replica events. Cheap to clone; the listener task stops when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    instance: String,
    store: Option<SqlStore>,
    knowledge_hooks: RwLock<Vec<KnowledgeHook>>,
    notice_hooks: RwLock<Vec<NoticeHook>>,
    /// Dropped with the last `Events`, which ends the listener.
    _alive: watch::Sender<()>,
    alive: watch::Receiver<()>,
}

impl Events {
    /// Events for a single process: publishing does nothing.
    pub fn local() -> Events {
        Events::build(None)
    }

    /// Events shared through the store's database (PostgreSQL); on SQLite the same as [`Events::local`].
    pub fn for_store(store: &SqlStore) -> Events {
        Events::build((store.backend() == Backend::Postgres).then(|| store.clone()))
    }

    fn build(store: Option<SqlStore>) -> Events {
        let (alive_tx, alive_rx) = watch::channel(());
        Events {
            inner: Arc::new(Inner {
                instance: format!("i_{}", uuid::Uuid::new_v4().simple()),
                store,
                knowledge_hooks: RwLock::new(Vec::new()),
                notice_hooks: RwLock::new(Vec::new()),
                _alive: alive_tx,
                alive: alive_rx,
            }),
        }
    }

    /// This process's id in event payloads.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Whether events reach other processes (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.inner.store.is_some()
    }

    /// Registers what to do when another replica changed the knowledge base.
    pub fn on_knowledge_changed(&self, hook: KnowledgeHook) {
        self.inner.knowledge_hooks.write().unwrap_or_else(|p| p.into_inner()).push(hook);
    }

    /// Registers what to do with a notice published by another replica.
    pub fn on_notice(&self, hook: NoticeHook) {
        self.inner.notice_hooks.write().unwrap_or_else(|p| p.into_inner()).push(hook);
    }

    /// Tells the other replicas that the knowledge base changed (call it after the edit is committed and the
    /// local engine reloaded).
    pub async fn notify_knowledge_changed(&self) -> Result<(), PublishError> {
        self.publish(KNOWLEDGE_CHANNEL, &KnowledgeChanged {}).await
    }

    /// Sends a notice to the other replicas (call it after delivering to the local websockets).
    pub async fn publish_notice(&self, notice: &Notice) -> Result<(), PublishError> {
        self.publish(NOTICE_CHANNEL, notice).await
    }

    async fn publish<T: Serialize>(&self, channel: &str, body: &T) -> Result<(), PublishError> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let envelope = Envelope { origin: self.inner.instance.clone(), body };
        let payload = serde_json::to_string(&envelope).map_err(StoreError::from)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PublishError::TooLarge(payload.len()));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(store.pool())
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Starts the listener task on PostgreSQL; `None` on SQLite. The task ends when every `Events` is dropped.
    pub fn spawn_listener(&self) -> Option<tokio::task::JoinHandle<()>> {
        let store = self.inner.store.as_ref()?;
        let url = store.url().to_owned();
        let weak = Arc::downgrade(&self.inner);
        let alive = self.inner.alive.clone();
        Some(tokio::spawn(listen(url, weak, alive)))
    }

    async fn run_knowledge_hooks(&self) {
        let hooks: Vec<KnowledgeHook> = self.inner.knowledge_hooks.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            hook().await;
        }
    }

    fn run_notice_hooks(&self, notice: &Notice) {
        let hooks: Vec<NoticeHook> = self.inner.notice_hooks.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            hook(notice);
        }
    }

    /// Handles one notification payload; events this process published are skipped.
    async fn dispatch(&self, channel: &str, payload: &str) {
        match channel {
            KNOWLEDGE_CHANNEL => match serde_json::from_str::<Envelope<KnowledgeChanged>>(payload) {
                Ok(e) if e.origin == self.inner.instance => {}
                Ok(_) => {
                    tracing::info!("another replica changed the knowledge base; reloading");
                    self.run_knowledge_hooks().await;
                }
                Err(e) => tracing::warn!(error = %e, "unreadable knowledge event"),
            },
            NOTICE_CHANNEL => match serde_json::from_str::<Envelope<Notice>>(payload) {
                Ok(e) if e.origin == self.inner.instance => {}
                Ok(e) => self.run_notice_hooks(&e.body),
                Err(e) => tracing::warn!(error = %e, "unreadable notice event"),
            },
            other => tracing::debug!(channel = other, "notification on an unexpected channel"),
        }
    }
}

/// How long to wait before connecting again after the LISTEN connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

async fn listen(url: String, events: std::sync::Weak<Inner>, mut alive: watch::Receiver<()>) {
    let mut first = true;
    loop {
        let listener = tokio::select! {
            _ = alive.changed() => return,
            connected = connect_listener(&url) => connected,
        };
        let mut listener = match listener {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for replica events; retrying");
                tokio::select! {
                    _ = alive.changed() => return,
                    () = tokio::time::sleep(RECONNECT_DELAY) => continue,
                }
            }
        };
        if !first {
            // Events may have been missed while disconnected: a reload costs little and is always right.
            let Some(inner) = events.upgrade() else {
                return;
            };
            Events { inner }.run_knowledge_hooks().await;
        }
        first = false;
        tracing::info!("listening for replica events");
        loop {
            let received = tokio::select! {
                _ = alive.changed() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    let Some(inner) = events.upgrade() else {
                        return;
                    };
                    Events { inner }.dispatch(notification.channel(), notification.payload()).await;
                }
                Ok(None) => {
                    tracing::warn!("the LISTEN connection dropped; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; reconnecting");
                    break;
                }
            }
        }
        tokio::select! {
            _ = alive.changed() => return,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

async fn connect_listener(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen_all([KNOWLEDGE_CHANNEL, NOTICE_CHANNEL]).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_events_publish_nothing_and_run_no_listener() {
        let events = Events::local();
        assert!(!events.is_shared());
        assert!(events.notify_knowledge_changed().await.is_ok());
        assert!(events.spawn_listener().is_none());
    }

    #[tokio::test]
    async fn own_events_are_skipped_and_others_run_the_hooks() {
        let events = Events::local();
        let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        events.on_notice(Arc::new(move |n: &Notice| {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(n.user_id.clone())
        }));
        let mine = serde_json::json!({"origin": events.instance(), "user_id": "u1", "payload": {}}).to_string();
        let theirs = serde_json::json!({"origin": "i_other", "user_id": "u2", "payload": {"x": 1}}).to_string();
        events.dispatch(NOTICE_CHANNEL, &mine).await;
        events.dispatch(NOTICE_CHANNEL, &theirs).await;
        events.dispatch(NOTICE_CHANNEL, "not json").await;
        assert_eq!(*seen.lock().unwrap_or_else(|p| p.into_inner()), vec!["u2".to_owned()]);
    }
}
