//! Tests of `wecom_render`.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.
use super::*;
use bot::protocol::{Field, Mode, Suggestion};

fn options() -> RenderOptions {
    RenderOptions { fallback_url: "https://chat.example.edu.cn/".into(), ..RenderOptions::default() }
}

fn reply(text: &str, cards: Vec<Card>) -> Reply {
    Reply {
        id: "r_1".into(),
        in_reply_to: None,
        mode: Mode::Answer,
        intent: "service.guide".into(),
        confidence: 0.9,
        text: text.into(),
        cards,
        suggestions: vec![Suggestion::text("需要什么材料"), Suggestion::action("收藏", "app.favorite", Map::new())],
        handoff: None,
    }
}

fn service_card() -> Card {
    let mut card = Card::new(CardKind::Service, "svc-1", "在读证明开具");
    card.subtitle = Some("教务处".into());
    card.body = Some("本科生可在线申请在读证明，审核后下载电子版。".into());
    card.fields = vec![Field::new("责任部门", "教务处"), Field::new("咨询电话", "022-26675000")];
    card.actions = vec![
        CardAction::OpenUrl { label: "在线办理".into(), url: "https://ehall.example.edu.cn/svc/1".into() },
        CardAction::Action { label: "收藏".into(), action: "app.favorite".into(), args: Map::new() },
    ];
    card
}

fn textcard_of(message: &WecomOutbound) -> &TextCardBody {
    match message {
        WecomOutbound::Textcard { textcard } => textcard,
        other => panic!("expected textcard, got {other:?}"),
    }
}

#[test]
fn a_text_only_reply_is_one_text_message_with_suggestions() {
    let messages = render_reply(&reply("您好，请问需要办理什么？", vec![]), &options());
    assert_eq!(messages.len(), 1);
    let json = serde_json::to_value(&messages[0]).unwrap();
    assert_eq!(json["msgtype"], "text");
    assert_eq!(json["text"]["content"], "您好，请问需要办理什么？\n\n您还可以问：\n1. 需要什么材料");
}

#[test]
fn a_service_card_becomes_a_textcard_with_its_open_url() {
    let messages = render_reply(&reply("为您找到：", vec![service_card()]), &options());
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].msg_type(), "text");
    let card = textcard_of(&messages[1]);
    assert_eq!(card.title, "在读证明开具");
    assert_eq!(card.url, "https://ehall.example.edu.cn/svc/1");
    assert_eq!(card.btntxt, "在线办理");
    assert_eq!(
            card.description,
            "<div class=\"gray\">教务处</div><div class=\"normal\">本科生可在线申请在读证明，审核后下载电子版。</div><div class=\"normal\">责任部门：教务处</div><div class=\"normal\">咨询电话：022-26675000</div>"
        );
    let json = serde_json::to_value(&messages[1]).unwrap();
    assert_eq!(json["msgtype"], "textcard");
    assert_eq!(json["textcard"]["btntxt"], "在线办理");
}

#[test]
fn app_faq_and_news_cards_become_textcards() {
    let mut app = Card::new(CardKind::App, "app-1", "一卡通服务");
    app.actions = vec![CardAction::OpenUrl { label: "打开应用".into(), url: "https://ykt.example.edu.cn".into() }];
    let card = render_textcard(&app, &options());
    assert_eq!(
        (textcard_of(&card).url.as_str(), textcard_of(&card).btntxt.as_str()),
        ("https://ykt.example.edu.cn", "打开应用")
    );
    assert_eq!(textcard_of(&card).description, "<div class=\"normal\">一卡通服务</div>");

    let mut faq = Card::new(CardKind::Faq, "faq-1", "校园网密码忘了怎么办？");
    faq.body = Some("登录自助服务系统 <重置> 密码 & 重新连接。".into());
    let card = render_textcard(&faq, &options());
    let body = textcard_of(&card);
    assert_eq!(body.url, "https://chat.example.edu.cn/");
    assert_eq!(body.btntxt, "详情");
    assert_eq!(body.description, "<div class=\"normal\">登录自助服务系统 &lt;重置&gt; 密码 &amp; 重新连接。</div>");

    let mut news = Card::new(CardKind::News, "news-1", "关于寒假放假安排的通知");
    news.subtitle = Some("2026-01-05".into());
    let mut card_only = reply("", vec![news]);
    card_only.suggestions.clear();
    let messages = render_reply(&card_only, &options());
    assert_eq!(messages.len(), 1, "an empty reply text sends only the card");
    assert_eq!(textcard_of(&messages[0]).description, "<div class=\"gray\">2026-01-05</div>");
}

