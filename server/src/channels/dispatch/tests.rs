//! Tests of `dispatch`.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.
use super::*;
use bot::protocol::{Field, Suggestion};

fn reply_with(cards: Vec<Card>) -> Reply {
    Reply {
        id: "r_1".into(),
        in_reply_to: None,
        mode: Mode::Answer,
        intent: "service.guide".into(),
        confidence: 0.9,
        text: "为您找到：".into(),
        cards,
        suggestions: vec![Suggestion::text("需要什么材料")],
        handoff: None,
    }
}

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

fn card_of(kind: CardKind) -> Card {
    let mut card = Card::new(kind, "c1", "学生助学金申请");
    card.body = Some("家庭经济困难学生可申请。".into());
    card.fields = vec![Field::new("状态", "已受理")];
    card.actions = vec![CardAction::OpenUrl { label: "在线办理".into(), url: "https://xg.example.edu.cn/".into() }];
    if kind == CardKind::List {
        card.items = vec![card_of(CardKind::Service)];
    }
    card
}

#[test]
fn every_card_kind_renders_on_every_channel_with_its_link() {
    let options = RenderOptions::default();
    for kind in KINDS {
        let reply = reply_with(vec![card_of(kind)]);
        let Rendered::WebJson(json) = render(&reply, Rendering::WebJson, &options) else { panic!() };
        assert_eq!(json["cards"][0]["title"], "学生助学金申请", "{kind:?}");

        let Rendered::WecomApp(messages) = render(&reply, Rendering::WecomApp, &options) else { panic!() };
        let last = serde_json::to_value(messages.last().unwrap()).unwrap();
        assert_eq!(last["msgtype"], "textcard", "{kind:?}");
        assert_eq!(last["textcard"]["url"], "https://xg.example.edu.cn/", "{kind:?}");
        let (passive, before) = plan_wecom_passive(&reply, &options);
        assert!(matches!(passive, Some(PassiveReply::News { .. })), "{kind:?}");
        assert_eq!(before.len(), 1, "the intro text goes actively: {kind:?}");

        let Rendered::WecomBot { markdown, card } = render(&reply, Rendering::WecomBot, &options) else { panic!() };
        assert!(markdown.contains("[学生助学金申请](https://xg.example.edu.cn/)"), "{kind:?}: {markdown}");
        let card = serde_json::to_value(card.unwrap()).unwrap();
        assert_eq!(card["card_action"]["url"], "https://xg.example.edu.cn/", "{kind:?}");

        let Rendered::Cpdaily(answer) = render(&reply, Rendering::Cpdaily, &options) else { panic!() };
        assert!(answer.reply.text.contains("学生助学金申请"), "{kind:?}");
        if kind != CardKind::List {
            assert_eq!(answer.reply.link.as_deref(), Some("https://xg.example.edu.cn/"), "{kind:?}");
        }
    }
}

#[test]
fn a_card_with_chat_actions_goes_out_as_a_button_card() {
    let mut card = card_of(CardKind::Service);
    card.actions.push(CardAction::Action {
        label: "就是这个".into(),
        action: "item.show".into(),
        args: Default::default(),
    });
    let messages = render_wecom_active(&reply_with(vec![card]), &RenderOptions::default());
    let json = serde_json::to_value(messages.last().unwrap()).unwrap();
    assert_eq!(json["template_card"]["card_type"], "button_interaction");
    assert_eq!(json["template_card"]["button_list"][0]["key"], "item.show");
}

#[test]
fn a_text_only_reply_is_a_passive_text() {
    let (passive, before) = plan_wecom_passive(&reply_with(vec![]), &RenderOptions::default());
    assert!(matches!(passive, Some(PassiveReply::Text { .. })));
    assert!(before.is_empty());
}

#[test]
fn settings_need_the_whole_trio() {
    let partial = ChannelArgs { wecom_corp_id: Some("ww1".into()), ..ChannelArgs::default() };
    assert!(ChannelSettings::from_args(&partial).is_err());
    let bad_key = ChannelArgs {
        wecom_corp_id: Some("ww1".into()),
        wecom_token: Some("t".into()),
        wecom_aes_key: Some("short".into()),
        ..ChannelArgs::default()
    };
    assert!(ChannelSettings::from_args(&bad_key).is_err());
    let good = ChannelArgs {
        wecom_corp_id: Some("wx5823bf96d3bd56c7".into()),
        wecom_token: Some("QDG6eK".into()),
        wecom_aes_key: Some("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C".into()),
        wecom_secret: Some("hunter2".into()),
        ..ChannelArgs::default()
    };
    let settings = ChannelSettings::from_args(&good).unwrap();
    assert!(settings.wecom.is_some() && settings.cpdaily.is_none());
    assert!(!format!("{settings:?} {good:?}").contains("hunter2"));
    assert!(ChannelSettings::from_args(&ChannelArgs::default()).unwrap().wecom.is_none());
}

#[test]
fn crypto_errors_have_stable_codes_and_statuses() {
    let e = ChannelError::from(WecomCryptError::ValidateSignature);
    assert_eq!((e.code(), e.status()), ("wecom_bad_signature", StatusCode::UNAUTHORIZED));
    let e = ChannelError::from(WecomCryptError::DecryptAes);
    assert_eq!((e.code(), e.status()), ("wecom_decrypt_failed", StatusCode::BAD_REQUEST));
    let e = ChannelError::NotConfigured(ChannelKind::Wecom);
    assert_eq!(e.status(), StatusCode::NOT_FOUND);
    assert!(e.public_message().contains("EHALL_WECOM_TOKEN"));
}

#[tokio::test]
async fn the_dedup_store_claims_once_and_takes_over_expired_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sql = crate::store::connect(&format!("sqlite://{}/c.sqlite", dir.path().display())).await.unwrap();
    let store = ChannelStore::new(sql.pool().clone());
    assert!(store.claim("k", 60, 1000).await.unwrap());
    assert!(!store.claim("k", 60, 1030).await.unwrap());
    assert_eq!(store.response("k").await.unwrap(), Some(None));
    store.set_response("k", "answer").await.unwrap();
    assert_eq!(store.response("k").await.unwrap(), Some(Some("answer".into())));
    assert!(store.claim("k", 60, 1061).await.unwrap(), "an expired key is claimed anew");
    store.release("k").await.unwrap();
    assert_eq!(store.response("k").await.unwrap(), None);
    store.create_stream("st1", STREAM_PLACEHOLDER, 1000).await.unwrap();
    assert!(!store.stream("st1").await.unwrap().unwrap().finished);
    store.finish_stream("st1", "答案", None).await.unwrap();
    let stream = store.stream("st1").await.unwrap().unwrap();
    assert!(stream.finished && stream.content == "答案");
    let user = store.resolve_user("2021001234", true).await;
    assert_eq!((user.id.as_str(), user.role), ("2021001234", Role::Student));
}
