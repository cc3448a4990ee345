//! Lists and their pages, control words and short questions: 更多 / 下一页 pages the last list, 好的 / 确认 are
//! acknowledged, a bare word that fits several items (证明, 申请) gets a clarify ordered by the asker's audience,
//! and a short question about the topic (英文的也能开吗) is searched together with it.

use super::{Draft, Engine, CLARIFY_CHOICES};
use crate::cards::{self, args1};
use crate::protocol::{Mode, Role, Suggestion, UserInfo};
use crate::state::{DialogueState, MorePage};
use knowledge::normalize::normalize;
use knowledge::retrieve::Decision;
use knowledge::{Audience, ItemKind, ItemRef};
use serde_json::Map;

/// A bare query has at most this many characters (one or two words).
const BARE_MAX_CHARS: usize = 4;
/// Candidates a clarify keeps for its 更多 pages.
const MORE_KEPT: usize = 12;
/// A question this short that points at the topic (它, 也, 那个 …) is read together with it.
const CONTEXT_MAX_CHARS: usize = 14;
/// The first characters two sides of one system share (教务系统学生端 / 教务系统教师端).
const SIDE_STEM_CHARS: usize = 4;
/// Words that point back at the topic under discussion.
const CONTEXT_CUES: &[&str] =
    &["它", "这个", "那个", "这项", "这种", "也", "还能", "还可以", "还要", "那", "刚才", "上面", "英文", "中文"];

fn compact(text: &str) -> String {
    normalize(text).chars().filter(|c| !c.is_whitespace()).collect()
}

/// The question inside a short "那…呢" (那休学呢 → 休学), when there is one.
pub(super) fn core_question(text: &str) -> Option<String> {
    let t = compact(text);
    let inner = t.strip_prefix("那么").or_else(|| t.strip_prefix("那"))?;
    let inner = inner.strip_suffix("呢").or_else(|| inner.strip_suffix("吗")).unwrap_or(inner);
    let n = inner.chars().count();
    ((2..=CONTEXT_MAX_CHARS).contains(&n) && !inner.starts_with('个')).then(|| inner.to_owned())
}

/// The words of "搜一下 成绩" / "搜索成绩": a search asked for as the portal's search box does it.
pub(super) fn search_box_words(text: &str) -> Option<String> {
    let t = compact(text);
    // Longer openings first: 帮我搜索 is not 帮我搜 + 索.
    let words =
        ["帮我搜索一下", "帮我搜一下", "帮我搜索", "帮我搜", "搜索一下", "搜一下", "搜一搜", "搜搜", "搜索", "检索"]
            .iter()
            .find_map(|p| t.strip_prefix(p))?
            .trim_start_matches(['：', ':']);
    (words.chars().count() >= 2).then(|| words.to_owned())
}

/// Items a grouped search shows of each kind.
const GROUP_SHOWN: usize = 3;
/// Candidates a grouped search sorts into its groups.
const GROUP_CANDIDATES: usize = 24;

/// How well an item's audience fits the asker: 0 fits, higher fits less. A guest is most likely a student, then
/// a visitor or an alumnus; teacher-only items come last for them.
fn audience_rank(list: &[Audience], asker: Option<Audience>) -> u8 {
    if list.is_empty() {
        return 0;
    }
    match asker {
        Some(a) if list.contains(&a) => 0,
        Some(_) => 2,
        None if list.contains(&Audience::Student) => 0,
        None if list.contains(&Audience::Visitor) || list.contains(&Audience::Alumnus) => 1,
        None => 2,
    }
}

impl Engine {
    fn asker(&self, text: &str, user: Option<&UserInfo>) -> Option<Audience> {
        match user.map(|u| u.role) {
            Some(Role::Student) => Some(Audience::Student),
            Some(Role::Teacher | Role::Staff) => Some(Audience::Teacher),
            None => super::detect_audience(text),
        }
    }

