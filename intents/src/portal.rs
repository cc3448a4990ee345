//! Portal intents: what a user asks of 我的大学 and 办事大厅 about themselves (personal data, 事件跟踪, 消息通知,
//! 直通车, 服务事项中心, 校内新闻, 在线办理, 意见反馈 and 工单), recognized from one message.

use knowledge::normalize::normalize;
use knowledge::{Audience, KnowledgeBase};
use regex::Regex;

/// A piece of 个人数据.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonalQuery {
    /// 一卡通: 卡内余额, 过渡余额, recent spending.
    OneCard,
    /// 工资: the latest payslip.
    Salary,
    /// 校园网: 账户余额, 流量余额.
    Network,
    /// 邮箱: unread mail.
    Mail,
}

impl PersonalQuery {
    pub fn name(self) -> &'static str {
        match self {
            PersonalQuery::OneCard => "onecard",
            PersonalQuery::Salary => "salary",
            PersonalQuery::Network => "network",
            PersonalQuery::Mail => "mail",
        }
    }
}

/// Which 办件 or tasks of 事件跟踪.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AffairQuery {
    /// 进行中办件
    Ongoing,
    /// 已完成办件
    Completed,
    /// 待办任务
    Todo,
    /// 已办任务
    Done,
    /// All of them.
    All,
}

impl AffairQuery {
    pub fn name(self) -> &'static str {
        match self {
            AffairQuery::Ongoing => "ongoing",
            AffairQuery::Completed => "completed",
            AffairQuery::Todo => "todo",
            AffairQuery::Done => "done",
            AffairQuery::All => "all",
        }
    }
}

/// How the 服务事项中心 is browsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CatalogQuery {
    /// 按服务对象: 学生能办哪些事.
    Audience(Audience),
    /// 按部门: 教务处有哪些服务 (the department's name as the knowledge base spells it).
    Department(String),
    /// 按服务主题: IT服务类的事项 (the theme as the knowledge base spells it).
    Theme(String),
    /// 常用服务 (high_frequency).
    Frequent,
    /// The themes, as an overview.
    Overview,
    /// 在线服务 / 直通车: the apps the asker may open.
    Apps,
}

/// What a logged-in (or would-be) user asks of the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalIntent {
    /// 个人数据; `about` is an account id the message names (it must be the asker's own).
    Personal {
        query: PersonalQuery,
        about: Option<String>,
    },
    /// 个人数据 / 我的大学: an overview of the user's own figures.
    Summary,
    /// 绑定邮箱.
    BindMail,
    /// A message that seems to carry a password: never stored, never echoed.
    PasswordShared,
    Affairs(AffairQuery),
    /// 助学金申请到哪一步了: the 办件 whose title matches `subject`.
    AffairStatus {
        subject: String,
    },
    /// 我的消息.
    Messages,
    /// 全部已读.
    MarkAllRead,
    /// 收藏教务系统.
    Favorite {
        target: String,
    },
    /// 取消收藏教务系统.
    Unfavorite {
        target: String,
    },
    /// 我的收藏.
    Favorites,
    /// 最近使用.
    Recent,
    Catalog(CatalogQuery),
    /// 校内新闻 and 通知公告; `words` narrows by title, `notices` to 通知公告 (true) or to the news (false).
    News {
        words: Option<String>,
        /// Some(true): 通知公告 only; Some(false): news only; None: both.
        notices: Option<bool>,
    },
    /// 在线办理 X.
    StartService {
        subject: String,
    },
    /// 我的反馈处理了吗.
    FeedbackStatus,
    /// 报修, 提交工单.
    Ticket,
    /// 评价 a service: the one named, else the one under discussion.
    Rate {
        subject: Option<String>,
        stars: Option<u8>,
    },
}

