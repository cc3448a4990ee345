//! The portal's server side: campus data for the engine (demo tables seeded from `data/demo/campus.toml`), the
//! bot's own records, and notices: a per-user registry of open websocket sessions that get a `notice` frame at once,
//! with unread notices kept for the next login of a user who is not connected.
//!
//! The admin side answers a feedback with [`Portal::answer_feedback`]; it stores the answer and notifies the user.
//!
//! [`Portal::notify`] fans a notice out to every channel: this process's websockets ([`NoticeHub`]), the other
//! replicas' websockets (an `ehall_notice` event, `store::replicas`), and the outlets registered with
//! [`Portal::add_outlet`] (WeCom `message/send`, 今日校园 push: `channels::notices`), which queue it and send it
//! off the request path. A notice no websocket here took is kept in `portal_notices` for the next login; a replica
//! whose websocket takes it marks it delivered (see `docs/channels.md` §7).

pub mod config;
pub mod demo;
pub mod http;
pub mod seed;

use crate::store::campus::AnyPool;
use crate::store::clock::now;
use crate::store::portal_records::KeptNoticeRow;
use crate::store::StoreError;
use bot::campus::{Affair, Campus, CampusError, FeedbackRecord, FeedbackStatus, Message};
use bot::portal::cards as portal_cards;
use bot::protocol::{Card, ServerFrame, UserInfo};
use config::{CampusSettings, CampusSource};
use demo::SqlCampus;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;

/// Notices one session may have waiting before more are kept for later instead.
const SESSION_NOTICE_BUFFER: usize = 16;

/// Why the portal could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("the demo campus data {path} is not valid: {message}")]
    Demo { path: PathBuf, message: String },
    #[error("portal storage failed: {0}")]
    Database(String),
    #[error(transparent)]
    Campus(#[from] CampusError),
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> Self {
        PortalError::Database(e.to_string())
    }
}

type Senders = HashMap<String, Vec<(u64, mpsc::Sender<ServerFrame>)>>;

/// Open websocket sessions by user, for pushing notices.
#[derive(Clone, Default)]
pub struct NoticeHub {
    senders: Arc<Mutex<Senders>>,
    next_id: Arc<AtomicU64>,
}

/// One session's registration; dropping it unregisters the session.
pub struct NoticeSubscription {
    hub: NoticeHub,
    user_id: String,
    id: u64,
    pub receiver: mpsc::Receiver<ServerFrame>,
}

impl Drop for NoticeSubscription {
    fn drop(&mut self) {
        if let Ok(mut map) = self.hub.senders.lock() {
            if let Some(list) = map.get_mut(&self.user_id) {
                list.retain(|(id, _)| *id != self.id);
                if list.is_empty() {
                    map.remove(&self.user_id);
                }
            }
        }
    }
}

impl NoticeHub {
    pub fn subscribe(&self, user_id: &str) -> NoticeSubscription {
        let (tx, receiver) = mpsc::channel(SESSION_NOTICE_BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.senders.lock() {
            map.entry(user_id.to_owned()).or_default().push((id, tx));
        }
        NoticeSubscription { hub: self.clone(), user_id: user_id.to_owned(), id, receiver }
    }

    /// Sends to every open session of the user; how many took it.
    pub fn send(&self, user_id: &str, frame: &ServerFrame) -> usize {
        let Ok(map) = self.senders.lock() else { return 0 };
        map.get(user_id).map_or(0, |list| list.iter().filter(|(_, tx)| tx.try_send(frame.clone()).is_ok()).count())
    }

    /// Open sessions of a user.
    pub fn sessions(&self, user_id: &str) -> usize {
        self.senders.lock().map_or(0, |map| map.get(user_id).map_or(0, Vec::len))
    }
}

/// A notice as handed to the channels beyond the websocket (WeCom, 今日校园).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundNotice {
    /// Unique per notice (`nt_…`): the 今日校园 idempotency key and the WeCom card task id derive from it.
    pub id: String,
    /// The campus id (学工号) of the user.
    pub user_id: String,
    pub text: String,
    pub cards: Vec<Card>,
}

/// Another channel a notice goes to. `offer` must not wait (queue the notice and send it elsewhere) and cannot
/// fail the notify: an outlet logs and counts its own failures.
pub trait NoticeOutlet: Send + Sync {
    fn offer(&self, notice: &OutboundNotice);
}

/// The portal: campus data, the bot's records and notices.
#[derive(Clone)]
pub struct Portal {
    pub store: SqlCampus,
    pub campus: Arc<dyn Campus>,
    pub hub: NoticeHub,
    /// Events to the other replicas (notices for their websockets); local-only until [`attach`] sets the app's.
    pub events: crate::store::notify::Events,
    /// The other channels notices go to, registered once the channels have started.
    outlets: Arc<RwLock<Vec<Arc<dyn NoticeOutlet>>>>,
}

