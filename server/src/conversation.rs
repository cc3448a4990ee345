//! One session's turns, the same for every transport: open or resume a session, run the engine off the async
//! workers (bounded and timed), persist the state and log the question (with the asker's audience), store ratings.
//!
//! Each turn reads the session's state from the store and writes it back, so a session moves freely between
//! the websocket and HTTP; a websocket connection skips the read when the row's version proves its remembered
//! state is still the stored one. The state is read and written only for its owner (see [`turn_owner`]). Two
//! turns of one session running at the same moment are not serialized: the later write wins, which only a
//! misbehaving client can cause.

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{Channel, QuestionRecord, Rating, SessionId, StoreError, StoredSession};
use bot::protocol::{Reply, UserInfo};
use bot::DialogueState;
use bot::{Input, Turn};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// An open session: who it is and who is talking.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user: Option<UserInfo>,
    /// Whether the session existed before this connection or request.
    pub resumed: bool,
    /// The state this connection wrote last, when it remembers its turns (see [`turn`]).
    pub memory: TurnMemory,
}

impl Session {
    /// A session that reads the store every turn.
    pub fn new(id: SessionId, user: Option<UserInfo>, resumed: bool) -> Session {
        Session { id, user, resumed, memory: TurnMemory::default() }
    }

    /// The same session, remembering its state between its own turns (for a connection that lives across turns).
    pub fn remembering_turns(self) -> Session {
        Session { memory: TurnMemory::enabled(), ..self }
    }
}

/// The session row a connection wrote last, with its version; empty after a failed or refused write, so the next
/// turn reads the store. Disabled for one-off requests (HTTP, channels), which read the store every turn.
#[derive(Debug, Clone, Default)]
pub struct TurnMemory(Option<Arc<Mutex<Option<StoredSession>>>>);

impl TurnMemory {
    pub fn enabled() -> TurnMemory {
        TurnMemory(Some(Arc::new(Mutex::new(None))))
    }

    fn take(&self) -> Option<StoredSession> {
        self.0.as_ref().and_then(|slot| slot.lock().ok().and_then(|mut s| s.take()))
    }

    fn put(&self, session: StoredSession) {
        if let Some(mut slot) = self.0.as_ref().and_then(|slot| slot.lock().ok()) {
            *slot = Some(session);
        }
    }
}

/// Resumes the requested session when it exists and belongs to the same user (or to no one, for a guest), else
/// starts a new one (with a new id: a client cannot pick ids, nor take over another user's session). A new
/// session is only an id until its first turn stores it, so connecting alone leaves nothing in the database.
#[tracing::instrument(skip_all, fields(requested = requested.unwrap_or("")))]
pub async fn open(state: &AppState, requested: Option<&str>, user: Option<UserInfo>) -> Result<Session, ApiError> {
    if let Some(id) = requested.and_then(SessionId::parse) {
        match state.store.load(&id).await? {
            Some(stored) if stored.user_id.as_deref() == user.as_ref().map(|u| u.id.as_str()) => {
                return Ok(Session::new(stored.id, user, true));
            }
            Some(_) => tracing::info!("the requested session is bound to another user; starting a new one"),
            None => tracing::debug!("unknown session requested; starting a new one"),
        }
    }
    Ok(Session::new(SessionId::generate(), user, false))
}

/// Who may read and write a session for this turn: the connection's user when the row is theirs, a guest when the
/// row was unbound (logged out) since the connection opened; `None` when the row belongs to someone else — a login
/// bound it after this connection opened as a guest, and a guest never reads a user's dialogue.
fn turn_owner(session: &Session, stored: Option<&StoredSession>) -> Option<Option<UserInfo>> {
    let Some(stored) = stored else {
        // Not stored yet (this is its first turn) or removed by the retention sweep: it starts afresh as ours.
        return Some(session.user.clone());
    };
    match (&stored.user_id, &session.user) {
        (None, _) => Some(None),
        (Some(owner), Some(user)) if *owner == user.id => Some(Some(user.clone())),
        (Some(_), _) => None,
    }
}

