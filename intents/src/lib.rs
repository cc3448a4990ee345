//! Intent and entity recognition for what users say besides asking about a knowledge item.

use knowledge::normalize::normalize;
use knowledge::{KnowledgeBase, SmallTalkKind};
use regex::Regex;

pub mod fields;
pub mod handoff;
pub mod pii;
pub mod portal;
pub mod refusal;

pub use fields::{FieldPatterns, GuideField};
pub use portal::PortalIntent;

/// Why a request is outside what the bot does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutOfScope {
    /// It is about another university or institution.
    OtherInstitution(String),
    /// A topic no service hall covers (weather, shopping, homework …).
    Topic(String),
    /// Something the bot must not do (change grades, give out private numbers, sit an exam for someone …).
    Improper,
    /// A general task no service hall does: write an essay, translate, book a ticket, debug code …
    Task,
}

/// What the user wants, besides (or before) a knowledge search.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    SmallTalk(SmallTalkKind),
    /// 联系网信办, 客服电话: how to reach the service desk.
    HumanHelp,
    /// 转人工, 人工客服, 找真人: talk to a person now (the server's handoff desk, docs/handoff.md).
    HumanAgent,
    /// 我要反馈, 提个意见.
    Feedback,
    /// 取消, 算了, 不提交了, 不评了.
    Cancel,
    /// 好的, 嗯, 确认, 收到, 跳过 outside a form: an acknowledgement, never a search.
    Acknowledge,
    /// 更多, 下一页, 还有吗: the next page of the last list.
    More,
    /// 热门问题, 大家都在问什么: what people ask most.
    Popular,
    /// A question about a field of a service: of the one under discussion, or of `subject` when the text names one.
    FollowUp {
        field: GuideField,
        subject: Option<String>,
    },
    OutOfScope(OutOfScope),
    /// Something of 我的大学 / 办事大厅 about the user: personal data, tasks, messages, shortcuts, catalog, news …
    Portal(PortalIntent),
    /// Anything else: search the knowledge base.
    Search,
    /// 登录, 我要登录, login: log in with 统一身份认证.
    Login,
    /// 退出登录, 注销, logout.
    Logout,
}

impl Intent {
    /// The dotted name the protocol's `intent` field carries.
    pub fn name(&self) -> String {
        match self {
            Intent::SmallTalk(k) => format!("smalltalk.{}", serde_name(*k)),
            Intent::HumanHelp => "help.contact".into(),
            Intent::HumanAgent => "help.agent".into(),
            Intent::Feedback => "feedback.start".into(),
            Intent::Cancel => "dialog.cancel".into(),
            Intent::Acknowledge => "dialog.ack".into(),
            Intent::More => "dialog.more".into(),
            Intent::Popular => "portal.popular".into(),
            Intent::FollowUp { field, .. } => format!("service.field.{}", field.name()),
            Intent::OutOfScope(_) => "out_of_scope".into(),
            Intent::Portal(p) => p.name(),
            Intent::Search => "search".into(),
            Intent::Login => "auth.login".into(),
            Intent::Logout => "auth.logout".into(),
        }
    }
}

fn serde_name(k: SmallTalkKind) -> &'static str {
    match k {
        SmallTalkKind::Greeting => "greeting",
        SmallTalkKind::Thanks => "thanks",
        SmallTalkKind::Goodbye => "goodbye",
        SmallTalkKind::Identity => "identity",
        SmallTalkKind::Capabilities => "capabilities",
        SmallTalkKind::Praise => "praise",
        SmallTalkKind::Complaint => "complaint",
        SmallTalkKind::Laughter => "laughter",
    }
}

/// Compiled once per knowledge version; recognition is then pure and cheap.
pub struct Recognizer {
    smalltalk: Vec<(SmallTalkKind, Vec<String>)>,
    other_institutions: Vec<String>,
    topics: Vec<String>,
    fields: FieldPatterns,
    human: Regex,
    agent: Regex,
    feedback: Regex,
    cancel: Regex,
    acknowledge: Regex,
    more: Regex,
    popular: Regex,
    improper: Regex,
    task: Regex,
    task_exception: Regex,
    laughter: Regex,
    identity: Regex,
    capabilities: Regex,
    closing: Regex,
    login: Regex,
    logout: Regex,
    portal: portal::PortalRecognizer,
}

fn re(pattern: &str) -> Regex {
    // The patterns are literals of this file, covered by the tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in intent pattern compiles")
}

