//! `GET /ws`: the chat protocol over a websocket, one JSON frame per text message, answered in order.
//!
//! The connection loop is generic over any `Sink`/`Stream` of messages so that it does not depend on how the
//! socket was made. A bad frame gets an `error` frame and the connection goes on; a closed socket, an idle
//! timeout or server shutdown end it.

use crate::app::AppState;
use crate::conversation::{self, Session};
use crate::error::ApiError;
use crate::store::{Channel, Rating};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use bot::protocol::{ClientFrame, ErrorCode, FrameError, ServerFrame};
use bot::Input;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Bytes read from the socket at a time; messages are small.
const READ_BUFFER_BYTES: usize = 4096;
/// Bytes gathered before writing to the socket.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// The most a slow reader can make us buffer.
const MAX_WRITE_BUFFER_BYTES: usize = 512 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// The query string of `/ws`.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectParams {
    /// A session to resume.
    pub session: Option<String>,
    /// A signed login token (`/auth/callback` issues it); a bad or expired one makes the connection a guest's.
    pub token: Option<String>,
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<ConnectParams>,
) -> Result<Response, ApiError> {
    // Served without connect info (router unit tests), there is no address to budget.
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let permit = state.connection_permits.clone().try_acquire_owned().map_err(|_| ApiError::TooManyConnections)?;
    let max_message = state.limits.max_message_bytes;
    Ok(ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            let (sink, stream) = socket.split();
            run_connection(state, params, peer, sink, stream).await;
        }))
}

/// Counts frames per fixed window.
#[derive(Debug)]
struct FrameBudget {
    limit: u32,
    window: Duration,
    window_start: Instant,
    used: u32,
}

impl FrameBudget {
    fn new(limit: u32, window: Duration) -> FrameBudget {
        FrameBudget { limit, window, window_start: Instant::now(), used: 0 }
    }

    fn allow(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= self.window {
            self.window_start = now;
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        self.used <= self.limit
    }
}

/// Why the connection loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    ClientGone,
    Idle,
    ShuttingDown,
    /// The client broke the websocket protocol; closed with the matching code (1009, 1007 or 1002).
    Violation(u16),
    /// A login bound the session to a user after this connection opened as someone else.
    SessionTaken,
}

/// The close code for a read error: a message over the size limit is 1009, text that is not UTF-8 is 1007, any
/// other breach of the protocol 1002; `None` when the connection simply went away.
fn violation_code(error: axum::Error) -> Option<u16> {
    use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = error.into_inner();
    match inner.downcast_ref::<WsError>()? {
        WsError::Capacity(CapacityError::MessageTooLong { .. } | CapacityError::TooManyHeaders) => {
            Some(close_code::SIZE)
        }
        WsError::Utf8(_) => Some(close_code::INVALID),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake | ProtocolError::SendAfterClosing) => None,
        WsError::Protocol(_) => Some(close_code::PROTOCOL),
        _ => None,
    }
}

/// Serves one websocket connection until it ends.
pub async fn run_connection<Tx, Rx>(
    state: AppState,
    params: ConnectParams,
    peer: Option<IpAddr>,
    mut tx: Tx,
    mut rx: Rx,
) where
    Tx: Sink<Message> + Unpin,
    Tx::Error: std::fmt::Display,
    Rx: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let login = state.auth.resolve(params.token.as_deref()).await;
    // A valid token names the session it was issued for; that one wins over a session id kept by the client.
    let requested = login.session().or(params.session.as_deref());
    let session = match conversation::open(&state, requested, login.user()).await {
        Ok(session) => session.remembering_turns(),
        Err(e) => {
            e.log();
            let _ = send(&mut tx, &e.to_frame(None)).await;
            let _ = close(&mut tx, close_code::ERROR, "服务器内部错误").await;
            return;
        }
    };
    tracing::info!(session = %session.id, resumed = session.resumed, "websocket connected");
    let (mut text, suggestions) = state.engine.current().welcome(session.user.as_ref());
    if login.is_expired() && session.user.is_none() {
        text = crate::auth::expired_welcome(&text);
    }
    let welcome =
        ServerFrame::Welcome { session: session.id.to_string(), user: session.user.clone(), text, suggestions };
    if send(&mut tx, &welcome).await.is_err() {
        return;
    }
    let (mut notices, mut kept) = crate::campus::open_notices(&state, session.user.as_ref()).await;
    // The session's live line to the service desk (转人工): a person's words and the desk's status come here.
    let mut desk_line = state.handoff.as_ref().map(|desk| desk.hub.subscribe(session.id.as_str()));
    if let Some(desk) = &state.handoff {
        kept.extend(desk.on_connect(session.id.as_str()).await);
    }
    for frame in &kept {
        if send(&mut tx, frame).await.is_err() {
            return;
        }
    }
    let limits = state.limits.clone();
    let mut budget = FrameBudget::new(limits.rate_limit_frames, limits.rate_window);
    let end = loop {
        let next = tokio::select! {
            () = state.closing.wait() => break End::ShuttingDown,
            Some(notice) = crate::campus::next_notice(&mut notices) => {
                if send(&mut tx, &notice).await.is_err() {
                    break End::ClientGone;
                }
                continue;
            }
            Some(frame) = crate::campus::next_notice(&mut desk_line) => {
                if send(&mut tx, &frame).await.is_err() {
                    break End::ClientGone;
                }
                continue;
            }
            next = tokio::time::timeout(limits.ws_idle_timeout, rx.next()) => next,
        };
        let message = match next {
            Err(_) => break End::Idle,
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break End::ClientGone,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "websocket read failed");
                match violation_code(e) {
                    Some(code) => break End::Violation(code),
                    None => break End::ClientGone,
                }
            }
            Ok(Some(Ok(message))) => message,
        };
        let (answer, taken) = match message {
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => (None, false),
            _ if !budget.allow(Instant::now()) => {
                (Some(refused(ErrorCode::RateLimited, "发送太频繁，请稍后再试")), false)
            }
            Message::Text(raw) => handle_frame(&state, &session, peer, raw.as_str()).await,
            Message::Binary(_) => (Some(refused(ErrorCode::MalformedFrame, "只接受文本消息（JSON）")), false),
        };
        if let Some(frame) = answer {
            if send(&mut tx, &frame).await.is_err() {
                break End::ClientGone;
            }
            if taken {
                break End::SessionTaken;
            }
        }
    };
    tracing::info!(session = %session.id, reason = ?end, "websocket closed");
    match end {
        End::ClientGone => {}
        End::Idle => {
            let _ = close(&mut tx, close_code::NORMAL, "长时间未活动，连接已关闭").await;
        }
        End::ShuttingDown => {
            let _ = close(&mut tx, close_code::AWAY, "服务器正在重启，请稍后重连").await;
        }
        End::Violation(code) => {
            crate::metrics::count_error(if code == close_code::SIZE { "text_too_long" } else { "malformed_frame" });
            let reason = match code {
                close_code::SIZE => "消息过大",
                close_code::INVALID => "消息不是有效的 UTF-8 文本",
                _ => "违反 WebSocket 协议",
            };
            let _ = close(&mut tx, code, reason).await;
        }
        End::SessionTaken => {
            let _ = close(&mut tx, close_code::POLICY, "会话已由登录用户继续，请重新连接").await;
        }
    }
}