impl Portal {
    /// Opens the portal on the server's database. With the demo source, seeds the demo data from
    /// `<data_dir>/demo/campus.toml` when it exists; with the http source, connects to the campus systems. Must be
    /// called inside the runtime.
    pub async fn open(pool: AnyPool, data_dir: &Path, settings: &CampusSettings) -> Result<Portal, PortalError> {
        let configured_binding =
            settings.mail_binding_url.clone().unwrap_or_else(|| "https://ehall.tjcu.edu.cn/".to_owned());
        if settings.source == CampusSource::Http {
            let store = SqlCampus::new(pool, configured_binding);
            let systems = http::HttpCampus::new(settings)?;
            tracing::info!("campus data from the HTTP connectors");
            let campus: Arc<dyn Campus> = Arc::new(http::Connected { systems, local: store.clone() });
            return Ok(Portal::with_campus(store, campus));
        }
        let path = data_dir.join("demo").join("campus.toml");
        let demo = if path.exists() { Some(seed::DemoCampus::read(&path)?) } else { None };
        let binding = demo.as_ref().map_or(configured_binding, |d| d.mail_binding_url.clone());
        let store = SqlCampus::new(pool, binding);
        if let Some(demo) = &demo {
            let seeded = seed::seed(&store, demo).await?;
            tracing::info!(seeded, "demo campus data ready");
        }
        let campus: Arc<dyn Campus> = Arc::new(store.clone());
        Ok(Portal::with_campus(store, campus))
    }

    fn with_campus(store: SqlCampus, campus: Arc<dyn Campus>) -> Portal {
        Portal {
            store,
            campus,
            hub: NoticeHub::default(),
            events: crate::store::notify::Events::local(),
            outlets: Arc::default(),
        }
    }

    /// Registers another channel for every later notice (the channels call this once they have started).
    pub fn add_outlet(&self, outlet: Arc<dyn NoticeOutlet>) {
        self.outlets.write().unwrap_or_else(|p| p.into_inner()).push(outlet);
    }

    /// Delivers a notice on every channel: to the user's open sessions here at once (else it is kept for their next
    /// login), to the other replicas' sessions (an `ehall_notice` event), and to the registered outlets (WeCom,
    /// 今日校园; queued, sent off this path). Only keeping the notice can fail; the other channels log their own
    /// failures. Returns how many sessions of this process took it.
    pub async fn notify(&self, user_id: &str, text: String, cards: Vec<Card>) -> Result<usize, PortalError> {
        let id = format!("nt_{}", uuid::Uuid::new_v4().simple());
        let frame = ServerFrame::notice(text.clone(), cards.clone());
        let delivered = self.hub.send(user_id, &frame);
        let kept_id = if delivered == 0 {
            let cards_json = serde_json::to_string(&cards).map_err(|e| PortalError::Database(e.to_string()))?;
            let kept = KeptNoticeRow { id: id.clone(), text: text.clone(), cards_json };
            self.store.store().keep_notice(user_id, &kept, &now()).await?;
            Some(id.clone())
        } else {
            None
        };
        self.publish_to_replicas(user_id, frame, kept_id).await;
        self.offer(&OutboundNotice { id, user_id: user_id.to_owned(), text, cards });
        Ok(delivered)
    }

    /// Offers a message to the channels beyond the websocket (WeCom, 今日校园) only, not keeping it for a later
    /// login: a handed-off conversation's live words (`crate::handoff`), which make no sense replayed later.
    pub fn offer_to_outlets(&self, user_id: &str, text: String, cards: Vec<Card>) {
        let id = format!("nt_{}", uuid::Uuid::new_v4().simple());
        self.offer(&OutboundNotice { id, user_id: user_id.to_owned(), text, cards });
    }

    /// Hands a notice to every registered outlet.
    fn offer(&self, outbound: &OutboundNotice) {
        let outlets: Vec<Arc<dyn NoticeOutlet>> = self.outlets.read().unwrap_or_else(|p| p.into_inner()).clone();
        for outlet in outlets {
            outlet.offer(outbound);
        }
    }

