//! Renders a chat [`Reply`] into WeCom self-built app messages (text, textcard, news, template_card) for `message/send` and passive replies.
//!
//! Rules (see `docs/channels.md`): a reply without cards becomes `text`; one linkable card becomes a
//! `textcard`; several cards become `news` (or one `template_card` when configured). Card links come from the
//! card's first `open_url` action, else [`RenderOptions::fallback_url`]. Suggestions, which WeCom cannot show as
//! buttons, are appended to the text as "您还可以问".

use bot::protocol::{Card, CardAction, CardKind, Reply};
use serde::Serialize;
use serde_json::{Map, Value};

use super::wecom_xml::{NewsArticle, PassiveReply, MAX_NEWS_ARTICLES, MAX_TEXT_BYTES};
use super::{truncate_chars, truncate_to_bytes};

/// Longest textcard title, in bytes.
pub const MAX_TEXTCARD_TITLE_BYTES: usize = 128;
/// Longest textcard description, in bytes.
pub const MAX_TEXTCARD_DESCRIPTION_BYTES: usize = 512;
/// Longest textcard button text, in characters.
pub const MAX_TEXTCARD_BUTTON_CHARS: usize = 4;
/// Most suggestions listed under a text reply.
pub const MAX_LISTED_SUGGESTIONS: usize = 5;
/// Longest template card button key WeCom accepts, in bytes.
pub const MAX_BUTTON_KEY_BYTES: usize = 1024;

/// How several cards are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiCardStyle {
    /// One `news` message with one article per card (up to 8).
    #[default]
    News,
    /// One `template_card` (text_notice) whose jump list links the first three cards.
    TemplateCard,
}

/// Channel settings that rendering needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Where a card without an `open_url` action links to (e.g. the 网上服务大厅 home or our web chat).
    pub fallback_url: String,
    /// The `source.desc` line of template cards.
    pub source_name: String,
    /// How replies with several cards are sent.
    pub multi_card_style: MultiCardStyle,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            fallback_url: "https://ehall.tjcu.edu.cn/".into(),
            source_name: "网上服务大厅".into(),
            multi_card_style: MultiCardStyle::News,
        }
    }
}

/// `text` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextBody {
    pub content: String,
}

/// `textcard` body: an HTML-ish description (`<div class="gray|normal|highlight">`) and one link button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextCardBody {
    pub title: String,
    pub description: String,
    pub url: String,
    pub btntxt: String,
}

/// `news` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewsBody {
    pub articles: Vec<NewsArticle>,
}

/// `markdown` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkdownBody {
    pub content: String,
}

/// Template card kinds we produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCardType {
    TextNotice,
    ButtonInteraction,
}

/// `source` of a template card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardSource {
    pub desc: String,
}

/// `main_title` of a template card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MainTitle {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
}

/// One `horizontal_content_list` row (label/value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HorizontalContent {
    pub keyname: String,
    pub value: String,
}

/// What a `jump_list` entry does: 1 opens a URL; 3 sends `question` to the AI bot as if the user typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JumpItem {
    #[serde(rename = "type")]
    pub jump_type: u8,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
}

impl JumpItem {
    /// A jump that opens `url`.
    pub fn url(title: &str, url: &str) -> JumpItem {
        JumpItem { jump_type: 1, title: truncate_chars(title, 13), url: Some(url.to_owned()), question: None }
    }
    /// A jump that asks the AI bot `question` (智能机器人 only).
    pub fn question(title: &str, question: &str) -> JumpItem {
        JumpItem { jump_type: 3, title: truncate_chars(title, 13), url: None, question: Some(question.to_owned()) }
    }
}

/// `card_action`: what tapping the card opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardTapAction {
    #[serde(rename = "type")]
    pub action_type: u8,
    pub url: String,
}

/// One button of a `button_interaction` card; `key` comes back as the event's EventKey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardButton {
    pub text: String,
    pub style: u8,
    pub key: String,
}