    /// A clarify over `items` (best first); those beyond the first few wait for 更多.
    pub(super) fn clarify_items(
        &self,
        state: &mut DialogueState,
        items: &[ItemRef],
        text: &str,
        confidence: f32,
    ) -> Draft {
        let shown: Vec<ItemRef> = items.iter().copied().take(CLARIFY_CHOICES).collect();
        let mut d = Draft::answer("search.clarify", text);
        d.mode = Mode::Clarify;
        d.confidence = confidence;
        d.cards = shown.iter().filter_map(|&i| cards::brief_card(&self.kb, i)).collect();
        d.suggestions = shown
            .iter()
            .map(|&i| {
                Suggestion::action(
                    cards::truncate_chars(self.kb.item_title(i), 18),
                    "item.show",
                    args1("id", self.kb.item_id(i)),
                )
            })
            .collect();
        let rest: Vec<String> =
            items.iter().skip(CLARIFY_CHOICES).take(MORE_KEPT).map(|&i| self.kb.item_id(i).to_owned()).collect();
        if !rest.is_empty() {
            d.suggestions.push(Suggestion::text("更多"));
            state.more = Some(MorePage::Items { ids: rest });
        }
        d.suggestions.push(Suggestion::action("都不是", "help.contact", Map::new()));
        state.offered = shown.iter().map(|&i| self.kb.item_id(i).to_owned()).collect();
        d.top_item = shown.first().map(|&i| self.kb.item_id(i).to_owned());
        d
    }

    /// 好的, 嗯, 确认 outside a form: acknowledged, the topic and the last list kept.
    pub(super) fn acknowledge(&self, state: &mut DialogueState, pending: Option<MorePage>) -> Draft {
        let topic = state.current_item.as_deref().and_then(|id| self.kb.by_id(id)).and_then(|i| self.topic_service(i));
        let mut d = Draft::answer("dialog.ack", "好的。还有什么可以帮您？");
        d.suggestions = match topic {
            Some(s) => cards::service_suggestions(s),
            None => self.default_suggestions(),
        };
        if pending.is_some() {
            d.text = "好的。需要的话回复“更多”查看下一页，或者直接告诉我您想办的事。".into();
            d.suggestions.insert(0, Suggestion::text("更多"));
        }
        state.more = pending;
        d
    }

    /// 更多 / 下一页: the next page of the last list, or a word that there is none.
    pub(super) fn more(&self, state: &mut DialogueState, pending: Option<MorePage>, user: Option<&UserInfo>) -> Draft {
        match pending {
            Some(MorePage::Action { name, args }) => {
                let campus = self.campus();
                if let Some(a) = self.desk(user, campus.as_deref()).action(state, &name, &args) {
                    return Draft::from_portal(a);
                }
            }
            Some(MorePage::Items { ids }) => {
                let items: Vec<ItemRef> = ids.iter().filter_map(|id| self.kb.by_id(id)).collect();
                if !items.is_empty() {
                    let mut d = self.clarify_items(state, &items, "还有这些相关的事项，请点选：", 1.0);
                    d.intent = "dialog.more".into();
                    return d;
                }
            }
            None => {}
        }
        let mut d = Draft::answer("dialog.more", "没有更多了。您可以换个说法，或者告诉我具体想办的事。");
        d.suggestions = vec![Suggestion::text("常用服务"), Suggestion::text("服务事项中心")];
        d
    }

    /// A bare word (证明, 申请) that several items' names share: which one, the asker's audience first.
    pub(super) fn bare_clarify(&self, state: &mut DialogueState, text: &str, user: Option<&UserInfo>) -> Option<Draft> {
        let word = compact(text);
        let n = word.chars().count();
        if !(2..=BARE_MAX_CHARS).contains(&n) {
            return None;
        }
        let titles: Vec<(ItemRef, String)> = self.kb.items().map(|i| (i, compact(self.kb.item_title(i)))).collect();
        if titles.iter().any(|(_, t)| *t == word) {
            return None;
        }
        let mut matched: Vec<ItemRef> = titles.iter().filter(|(_, t)| t.contains(&word)).map(|(i, _)| *i).collect();
        // One service and its FAQs are one topic, not a choice.
        let mut groups: Vec<String> = matched
            .iter()
            .map(|&i| self.topic_service(i).map_or_else(|| self.kb.item_id(i).to_owned(), |s| s.id.clone()))
            .collect();
        groups.sort();
        groups.dedup();
        if groups.len() < 2 {
            return None;
        }
        let asker = self.asker(text, user);
        let high = |i: ItemRef| self.kb.service(i).is_some_and(|s| s.high_frequency);
        let kind_rank = |i: ItemRef| match i.kind {
            ItemKind::Service => 0,
            ItemKind::App => 1,
            ItemKind::Faq => 2,
        };
        matched.sort_by_key(|&i| {
            (
                audience_rank(self.kb.item_audience(i), asker),
                kind_rank(i),
                !high(i),
                self.kb.item_title(i).chars().count(),
            )
        });
        let text = format!("和「{}」有关的事项有{}项，您想办的是哪一项？", text.trim(), matched.len());
        Some(self.clarify_items(state, &matched, &text, 0.5))
    }