#[test]
fn every_card_kind_has_a_rendering() {
    let expected = [
        (CardKind::Service, "textcard"),
        (CardKind::App, "textcard"),
        (CardKind::Faq, "textcard"),
        (CardKind::News, "textcard"),
        (CardKind::Task, "textcard"),
        (CardKind::Message, "textcard"),
        (CardKind::Feedback, "textcard"),
        (CardKind::Login, "textcard"),
        (CardKind::Account, "text"),
        (CardKind::Contact, "text"),
        (CardKind::List, "text"),
    ];
    for (kind, msg_type) in expected {
        let mut card = Card::new(kind, "id", "标题");
        card.fields = vec![Field::new("状态", "已受理")];
        let mut single = reply("", vec![card.clone()]);
        single.suggestions.clear();
        let messages = render_reply(&single, &options());
        assert_eq!(messages.iter().map(WecomOutbound::msg_type).collect::<Vec<_>>(), [msg_type], "{kind:?}");
        // With a link every kind becomes a textcard pointing at it.
        card.actions =
            vec![CardAction::OpenUrl { label: "去登录".into(), url: "https://cas.example.edu.cn/".into() }];
        single.cards = vec![card];
        let messages = render_reply(&single, &options());
        assert_eq!(textcard_of(&messages[0]).url, "https://cas.example.edu.cn/", "{kind:?}");
    }
}

#[test]
fn task_cards_highlight_their_status() {
    let mut task = Card::new(CardKind::Task, "task-1", "在读证明申请");
    task.fields = vec![Field::new("状态", "待审核"), Field::new("提交时间", "2026-11-20")];
    let card = render_textcard(&task, &options());
    assert!(textcard_of(&card).description.starts_with("<div class=\"highlight\">状态：待审核</div>"));
}

#[test]
fn textcard_descriptions_stay_within_512_bytes() {
    let mut card = service_card();
    card.body = Some("很长的办理须知。".repeat(80));
    card.title = "标".repeat(60);
    let body = textcard_of(&render_textcard(&card, &options())).clone();
    assert!(body.description.len() <= MAX_TEXTCARD_DESCRIPTION_BYTES, "{}", body.description.len());
    assert!(body.description.ends_with("</div>"));
    assert!(body.title.len() <= MAX_TEXTCARD_TITLE_BYTES);
    let mut escaped = Card::new(CardKind::Faq, "f", "t");
    escaped.body = Some("<&>".repeat(300));
    let body = textcard_of(&render_textcard(&escaped, &options())).clone();
    assert!(body.description.len() <= MAX_TEXTCARD_DESCRIPTION_BYTES);
}

#[test]
fn account_and_contact_cards_without_links_stay_text() {
    let mut account = Card::new(CardKind::Account, "acct", "一卡通余额");
    account.fields = vec![Field::new("余额", "52.30 元")];
    let messages = render_reply(&reply("您的一卡通信息：", vec![account]), &options());
    assert_eq!(messages.len(), 1);
    let WecomOutbound::Text { text } = &messages[0] else { panic!("expected text") };
    assert!(text.content.contains("【一卡通余额】\n余额：52.30 元"));

    let mut contact = Card::new(CardKind::Contact, "c", "教务处");
    contact.fields = vec![Field::new("电话", "022-26675000")];
    assert_eq!(render_reply(&reply("", vec![contact]), &options())[0].msg_type(), "text");
}