/// A template card (the shared schema of `message/send` and the AI bot), restricted to the parts we render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateCard {
    pub card_type: TemplateCardType,
    pub source: CardSource,
    pub main_title: MainTitle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_title_text: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub horizontal_content_list: Vec<HorizontalContent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jump_list: Vec<JumpItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_action: Option<CardTapAction>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub button_list: Vec<CardButton>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

/// One active message of a self-built app; serialises as `{"msgtype": …, "<msgtype>": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "msgtype", rename_all = "snake_case")]
pub enum WecomOutbound {
    Text { text: TextBody },
    Textcard { textcard: TextCardBody },
    News { news: NewsBody },
    Markdown { markdown: MarkdownBody },
    TemplateCard { template_card: TemplateCard },
}

impl WecomOutbound {
    /// A text message cut to 2048 bytes.
    pub fn text(content: &str) -> WecomOutbound {
        WecomOutbound::Text { text: TextBody { content: truncate_to_bytes(content, MAX_TEXT_BYTES) } }
    }

    /// The `msgtype` name.
    pub fn msg_type(&self) -> &'static str {
        match self {
            WecomOutbound::Text { .. } => "text",
            WecomOutbound::Textcard { .. } => "textcard",
            WecomOutbound::News { .. } => "news",
            WecomOutbound::Markdown { .. } => "markdown",
            WecomOutbound::TemplateCard { .. } => "template_card",
        }
    }

    /// The same content as a passive reply, when the passive format can carry it (text and news only).
    pub fn to_passive(&self) -> Option<PassiveReply> {
        match self {
            WecomOutbound::Text { text } => Some(PassiveReply::Text { content: text.content.clone() }),
            WecomOutbound::News { news } => Some(PassiveReply::News { articles: news.articles.clone() }),
            WecomOutbound::Textcard { textcard } => Some(PassiveReply::News {
                articles: vec![NewsArticle::new(
                    &textcard.title,
                    &strip_div_markup(&textcard.description),
                    &textcard.url,
                )],
            }),
            WecomOutbound::Markdown { .. } | WecomOutbound::TemplateCard { .. } => None,
        }
    }
}

/// Cards as the user should see them: `list` cards with members are replaced by their members.
pub(crate) fn flatten_cards(cards: &[Card]) -> Vec<&Card> {
    let mut flat = Vec::new();
    for card in cards {
        if card.kind == CardKind::List && !card.items.is_empty() {
            flat.extend(card.items.iter());
        } else {
            flat.push(card);
        }
    }
    flat
}

/// The card's first `open_url` action as (label, url).
pub fn card_link(card: &Card) -> Option<(&str, &str)> {
    card.actions.iter().find_map(|action| match action {
        CardAction::OpenUrl { label, url } if !url.trim().is_empty() => Some((label.as_str(), url.as_str())),
        _ => None,
    })
}

