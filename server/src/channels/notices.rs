//! Portal notices pushed to a user's other channels: WeCom `message/send` (the self-built app) and the 今日校园
//! gateway, through a bounded queue and a worker, off the request path, with limited retries.
//!
//! [`ChannelNotices`] is a [`NoticeOutlet`] of the portal: `offer` only queues. The worker sends each notice in a
//! task of its own (at most [`MAX_NOTICES_IN_FLIGHT`] at once). WeCom gets the notice rendered like a late answer
//! (`render_wecom_active`: the text, then its card as a `textcard`, several cards as `news`, a card with chat
//! actions as a `button_interaction` template card) for each WeCom UserID of the user (see
//! [`ChannelStore::wecom_user_ids`]); 今日校园 gets one signed push to the 学工号 whose `Idempotency-Key` is the
//! notice id. Failures are logged and counted in [`NoticeStats`]; they never reach the code that notified.

use super::cpdaily::{CpdailyPushClient, PushMessage};
use super::dispatch::{render_wecom_active, ChannelStore};
use super::truncate_chars;
use super::wecom_api::{Recipients, WecomApiClient, WecomApiError, WecomErrcode};
use super::wecom_render::{card_link, card_plain_lines, flatten_cards, RenderOptions, WecomOutbound};
use crate::campus::{NoticeOutlet, OutboundNotice};
use bot::protocol::{Mode, Reply};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// Notices waiting for the worker at most; beyond it a notice is dropped for these channels (and counted).
pub const NOTICE_QUEUE_CAPACITY: usize = 256;
/// Notices being sent at once (each may wait through retries).
pub const MAX_NOTICES_IN_FLIGHT: usize = 8;
/// The title of a 今日校园 push, at most, in characters.
pub const CPDAILY_TITLE_CHARS: usize = 40;
/// The content of a 今日校园 push, at most, in characters.
pub const CPDAILY_CONTENT_CHARS: usize = 1000;

/// How often one WeCom message of a notice is tried when WeCom cannot be reached or is busy. The API client itself
/// already refreshes a stale token once and retries `-1 系统繁忙` twice; this covers timeouts, transport errors,
/// HTTP 5xx/429 and rate limits. (今日校园 pushes use the push client's own policy: `cpdaily::RetryPolicy`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeRetry {
    pub attempts: u32,
    /// The wait after the first failed attempt; doubled after each further one.
    pub initial_backoff: Duration,
}

impl Default for NoticeRetry {
    fn default() -> Self {
        NoticeRetry { attempts: 3, initial_backoff: Duration::from_secs(1) }
    }
}

/// Counters of what happened to notices on these channels (process-wide for one [`ChannelNotices`]).
#[derive(Debug, Default)]
pub struct NoticeStats {
    queued: AtomicU64,
    dropped: AtomicU64,
    wecom_sent: AtomicU64,
    wecom_failed: AtomicU64,
    wecom_skipped: AtomicU64,
    cpdaily_sent: AtomicU64,
    cpdaily_failed: AtomicU64,
}

/// A snapshot of [`NoticeStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoticeCounts {
    /// Notices taken onto the queue.
    pub queued: u64,
    /// Notices refused because the queue was full or the worker had stopped.
    pub dropped: u64,
    /// Notices sent through `message/send` (all of their messages).
    pub wecom_sent: u64,
    /// Notices whose WeCom send failed for good.
    pub wecom_failed: u64,
    /// Notices for users without a WeCom UserID (their UserID is bound to someone else) or whom WeCom does not
    /// know (81013 no valid recipient).
    pub wecom_skipped: u64,
    /// Notices the 今日校园 gateway accepted.
    pub cpdaily_sent: u64,
    /// Notices whose 今日校园 push failed for good.
    pub cpdaily_failed: u64,
}

impl NoticeStats {
    /// Counts here and in `/metrics` (`ehall_channel_notices_total{channel, outcome}`).
    fn bump(counter: &AtomicU64, channel: &'static str, outcome: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        crate::metrics::count_channel_notice(channel, outcome);
    }

    pub fn snapshot(&self) -> NoticeCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NoticeCounts {
            queued: get(&self.queued),
            dropped: get(&self.dropped),
            wecom_sent: get(&self.wecom_sent),
            wecom_failed: get(&self.wecom_failed),
            wecom_skipped: get(&self.wecom_skipped),
            cpdaily_sent: get(&self.cpdaily_sent),
            cpdaily_failed: get(&self.cpdaily_failed),
        }
    }
}

