//! Portal forms and notices end to end: 意见反馈 across a reconnect and a server restart, 取消, 工单, a service rating,
//! and the notice of a feedback answer, pushed live to every open session or kept for the next login.

use crate::portal::{field, first_card, login, spawn_portal_app, text, PortalClient, STUDENT, TEACHER};
use bot::campus::{FeedbackStatus, Message};
use ehall_tests::TestDb;
use serde_json::json;

#[tokio::test]
async fn a_feedback_form_survives_a_reconnect_and_a_restart_and_gets_a_number() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut me, token) = PortalClient::logged_in(app.addr, STUDENT).await;
    let session = me.session();
    let reply = me.say("我要反馈").await;
    assert_eq!(reply["intent"], "feedback.start", "{reply}");
    let reply = me.say("服务事项里找不到宿舍调换的办事指南").await;
    assert_eq!(reply["intent"], "feedback.contact", "{reply}");
    me.close().await;

    // A reconnect keeps the form.
    let mut me = PortalClient::connect(app.addr, Some(&session), Some(&token)).await;
    let reply = me.press("form.skip", json!({})).await;
    assert_eq!(reply["intent"], "feedback.confirm", "{reply}");
    assert!(text(&reply).contains("宿舍调换"), "{reply}");
    me.close().await;

    // So does a restart.
    let db = app.stop().await;
    let app = spawn_portal_app(db).await;
    let mut me = PortalClient::connect(app.addr, Some(&session), Some(&token)).await;
    let reply = me.say("确认").await;
    assert_eq!(reply["intent"], "feedback.submitted", "{reply}");
    let card = first_card(&reply);
    assert_eq!(card["kind"], "feedback", "{reply}");
    let number = field(card, "编号").to_owned();
    assert!(number.starts_with("FK"), "{reply}");

    let reply = me.say("我的反馈处理了吗").await;
    assert!(text(&reply).contains(&number) && text(&reply).contains("等待处理"), "{reply}");
    me.close().await;
    app.stop().await;
}

#[tokio::test]
async fn cancel_leaves_a_form_and_tickets_and_ratings_are_stored() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut me, _) = PortalClient::logged_in(app.addr, STUDENT).await;
    me.say("提交工单").await;
    let reply = me.say("取消").await;
    assert_eq!(reply["intent"], "dialog.cancel", "{reply}");
    let reply = me.say("饭卡还有多少钱").await;
    assert_eq!(first_card(&reply)["kind"], "account", "the form is gone: {reply}");

    let reply = me.say("报修").await;
    assert_eq!(reply["intent"], "ticket.start", "{reply}");
    me.say("3号宿舍楼302房间网口没有信号").await;
    me.say("13800000000").await;
    let reply = me.press("form.confirm", json!({})).await;
    assert_eq!(reply["intent"], "ticket.submitted", "{reply}");
    assert!(field(first_card(&reply), "编号").starts_with("GD"), "{reply}");

    let reply = me.say("助学金怎么申请").await;
    assert_eq!(first_card(&reply)["title"], "学生助学金申请", "{reply}");
    let reply = me.say("评价一下").await;
    assert_eq!(reply["intent"], "service.rate.stars", "rates the service under discussion: {reply}");
    let reply = me.say("5星").await;
    assert_eq!(reply["intent"], "service.rate.comment", "{reply}");
    let reply = me.say("指南很清楚").await;
    assert_eq!(reply["intent"], "service.rate.submitted", "{reply}");
    me.close().await;
    let pool = app.db.pool().await;
    let (stars, comment): (i64, String) =
        sqlx::query_as("SELECT stars, comment FROM portal_ratings WHERE user_id = '2021001234'")
            .fetch_one(&pool)
            .await
            .expect("a rating");
    assert_eq!((stars, comment.as_str()), (5, "指南很清楚"));
    app.stop().await;
}

#[tokio::test]
async fn a_feedback_answer_reaches_every_open_session_at_once_or_waits_for_the_next_login() {
    let app = spawn_portal_app(TestDb::new()).await;
    let (mut first, _) = PortalClient::logged_in(app.addr, STUDENT).await;
    let (mut second, _) = PortalClient::logged_in(app.addr, STUDENT).await;
    first.say("我要反馈").await;
    first.say("希望增加宿舍调换的在线办理").await;
    first.say("跳过").await;
    let reply = first.say("确认").await;
    let number = field(first_card(&reply), "编号").to_owned();

    let answered = app
        .portal
        .answer_feedback(&number, "已转宿舍管理中心，下周上线。", FeedbackStatus::Answered)
        .await
        .expect("answered");
    assert!(answered.is_some());
    for client in [&mut first, &mut second] {
        let notice = client.next_frame().await;
        assert_eq!(notice["type"], "notice", "{notice}");
        assert!(notice["text"].as_str().is_some_and(|t| t.contains("下周上线")), "{notice}");
        assert_eq!(notice["cards"][0]["kind"], "feedback", "{notice}");
    }
    first.close().await;
    second.close().await;

    // The teacher is not connected: the notice is kept and comes right after the next welcome.
    let message = Message {
        id: "M-test-1".into(),
        title: "请审核调停课申请".into(),
        body: "会计学2101班提交了调停课申请。".into(),
        sender: "教务系统".into(),
        sent_at: "2021-06-23 08:00".into(),
        read: false,
    };
    app.portal.add_message("T2008001", &message).await.expect("a message is added");
    let guest = PortalClient::connect(app.addr, None, None).await;
    let session = guest.session();
    guest.close().await;
    let token = login(app.addr, &session, TEACHER).await;
    let mut teacher = PortalClient::connect(app.addr, Some(&session), Some(&token)).await;
    let notice = teacher.next_frame().await;
    assert_eq!(notice["type"], "notice", "{notice}");
    assert_eq!(notice["cards"][0]["kind"], "message", "{notice}");
    let reply = teacher.say("我的消息").await;
    assert!(reply["cards"].as_array().is_some_and(|c| c.iter().any(|m| m["title"] == "请审核调停课申请")), "{reply}");
    teacher.close().await;
    app.stop().await;
}
