//! The portal's lists: 服务事项中心 by audience, department, theme or 常用服务 (paged with 更多), and 校内新闻.

use super::{audience_of, cards, Answer, Desk, PAGE_SIZE};
use crate::cards::news_card;
use crate::protocol::{Card, Suggestion};
use intents::portal::CatalogQuery;
use knowledge::{News, Service};

impl Desk<'_> {
    pub(super) fn catalog(&self, query: &CatalogQuery, offset: usize) -> Answer {
        let intent = "portal.catalog";
        let for_user = |s: &Service| self.user.is_none_or(|u| s.audience.contains(&audience_of(u.role)));
        let (title, by, value, services): (String, &str, String, Vec<&Service>) = match query {
            CatalogQuery::Audience(a) => (
                format!("{}服务事项", a.label()),
                "audience",
                a.label().to_owned(),
                self.kb.services.iter().filter(|s| s.audience.contains(a)).collect(),
            ),
            CatalogQuery::Department(d) => (
                format!("{d}的服务事项"),
                "department",
                d.clone(),
                self.kb.services.iter().filter(|s| &s.department == d).collect(),
            ),
            CatalogQuery::Theme(t) => (
                format!("{t}类服务事项"),
                "theme",
                t.clone(),
                self.kb.services.iter().filter(|s| &s.theme == t).collect(),
            ),
            CatalogQuery::Frequent => (
                "常用服务".to_owned(),
                "frequent",
                String::new(),
                self.kb.services.iter().filter(|s| s.high_frequency && for_user(s)).collect(),
            ),
            CatalogQuery::Overview => return self.catalog_overview(),
            CatalogQuery::Apps => return self.app_catalog(offset),
        };
        let total = services.len();
        if total == 0 {
            return Answer::new(intent, format!("暂时没有{title}。")).suggest(Suggestion::text("常用服务"));
        }
        let page: Vec<Card> = services.iter().skip(offset).take(PAGE_SIZE).map(|s| cards::service_entry(s)).collect();
        let shown_to = (offset + page.len()).min(total);
        let subtitle = Some(format!("共{}项，第{}-{}项", total, (offset + 1).min(total), shown_to));
        let mut list = cards::list_card(&format!("catalog:{by}:{value}:{offset}"), &title, subtitle, page);
        let mut a = Answer::new(intent, format!("{title}共{total}项，点选一项查看办事指南："));
        if shown_to < total {
            let more = cards::more_args(by, &value, shown_to);
            list.actions.push(crate::protocol::CardAction::Action {
                label: "更多".into(),
                action: "catalog.more".into(),
                args: more.clone(),
            });
            a.suggestions.push(Suggestion::action("更多", "catalog.more", more));
        }
        a.cards.push(list);
        a
    }

    /// 在线服务 (直通车): the apps the user's role may open (all of them for a guest), paged with 更多.
    fn app_catalog(&self, offset: usize) -> Answer {
        let intent = "portal.catalog";
        let apps: Vec<&knowledge::App> = self
            .kb
            .apps
            .iter()
            .filter(|a| self.user.is_none_or(|u| a.requires_role.is_none_or(|r| r == audience_of(u.role))))
            .collect();
        let total = apps.len();
        let page: Vec<Card> = apps
            .iter()
            .skip(offset)
            .take(PAGE_SIZE)
            .map(|a| {
                let mut c = Card::new(crate::protocol::CardKind::App, &a.id, &a.name);
                c.subtitle = Some(a.category.clone());
                c.body = Some(crate::cards::truncate_chars(&a.description, 60));
                c.actions.push(crate::protocol::CardAction::OpenUrl { label: "打开".into(), url: a.url.clone() });
                c
            })
            .collect();
        let shown_to = (offset + page.len()).min(total);
        let subtitle = Some(format!("共{}个，第{}-{}个", total, (offset + 1).min(total), shown_to));
        let mut list = cards::list_card(&format!("catalog:apps::{offset}"), "在线服务（直通车）", subtitle, page);
        let mut a = Answer::new(intent, format!("在线服务共{total}个，点“打开”直接进入："));
        if shown_to < total {
            let more = cards::more_args("apps", "", shown_to);
            list.actions.push(crate::protocol::CardAction::Action {
                label: "更多".into(),
                action: "catalog.more".into(),
                args: more.clone(),
            });
            a.suggestions.push(Suggestion::action("更多", "catalog.more", more));
        }
        a.cards.push(list);
        a
    }

    fn catalog_overview(&self) -> Answer {
        let mut themes: Vec<(&str, usize)> = Vec::new();
        for s in &self.kb.services {
            match themes.iter_mut().find(|(t, _)| *t == s.theme) {
                Some((_, n)) => *n += 1,
                None => themes.push((&s.theme, 1)),
            }
        }
        let mut list = cards::list_card("catalog:themes", "服务事项中心", Some("按服务主题".into()), Vec::new());
        list.fields = themes.iter().map(|(t, n)| crate::protocol::Field::new(*t, format!("{n}项"))).collect();
        let mut a = Answer::new("portal.catalog", "服务事项中心可以按服务对象、服务主题或部门查找，例如：").card(list);
        a.suggestions = vec![
            Suggestion::text("学生能办哪些事"),
            Suggestion::text("教务处有哪些服务"),
            Suggestion::text("IT服务类的事项"),
            Suggestion::text("常用服务"),
        ];
        a
    }

    pub(super) fn news(&self, intent: &str, words: Option<&str>, notices: Option<bool>) -> Option<Answer> {
        // 通知公告 are notices; 学术预报 are neither news nor notices of the school's life, shown only when all are asked.
        let wanted = |n: &&News| match notices {
            Some(true) => n.category == "通知公告",
            Some(false) => n.category != "通知公告" && n.category != "学术预报",
            None => true,
        };
        let mut list: Vec<&News> = match words {
            None => self.kb.news.iter().filter(wanted).collect(),
            Some(w) => {
                let matched: Vec<&News> = self.kb.news.iter().filter(|n| title_matches(&n.title, w)).collect();
                if matched.is_empty() {
                    return None;
                }
                matched
            }
        };
        list.sort_by(|a, b| b.date.cmp(&a.date));
        let cards: Vec<Card> = list.iter().take(5).map(|n| news_card(n)).collect();
        let text = match words {
            None => match notices {
                Some(true) => "最近的通知公告：".to_owned(),
                Some(false) => "最近的校内新闻：".to_owned(),
                None => "最近的校内新闻和通知公告：".to_owned(),
            },
            Some(_) if cards.len() == 1 => format!("为您找到这条通知：{}", list[0].summary),
            Some(_) => "为您找到这些相关的新闻和通知：".to_owned(),
        };
        let mut a = Answer::new(intent, text);
        a.cards = cards;
        Some(a)
    }
}

/// Whether a news title matches the words asked for: contains them, or shares most of their two-character pieces.
fn title_matches(title: &str, words: &str) -> bool {
    let norm = |t: &str| knowledge::normalize::normalize(t).replace(' ', "");
    let (title, words) = (norm(title), norm(words));
    if words.is_empty() {
        return false;
    }
    if title.contains(&words) {
        return true;
    }
    let chars: Vec<char> = words.chars().collect();
    if chars.len() < 2 {
        return false;
    }
    let pairs: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    let hits = pairs.iter().filter(|p| title.contains(p.as_str())).count();
    hits * 10 >= pairs.len() * 6
}

#[cfg(test)]
mod title_tests {
    use super::*;

    #[test]
    fn news_titles_match_by_their_words() {
        assert!(title_matches("2020-2021-2期末考试时间通知", "期末考试时间"));
        assert!(title_matches("2020-2021-2期末考试时间通知", "期末考试的时间"));
        assert!(!title_matches("本周校领导接待日通知", "期末考试时间"));
    }
}