/// What the worker sends with.
pub struct NoticeSenders {
    /// The self-built app's client (present when `EHALL_WECOM_AGENT_ID` and `EHALL_WECOM_SECRET` are set); it owns
    /// the cached access token, shared with late answers.
    pub wecom: Option<Arc<WecomApiClient>>,
    /// The 今日校园 push client (present when `EHALL_CPDAILY_PUSH_URL` is set).
    pub cpdaily: Option<Arc<CpdailyPushClient>>,
    /// For the user's WeCom UserIDs (`wecom_bindings`).
    pub store: ChannelStore,
    pub render_options: RenderOptions,
    pub retry: NoticeRetry,
}

/// The portal's outlet to WeCom and 今日校园: a bounded queue in front of the worker.
pub struct ChannelNotices {
    queue: mpsc::Sender<OutboundNotice>,
    stats: Arc<NoticeStats>,
}

impl std::fmt::Debug for ChannelNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelNotices").field("stats", &self.stats.snapshot()).finish_non_exhaustive()
    }
}

impl ChannelNotices {
    /// Starts the worker when there is anything to send with (`None` otherwise). The worker stops when the server
    /// closes or every `ChannelNotices` is dropped; notices still queued then are not sent on these channels.
    pub fn start(senders: NoticeSenders, closing: crate::app::Closing) -> Option<ChannelNotices> {
        if senders.wecom.is_none() && senders.cpdaily.is_none() {
            return None;
        }
        let (queue, receiver) = mpsc::channel(NOTICE_QUEUE_CAPACITY);
        let stats = Arc::new(NoticeStats::default());
        tokio::spawn(run_worker(Arc::new(senders), stats.clone(), receiver, closing));
        Some(ChannelNotices { queue, stats })
    }

    pub fn stats(&self) -> NoticeCounts {
        self.stats.snapshot()
    }
}

impl NoticeOutlet for ChannelNotices {
    fn offer(&self, notice: &OutboundNotice) {
        match self.queue.try_send(notice.clone()) {
            Ok(()) => NoticeStats::bump(&self.stats.queued, "all", "queued"),
            Err(e) => {
                NoticeStats::bump(&self.stats.dropped, "all", "dropped");
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "the queue is full",
                    mpsc::error::TrySendError::Closed(_) => "the worker has stopped",
                };
                tracing::warn!(notice = %notice.id, why, "a notice is not pushed to WeCom / 今日校园");
            }
        }
    }
}

async fn run_worker(
    senders: Arc<NoticeSenders>,
    stats: Arc<NoticeStats>,
    mut receiver: mpsc::Receiver<OutboundNotice>,
    closing: crate::app::Closing,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_NOTICES_IN_FLIGHT));
    loop {
        let notice = tokio::select! {
            () = closing.wait() => break,
            notice = receiver.recv() => notice,
        };
        let Some(notice) = notice else { break };
        // Waiting here keeps the queue (bounded) in front of the senders rather than piling up tasks.
        let permit = tokio::select! {
            () = closing.wait() => break,
            permit = in_flight.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let (senders, stats) = (senders.clone(), stats.clone());
        tokio::spawn(async move {
            deliver(&senders, &stats, &notice).await;
            drop(permit);
        });
    }
}

async fn deliver(senders: &NoticeSenders, stats: &NoticeStats, notice: &OutboundNotice) {
    let wecom = async {
        if let Some(api) = &senders.wecom {
            send_wecom(api, senders, stats, notice).await;
        }
    };
    let cpdaily = async {
        if let Some(push) = &senders.cpdaily {
            match push.push_with_key(&render_cpdaily_notice(notice), &notice.id).await {
                Ok(accepted) => {
                    NoticeStats::bump(&stats.cpdaily_sent, "cpdaily", "sent");
                    if !accepted.rejected.is_empty() {
                        let reasons: Vec<&str> = accepted.rejected.iter().map(|r| r.reason.as_str()).collect();
                        tracing::info!(notice = %notice.id, ?reasons, "the 今日校园 gateway could not reach the user");
                    }
                }
                Err(e) => {
                    NoticeStats::bump(&stats.cpdaily_failed, "cpdaily", "failed");
                    tracing::error!(notice = %notice.id, error = %e, "cannot push a notice to 今日校园");
                }
            }
        }
    };
    tokio::join!(wecom, cpdaily);
}