impl PortalIntent {
    /// The dotted name the protocol's `intent` field carries.
    pub fn name(&self) -> String {
        match self {
            PortalIntent::Personal { query, .. } => format!("portal.personal.{}", query.name()),
            PortalIntent::Summary => "portal.summary".into(),
            PortalIntent::BindMail => "portal.mail.bind".into(),
            PortalIntent::PasswordShared => "portal.password_refused".into(),
            PortalIntent::Affairs(q) => format!("portal.affairs.{}", q.name()),
            PortalIntent::AffairStatus { .. } => "portal.affairs.status".into(),
            PortalIntent::Messages => "portal.messages".into(),
            PortalIntent::MarkAllRead => "portal.messages.read_all".into(),
            PortalIntent::Favorite { .. } => "portal.favorite.add".into(),
            PortalIntent::Unfavorite { .. } => "portal.favorite.remove".into(),
            PortalIntent::Favorites => "portal.favorite.list".into(),
            PortalIntent::Recent => "portal.recent".into(),
            PortalIntent::Catalog(_) => "portal.catalog".into(),
            PortalIntent::News { .. } => "portal.news".into(),
            PortalIntent::StartService { .. } => "service.start".into(),
            PortalIntent::FeedbackStatus => "feedback.status".into(),
            PortalIntent::Ticket => "ticket.start".into(),
            PortalIntent::Rate { .. } => "service.rate".into(),
        }
    }
}

fn re(pattern: &str) -> Regex {
    // The patterns are literals of this file, covered by the tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in portal pattern compiles")
}

/// Whether a raw message seems to carry a password, in any phrasing ([`crate::pii::contains_password`]).
pub fn looks_like_password(raw: &str) -> bool {
    crate::pii::contains_password(raw)
}

/// A department as users name it: its full name and the shorter keys that stand for it.
struct DepartmentKeys {
    name: String,
    keys: Vec<String>,
}

/// Recognizes portal intents; compiled once per knowledge version.
pub struct PortalRecognizer {
    departments: Vec<DepartmentKeys>,
    /// Normalized theme and the theme as spelled in the knowledge base.
    themes: Vec<(String, String)>,
    account_id: Regex,
    onecard: Regex,
    salary: Regex,
    network: Regex,
    mail: Regex,
    bind_mail: Regex,
    affairs: Vec<(AffairQuery, Regex)>,
    affair_status: Regex,
    messages: Regex,
    read_all: Regex,
    favorites: Regex,
    unfavorite: Regex,
    favorite: Regex,
    recent: Regex,
    audience_catalog: Regex,
    owner_catalog: Regex,
    owner_can_do: Regex,
    related_catalog: Regex,
    audience_tab: Regex,
    frequent: Regex,
    overview: Regex,
    news_any: Regex,
    news_titled: Regex,
    start: Regex,
    feedback_status: Regex,
    ticket: Regex,
    rate: Regex,
    stars: Regex,
}