impl Recognizer {
    pub fn new(kb: &KnowledgeBase) -> Recognizer {
        let smalltalk = kb
            .texts
            .smalltalk
            .iter()
            .map(|s| (s.intent, s.triggers.iter().map(|t| normalize(t)).filter(|t| !t.is_empty()).collect()))
            .collect();
        let mut other_institutions: Vec<String> =
            kb.lexicon.other_institutions.iter().map(|t| normalize(t)).filter(|t| !t.is_empty()).collect();
        other_institutions.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
        let topics =
            kb.texts.out_of_scope_topics.words.iter().map(|t| normalize(t)).filter(|t| !t.is_empty()).collect();
        let fields = FieldPatterns::new();
        Recognizer {
            smalltalk,
            other_institutions,
            topics,
            fields,
            human: re(r"(联系网信办|联系客服|客服电话|找客服)"),
            agent: re(concat!(
                r"(转人工|转接人工|接人工|人工客服|人工服务|人工坐席|人工帮助|找人工|要人工|真人客服|找真人|要真人|和真人|跟真人|",
                // Matched on the text without spaces: "talk to a person" reads "talktoaperson".
                r"真人回复|人工回复|humanagent|realperson|(talk|speak)to(a|an)(person|human|agent))",
            )),
            feedback: re(r"^(我要|我想|想|要)?(反馈|提(个|点|些|条)?(意见|建议)|意见反馈|投诉|吐槽一下|give feedback)"),
            cancel: re(concat!(
                r"^(那|那就|哦|啊)?(",
                r"(我)?(算了|还是算了|不弄了|取消|放弃|不用了|退出|cancel|不办了|不要了|先不了|先不用了)(吧|啦|了)?",
                r"((我)?(先|还是|就)?不(想|要)?(提交|评|评价|评分|打分|反馈|填|填写|报修|提|写|办|弄|说)了(吧|啦)?)?",
                r"|(我)?(先|还是|就)?不(想|要)?(提交|评|评价|评分|打分|反馈|填|填写|报修|提|写|办|弄|说)了(吧|啦)?",
                r")$"
            )),
            acknowledge: re(
                r"^(好|好的|好滴|好嘞|好吧|行|行吧|可以|嗯+|恩+|哦+|噢+|ok|okay|收到|知道了|明白了|了解|懂了|确认|确认提交|确定|是的|对|对的|没问题|跳过|skip)(的|了|啦|呀)?$|^(好的?|嗯+|ok|okay|行)(明白了|知道了|收到|了解了?|懂了|清楚了|好的)$",
            ),
            more: re(
                r"^(还有吗|还有呢|还有别的吗|还有其他的吗|更多|查看更多|显示更多|看更多|再多一些|下一页|下页|翻页|继续|再来几个|再来点|换一批|后面的|后面呢|其他的呢|其它的呢|more|next)$",
            ),
            popular: re(
                r"^(看看|查看|有哪些|有什么)?(热门问题|热门咨询|热门问答|常见问题|大家都在问(什么|啥)?|大家都问(什么|啥|了什么)|别人都问(什么|啥)|大家常问(什么|啥|的问题)?|最常见的问题|大家最关心什么)(有哪些|有什么|呢|吗)?$",
            ),
            improper: re(
                r"(改成绩|改分|成绩改成|把.{0,6}成绩改|改成及格|私人(手机|电话|号码|住址|微信)|家庭住址|代考|替考|代写|作弊|破解|盗号)",
            ),
            task: re(
                r"((帮我|给我|替我|请)?(写|代写)(一篇|篇|一份)|写.{0,6}(论文|作文|作业|文章|演讲稿)|翻译(成|为)(英文|中文|英语|日语)|订.{0,12}(机票|火车票|高铁票|车票|酒店)|推荐.{0,6}(电影|电视剧|小说|歌曲|游戏)|讲个笑话|(python|java|c\+\+|代码|编程|程序).{0,12}(报错|bug|错误|error)|\w+error:|exception:)",
            ),
            task_exception: re(r"(报销|发票|差旅|毕业论文|学位论文|论文查重|论文答辩|开题|选题)"),
            laughter: re(r"^(哈|呵|嘿|嘻|h){2,}$|^(lol|233+|hh+|xswl)$"),
            identity: re(
                r"(你是谁|你叫什么|你是机器人|真人还是机器人|是真人吗|机器人吗|are you (a )?(bot|robot|human))",
            ),
            capabilities: re(
                r"(你能做什么|你会什么|你能干什么|有什么功能|能帮我做什么|你能帮我什么|怎么用你|what can you do)",
            ),
            login: re(
                r"^(我要|我想|我想要|请|帮我|去)?(登录|登陆|登入)(一下|吧|账号|帐号)?$|^统一身份认证(登录|登陆)$|^(login|signin)$",
            ),
            logout: re(
                r"^(我要|我想|请|帮我)?(退出登录|退出登陆|注销登录|登出|注销|退出账号|退出帐号)(一下|吧)?$|^(logout|signout)$",
            ),
            portal: portal::PortalRecognizer::new(kb),
            closing: re(
                r"^(好的?|好吧|嗯+|ok|okay|行|知道了|明白了)?(谢谢|多谢|谢啦|感谢|thanks|thank you)?(您|你)?(啦|了)?(没事了|没有了|没别的了|就这些|再见|拜拜|bye)$",
            ),
        }
    }