/// A link target WeCom may open: an `http(s)` URL without spaces, quotes, angle brackets or control characters.
/// Anything else (`javascript:`, a URL smuggling markup) is not linked.
pub fn safe_link_url(url: &str) -> Option<&str> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let http = lower.starts_with("https://") || lower.starts_with("http://");
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`'));
    (http && clean && url.len() > "https://".len()).then_some(url)
}

/// The card's link (when safe to open), or the fallback when it has none.
fn card_url<'a>(card: &'a Card, options: &'a RenderOptions) -> &'a str {
    card_link(card).and_then(|(_, url)| safe_link_url(url)).unwrap_or(&options.fallback_url)
}

/// Plain-text lines describing a card (subtitle, body, fields), used by text, news and markdown renderings.
pub fn card_plain_lines(card: &Card) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(subtitle) = card.subtitle.as_deref().filter(|s| !s.trim().is_empty()) {
        lines.push(subtitle.trim().to_owned());
    }
    if let Some(body) = card.body.as_deref().filter(|s| !s.trim().is_empty()) {
        lines.push(body.trim().to_owned());
    }
    for field in &card.fields {
        lines.push(format!("{}：{}", field.label, field.value));
    }
    if card.kind == CardKind::List && card.fields.is_empty() {
        lines.extend(card.items.iter().map(|item| format!("· {}", item.title)));
    }
    lines
}

/// The suggestion lines appended under a text reply.
fn suggestion_lines(reply: &Reply) -> Vec<String> {
    let labels: Vec<&str> =
        reply.suggestions.iter().filter_map(|s| s.text.as_deref()).take(MAX_LISTED_SUGGESTIONS).collect();
    if labels.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["您还可以问：".to_owned()];
    lines.extend(labels.iter().enumerate().map(|(i, label)| format!("{}. {label}", i + 1)));
    lines
}

/// Escapes text for WeCom's HTML-ish renderings (`text` with `<a href>` links, textcard `<div>`s): bot, user and
/// admin-authored text is shown as typed, never interpreted as markup.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The whole reply as one `text` message: reply text, each card (with an `<a href>` link when it has a safe one),
/// suggestions. Every text is HTML-escaped; the only markup is the links made here.
pub fn render_text(reply: &Reply) -> WecomOutbound {
    let mut blocks = vec![escape_html(reply.text.trim())];
    for card in flatten_cards(&reply.cards) {
        let mut lines = vec![format!("【{}】", escape_html(&card.title))];
        lines.extend(card_plain_lines(card).iter().map(|line| escape_html(line)));
        if let Some((label, url)) = card_link(card).and_then(|(label, url)| Some((label, safe_link_url(url)?))) {
            lines.push(format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(label)));
        }
        blocks.push(lines.join("\n"));
    }
    let suggestions = suggestion_lines(reply);
    if !suggestions.is_empty() {
        blocks.push(suggestions.iter().map(|line| escape_html(line)).collect::<Vec<_>>().join("\n"));
    }
    blocks.retain(|b| !b.is_empty());
    WecomOutbound::text(&blocks.join("\n\n"))
}

/// The reply text plus suggestions only (the companion of a card message).
fn render_intro_text(reply: &Reply) -> Option<WecomOutbound> {
    let mut blocks = Vec::new();
    if !reply.text.trim().is_empty() {
        blocks.push(escape_html(reply.text.trim()));
    }
    let suggestions = suggestion_lines(reply);
    if !suggestions.is_empty() {
        blocks.push(suggestions.iter().map(|line| escape_html(line)).collect::<Vec<_>>().join("\n"));
    }
    (!blocks.is_empty()).then(|| WecomOutbound::text(&blocks.join("\n\n")))
}

/// One card as a `textcard`: gray subtitle, normal body and fields, highlighted first field of task/feedback cards;
/// description ≤ 512 bytes; button text from the `open_url` action label (≤ 4 chars) or 详情.
pub fn render_textcard(card: &Card, options: &RenderOptions) -> WecomOutbound {
    let mut divs: Vec<(&str, String)> = Vec::new();
    if let Some(subtitle) = card.subtitle.as_deref().filter(|s| !s.trim().is_empty()) {
        divs.push(("gray", subtitle.trim().to_owned()));
    }
    if let Some(body) = card.body.as_deref().filter(|s| !s.trim().is_empty()) {
        divs.push(("normal", body.trim().to_owned()));
    }
    // Status-like cards lead with their first field, highlighted.
    let highlight_first_field = matches!(card.kind, CardKind::Task | CardKind::Feedback | CardKind::Message);
    for (index, field) in card.fields.iter().enumerate() {
        let class = if highlight_first_field && index == 0 { "highlight" } else { "normal" };
        divs.push((class, format!("{}：{}", field.label, field.value)));
    }
    let mut description = String::new();
    for (class, text) in divs {
        let open = format!("<div class=\"{class}\">");
        let close = "</div>";
        let remaining = MAX_TEXTCARD_DESCRIPTION_BYTES.saturating_sub(description.len() + open.len() + close.len());
        // Escaping can grow the text, so fit the escaped form rather than the raw one.
        let mut fitted = escape_html(&truncate_to_bytes(&text, remaining));
        let mut budget = remaining;
        while fitted.len() > remaining && budget > 0 {
            budget = budget.saturating_sub(16);
            fitted = escape_html(&truncate_to_bytes(&text, budget));
        }
        if fitted.is_empty() {
            break;
        }
        description.push_str(&open);
        description.push_str(&fitted);
        description.push_str(close);
    }
    if description.is_empty() {
        description = format!("<div class=\"normal\">{}</div>", escape_html(&truncate_to_bytes(&card.title, 400)));
    }
    let (button, url) = match card_link(card).and_then(|(label, url)| Some((label, safe_link_url(url)?))) {
        Some((label, url)) => (truncate_chars(label, MAX_TEXTCARD_BUTTON_CHARS), url.to_owned()),
        None => ("详情".to_owned(), options.fallback_url.clone()),
    };
    WecomOutbound::Textcard {
        textcard: TextCardBody {
            title: truncate_to_bytes(&card.title, MAX_TEXTCARD_TITLE_BYTES),
            description,
            url,
            btntxt: if button.trim().is_empty() { "详情".to_owned() } else { button },
        },
    }
}

/// Removes the `<div class=…>` markup of a textcard description, one line per div.
fn strip_div_markup(description: &str) -> String {
    let mut text = String::new();
    let mut rest = description;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => {
                if rest[start..start + end].starts_with("</div") {
                    text.push('\n');
                }
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    text.push_str(rest);
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&").trim().to_owned()
}

/// Cards as a `news` message: one article per card (list cards expanded), at most 8.
pub fn render_news(cards: &[Card], options: &RenderOptions) -> WecomOutbound {
    let articles = flatten_cards(cards)
        .into_iter()
        .take(MAX_NEWS_ARTICLES)
        .map(|card| NewsArticle::new(&card.title, &card_plain_lines(card).join("\n"), card_url(card, options)))
        .collect();
    WecomOutbound::News { news: NewsBody { articles } }
}

/// Encodes a card action as a template card button key: `action` or `action?{json args}`; `None` if over 1024 bytes.
pub fn encode_action_key(action: &str, args: &Map<String, Value>) -> Option<String> {
    let key = if args.is_empty() { action.to_owned() } else { format!("{action}?{}", Value::Object(args.clone())) };
    (key.len() <= MAX_BUTTON_KEY_BYTES).then_some(key)
}

/// Decodes an EventKey made by [`encode_action_key`] back into (action, args).
pub fn decode_action_key(key: &str) -> Option<(String, Map<String, Value>)> {
    let (action, args) = match key.split_once('?') {
        Some((action, json)) => match serde_json::from_str::<Value>(json).ok()? {
            Value::Object(args) => (action, args),
            _ => return None,
        },
        None => (key, Map::new()),
    };
    (!action.is_empty()).then(|| (action.to_owned(), args))
}

/// One card as a `template_card`: `button_interaction` when it has chat actions (needs `task_id`, unique per app),
/// else `text_notice` with fields as rows, links in the jump list and a tap action.
pub fn render_template_card(card: &Card, options: &RenderOptions, task_id: &str) -> WecomOutbound {
    let buttons: Vec<CardButton> = card
        .actions
        .iter()
        .filter_map(|action| match action {
            CardAction::Action { label, action, args } => {
                encode_action_key(action, args).map(|key| CardButton { text: truncate_chars(label, 10), style: 1, key })
            }
            CardAction::OpenUrl { .. } => None,
        })
        .take(6)
        .collect();
    let jump_list: Vec<JumpItem> = card
        .actions
        .iter()
        .filter_map(|action| match action {
            CardAction::OpenUrl { label, url } => safe_link_url(url).map(|url| JumpItem::url(label, url)),
            CardAction::Action { .. } => None,
        })
        .take(3)
        .collect();
    let interactive = !buttons.is_empty();
    let template_card = TemplateCard {
        card_type: if interactive { TemplateCardType::ButtonInteraction } else { TemplateCardType::TextNotice },
        source: CardSource { desc: truncate_chars(&options.source_name, 13) },
        main_title: MainTitle {
            title: truncate_chars(&card.title, 26),
            desc: card.subtitle.as_deref().filter(|s| !s.trim().is_empty()).map(|s| truncate_chars(s, 30)),
        },
        sub_title_text: card.body.as_deref().filter(|s| !s.trim().is_empty()).map(|s| truncate_chars(s.trim(), 112)),
        horizontal_content_list: card
            .fields
            .iter()
            .take(6)
            .map(|f| HorizontalContent { keyname: truncate_chars(&f.label, 5), value: truncate_chars(&f.value, 26) })
            .collect(),
        jump_list,
        card_action: Some(CardTapAction { action_type: 1, url: card_url(card, options).to_owned() }),
        button_list: buttons,
        task_id: interactive.then(|| sanitize_task_id(task_id)),
    };
    WecomOutbound::TemplateCard { template_card }
}

/// Several cards as one `text_notice` template card: the reply text as title, the first three cards as links.
pub fn render_cards_template_card(reply: &Reply, options: &RenderOptions) -> WecomOutbound {
    let cards = flatten_cards(&reply.cards);
    let first_line = reply.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("为您找到以下内容");
    let template_card = TemplateCard {
        card_type: TemplateCardType::TextNotice,
        source: CardSource { desc: truncate_chars(&options.source_name, 13) },
        main_title: MainTitle { title: truncate_chars(first_line.trim(), 26), desc: None },
        sub_title_text: (cards.len() > 3).then(|| {
            truncate_chars(&cards.iter().skip(3).map(|c| c.title.as_str()).collect::<Vec<_>>().join("、"), 112)
        }),
        horizontal_content_list: Vec::new(),
        jump_list: cards.iter().take(3).map(|card| JumpItem::url(&card.title, card_url(card, options))).collect(),
        card_action: Some(CardTapAction {
            action_type: 1,
            url: cards.first().map(|c| card_url(c, options)).unwrap_or(&options.fallback_url).to_owned(),
        }),
        button_list: Vec::new(),
        task_id: None,
    };
    WecomOutbound::TemplateCard { template_card }
}

/// Keeps only `[0-9A-Za-z_-@]` and at most 128 bytes, as WeCom requires of task ids.
pub fn sanitize_task_id(task_id: &str) -> String {
    let cleaned: String = task_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@') { c } else { '_' })
        .take(128)
        .collect();
    if cleaned.is_empty() {
        "task".to_owned()
    } else {
        cleaned
    }
}

/// Whether a single card of this kind is worth a textcard even without its own link.
fn is_linkable_kind(kind: CardKind) -> bool {
    !matches!(kind, CardKind::Account | CardKind::Contact | CardKind::List)
}

/// The messages to send for one reply, in order.
/// No cards → one text; one card → intro text (if any) + textcard (account/contact cards without a link stay text);
/// several cards → intro text + news, or one template card under [`MultiCardStyle::TemplateCard`].
pub fn render_reply(reply: &Reply, options: &RenderOptions) -> Vec<WecomOutbound> {
    let cards = flatten_cards(&reply.cards);
    match cards.as_slice() {
        [] => vec![render_text(reply)],
        [card] if is_linkable_kind(card.kind) || card_link(card).is_some() => {
            let mut messages: Vec<WecomOutbound> = render_intro_text(reply).into_iter().collect();
            messages.push(render_textcard(card, options));
            messages
        }
        [_] => vec![render_text(reply)],
        _ => match options.multi_card_style {
            MultiCardStyle::News => {
                let mut messages: Vec<WecomOutbound> = render_intro_text(reply).into_iter().collect();
                messages.push(render_news(&reply.cards, options));
                messages
            }
            MultiCardStyle::TemplateCard => vec![render_cards_template_card(reply, options)],
        },
    }
}

#[cfg(test)]
mod tests;