impl PortalRecognizer {
    pub fn new(kb: &KnowledgeBase) -> PortalRecognizer {
        let mut names: Vec<String> = kb.departments.iter().map(|d| d.name.clone()).collect();
        for s in &kb.services {
            if !names.contains(&s.department) {
                names.push(s.department.clone());
            }
        }
        let departments = names
            .into_iter()
            .map(|name| {
                let compact = |t: &str| normalize(t).replace(' ', "");
                let (head_raw, inner_raw) = name.split_once(['(', '（']).unwrap_or((name.as_str(), ""));
                let head = compact(head_raw);
                let mut keys = vec![compact(&name), head.clone()];
                if let Some(short) = head.strip_prefix("党委") {
                    keys.push(short.to_owned());
                }
                keys.extend(inner_raw.trim_end_matches([')', '）']).split(['、', ',', '，']).map(compact));
                keys.retain(|k| k.chars().count() >= 2);
                DepartmentKeys { name, keys }
            })
            .collect();
        let mut themes: Vec<(String, String)> = Vec::new();
        for s in &kb.services {
            let norm = normalize(&s.theme).replace(' ', "");
            if !themes.iter().any(|(n, _)| *n == norm) {
                themes.push((norm, s.theme.clone()));
            }
        }
        PortalRecognizer {
            departments,
            themes,
            account_id: re(r"(\d{7,12}|[a-z]\d{5,10})"),
            onecard: re(
                r"((饭卡|一卡通|校园卡|校卡|卡内|卡里).{0,6}(余额|还有多少|剩多少|还剩|有多少钱)|过渡余额|消费记录|最近.{0,2}消费|花了多少钱|^(查|看)?.{0,14}的?余额(多少|还有多少)?$)",
            ),
            salary: re(
                r"((这个月|本月|上个月|上月|最近|最新|我的)的?(工资|薪水|薪资|工资条)|^(查|看)(一下|看)?(工资|薪水|工资条)|^(工资|薪水|工资条)(多少|发了吗|发了没|明细)?$|^我的?(工资|薪水|工资条)(是)?(多少|发了吗|发了没|明细)(钱)?(啊|呢)?$|工资发了(吗|没))",
            ),
            network: re(
                r"(校园网.{0,6}(流量|余额|还剩|剩多少|账户|网费)|流量.{0,4}(还剩|剩多少|剩余|余额|还有多少)|网费.{0,4}(多少|余额|还剩)|^(我的)?校园网(账户)?$)",
            ),
            mail: re(r"((邮箱|邮件).{0,8}(新邮件|未读|几封|有没有)|有没有新?邮件|未读邮件|新邮件)"),
            bind_mail: re(r"(绑定.{0,4}邮箱|邮箱.{0,4}绑定|绑邮箱)"),
            affairs: vec![
                (
                    AffairQuery::Todo,
                    re(
                        r"^(我的|查看|看看|有没有|有什么|我有什么|我有没有|我有哪些|我还有)?待办(任务|事项|的事)?(吗|呢|有哪些|没有)?$",
                    ),
                ),
                (AffairQuery::Done, re(r"^(我的|查看|看看)?已办(任务|事项)?(有哪些)?$")),
                (AffairQuery::Ongoing, re(r"^(我的|查看|看看)?(进行中|在办|正在办)的?(办件|事项|事)?(有哪些)?$")),
                (AffairQuery::Completed, re(r"^(我的|查看|看看)?(已完成|办结|已办结)的?(办件|事项)(有哪些)?$")),
                (AffairQuery::All, re(r"^(我的|查看|看看)?(办件|办件进度|事件跟踪|我办的事)(有哪些)?$")),
            ],
            affair_status: re(
                r"^(我的)?(.{2,14}?)(到哪一?步了?|进度(如何|怎样|怎么样)?|办到哪了?|审核到哪了?|审批到哪了?|审到哪了?)(呢|啊|吗|了)?$",
            ),
            messages: re(
                r"^((我的|查看|看看|有没有新?的?|有什么新?的?|有新的?)(消息|消息通知|通知消息|站内信|通知)(吗|呢|没有)?|消息通知|未读消息|新消息)$",
            ),
            read_all: re(r"(全部.{0,2}已读|全都.{0,2}已读|一键已读|都标.{0,2}已读|全部标记已读|消息都已读)"),
            favorites: re(r"^(我的收藏|收藏(夹|列表)|我收藏了(哪些|什么)|我的直通车收藏|查看收藏)$"),
            unfavorite: re(
                r"^(?:取消收藏|不收藏了?|移除收藏|删除收藏)(.{2,20})$|^把?(.{2,20}?)(?:取消收藏|从收藏.{0,2}(?:移除|删除|去掉))$",
            ),
            favorite: re(
                r"^(?:帮我)?(?:收藏|加收藏|添加收藏|加入收藏)(?:一下)?(.{2,20})$|^把(.{2,20}?)(?:加入|添加到|加到|放进)?收藏(?:夹)?$",
            ),
            recent: re(r"(最近使用|最近用过|最近打开|最近用的|用过哪些)"),
            audience_catalog: re(
                r"(学生|本科生|研究生|教师|老师|教职工|校友|校外人员)(能|可以)?(办|办理)?(哪些|什么|啥)(事|事项|服务|业务)",
            ),
            owner_catalog: re(
                r"^(.{2,20}?)(类|方面)?的?(有哪些|有什么|都有啥|都有什么)?的?(服务|事项|业务)(有哪些|有什么)?$",
            ),
            owner_can_do: re(
                r"^(.{2,14}?)(都|还|一般)?(能|可以|负责)(办|办理|管)?(哪些|什么|啥)(事|事情|事项|服务|业务)?(呢|啊)?$",
            ),
            related_catalog: re(
                r"^(有哪些|有什么|有啥)?(跟|和|与|关于)(.{2,10}?)(相关|有关)的?(事|事情|事项|服务|业务)?(有哪些|有什么)?(呢)?$",
            ),
            audience_tab: re(r"^(学生|教师|老师|教职工|游客|访客|校外人员|校友)(办事|服务|事项)$"),
            frequent: re(r"(常用服务|高频服务|热门服务|常办事项|常用事项|大家常办)"),
            overview: re(r"^(服务事项中心|所有服务|服务分类|有哪些服务|服务目录|都能办什么)$"),
            news_any: re(r"^(最近|最新|近期)?(有什么|有啥|的)?(新闻|通知|公告|通知公告|校内新闻|校园新闻)(吗|呢)?$"),
            news_titled: re(r"^(.{2,30}?)的?(通知|公告|新闻)$"),
            start: re(r"^(?:帮我|我要|我想)?(?:在线办理|网上办理|开始办理|在线申请)(?:一下)?(.{2,30})$"),
            feedback_status: re(
                r"((我的|提交的)(反馈|意见|工单|报修).{0,6}(处理|回复|进度|怎么样|到哪|结果|状态)?|(反馈|意见|建议|工单|报修)的?(处理了|有回复|有人回|回复了|有答复|答复了|进度|状态|有结果|怎么样了|到哪了|有下文)|(回复|答复)(我的)?(反馈|意见|工单)了?吗)",
            ),
            ticket: re(r"^(我要|我想|要|帮我)?(报修|提交工单|提工单|提个工单|开个?工单|填工单|提交报修)(一下)?$"),
            rate: re(r"^(?:我要|我想)?(?:评价|打分|评分)(?:一下)?(.{0,30})$|^给(.{2,30}?)(?:评价|打分|评分|打)(.*)$"),
            stars: re(r"([1-5一二三四五])\s*(颗?星|分)"),
        }
    }