    /// The first other institution the text names. A name followed by 生 or 区 is not one ("天津大学生医保" is
    /// about students in Tianjin, 南开区 is a district), and Latin names must stand as whole words.
    fn other_institution(&self, norm: &str) -> Option<String> {
        // Spans refused as names; a shorter name inside one ("南开" in a refused "南开大学生") is refused too.
        let mut refused: Vec<(usize, usize)> = Vec::new();
        for name in &self.other_institutions {
            for (at, _) in norm.match_indices(name.as_str()) {
                let end = at + name.len();
                if refused.iter().any(|&(a, b)| a <= at && end <= b) {
                    continue;
                }
                let after = norm[end..].chars().next();
                let before = norm[..at].chars().next_back();
                if matches!(after, Some('生' | '区')) {
                    refused.push((at, end));
                    continue;
                }
                let latin = name.is_ascii();
                if latin
                    && (after.is_some_and(|c| c.is_ascii_alphanumeric())
                        || before.is_some_and(|c| c.is_ascii_alphanumeric()))
                {
                    continue;
                }
                return Some(name.clone());
            }
        }
        None
    }

    /// The portal recognizer, for what a form step needs (a star count).
    pub fn portal(&self) -> &portal::PortalRecognizer {
        &self.portal
    }

    /// Recognizes the intent of one message.
    pub fn recognize(&self, text: &str) -> Intent {
        let norm = normalize(text);
        let compact: String = norm.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Intent::SmallTalk(SmallTalkKind::Greeting);
        }
        if self.login.is_match(&compact) {
            return Intent::Login;
        }
        if self.logout.is_match(&compact) {
            return Intent::Logout;
        }
        if self.cancel.is_match(&compact) {
            return Intent::Cancel;
        }
        if self.acknowledge.is_match(&compact) {
            return Intent::Acknowledge;
        }
        if self.more.is_match(&compact) {
            return Intent::More;
        }
        if self.popular.is_match(&compact) {
            return Intent::Popular;
        }
        if self.improper.is_match(&compact) {
            return Intent::OutOfScope(OutOfScope::Improper);
        }
        if let Some(name) = self.other_institution(&norm) {
            return Intent::OutOfScope(OutOfScope::OtherInstitution(name));
        }
        if self.task.is_match(&compact) && !self.task_exception.is_match(&compact) {
            return Intent::OutOfScope(OutOfScope::Task);
        }
        if self.laughter.is_match(&compact) {
            return Intent::SmallTalk(SmallTalkKind::Laughter);
        }
        if self.closing.is_match(&compact) {
            return Intent::SmallTalk(if compact.contains("谢") || compact.contains("thank") {
                SmallTalkKind::Thanks
            } else {
                SmallTalkKind::Goodbye
            });
        }
        let short = compact.chars().count() <= 16;
        if short && self.identity.is_match(&compact) {
            return Intent::SmallTalk(SmallTalkKind::Identity);
        }
        if short && self.capabilities.is_match(&compact) {
            return Intent::SmallTalk(SmallTalkKind::Capabilities);
        }
        for (kind, triggers) in &self.smalltalk {
            for t in triggers {
                let tc: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                if compact == tc {
                    return Intent::SmallTalk(*kind);
                }
            }
        }
        if self.agent.is_match(&compact) {
            return Intent::HumanAgent;
        }
        if self.human.is_match(&compact) {
            return Intent::HumanHelp;
        }
        if self.feedback.is_match(&compact) {
            // 反馈有回复了吗 asks about feedback already sent.
            if let Some(p @ PortalIntent::FeedbackStatus) = self.portal.recognize(text) {
                return Intent::Portal(p);
            }
            return Intent::Feedback;
        }
        if let Some(topic) = self.topics.iter().find(|t| norm.contains(t.as_str())) {
            return Intent::OutOfScope(OutOfScope::Topic(topic.clone()));
        }
        if let Some(p) = self.portal.recognize(text) {
            return Intent::Portal(p);
        }
        if let Some(q) = self.fields.question(&compact) {
            return Intent::FollowUp { field: q.field, subject: q.subject };
        }
        Intent::Search
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use knowledge::model::{BotTexts, Lexicon, SmallTalk};

