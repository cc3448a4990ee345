//! The desk's clock, once a second: a waiting user nobody took gets a 工单 and the contact card; an active handoff
//! with no message for the idle limit ends; a websocket user seen by no replica for `user_gone_secs` has left. It also
//! refreshes which sessions have an open handoff, so handoffs opened or closed by another replica are known here
//! within a second.
//!
//! Each close is a conditional update: when two replicas' sweepers race, one closes, files and notifies.

use super::{stamp, HandoffDesk};
use crate::store::handoff::{CloseReason, Handoff, HandoffState, Sender};
use crate::store::{Channel, StoreError};
use bot::portal::cards as portal_cards;
use bot::protocol::{HandoffStatus, HandoffView};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

/// How often the sweeper runs.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

pub(super) fn spawn(desk: Weak<HandoffDesk>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(desk) = desk.upgrade() else { break };
            if let Err(e) = desk.sweep(Utc::now()).await {
                tracing::warn!(error = %e, "the handoff sweep failed; retrying next second");
            }
        }
    });
}

/// How long ago an RFC 3339 time was; zero for an unreadable one (never times out by accident).
fn since(at: &str, now: DateTime<Utc>) -> Duration {
    DateTime::parse_from_rfc3339(at).ok().and_then(|t| (now - t.with_timezone(&Utc)).to_std().ok()).unwrap_or_default()
}

/// Whether a replica saw the user connected within the last few sweeps.
pub(super) fn seen_recently(at: &str) -> bool {
    since(at, Utc::now()) < SWEEP_INTERVAL * 3
}

impl HandoffDesk {
    /// One pass over the open handoffs.
    pub(super) async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let settings = &self.settings;
        let mut open = HashMap::new();
        for h in self.store.list_open().await? {
            let online_here = self.user_online_here(&h);
            if online_here {
                self.store.seen_user(&h.id, &stamp(now)).await?;
            }
            // Only a websocket user has a connection to lose; the others end by the idle and wait limits.
            let web = h.channel == Channel::WebSocket.as_str();
            let closed = if h.status == HandoffState::Waiting && since(&h.created_at, now) >= settings.wait_timeout() {
                self.time_out(&h, now).await?
            } else if h.status == HandoffState::Active && since(&h.last_activity_at, now) >= settings.idle_close() {
                self.close_quietly(&h, CloseReason::Idle, "长时间没有新消息，人工服务已自动结束", now).await?
            } else if web && !online_here && since(&h.user_seen_at, now) >= settings.user_gone() {
                self.close_quietly(&h, CloseReason::UserLeft, "用户已离开", now).await?
            } else {
                false
            };
            if !closed {
                open.insert(h.session_id.clone(), h.id.clone());
            }
        }
        self.replace_open(open);
        Ok(())
    }

    /// Nobody took it in time: a 工单 with the conversation, and the user is told with the contact card.
    async fn time_out(&self, h: &Handoff, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let at = stamp(now);
        let Some(closed) = self.store.close(&h.id, CloseReason::TimedOut, &at).await? else { return Ok(false) };
        let messages = self.store.messages_after(&closed.id, 0).await?;
        let transcript = self.transcript(&closed.session_id, &messages).await?;
        let owner = closed.user_id.clone().unwrap_or_else(|| format!("guest:{}", closed.session_id));
        let content = format!("用户请求人工服务，等待超时无人接入。\n{transcript}");
        let ticket = self.file_ticket(&owner, content).await;
        let mut cards = self.contact_cards();
        let text = match &ticket {
            Some(ticket) => {
                self.store.set_ticket(&closed.id, &ticket.id).await?;
                cards.push(portal_cards::feedback_card(ticket));
                format!(
                    "暂时没有客服接入，非常抱歉。已为您提交工单 {}，附上了本次对话，工作人员会尽快处理；急事请按下方方式联系。",
                    ticket.id
                )
            }
            None => "暂时没有客服接入，非常抱歉。请按下方方式联系，或提交意见反馈。".to_owned(),
        };
        let note = ticket.as_ref().map_or_else(|| "等待超时".to_owned(), |t| format!("等待超时，已转为工单 {}", t.id));
        self.store.add_message(&closed.id, Sender::System, None, &note, &at).await?;
        self.mark_closed(&closed.session_id);
        self.push(&closed, Self::status_notice(text, cards, HandoffView::new(HandoffStatus::TimedOut)));
        Ok(true)
    }

    /// Ends an open handoff for a reason of its own (idle, the user left), noting it and telling the user.
    async fn close_quietly(
        &self,
        h: &Handoff,
        reason: CloseReason,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = stamp(now);
        let Some(closed) = self.store.close(&h.id, reason, &at).await? else { return Ok(false) };
        self.store.add_message(&closed.id, Sender::System, None, note, &at).await?;
        self.mark_closed(&closed.session_id);
        let text = format!("{note}，机器人继续为您服务。");
        self.push(&closed, Self::status_notice(text, Vec::new(), HandoffView::new(HandoffStatus::Ended)));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_measured_from_rfc3339_stamps_and_unreadable_ones_never_expire() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T10:00:10Z").map(|t| t.with_timezone(&Utc));
        let Ok(now) = now else { panic!("a valid stamp") };
        assert_eq!(since("2026-12-04T10:00:00.000Z", now), Duration::from_secs(10));
        assert_eq!(since("not a time", now), Duration::ZERO);
        assert_eq!(since("2026-12-04T10:00:20Z", now), Duration::ZERO, "a future stamp is age zero");
    }
}