    /// The department a text names, as the knowledge base spells it.
    fn department_in(&self, text: &str) -> Option<&str> {
        let mut best: Option<(&str, usize)> = None;
        for d in &self.departments {
            for k in &d.keys {
                if text.contains(k.as_str()) && best.is_none_or(|(_, len)| k.len() > len) {
                    best = Some((d.name.as_str(), k.len()));
                }
            }
        }
        best.map(|(name, _)| name)
    }

    /// The theme a text names, as the knowledge base spells it.
    fn theme_in(&self, text: &str) -> Option<&str> {
        self.themes.iter().find(|(norm, _)| text.contains(norm.as_str())).map(|(_, theme)| theme.as_str())
    }

    /// The theme or department a word stands for, also when it is only part of the name (财务 → 财务处).
    fn owner_named(&self, word: &str) -> Option<CatalogQuery> {
        if let Some(theme) = self.theme_in(word) {
            return Some(CatalogQuery::Theme(theme.to_owned()));
        }
        if let Some(dept) = self.department_in(word) {
            return Some(CatalogQuery::Department(dept.to_owned()));
        }
        if word.chars().count() < 2 {
            return None;
        }
        if let Some((_, theme)) = self.themes.iter().find(|(norm, _)| norm.contains(word)) {
            return Some(CatalogQuery::Theme(theme.clone()));
        }
        self.departments
            .iter()
            .find(|d| d.keys.iter().any(|k| k.contains(word)))
            .map(|d| CatalogQuery::Department(d.name.clone()))
    }