    fn recognizer() -> Recognizer {
        let mut kb = KnowledgeBase::default();
        kb.lexicon = Lexicon { other_institutions: vec!["南开大学".into(), "南开".into()], ..Lexicon::default() };
        kb.texts = BotTexts {
            smalltalk: vec![SmallTalk {
                intent: SmallTalkKind::Greeting,
                triggers: vec!["你好".into()],
                replies: vec!["您好".into()],
            }],
            out_of_scope_topics: knowledge::model::TopicWords { words: vec!["天气".into()] },
            ..BotTexts::default()
        };
        Recognizer::new(&kb)
    }

    #[test]
    fn login_and_logout_are_recognized_only_as_whole_requests() {
        let r = recognizer();
        for text in ["登录", "我要登录", "login", "Log in", "登陆一下", "统一身份认证登录"] {
            assert_eq!(r.recognize(text), Intent::Login, "{text}");
        }
        for text in ["退出登录", "注销", "logout", "我要退出登录"] {
            assert_eq!(r.recognize(text), Intent::Logout, "{text}");
        }
        assert_eq!(r.recognize("登录密码忘了怎么办"), Intent::Search);
        assert_eq!(r.recognize("退出"), Intent::Cancel);
    }

    #[test]
    fn follow_ups_name_their_field() {
        let r = recognizer();
        assert_eq!(r.recognize("电话多少"), Intent::FollowUp { field: GuideField::Phone, subject: None });
        assert_eq!(r.recognize("要带什么材料"), Intent::FollowUp { field: GuideField::Materials, subject: None });
        assert!(
            matches!(r.recognize("助学金的电话多少"), Intent::FollowUp { field: GuideField::Phone, subject: Some(s) } if s == "助学金")
        );
    }

    #[test]
    fn small_talk_and_scope_are_recognized() {
        let r = recognizer();
        assert_eq!(r.recognize("你好！"), Intent::SmallTalk(SmallTalkKind::Greeting));
        assert_eq!(r.recognize("哈哈哈哈"), Intent::SmallTalk(SmallTalkKind::Laughter));
        assert_eq!(r.recognize("好的谢谢，没事了"), Intent::SmallTalk(SmallTalkKind::Thanks));
        assert!(matches!(r.recognize("南开的VPN怎么连"), Intent::OutOfScope(OutOfScope::OtherInstitution(_))));
        assert!(matches!(r.recognize("明天天气咋样"), Intent::OutOfScope(OutOfScope::Topic(_))));
        assert_eq!(r.recognize("转人工"), Intent::HumanAgent);
        assert_eq!(r.recognize("我想找真人聊聊"), Intent::HumanAgent);
        assert_eq!(r.recognize("客服电话是多少"), Intent::HumanHelp);
        assert_eq!(r.recognize("我要反馈"), Intent::Feedback);
        assert_eq!(r.recognize("助学金怎么申请"), Intent::Search);
        assert_eq!(r.recognize("家住南开区，医保怎么报销"), Intent::Search);
        assert_eq!(r.recognize("南开大学生也能来借书吗"), Intent::Search);
        assert_eq!(r.recognize("帮我写一篇读书笔记"), Intent::OutOfScope(OutOfScope::Task));
        assert_eq!(r.recognize("我订的高铁票能报销吗"), Intent::Search);
        assert_eq!(r.recognize("Python报错 KeyError: x 怎么办"), Intent::OutOfScope(OutOfScope::Task));
    }

    #[test]
    fn control_words_are_never_searches() {
        let r = recognizer();
        for text in ["确认", "好的", "嗯", "嗯嗯", "OK", "收到", "知道了", "跳过", "好滴", "OK明白了", "好的收到"]
        {
            assert_eq!(r.recognize(text), Intent::Acknowledge, "{text}");
        }
        for text in ["热门问题", "大家都在问什么", "常见问题有哪些"] {
            assert_eq!(r.recognize(text), Intent::Popular, "{text}");
        }
        for text in ["更多", "下一页", "还有吗", "换一批", "还有别的吗"] {
            assert_eq!(r.recognize(text), Intent::More, "{text}");
        }
        for text in ["算了，不提交了", "不评了", "取消", "算了吧", "我不想填了", "那算了", "不反馈了", "我不要了"]
        {
            assert_eq!(r.recognize(text), Intent::Cancel, "{text}");
        }
        for text in ["我", "吧", "还是", "不"] {
            assert_ne!(r.recognize(text), Intent::Cancel, "{text}");
        }
    }

    #[test]
    fn asking_about_sent_feedback_is_not_new_feedback() {
        let r = recognizer();
        assert_eq!(r.recognize("反馈有回复了吗"), Intent::Portal(PortalIntent::FeedbackStatus));
        assert_eq!(r.recognize("我要提意见"), Intent::Feedback);
    }
}