    /// Hands a notice to the other replicas for their open sessions. A notice too large for one event goes as its
    /// text alone (the cards stay in the kept row and in the other channels). Failures are logged: the notice is
    /// kept anyway unless a session here took it.
    async fn publish_to_replicas(&self, user_id: &str, frame: ServerFrame, kept_id: Option<String>) {
        use crate::store::notify::{Notice, PublishError, MAX_PAYLOAD_BYTES};
        use crate::store::replicas::NoticePayload;
        if !self.events.is_shared() {
            return;
        }
        let notice = |frame: ServerFrame| Notice {
            user_id: user_id.to_owned(),
            payload: serde_json::to_value(NoticePayload { frame, kept_id: kept_id.clone() }).unwrap_or_default(),
        };
        let published = match self.events.publish_notice(&notice(frame.clone())).await {
            Err(PublishError::TooLarge(size)) => {
                tracing::warn!(size, "a notice is too large for one replica event; publishing its text only");
                let ServerFrame::Notice { text, .. } = frame else { return };
                let text = crate::channels::truncate_to_bytes(&text, MAX_PAYLOAD_BYTES / 2);
                self.events.publish_notice(&notice(ServerFrame::notice(text, Vec::new()))).await
            }
            other => other,
        };
        if let Err(e) = published {
            tracing::warn!(error = %e, "cannot hand a notice to the other replicas");
        }
    }

    /// The notices kept for a user, oldest first, marked delivered as they are handed out.
    pub async fn take_pending(&self, user_id: &str) -> Result<Vec<ServerFrame>, PortalError> {
        let store = self.store.store();
        let mut out = Vec::new();
        for kept in store.undelivered_notices(user_id).await? {
            // Taking is conditional (see `KeptNoticeStore::take_notice`): a notice two logins race for goes to one.
            if store.take_notice(&kept.id).await? {
                let cards: Vec<Card> = serde_json::from_str(&kept.cards_json).unwrap_or_default();
                out.push(ServerFrame::notice(kept.text, cards));
            }
        }
        Ok(out)
    }

    /// Answers a feedback or 工单 (the admin side calls this): stores the answer and status and notifies its author.
    /// `None` when there is no feedback with this number.
    pub async fn answer_feedback(
        &self,
        id: &str,
        answer: &str,
        status: FeedbackStatus,
    ) -> Result<Option<FeedbackRecord>, PortalError> {
        let Some(record) = self.store.answer_feedback(id, answer, status).await? else { return Ok(None) };
        let text = format!("您的{}（{}）有了答复：{}", record.kind.label(), record.id, answer);
        self.notify(&record.user_id, text, vec![portal_cards::feedback_card(&record)]).await?;
        Ok(Some(record))
    }

    /// Adds a 消息通知 for a user and notifies them.
    pub async fn add_message(&self, user_id: &str, message: &Message) -> Result<(), PortalError> {
        self.store.put_message(user_id, message).await?;
        self.notify(user_id, format!("您有一条新消息：{}", message.title), vec![portal_cards::message_card(message)])
            .await?;
        Ok(())
    }

    /// Adds (or updates) a 办件 or task for a user and notifies them.
    pub async fn add_affair(&self, user_id: &str, affair: &Affair) -> Result<(), PortalError> {
        self.store.put_affair(user_id, affair).await?;
        let text = format!("您有{}更新：{}（{}）", affair.kind.label(), affair.title, affair.status);
        self.notify(user_id, text, vec![portal_cards::affair_card(affair, true)]).await?;
        Ok(())
    }
}

/// Opens the portal on the app's database and connects it to the engine. A portal that cannot start is logged and
/// left out: personal questions then get a polite "not connected" while everything else keeps working.
pub async fn attach(
    mut state: crate::app::AppState,
    pool: AnyPool,
    settings: &crate::settings::Settings,
) -> crate::app::AppState {
    match Portal::open(pool, &settings.data_dir, &settings.campus).await {
        Ok(mut portal) => {
            portal.events = state.events.clone();
            state.engine.current().set_campus(Arc::clone(&portal.campus));
            state.portal = Some(portal);
        }
        Err(e) => tracing::error!(error = %e, "the portal could not start; personal data is unavailable"),
    }
    state
}

/// The next notice for a session; never resolves for a session without a subscription (a guest's).
pub async fn next_notice(subscription: &mut Option<NoticeSubscription>) -> Option<ServerFrame> {
    match subscription {
        Some(s) => s.receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Registers a logged-in user's session for notices and hands back the notices kept for them (to send after the
/// welcome). Registering first means a notice sent meanwhile is either pushed live or found kept, never lost.
pub async fn open_notices(
    state: &crate::app::AppState,
    user: Option<&UserInfo>,
) -> (Option<NoticeSubscription>, Vec<ServerFrame>) {
    let (Some(portal), Some(user)) = (&state.portal, user) else { return (None, Vec::new()) };
    let subscription = portal.hub.subscribe(&user.id);
    let pending = portal.take_pending(&user.id).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read kept notices");
        Vec::new()
    });
    (Some(subscription), pending)
}