    /// A portal intent of the message, or `None` when the message is something else.
    pub fn recognize(&self, raw: &str) -> Option<PortalIntent> {
        if looks_like_password(raw) {
            return Some(PortalIntent::PasswordShared);
        }
        let norm = normalize(raw);
        let t: String = norm.chars().filter(|c| !c.is_whitespace()).collect();
        let t = t.trim_start_matches("请问").trim_start_matches("帮我查一下").trim_start_matches("帮我看看");
        if t.is_empty() {
            return None;
        }
        let about = || self.account_id.find(t).map(|m| m.as_str().to_owned());
        let personal = |query| Some(PortalIntent::Personal { query, about: about() });
        if matches!(
            t.trim_start_matches("我的").trim_start_matches("查看").trim_start_matches("看看"),
            "个人数据"
                | "个人数据中心"
                | "我的大学"
                | "个人中心"
                | "我的数据"
                | "个人信息"
                | "数据"
                | "大学"
                | "个人数据概览"
        ) && t.chars().count() >= 4
        {
            return Some(PortalIntent::Summary);
        }
        if self.bind_mail.is_match(t) {
            return Some(PortalIntent::BindMail);
        }
        if self.network.is_match(t) {
            return personal(PersonalQuery::Network);
        }
        if self.onecard.is_match(t) {
            return personal(PersonalQuery::OneCard);
        }
        if self.salary.is_match(t) {
            return personal(PersonalQuery::Salary);
        }
        if self.mail.is_match(t) {
            return personal(PersonalQuery::Mail);
        }
        if self.read_all.is_match(t) {
            return Some(PortalIntent::MarkAllRead);
        }
        if self.messages.is_match(t) {
            return Some(PortalIntent::Messages);
        }
        if self.feedback_status.is_match(t) {
            return Some(PortalIntent::FeedbackStatus);
        }
        if self.ticket.is_match(t) {
            return Some(PortalIntent::Ticket);
        }
        for (query, pattern) in &self.affairs {
            if pattern.is_match(t) {
                return Some(PortalIntent::Affairs(*query));
            }
        }
        if let Some(c) = self.affair_status.captures(t) {
            let subject = c.get(2).map_or("", |m| m.as_str()).trim_end_matches("的").to_owned();
            // 我申请的东西办到哪了 names no item: it asks about everything under way.
            let bare = subject.replace(['我', '的'], "").replace("申请", "").replace("提交", "").replace("办", "");
            if ["", "东西", "事", "事情", "材料", "那个", "这个"].contains(&bare.as_str()) {
                return Some(PortalIntent::Affairs(AffairQuery::Ongoing));
            }
            if subject.chars().count() >= 2 {
                return Some(PortalIntent::AffairStatus { subject });
            }
        }
        if self.favorites.is_match(t) {
            return Some(PortalIntent::Favorites);
        }
        if let Some(c) = self.unfavorite.captures(t) {
            let target = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str()).to_owned();
            return Some(PortalIntent::Unfavorite { target });
        }
        if let Some(c) = self.favorite.captures(t) {
            let target = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str()).to_owned();
            // 收藏一下 / 收藏这个: the item under discussion (an empty target).
            let pointing =
                ["一下", "这个", "它", "一下这个", "这个吧", "一下吧", "下", "这个应用", "这项", "这个服务", "他"];
            let target = if pointing.contains(&target.as_str()) { String::new() } else { target };
            return Some(PortalIntent::Favorite { target });
        }
        if matches!(t, "收藏" | "收藏吧" | "帮我收藏" | "加收藏" | "加个收藏") {
            return Some(PortalIntent::Favorite { target: String::new() });
        }
        if self.recent.is_match(t) {
            return Some(PortalIntent::Recent);
        }
        if self.frequent.is_match(t) {
            return Some(PortalIntent::Catalog(CatalogQuery::Frequent));
        }
        if matches!(
            t.trim_end_matches(['吗', '呢'])
                .trim_end_matches("有哪些")
                .trim_end_matches("都有什么")
                .trim_end_matches("有什么"),
            "在线服务"
                | "直通车"
                | "所有应用"
                | "应用列表"
                | "有哪些在线服务"
                | "有哪些应用"
                | "有什么应用"
                | "直通车应用"
                | "应用"
        ) {
            return Some(PortalIntent::Catalog(CatalogQuery::Apps));
        }
        if self.overview.is_match(t) {
            return Some(PortalIntent::Catalog(CatalogQuery::Overview));
        }
        if let Some(c) = self.audience_catalog.captures(t) {
            let audience = match c.get(1).map_or("", |m| m.as_str()) {
                "教师" | "老师" | "教职工" => Audience::Teacher,
                "校友" => Audience::Alumnus,
                "校外人员" => Audience::Visitor,
                _ => Audience::Student,
            };
            return Some(PortalIntent::Catalog(CatalogQuery::Audience(audience)));
        }
        if let Some(c) = self.audience_tab.captures(t) {
            let audience = match c.get(1).map_or("", |m| m.as_str()) {
                "教师" | "老师" | "教职工" => Audience::Teacher,
                "校友" => Audience::Alumnus,
                "游客" | "访客" | "校外人员" => Audience::Visitor,
                _ => Audience::Student,
            };
            return Some(PortalIntent::Catalog(CatalogQuery::Audience(audience)));
        }
        for (pattern, group) in [(&self.owner_can_do, 1), (&self.related_catalog, 3)] {
            if let Some(owner) = pattern.captures(t).and_then(|c| c.get(group)) {
                if let Some(q) = self.owner_named(owner.as_str()) {
                    return Some(PortalIntent::Catalog(q));
                }
            }
        }
        if let Some(c) = self.owner_catalog.captures(t) {
            let owner = c.get(1).map_or("", |m| m.as_str());
            if let Some(theme) = self.theme_in(owner) {
                return Some(PortalIntent::Catalog(CatalogQuery::Theme(theme.to_owned())));
            }
            if let Some(dept) = self.department_in(owner) {
                return Some(PortalIntent::Catalog(CatalogQuery::Department(dept.to_owned())));
            }
        }
        if self.news_any.is_match(t) {
            let notices = if t.contains("通知") || t.contains("公告") {
                Some(true)
            } else if t.contains("新闻") {
                Some(false)
            } else {
                None
            };
            return Some(PortalIntent::News { words: None, notices });
        }
        if let Some(c) = self.news_titled.captures(t) {
            let words = c.get(1).map_or("", |m| m.as_str()).to_owned();
            return Some(PortalIntent::News { words: Some(words), notices: None });
        }
        if let Some(c) = self.start.captures(t).filter(|c| {
            // 在线申请入口 asks for the topic's way in (a follow-up), not for a service named 入口.
            !matches!(
                c.get(1).map_or("", |m| m.as_str()),
                "入口" | "链接" | "网址" | "地址" | "页面" | "吗" | "的入口" | "的链接"
            )
        }) {
            let subject = c.get(1).map_or("", |m| m.as_str()).to_owned();
            return Some(PortalIntent::StartService { subject });
        }
        if let Some(c) = self.rate.captures(t) {
            let rest = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
            let stars = self.stars.captures(t).and_then(|s| star_count(s.get(1).map_or("", |m| m.as_str())));
            let subject = self.stars.replace_all(rest, "").trim_end_matches(['个', '了']).to_owned();
            let subject = (subject.chars().count() >= 2).then_some(subject);
            return Some(PortalIntent::Rate { subject, stars });
        }
        None
    }

    /// A star count the text states ("5星", "四颗星", "3分", or a bare "5").
    pub fn stars_in(&self, raw: &str) -> Option<u8> {
        let norm = normalize(raw);
        let t: String = norm.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(c) = self.stars.captures(&t) {
            return star_count(c.get(1).map_or("", |m| m.as_str()));
        }
        star_count(&t)
    }
}

