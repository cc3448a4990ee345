//! The portal for logged-in users through the real websocket: the demo student's and teacher's personal data,
//! 事件跟踪, 消息, ★ and 最近使用, 在线办理 with role checks, and authorization (only one's own data).

use crate::portal::{field, first_card, spawn_portal_app, text, PortalClient, STUDENT, TEACHER};
use ehall_tests::TestDb;
use serde_json::json;

#[tokio::test]
async fn the_student_sees_their_personal_data_tasks_and_messages() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut me, _) = PortalClient::logged_in(app.addr, STUDENT).await;

    let reply = me.say("饭卡还有多少钱").await;
    let card = first_card(&reply);
    assert_eq!(card["kind"], "account", "{reply}");
    assert_eq!(field(card, "卡内余额"), "128.50元", "{reply}");
    assert_eq!(field(card, "过渡余额"), "-56.00元", "{reply}");
    let reply = me.say("这个月工资").await;
    assert!(text(&reply).contains("学生没有工资信息"), "{reply}");
    let reply = me.say("校园网流量还剩多少").await;
    assert_eq!(field(first_card(&reply), "流量余额"), "99088.733MB", "{reply}");
    let reply = me.say("邮箱有没有新邮件").await;
    assert!(text(&reply).contains("没有绑定邮箱"), "{reply}");
    let reply = me.say("绑定邮箱").await;
    let card = first_card(&reply);
    assert!(card["actions"].as_array().is_some_and(|a| a.iter().any(|x| x["type"] == "open_url")), "{reply}");

    let reply = me.say("我的待办").await;
    assert_eq!(first_card(&reply)["items"][0]["kind"], "task", "{reply}");
    let reply = me.say("进行中的办件").await;
    assert_eq!(first_card(&reply)["items"][0]["title"], "学生助学金申请", "{reply}");
    let reply = me.say("助学金申请到哪一步了").await;
    let card = first_card(&reply);
    assert_eq!(card["kind"], "task", "{reply}");
    assert!(text(&reply).contains("学院负责人审核"), "{reply}");
    assert!(card["fields"].as_array().is_some_and(|f| f.iter().any(|x| x["label"] == "2. 辅导员审核")), "{reply}");
    let reply = me.say("已办任务").await;
    assert!(text(&reply).contains("已办任务0件"), "{reply}");

    let reply = me.say("我的消息").await;
    assert!(text(&reply).contains("2条未读"), "{reply}");
    let unread = reply["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .find(|c| field(c, "状态") == "未读")
        .expect("an unread message")
        .clone();
    let read = unread["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["action"] == "message.read"))
        .expect("标为已读")
        .clone();
    let reply = me.press("message.read", read["args"].clone()).await;
    assert!(text(&reply).contains("已标为已读"), "{reply}");
    let reply = me.say("全部已读").await;
    assert!(text(&reply).contains("1条"), "{reply}");
    let reply = me.say("我的消息").await;
    assert!(text(&reply).contains("都已读"), "{reply}");
    me.close().await;
    app.stop().await;
}

#[tokio::test]
async fn favorites_and_recently_used_follow_what_the_user_does() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut me, _) = PortalClient::logged_in(app.addr, STUDENT).await;

    let reply = me.say("收藏教务系统").await;
    assert_eq!(first_card(&reply)["title"], "教务系统学生端", "the student's side: {reply}");
    let reply = me.say("我的收藏").await;
    assert_eq!(first_card(&reply)["items"][0]["title"], "教务系统学生端", "{reply}");
    let reply = me.say("取消收藏教务系统").await;
    assert!(text(&reply).contains("已取消收藏"), "{reply}");
    let reply = me.say("我的收藏").await;
    assert!(text(&reply).contains("还没有收藏"), "{reply}");

    let reply = me.say("打开教务系统").await;
    assert_eq!(first_card(&reply)["kind"], "app", "{reply}");
    let reply = me.press("service.start", json!({"service": "s1-xg-grant"})).await;
    assert_eq!(first_card(&reply)["kind"], "service", "{reply}");
    assert!(
        first_card(&reply)["actions"].as_array().is_some_and(|a| a.iter().any(|x| x["label"] == "在线办理")),
        "{reply}"
    );
    let reply = me.say("最近使用").await;
    let items = first_card(&reply)["items"].as_array().expect("a list").clone();
    assert_eq!(items[0]["title"], "学生助学金申请", "most recent first: {reply}");
    assert!(items.iter().any(|i| i["kind"] == "app"), "{reply}");
    me.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_teacher_gets_a_payslip_and_an_explanation_for_a_student_only_system() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut me, _) = PortalClient::logged_in(app.addr, TEACHER).await;
    let reply = me.say("这个月工资").await;
    let card = first_card(&reply);
    assert_eq!(field(card, "实发"), "9875.50元", "{reply}");
    let reply = me.say("邮箱有没有新邮件").await;
    assert!(text(&reply).contains("3196封"), "{reply}");
    let reply = me.say("我的待办").await;
    assert!(first_card(&reply)["items"][0]["title"].as_str().is_some_and(|t| t.contains("调停课")), "{reply}");

    let reply = me.press("service.start", json!({"service": "s1-xg-grant"})).await;
    assert_eq!(reply["intent"], "service.start.unauthorized", "{reply}");
    assert!(text(&reply).contains("未授权的访问"), "{reply}");
    assert!(
        reply["cards"].as_array().is_some_and(|c| c.iter().any(|x| x["kind"] == "contact" && x["title"] == "网信办")),
        "{reply}"
    );
    assert!(
        !reply["cards"].as_array().is_some_and(|c| c.iter().any(|x| x["kind"] == "service")),
        "no dead link: {reply}"
    );
    me.close().await;
    app.stop().await;
}

#[tokio::test]
async fn users_see_only_their_own_data_and_passwords_are_never_kept() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut teacher, _) = PortalClient::logged_in(app.addr, TEACHER).await;
    let reply = teacher.say("查一下2021001234的余额").await;
    assert!(reply["intent"].as_str().is_some_and(|i| i.ends_with(".refused")), "{reply}");
    assert!(!text(&reply).contains("128.50"), "{reply}");
    let reply = teacher.say("查一下T2008001的余额").await;
    assert_eq!(field(first_card(&reply), "卡内余额"), "356.20元", "one's own id is fine: {reply}");

    let reply = teacher.say("我的邮箱密码是Secret12345").await;
    assert_eq!(reply["intent"], "portal.password_refused", "{reply}");
    assert!(!reply.to_string().contains("Secret12345"), "never echoed: {reply}");
    let session = teacher.session();
    teacher.close().await;
    let log = app.db.question_log(&session).await;
    assert!(log.iter().all(|(_, text, ..)| !text.contains("Secret12345")), "never stored: {log:?}");
    app.stop().await;
}