/// An error frame for a frame refused before it reaches a turn, counted in `ehall_errors_total` like the rest.
fn refused(code: ErrorCode, message: &str) -> ServerFrame {
    crate::metrics::count_error(code.as_str());
    ServerFrame::from(FrameError::new(code, message, None))
}

/// Answers one text frame, and says whether the connection must end because its session was taken over.
async fn handle_frame(
    state: &AppState,
    session: &Session,
    peer: Option<IpAddr>,
    raw: &str,
) -> (Option<ServerFrame>, bool) {
    match answer_frame(state, session, peer, raw).await {
        Ok(frame) => (frame, false),
        Err(ApiError::SessionTaken) => (Some(failed(&ApiError::SessionTaken, None)), true),
        Err(e) => (Some(failed(&e, None)), false),
    }
}

/// One text frame's answer; `None` when the protocol sends nothing back (a stored rating). A question (a message
/// or an action) spends one unit of the peer address's question budget, shared with `POST /api/v1/chat`.
async fn answer_frame(
    state: &AppState,
    session: &Session,
    peer: Option<IpAddr>,
    raw: &str,
) -> Result<Option<ServerFrame>, ApiError> {
    let frame = match ClientFrame::parse(raw) {
        Ok(frame) => frame,
        Err(e) => {
            crate::metrics::count_error(e.code.as_str());
            return Ok(Some(e.into()));
        }
    };
    let (input, id) = match frame {
        ClientFrame::Ping => return Ok(Some(ServerFrame::Pong)),
        ClientFrame::Rate { reply, helpful, comment } => {
            let rating = Rating { reply_id: reply, helpful, comment };
            return conversation::rate(state, session, rating).await.map(|()| None);
        }
        ClientFrame::Message { id, text } => (Input::Text(text), id),
        ClientFrame::Action { id, action, args } => (Input::Action { name: action, args }, id),
    };
    if peer.is_some_and(|ip| !state.budgets.questions.allow(ip)) {
        tracing::warn!(ip = ?peer, "per-address question budget exceeded (websocket)");
        return Err(FrameError::new(ErrorCode::RateLimited, "提问太频繁，请稍后再试", id).into());
    }
    match conversation::turn(state, session, Channel::WebSocket, input, id.clone()).await {
        Ok(reply) => Ok(Some(ServerFrame::Reply(reply))),
        Err(ApiError::SessionTaken) => Err(ApiError::SessionTaken),
        Err(e) => Ok(Some(failed(&e, id))),
    }
}

fn failed(e: &ApiError, in_reply_to: Option<String>) -> ServerFrame {
    e.log();
    e.to_frame(in_reply_to)
}

async fn send<Tx>(tx: &mut Tx, frame: &ServerFrame) -> Result<(), ()>
where
    Tx: Sink<Message> + Unpin,
    Tx::Error: std::fmt::Display,
{
    let text = serde_json::to_string(frame).map_err(|e| tracing::error!(error = %e, "cannot serialize a frame"))?;
    tx.send(Message::Text(text.into())).await.map_err(|e| tracing::debug!(error = %e, "websocket write failed"))
}

async fn close<Tx>(tx: &mut Tx, code: u16, reason: &str) -> Result<(), Tx::Error>
where
    Tx: Sink<Message> + Unpin,
{
    tx.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_budget_refuses_past_its_limit_and_refills_next_window() {
        let mut budget = FrameBudget::new(2, Duration::from_secs(10));
        let t0 = budget.window_start;
        assert!(budget.allow(t0));
        assert!(budget.allow(t0 + Duration::from_secs(1)));
        assert!(!budget.allow(t0 + Duration::from_secs(2)));
        assert!(budget.allow(t0 + Duration::from_secs(11)));
    }
}