    /// A short question about the topic under discussion ("英文的也能开吗"): searched together with the topic's
    /// name, and answered from the topic's family when that fits better than the question alone.
    pub(super) fn in_context(&self, state: &mut DialogueState, text: &str, user: Option<&UserInfo>) -> Option<Draft> {
        let current = state.current_item.as_deref().and_then(|id| self.kb.by_id(id))?;
        let t = compact(text);
        let short_question = t.chars().count() <= 10 && (t.ends_with('吗') || t.ends_with('呢'));
        if t.chars().count() > CONTEXT_MAX_CHARS || !(short_question || CONTEXT_CUES.iter().any(|c| t.contains(c))) {
            return None;
        }
        let family = self.family(current);
        let plain = self.run_search(text, user)?;
        // A confident answer that carries the question's own words (那休学呢 → 休学申请) is a new topic — unless
        // the topic carries those words too (英文版的也可以打吗 about 打印中英文在读证明: 英文 is the topic's own).
        let topic_words = self.shared_pairs(current, &t);
        let new_words = |item| self.shared_pairs(item, &t).iter().any(|pair| !topic_words.contains(pair));
        if plain.decision == Decision::Answer && plain.candidates.first().is_some_and(|c| new_words(c.item)) {
            return None;
        }
        let title =
            self.topic_service(current).map_or_else(|| self.kb.item_title(current).to_owned(), |s| s.name.clone());
        let combined = self.run_search(&format!("{title} {text}"), user)?;
        let top = combined.candidates.first()?;
        let in_family = family.iter().any(|id| id == self.kb.item_id(top.item));
        if in_family {
            return Some(self.answer_item(state, top.item, combined.confidence.max(0.5), "search"));
        }
        None
    }
}

impl Engine {
    /// The portal's search: one list card per group (在线服务, 服务指南, 常见问题), with counts, the asker's
    /// audience first within each.
    pub(super) fn grouped_search(&self, state: &mut DialogueState, words: &str, user: Option<&UserInfo>) -> Draft {
        let Some(result) = self.run_search(words, user) else { return self.fallback() };
        let key = compact(words);
        let asker = self.asker(words, user);
        let mut found: Vec<ItemRef> =
            self.kb.items().filter(|&i| compact(self.kb.item_title(i)).contains(&key)).collect();
        if result.decision != Decision::NoMatch {
            for c in result.candidates.iter().take(GROUP_CANDIDATES) {
                if !found.contains(&c.item) {
                    found.push(c.item);
                }
            }
        }
        if found.is_empty() {
            return self.fallback();
        }
        let mut d = Draft::answer("search.grouped", "");
        let mut counts = Vec::new();
        for (kind, label) in [(ItemKind::App, "在线服务"), (ItemKind::Service, "服务指南"), (ItemKind::Faq, "常见问题")]
        {
            let mut group: Vec<ItemRef> = found.iter().copied().filter(|i| i.kind == kind).collect();
            if group.is_empty() {
                continue;
            }
            group.sort_by_key(|&i| audience_rank(self.kb.item_audience(i), asker));
            counts.push(format!("{label}{}项", group.len()));
            let items = group.iter().take(GROUP_SHOWN).filter_map(|&i| cards::brief_card(&self.kb, i)).collect();
            let title = format!("{label}（{}）", group.len());
            d.cards.push(crate::portal::cards::list_card(
                &format!("search:{}:{key}", kind_name(kind)),
                &title,
                None,
                items,
            ));
        }
        d.text = format!("搜索「{}」找到{}：", words, counts.join("、"));
        state.offered.clear();
        d
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Service => "service",
        ItemKind::App => "app",
        ItemKind::Faq => "faq",
    }
}

