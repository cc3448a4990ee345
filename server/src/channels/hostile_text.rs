//! Hostile text through every channel renderer and every card kind: text that looks like markup (links, raw
//! HTML, markdown emphasis) is shown as typed, and only safe `http(s)` links are ever made.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use super::wecom_aibot::render_markdown;
use super::wecom_render::{
    render_cards_template_card, render_reply, render_template_card, RenderOptions, WecomOutbound,
};
use super::wecom_xml::PassiveReply;
use bot::protocol::{Card, CardAction, CardKind, Field, Mode, Reply, Suggestion};
use serde_json::Map;

/// Text a user (echoed back) or an admin (knowledge, notices) could write.
const HOSTILE: &str = "<a href=\"https://evil.example/phish\">点此领取</a> [补贴](https://evil.example/x) **紧急** \
                       <script>alert(1)</script> &lt;b&gt; `code` # 标题 _斜体_ ~~删~~ | 表 |";
const SAFE_URL: &str = "https://ehall.example.edu.cn/svc/1";
const FALLBACK: &str = "https://chat.example.edu.cn/";

const KINDS: [CardKind; 11] = [
    CardKind::Service,
    CardKind::App,
    CardKind::Faq,
    CardKind::News,
    CardKind::Task,
    CardKind::Message,
    CardKind::Account,
    CardKind::Contact,
    CardKind::Feedback,
    CardKind::Login,
    CardKind::List,
];

fn options() -> RenderOptions {
    RenderOptions { fallback_url: FALLBACK.into(), ..RenderOptions::default() }
}

/// A card of `kind` with hostile text everywhere and the given link.
fn hostile_card(kind: CardKind, url: &str) -> Card {
    let mut card = Card::new(kind, "id-1", HOSTILE);
    card.subtitle = Some(HOSTILE.into());
    card.body = Some(HOSTILE.into());
    card.fields = vec![Field::new("说明", HOSTILE)];
    card.actions = vec![CardAction::OpenUrl { label: HOSTILE.into(), url: url.into() }];
    if kind == CardKind::List {
        card.items = vec![hostile_card(CardKind::Service, url)];
    }
    card
}

fn hostile_reply(cards: Vec<Card>) -> Reply {
    Reply {
        id: "r_1".into(),
        in_reply_to: None,
        mode: Mode::Answer,
        intent: "service.guide".into(),
        confidence: 0.9,
        text: format!("没有找到「{HOSTILE}」"),
        cards,
        suggestions: vec![Suggestion::text(HOSTILE), Suggestion::action("收藏", "app.favorite", Map::new())],
        handoff: None,
    }
}

/// The links made in WeCom HTML-ish text: every `<a href="…">` target, and whether any other tag is left.
fn html_links(content: &str) -> (Vec<String>, Vec<String>) {
    let mut links = Vec::new();
    let mut other_tags = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find('<') {
        let tag_end = rest[start..].find('>').map_or(rest.len(), |e| start + e + 1);
        let tag = &rest[start..tag_end];
        if let Some(href) = tag.strip_prefix("<a href=\"").and_then(|t| t.split('"').next()) {
            links.push(href.to_owned());
        } else if tag != "</a>" && !tag.starts_with("<div class=\"") && tag != "</div>" {
            other_tags.push(tag.to_owned());
        }
        rest = &rest[tag_end..];
    }
    (links, other_tags)
}

/// The link targets of markdown: every unescaped `](` … `)`.
fn markdown_links(content: &str) -> Vec<String> {
    let chars: Vec<char> = content.chars().collect();
    let mut links = Vec::new();
    for i in 1..chars.len() {
        if chars[i] == '(' && chars[i - 1] == ']' && (i < 2 || chars[i - 2] != '\\') {
            links.push(chars[i + 1..].iter().take_while(|c| **c != ')').collect());
        }
    }
    links
}

#[test]
fn wecom_text_and_textcards_escape_hostile_text_for_every_card_kind() {
    for kind in KINDS {
        for url in [SAFE_URL, "javascript:alert(1)", "https://ok.example/\" onclick=\"x"] {
            let reply = hostile_reply(vec![hostile_card(kind, url)]);
            for message in render_reply(&reply, &options()) {
                let html = match &message {
                    WecomOutbound::Text { text } => text.content.clone(),
                    WecomOutbound::Textcard { textcard } => {
                        assert!(textcard.url == SAFE_URL || textcard.url == FALLBACK, "{kind:?}: {}", textcard.url);
                        textcard.description.clone()
                    }
                    other => panic!("{kind:?}: unexpected {other:?}"),
                };
                let (links, other_tags) = html_links(&html);
                assert!(other_tags.is_empty(), "{kind:?} {url}: tags left {other_tags:?} in {html}");
                assert!(links.iter().all(|l| l == SAFE_URL), "{kind:?} {url}: links {links:?} in {html}");
                assert!(html.contains("&lt;script&gt;"), "{kind:?}: the text is shown as typed: {html}");
                // The passive form of the same message (XML CDATA) carries the same escaped text.
                if let Some(PassiveReply::Text { content }) = message.to_passive() {
                    assert_eq!(html_links(&content).1, Vec::<String>::new());
                }
            }
        }
    }
}

#[test]
fn wecom_news_and_template_cards_link_only_safe_urls_for_every_card_kind() {
    for kind in KINDS {
        let card = hostile_card(kind, "javascript:alert(1)");
        let reply = hostile_reply(vec![card.clone(), card.clone()]);
        let all = serde_json::to_string(&render_reply(&reply, &options())).unwrap();
        let templates = serde_json::to_string(&[
            render_template_card(&card, &options(), "t1"),
            render_cards_template_card(&reply, &options()),
        ])
        .unwrap();
        for json in [all, templates] {
            assert!(!json.contains("javascript:"), "{kind:?}: {json}");
        }
    }
}

#[test]
fn ai_bot_markdown_escapes_hostile_text_for_every_card_kind() {
    for kind in KINDS {
        for url in [SAFE_URL, "javascript:alert(1)", "https://ok.example/)[x](https://evil.example/"] {
            let reply = hostile_reply(vec![hostile_card(kind, url)]);
            let markdown = render_markdown(&reply, &options());
            assert!(!markdown.contains('<'), "{kind:?}: raw HTML in {markdown}");
            let links = markdown_links(&markdown);
            assert!(
                links.iter().all(|l| l == SAFE_URL || l == FALLBACK || l.starts_with("https://ok.example/%29")),
                "{kind:?} {url}: links {links:?} in {markdown}"
            );
            assert!(!markdown.contains("**紧急**"), "{kind:?}: emphasis escaped: {markdown}");
            assert!(markdown.contains("\\*\\*紧急\\*\\*"), "{kind:?}: {markdown}");
        }
    }
}