#[test]
fn several_cards_become_news_articles_capped_at_eight() {
    let cards: Vec<Card> = (0..10)
        .map(|i| {
            let mut card = Card::new(CardKind::Service, format!("s{i}"), format!("事项{i}"));
            card.subtitle = Some("学生处".into());
            card
        })
        .collect();
    let messages = render_reply(&reply("您可能想办理：", cards), &options());
    assert_eq!(messages.len(), 2);
    let json = serde_json::to_value(&messages[1]).unwrap();
    assert_eq!(json["msgtype"], "news");
    let articles = json["news"]["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 8);
    assert_eq!(articles[0]["title"], "事项0");
    assert_eq!(articles[0]["description"], "学生处");
    assert_eq!(articles[0]["url"], "https://chat.example.edu.cn/");
    assert!(articles[0].get("picurl").is_none());
}

#[test]
fn list_cards_expand_into_their_items() {
    let mut list = Card::new(CardKind::List, "cat", "教务服务");
    list.items = vec![service_card(), Card::new(CardKind::Service, "svc-2", "成绩单打印")];
    let messages = render_reply(&reply("教务类服务有：", vec![list]), &options());
    let WecomOutbound::News { news } = &messages[1] else { panic!("expected news") };
    assert_eq!(news.articles.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(), ["在读证明开具", "成绩单打印"]);
    assert_eq!(news.articles[0].url, "https://ehall.example.edu.cn/svc/1");
}

#[test]
fn several_cards_can_become_one_template_card() {
    let cards: Vec<Card> = (0..4).map(|i| Card::new(CardKind::Faq, format!("f{i}"), format!("问题{i}"))).collect();
    let options = RenderOptions { multi_card_style: MultiCardStyle::TemplateCard, ..options() };
    let messages = render_reply(&reply("您是想问哪一个？", cards), &options);
    assert_eq!(messages.len(), 1);
    let json = serde_json::to_value(&messages[0]).unwrap();
    assert_eq!(json["msgtype"], "template_card");
    let card = &json["template_card"];
    assert_eq!(card["card_type"], "text_notice");
    assert_eq!(card["main_title"]["title"], "您是想问哪一个？");
    assert_eq!(card["jump_list"].as_array().unwrap().len(), 3);
    assert_eq!(
        card["jump_list"][0],
        serde_json::json!({"type": 1, "title": "问题0", "url": "https://chat.example.edu.cn/"})
    );
    assert_eq!(card["sub_title_text"], "问题3");
    assert_eq!(card["card_action"]["type"], 1);
}

#[test]
fn a_card_with_chat_actions_becomes_a_button_interaction_template_card() {
    let mut args = Map::new();
    args.insert("service".into(), Value::String("svc-1".into()));
    let mut card = service_card();
    card.actions.push(CardAction::Action { label: "开始办理".into(), action: "service.start".into(), args });
    let json = serde_json::to_value(render_template_card(&card, &options(), "r_1/svc 1")).unwrap();
    let tc = &json["template_card"];
    assert_eq!(tc["card_type"], "button_interaction");
    assert_eq!(tc["task_id"], "r_1_svc_1");
    assert_eq!(tc["main_title"], serde_json::json!({"title": "在读证明开具", "desc": "教务处"}));
    assert_eq!(tc["horizontal_content_list"][0], serde_json::json!({"keyname": "责任部门", "value": "教务处"}));
    assert_eq!(tc["jump_list"][0]["url"], "https://ehall.example.edu.cn/svc/1");
    let keys: Vec<&str> = tc["button_list"].as_array().unwrap().iter().map(|b| b["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["app.favorite", r#"service.start?{"service":"svc-1"}"#]);
    let (action, args) = decode_action_key(keys[1]).unwrap();
    assert_eq!((action.as_str(), args["service"].as_str()), ("service.start", Some("svc-1")));

    let plain =
        serde_json::to_value(render_template_card(&Card::new(CardKind::News, "n", "通知"), &options(), "t")).unwrap();
    assert_eq!(plain["template_card"]["card_type"], "text_notice");
    assert!(plain["template_card"].get("task_id").is_none());
}

#[test]
fn action_keys_reject_garbage_and_oversize() {
    assert_eq!(decode_action_key(""), None);
    assert_eq!(decode_action_key("x?[1]"), None);
    assert_eq!(decode_action_key("x?{oops"), None);
    let mut big = Map::new();
    big.insert("k".into(), Value::String("x".repeat(2000)));
    assert_eq!(encode_action_key("a", &big), None);
}

#[test]
fn text_rendering_includes_card_links_and_is_capped() {
    let WecomOutbound::Text { text } = render_text(&reply("找到了", vec![service_card()])) else { panic!() };
    assert!(text.content.contains("<a href=\"https://ehall.example.edu.cn/svc/1\">在线办理</a>"));
    let WecomOutbound::Text { text } = render_text(&reply(&"长".repeat(2000), vec![])) else { panic!() };
    assert!(text.content.len() <= MAX_TEXT_BYTES);
}

#[test]
fn textcards_downgrade_to_passive_news() {
    let passive = render_textcard(&service_card(), &options()).to_passive().unwrap();
    let PassiveReply::News { articles } = passive else { panic!("expected news") };
    assert_eq!(
        articles[0].description,
        "教务处\n本科生可在线申请在读证明，审核后下载电子版。\n责任部门：教务处\n咨询电话：022-26675000"
    );
    assert_eq!(render_template_card(&service_card(), &options(), "t").to_passive(), None);
}

#[test]
fn send_bodies_serialise_with_the_msgtype_tag() {
    let json =
        serde_json::to_value(WecomOutbound::Markdown { markdown: MarkdownBody { content: "**办结**".into() } })
            .unwrap();
    assert_eq!(json, serde_json::json!({"msgtype": "markdown", "markdown": {"content": "**办结**"}}));
}