/// Questions a 热门问题 list shows.
const POPULAR_SHOWN: usize = 6;

impl Engine {
    /// 热门问题: what the asker's audience asks most (from real traffic), else the high-frequency services.
    pub(super) fn popular_questions(&self, user: Option<&UserInfo>) -> Draft {
        let asked = self.popular_for(super::AskerAudience::of(user));
        let mut d = Draft::answer("portal.popular", "");
        if asked.is_empty() {
            let asker = self.asker("", user);
            let items: Vec<crate::protocol::Card> = self
                .kb
                .services
                .iter()
                .filter(|s| s.high_frequency && audience_rank(&s.audience, asker) == 0)
                .take(POPULAR_SHOWN)
                .map(crate::portal::cards::service_entry)
                .collect();
            d.text = "大家常办的事项有这些，点选一项查看办事指南：".into();
            d.cards.push(crate::portal::cards::list_card("popular", "热门事项", None, items));
        } else {
            d.text = "大家最近常问这些问题，点一下就能查看：".into();
            d.suggestions = asked.iter().take(POPULAR_SHOWN).map(Suggestion::text).collect();
        }
        d
    }

    /// The side of a system the asker may use: a teacher asking for 教务系统 gets the 教师端 when the search put
    /// the 学生端 first (and the other way round).
    pub(super) fn app_for_role(&self, text: &str, top: ItemRef, user: Option<&UserInfo>) -> ItemRef {
        if top.kind != ItemKind::App {
            return top;
        }
        // A system named in full is the one meant (教务系统教师端), whoever asks.
        let said = compact(text);
        let named = self
            .kb
            .apps
            .iter()
            .filter(|a| a.name.chars().count() >= SIDE_STEM_CHARS && said.contains(&compact(&a.name)))
            .max_by_key(|a| a.name.chars().count());
        if let Some(a) = named {
            return self.kb.by_id(&a.id).unwrap_or(top);
        }
        let (Some(asker), Some(app)) = (self.asker("", user), self.kb.app(top)) else { return top };
        if app.requires_role.is_none_or(|r| r == asker) {
            return top;
        }
        let stem: String = app.name.chars().take(SIDE_STEM_CHARS).collect();
        self.kb
            .apps
            .iter()
            .find(|a| a.requires_role == Some(asker) && a.name.starts_with(&stem))
            .and_then(|a| self.kb.by_id(&a.id))
            .unwrap_or(top)
    }

    /// Tells a logged-in user that the app answered is not open to their role.
    pub(super) fn note_app_role(&self, d: &mut Draft, item: ItemRef, user: Option<&UserInfo>) {
        let (Some(u), Some(asker), Some(app)) = (user, self.asker("", user), self.kb.app(item)) else { return };
        if let Some(required) = app.requires_role.filter(|r| *r != asker) {
            d.text = format!(
                "「{}」只对{}开放，您以{}身份登录会提示“未授权的访问”。如确需使用，请联系网信办。{}",
                app.name,
                required.label(),
                u.role.label(),
                d.text
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_box_phrase_gives_its_words() {
        assert_eq!(search_box_words("搜一下 成绩").as_deref(), Some("成绩"));
        assert_eq!(search_box_words("搜索：在读证明").as_deref(), Some("在读证明"));
        assert_eq!(search_box_words("成绩怎么查"), None);
        assert_eq!(search_box_words("帮我搜索宿舍").as_deref(), Some("宿舍"));
    }

    #[test]
    fn the_question_inside_na_ne_is_kept() {
        assert_eq!(core_question("那休学呢？").as_deref(), Some("休学"));
        assert_eq!(core_question("那么英文的呢").as_deref(), Some("英文的"));
        assert_eq!(core_question("休学呢"), None);
        assert_eq!(core_question("那个呢"), None);
    }

    #[test]
    fn the_askers_own_items_come_first() {
        let teacher_only = [Audience::Teacher];
        let both = [Audience::Student, Audience::Teacher];
        assert!(audience_rank(&both, None) < audience_rank(&teacher_only, None));
        assert!(
            audience_rank(&teacher_only, Some(Audience::Teacher))
                < audience_rank(&[Audience::Student], Some(Audience::Teacher))
        );
        assert_eq!(audience_rank(&[], Some(Audience::Student)), 0);
    }
}