/// Answers one input in a session and records it.
///
/// A session that remembers its turns (a websocket connection) computes the turn on the state it wrote last and
/// commits only if the row still has that version; when another writer changed it meanwhile (another replica, a
/// login, a logout), the answer is thrown away unsent and the turn runs again on the stored state.
#[tracing::instrument(skip_all, fields(session = %session.id, channel = channel.as_str()))]
pub async fn turn(
    state: &AppState,
    session: &Session,
    channel: Channel,
    input: Input,
    in_reply_to: Option<String>,
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    if !state.budgets.session_turns.allow(session.id.as_str().to_owned()) {
        return Err(ApiError::SessionBusy);
    }
    // A conversation handed to a person: the user's words go to the person, the engine stays silent.
    if let Some(desk) = &state.handoff {
        let user_id = session.user.as_ref().map(|u| u.id.as_str());
        if let Some(reply) = desk.intercept(session.id.as_str(), user_id, &input, in_reply_to.as_deref()).await? {
            tracing::info!(intent = %reply.intent, "turn relayed to the service desk");
            return Ok(reply);
        }
    }
    let mut remembered = session.memory.take();
    loop {
        let expected_version = remembered.as_ref().map(|s| s.version);
        let stored = match remembered.take() {
            Some(state) => Some(state),
            None => state.store.load(&session.id).await?,
        };
        let answered = answer(state, session, stored, input.clone(), in_reply_to.clone()).await?;
        let Answered { dialogue, outcome, owner, asker, log_text } = answered;
        let latency = started.elapsed();
        let record = QuestionRecord {
            channel,
            // A message the engine refused as carrying a password is not stored at all, not even masked.
            text: if outcome.log.redacted { "[已隐去：疑似包含密码]".to_owned() } else { log_text },
            intent: outcome.log.intent.clone(),
            mode: outcome.log.mode,
            top_item: outcome.log.top_item.clone(),
            confidence: outcome.log.confidence,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            reply_id: outcome.reply.id.clone(),
        };
        // The answer is worth more than its bookkeeping: a failed write is logged and the reply still goes out —
        // except when the session was bound to a user meanwhile: then this connection must not see the answer
        // either.
        let written = state
            .store
            .record_turn_of(&session.id, owner.as_deref(), &dialogue, &record, asker, expected_version)
            .await;
        match written {
            Ok(version) => {
                session.memory.put(StoredSession { id: session.id.clone(), user_id: owner, state: dialogue, version })
            }
            Err(StoreError::Stale) => {
                tracing::debug!("the session changed since this connection's last turn; answering on the stored state");
                continue;
            }
            Err(StoreError::NotOwner) => return Err(ApiError::SessionTaken),
            Err(e) => tracing::error!(error = %e, "could not persist the turn"),
        }
        tracing::info!(intent = %record.intent, mode = ?record.mode, latency_ms = record.latency_ms, "turn answered");
        crate::metrics::observe_turn(record.channel.as_str(), record.mode, latency);
        let mut reply = outcome.reply;
        if let (true, Some(desk)) = (outcome.handoff_requested, &state.handoff) {
            reply = desk.request(session.id.as_str(), session.user.as_ref(), channel, reply).await;
        }
        state.auth.complete_links(&mut reply, &session.id);
        return Ok(reply);
    }
}

/// A turn's answer before it is recorded.
struct Answered {
    dialogue: DialogueState,
    outcome: bot::engine::Outcome,
    owner: Option<String>,
    asker: bot::engine::AskerAudience,
    /// What is stored of the message: passwords, 身份证号, bank cards and mobile numbers masked (a contact typed
    /// into a form lives in that form's own record, not in the question log).
    log_text: String,
}

/// Runs the engine on the session's state, off the async workers, bounded by the turn permits and timed.
async fn answer(
    state: &AppState,
    session: &Session,
    stored: Option<StoredSession>,
    input: Input,
    in_reply_to: Option<String>,
) -> Result<Answered, ApiError> {
    let user = turn_owner(session, stored.as_ref()).ok_or(ApiError::SessionTaken)?;
    let owner = user.as_ref().map(|u| u.id.clone());
    let mut dialogue = stored.map(|s| s.state).unwrap_or_default();
    let log_text = match &input {
        Input::Text(text) => intents::pii::scrub(text).text,
        Input::Action { name, .. } => format!("action:{name}"),
    };
    let limits = &state.limits;
    let permit = tokio::time::timeout(limits.queue_timeout, state.turn_permits.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Overloaded)?
        .map_err(|_| ApiError::Internal("the turn semaphore is closed".into()))?;
    let engine = state.engine.current();
    let asker = bot::engine::AskerAudience::of(user.as_ref());
    let turn = Turn { input, user, in_reply_to };
    // The permit moves into the blocking task: a turn that outlives its timeout still holds its slot until it
    // really ends, so the CPU stays bounded.
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let outcome = engine.respond(&mut dialogue, turn);
        (dialogue, outcome)
    });
    let (dialogue, outcome) = tokio::time::timeout(limits.turn_timeout, work)
        .await
        .map_err(|_| ApiError::EngineTimeout)?
        .map_err(|e| ApiError::Internal(format!("engine turn failed: {e}")))?;
    Ok(Answered { dialogue, outcome, owner, asker, log_text })
}

/// Stores a rating of a reply sent in this session. Nothing is sent back on success.
#[tracing::instrument(skip_all, fields(session = %session.id, reply = %rating.reply_id, helpful = rating.helpful))]
pub async fn rate(state: &AppState, session: &Session, rating: Rating) -> Result<(), ApiError> {
    if !state.store.reply_in_session(&rating.reply_id, &session.id).await? {
        return Err(ApiError::UnknownReply(rating.reply_id));
    }
    state.store.save_rating(&session.id, &rating).await?;
    Ok(())
}