async fn send_wecom(api: &WecomApiClient, senders: &NoticeSenders, stats: &NoticeStats, notice: &OutboundNotice) {
    let users = match senders.store.wecom_user_ids(&notice.user_id).await {
        Ok(users) => users,
        Err(e) => {
            NoticeStats::bump(&stats.wecom_failed, "wecom", "failed");
            tracing::error!(notice = %notice.id, error = %e, "cannot read wecom_bindings for a notice");
            return;
        }
    };
    if users.is_empty() {
        NoticeStats::bump(&stats.wecom_skipped, "wecom", "skipped");
        tracing::info!(notice = %notice.id, "the user's UserID is bound to someone else: no WeCom notice");
        return;
    }
    let recipients = Recipients { users, ..Recipients::default() };
    for message in render_wecom_notice(notice, &senders.render_options) {
        match send_with_retry(api, &recipients, &message, senders.retry).await {
            Ok(()) => {}
            // Not every campus user is a member of the WeCom app: not an error of ours.
            Err(WecomApiError::Api { code: WecomErrcode::NoValidRecipient, .. }) => {
                NoticeStats::bump(&stats.wecom_skipped, "wecom", "skipped");
                tracing::info!(notice = %notice.id, "the user is not reachable in WeCom (81013): no WeCom notice");
                return;
            }
            Err(e) => {
                NoticeStats::bump(&stats.wecom_failed, "wecom", "failed");
                tracing::error!(notice = %notice.id, error = %e, "cannot send a notice through WeCom message/send");
                return;
            }
        }
    }
    NoticeStats::bump(&stats.wecom_sent, "wecom", "sent");
}

/// Whether trying the same `message/send` again may succeed.
fn worth_retrying(error: &WecomApiError) -> bool {
    match error {
        WecomApiError::Timeout | WecomApiError::Transport(_) => true,
        WecomApiError::Status(status) => *status >= 500 || *status == 429 || *status == 408,
        WecomApiError::Api { code, .. } => matches!(code, WecomErrcode::SystemBusy | WecomErrcode::RateLimited(_)),
        WecomApiError::Decode(_) | WecomApiError::InvalidBaseUrl(_) => false,
    }
}