fn star_count(s: &str) -> Option<u8> {
    match s {
        "1" | "一" => Some(1),
        "2" | "二" => Some(2),
        "3" | "三" => Some(3),
        "4" | "四" => Some(4),
        "5" | "五" => Some(5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use knowledge::model::Department;

    fn recognizer() -> PortalRecognizer {
        let mut kb = KnowledgeBase::default();
        for name in ["教务处", "党委学工部（学生处、大学生创业中心）", "网信办"] {
            kb.departments.push(Department {
                name: name.into(),
                phone: String::new(),
                office: String::new(),
                hours: String::new(),
            });
        }
        PortalRecognizer::new(&kb)
    }

    fn personal(query: PersonalQuery) -> Option<PortalIntent> {
        Some(PortalIntent::Personal { query, about: None })
    }

    #[test]
    fn personal_data_questions_are_recognized() {
        let r = recognizer();
        assert_eq!(r.recognize("饭卡还有多少钱"), personal(PersonalQuery::OneCard));
        assert_eq!(r.recognize("这个月工资"), personal(PersonalQuery::Salary));
        assert_eq!(r.recognize("校园网流量还剩多少"), personal(PersonalQuery::Network));
        assert_eq!(r.recognize("邮箱有没有新邮件"), personal(PersonalQuery::Mail));
        assert_eq!(r.recognize("绑定邮箱"), Some(PortalIntent::BindMail));
        assert_eq!(r.recognize("个人数据"), Some(PortalIntent::Summary));
        assert_eq!(r.recognize("我的大学"), Some(PortalIntent::Summary));
        assert_eq!(
            r.recognize("查一下2021001234的余额"),
            Some(PortalIntent::Personal { query: PersonalQuery::OneCard, about: Some("2021001234".into()) })
        );
    }

    #[test]
    fn knowledge_questions_are_left_to_search() {
        let r = recognizer();
        for q in [
            "助学金怎么申请",
            "校园网连不上",
            "一卡通丢了怎么办",
            "怎么开在读证明",
            "电话多少",
            "忘记密码怎么办",
            "在读证明怎么打印",
        ] {
            assert_eq!(r.recognize(q), None, "{q}");
        }
    }

    #[test]
    fn passwords_are_spotted() {
        assert!(looks_like_password("我的密码是abc12345"));
        assert!(looks_like_password("password: hunter22"));
        assert!(!looks_like_password("忘记密码怎么办"));
        assert!(!looks_like_password("密码是什么"));
        assert_eq!(recognizer().recognize("邮箱密码：Xy98765"), Some(PortalIntent::PasswordShared));
    }

    #[test]
    fn tasks_messages_and_shortcuts_are_recognized() {
        let r = recognizer();
        assert_eq!(r.recognize("我的待办"), Some(PortalIntent::Affairs(AffairQuery::Todo)));
        assert_eq!(r.recognize("进行中的办件"), Some(PortalIntent::Affairs(AffairQuery::Ongoing)));
        assert_eq!(r.recognize("已办任务"), Some(PortalIntent::Affairs(AffairQuery::Done)));
        assert_eq!(
            r.recognize("助学金申请到哪一步了"),
            Some(PortalIntent::AffairStatus { subject: "助学金申请".into() })
        );
        assert_eq!(r.recognize("我的消息"), Some(PortalIntent::Messages));
        assert_eq!(r.recognize("有新通知吗"), Some(PortalIntent::Messages));
        assert_eq!(r.recognize("我有什么待办"), Some(PortalIntent::Affairs(AffairQuery::Todo)));
        assert_eq!(r.recognize("我申请的东西办到哪了"), Some(PortalIntent::Affairs(AffairQuery::Ongoing)));
        assert_eq!(r.recognize("我工资多少"), personal(PersonalQuery::Salary));
        assert_eq!(r.recognize("全部已读"), Some(PortalIntent::MarkAllRead));
        assert_eq!(r.recognize("收藏教务系统"), Some(PortalIntent::Favorite { target: "教务系统".into() }));
        assert_eq!(r.recognize("取消收藏教务系统"), Some(PortalIntent::Unfavorite { target: "教务系统".into() }));
        assert_eq!(r.recognize("我的收藏"), Some(PortalIntent::Favorites));
        assert_eq!(r.recognize("收藏一下"), Some(PortalIntent::Favorite { target: String::new() }));
        assert_eq!(r.recognize("帮我收藏这个"), Some(PortalIntent::Favorite { target: String::new() }));
        assert_eq!(r.recognize("最近使用"), Some(PortalIntent::Recent));
    }

    #[test]
    fn catalog_news_and_help_are_recognized() {
        let r = recognizer();
        assert_eq!(
            r.recognize("学生能办哪些事"),
            Some(PortalIntent::Catalog(CatalogQuery::Audience(Audience::Student)))
        );
        assert_eq!(
            r.recognize("教务处有哪些服务"),
            Some(PortalIntent::Catalog(CatalogQuery::Department("教务处".into())))
        );
        assert_eq!(
            r.recognize("学工部有哪些服务"),
            Some(PortalIntent::Catalog(CatalogQuery::Department("党委学工部（学生处、大学生创业中心）".into())))
        );
        assert_eq!(r.recognize("常用服务"), Some(PortalIntent::Catalog(CatalogQuery::Frequent)));
        assert_eq!(
            r.recognize("教务处都能办什么"),
            Some(PortalIntent::Catalog(CatalogQuery::Department("教务处".into())))
        );
        assert_eq!(
            r.recognize("有哪些跟学工相关的事"),
            Some(PortalIntent::Catalog(CatalogQuery::Department("党委学工部（学生处、大学生创业中心）".into())))
        );
        assert_eq!(r.recognize("在线服务有哪些"), Some(PortalIntent::Catalog(CatalogQuery::Apps)));
        assert_eq!(r.recognize("直通车"), Some(PortalIntent::Catalog(CatalogQuery::Apps)));
        assert_eq!(r.recognize("游客办事"), Some(PortalIntent::Catalog(CatalogQuery::Audience(Audience::Visitor))));
        assert_eq!(r.recognize("教师办事"), Some(PortalIntent::Catalog(CatalogQuery::Audience(Audience::Teacher))));
        assert_eq!(r.recognize("我能办什么"), None);
        assert_eq!(r.recognize("最近有什么通知"), Some(PortalIntent::News { words: None, notices: Some(true) }));
        assert_eq!(r.recognize("校园新闻"), Some(PortalIntent::News { words: None, notices: Some(false) }));
        assert_eq!(
            r.recognize("期末考试时间通知"),
            Some(PortalIntent::News { words: Some("期末考试时间".into()), notices: None })
        );
        assert_eq!(r.recognize("我的反馈处理了吗"), Some(PortalIntent::FeedbackStatus));
        assert_eq!(r.recognize("报修"), Some(PortalIntent::Ticket));
        assert_eq!(r.recognize("提交工单"), Some(PortalIntent::Ticket));
        assert_eq!(
            r.recognize("评价助学金申请5星"),
            Some(PortalIntent::Rate { subject: Some("助学金申请".into()), stars: Some(5) })
        );
        assert_eq!(
            r.recognize("在线办理学生助学金申请"),
            Some(PortalIntent::StartService { subject: "学生助学金申请".into() })
        );
    }
}