async fn send_with_retry(
    api: &WecomApiClient,
    recipients: &Recipients,
    message: &WecomOutbound,
    retry: NoticeRetry,
) -> Result<(), WecomApiError> {
    let attempts = retry.attempts.max(1);
    let mut backoff = retry.initial_backoff;
    let mut attempt = 1;
    loop {
        match api.send(recipients, message).await {
            Ok(receipt) => {
                if !receipt.invalid_users.is_empty() {
                    tracing::info!(invalid = ?receipt.invalid_users, "WeCom does not know some notice recipients");
                }
                return Ok(());
            }
            Err(e) if attempt < attempts && worth_retrying(&e) => {
                tracing::warn!(error = %e, attempt, "WeCom notice send failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A notice as the reply it is rendered like (no suggestions; the notice id as reply id, hence as task id).
fn as_reply(notice: &OutboundNotice) -> Reply {
    Reply {
        id: notice.id.clone(),
        in_reply_to: None,
        mode: Mode::Answer,
        intent: "notice".to_owned(),
        confidence: 1.0,
        text: notice.text.clone(),
        cards: notice.cards.clone(),
        suggestions: Vec::new(),
        handoff: None,
    }
}

/// The `message/send` bodies of a notice, in order: as a late answer (`render_wecom_active`) — its text alone, or
/// the text and then its card (`textcard`; a card with chat actions as a `button_interaction` template card whose
/// buttons come back as `template_card_event`), several cards as `news`.
pub fn render_wecom_notice(notice: &OutboundNotice, options: &RenderOptions) -> Vec<WecomOutbound> {
    render_wecom_active(&as_reply(notice), options)
}

/// The 今日校园 push of a notice: the notice text as title (cut to [`CPDAILY_TITLE_CHARS`]) and, as content, the
/// whole text and each card as `【title】` with its lines (plain text; 今日校园 shows no cards), cut to
/// [`CPDAILY_CONTENT_CHARS`]; the link is the first card link, if any.
pub fn render_cpdaily_notice(notice: &OutboundNotice) -> PushMessage {
    let cards = flatten_cards(&notice.cards);
    let mut blocks = vec![notice.text.trim().to_owned()];
    for card in &cards {
        let mut lines = vec![format!("【{}】", card.title)];
        lines.extend(card_plain_lines(card));
        blocks.push(lines.join("\n"));
    }
    blocks.retain(|b| !b.is_empty());
    let title = notice.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("办事大厅通知").trim();
    let link = cards.iter().find_map(|card| card_link(card).map(|(_, url)| url));
    PushMessage::to_xgh(
        vec![notice.user_id.clone()],
        &truncate_chars(title, CPDAILY_TITLE_CHARS),
        &truncate_chars(&blocks.join("\n\n"), CPDAILY_CONTENT_CHARS),
        link,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use bot::protocol::{Card, CardAction, CardKind, Field};

    fn notice(cards: Vec<Card>) -> OutboundNotice {
        OutboundNotice {
            id: "nt_0123456789abcdef".into(),
            user_id: "2021001234".into(),
            text: "您的工单（GD20261127001）有了答复：已派工程师检修。".into(),
            cards,
        }
    }

    fn card(kind: CardKind, title: &str) -> Card {
        let mut card = Card::new(kind, format!("{kind:?}:1"), title);
        card.subtitle = Some("已答复".into());
        card.fields = vec![Field::new("编号", "GD20261127001"), Field::new("答复", "已派工程师检修。")];
        card
    }

    fn json(message: &WecomOutbound) -> serde_json::Value {
        serde_json::to_value(message).unwrap()
    }

    #[test]
    fn a_notice_without_cards_is_one_text() {
        let messages = render_wecom_notice(&notice(Vec::new()), &RenderOptions::default());
        assert_eq!(messages.len(), 1);
        let body = json(&messages[0]);
        assert_eq!(body["msgtype"], "text");
        assert!(body["text"]["content"].as_str().unwrap().contains("GD20261127001"), "{body}");
        assert!(!body["text"]["content"].as_str().unwrap().contains("您还可以问"), "{body}");
    }

    #[test]
    fn each_card_kind_of_a_notice_renders_as_the_reply_would() {
        let options =
            RenderOptions { fallback_url: "https://ehall.example.edu.cn/".into(), ..RenderOptions::default() };
        let kinds = [
            CardKind::Feedback,
            CardKind::Message,
            CardKind::Task,
            CardKind::Service,
            CardKind::App,
            CardKind::Faq,
            CardKind::News,
            CardKind::Login,
        ];
        for kind in kinds {
            let messages = render_wecom_notice(&notice(vec![card(kind, "工单 GD20261127001")]), &options);
            assert_eq!(messages.len(), 2, "{kind:?}");
            assert_eq!(json(&messages[0])["msgtype"], "text", "{kind:?}");
            let card = json(&messages[1]);
            assert_eq!(card["msgtype"], "textcard", "{kind:?}: {card}");
            assert_eq!(card["textcard"]["title"], "工单 GD20261127001", "{kind:?}");
            assert_eq!(card["textcard"]["url"], "https://ehall.example.edu.cn/", "{kind:?}");
            let description = card["textcard"]["description"].as_str().unwrap();
            assert!(description.contains("答复：已派工程师检修。"), "{kind:?}: {description}");
        }
        // Status cards lead with their first field, highlighted.
        let feedback = json(&render_wecom_notice(&notice(vec![card(CardKind::Feedback, "工单")]), &options)[1]);
        assert!(feedback["textcard"]["description"]
            .as_str()
            .unwrap()
            .contains("<div class=\"highlight\">编号：GD20261127001</div>"));
        // Account and contact cards without a link stay inline in one text.
        for kind in [CardKind::Account, CardKind::Contact] {
            let messages = render_wecom_notice(&notice(vec![card(kind, "一卡通")]), &options);
            assert_eq!(messages.len(), 1, "{kind:?}");
            let text = json(&messages[0]);
            assert!(text["text"]["content"].as_str().unwrap().contains("【一卡通】"), "{kind:?}: {text}");
        }
    }

    #[test]
    fn a_card_with_chat_actions_is_a_button_card_and_several_cards_are_news() {
        let mut message = card(CardKind::Message, "请审核调停课申请");
        message.actions.push(CardAction::Action {
            label: "标为已读".into(),
            action: "message.read".into(),
            args: serde_json::Map::from_iter([("id".to_owned(), serde_json::json!("M-1"))]),
        });
        let messages = render_wecom_notice(&notice(vec![message]), &RenderOptions::default());
        let sent = json(messages.last().unwrap());
        assert_eq!(sent["template_card"]["card_type"], "button_interaction", "{sent}");
        assert_eq!(sent["template_card"]["button_list"][0]["key"], "message.read?{\"id\":\"M-1\"}");
        assert_eq!(sent["template_card"]["task_id"], "nt_0123456789abcdef");

        let mut linked = card_with_link();
        linked.title = "在读证明开具".into();
        let list = Card {
            items: vec![linked, card(CardKind::Task, "助学金申请")],
            ..Card::new(CardKind::List, "l", "列表")
        };
        let messages = render_wecom_notice(&notice(vec![list]), &RenderOptions::default());
        let news = json(messages.last().unwrap());
        assert_eq!(news["msgtype"], "news", "{news}");
        assert_eq!(news["news"]["articles"][0]["url"], "https://ehall.example.edu.cn/svc/1");
        assert_eq!(news["news"]["articles"].as_array().unwrap().len(), 2);
    }

    fn card_with_link() -> Card {
        let mut card = card(CardKind::Service, "在读证明");
        card.actions
            .push(CardAction::OpenUrl {
                label: "在线办理".into(), url: "https://ehall.example.edu.cn/svc/1".into()
            });
        card
    }

    #[test]
    fn the_cpdaily_push_carries_the_text_the_cards_and_the_first_link() {
        let push =
            render_cpdaily_notice(&notice(vec![card(CardKind::Feedback, "工单 GD20261127001"), card_with_link()]));
        let body = serde_json::to_value(&push).unwrap();
        assert_eq!(body["to"], serde_json::json!({"type": "xgh", "ids": ["2021001234"]}));
        assert_eq!(body["title"], "您的工单（GD20261127001）有了答复：已派工程师检修。");
        let content = body["content"].as_str().unwrap();
        assert!(content.starts_with("您的工单"), "{content}");
        assert!(content.contains("【工单 GD20261127001】\n已答复\n编号：GD20261127001"), "{content}");
        assert_eq!(body["link"], "https://ehall.example.edu.cn/svc/1");
        let long = OutboundNotice { text: "长".repeat(300), ..notice(Vec::new()) };
        let push = render_cpdaily_notice(&long);
        assert_eq!(push.title.chars().count(), CPDAILY_TITLE_CHARS);
        assert!(push.link.is_none());
    }

    #[test]
    fn only_unreachable_or_busy_wecom_is_retried() {
        assert!(worth_retrying(&WecomApiError::Timeout));
        assert!(worth_retrying(&WecomApiError::Status(502)));
        assert!(worth_retrying(&WecomApiError::Api { code: WecomErrcode::RateLimited(45009), message: String::new() }));
        assert!(!worth_retrying(&WecomApiError::Status(404)));
        assert!(!worth_retrying(&WecomApiError::Api { code: WecomErrcode::NoValidRecipient, message: String::new() }));
    }

    /// A fake WeCom API whose `message/send` answers with `status` and `errcode`; counts the sends.
    async fn failing_wecom(status: u16, errcode: i64) -> (Arc<WecomApiClient>, Arc<AtomicU64>) {
        use axum::routing::{get, post};
        let sends = Arc::new(AtomicU64::new(0));
        let counter = sends.clone();
        let app = axum::Router::new()
            .route(
                "/cgi-bin/gettoken",
                get(|| async {
                    axum::Json(serde_json::json!({"errcode": 0, "access_token": "t", "expires_in": 7200}))
                }),
            )
            .route(
                "/cgi-bin/message/send",
                post(move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                    async move {
                        (
                            axum::http::StatusCode::from_u16(status).unwrap(),
                            axum::Json(serde_json::json!({"errcode": errcode, "errmsg": "x"})),
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut config = super::super::wecom_api::WecomApiConfig::new("ww1", "secret", 1000002);
        config.base_url = format!("http://{addr}");
        (Arc::new(WecomApiClient::new(config).unwrap()), sends)
    }

    async fn senders_with(api: Arc<WecomApiClient>, dir: &tempfile::TempDir) -> NoticeSenders {
        let sql = crate::store::connect(&format!("sqlite://{}/n.sqlite", dir.path().display())).await.unwrap();
        NoticeSenders {
            wecom: Some(api),
            cpdaily: None,
            store: ChannelStore::new(sql.pool().clone()),
            render_options: RenderOptions::default(),
            retry: NoticeRetry { attempts: 3, initial_backoff: Duration::from_millis(10) },
        }
    }

    #[tokio::test]
    async fn wecom_failures_are_retried_a_little_then_counted_and_unknown_users_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (api, sends) = failing_wecom(502, 0).await;
        let senders = senders_with(api, &dir).await;
        let stats = NoticeStats::default();
        deliver(&senders, &stats, &notice(Vec::new())).await;
        assert_eq!(sends.load(Ordering::Relaxed), 3, "three attempts in all");
        assert_eq!((stats.snapshot().wecom_failed, stats.snapshot().wecom_sent), (1, 0));

        let (api, sends) = failing_wecom(200, 81013).await;
        let senders = senders_with(api, &dir).await;
        let stats = NoticeStats::default();
        deliver(&senders, &stats, &notice(Vec::new())).await;
        assert_eq!(sends.load(Ordering::Relaxed), 1, "a permanent error is not retried");
        assert_eq!((stats.snapshot().wecom_skipped, stats.snapshot().wecom_failed), (1, 0));
    }
}
