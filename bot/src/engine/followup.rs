//! Follow-ups about one field of a 办事指南 (找谁, 在哪, 几点, 多久, 要钱吗 …), answered with that field only, about
//! the topic under discussion: the item last answered, its siblings (a FAQ's service, an app's service), or an
//! earlier topic the user names again.

use super::{Draft, Engine};
use crate::cards::{self, args1};
use crate::protocol::{Card, CardAction, CardKind, Field, Mode, Role, Suggestion, UserInfo};
use crate::state::DialogueState;
use intents::GuideField;
use knowledge::normalize::normalize;
use knowledge::retrieve::Decision;
use knowledge::{Audience, ItemKind, ItemRef, Service};

/// A follow-up this long is a question of its own: a FAQ that answers it confidently answers it.
const LONG_QUESTION_CHARS: usize = 12;
/// Candidates of a subject's search looked at for an earlier topic.
const SUBJECT_CANDIDATES: usize = 5;

/// Words of a 办事指南 sentence that speak of a fee.
const COST_WORDS: &[&str] = &["免费", "收费", "费用", "工本费", "缴费", "扣费", "每份", "每页"];
/// Words of a 办事指南 sentence that speak of how long it takes.
const DURATION_WORDS: &[&str] = &[
    "工作日",
    "小时",
    "天内",
    "日内",
    "周内",
    "当日",
    "当天",
    "当场",
    "即时",
    "立即",
    "现场领取",
    "现场打印",
    "实时",
    "次日",
];

/// The sentences of a text that mention one of `words`.
fn sentences_with(text: &str, words: &[&str]) -> Vec<String> {
    text.split(['。', '；', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && words.iter().any(|w| s.contains(w)))
        .map(|s| format!("{s}。"))
        .collect()
}

fn asker_audience(user: Option<&UserInfo>) -> Option<Audience> {
    user.map(|u| match u.role {
        Role::Student => Audience::Student,
        Role::Teacher | Role::Staff => Audience::Teacher,
    })
}

impl Engine {
    /// The service a topic stands for: the service itself, a FAQ's or an app's service.
    pub(super) fn topic_service(&self, item: ItemRef) -> Option<&Service> {
        match item.kind {
            ItemKind::Service => self.kb.service(item),
            ItemKind::Faq => {
                let f = self.kb.faq(item)?;
                let by_service = f
                    .related_service
                    .as_deref()
                    .and_then(|n| self.kb.find(ItemKind::Service, n))
                    .and_then(|r| self.kb.service(r));
                by_service.or_else(|| f.related_app.as_deref().and_then(|app| self.service_of_app(app)))
            }
            ItemKind::App => {
                let a = self.kb.app(item)?;
                self.service_of_app(&a.name)
            }
        }
    }

    /// The service done in an app: one whose 在线办理 opens it, else one a FAQ about the app names.
    fn service_of_app(&self, app: &str) -> Option<&Service> {
        let online = self.kb.services.iter().find(|s| s.online.as_ref().is_some_and(|o| o.system == app));
        online.or_else(|| {
            self.kb.faqs.iter().filter(|f| f.related_app.as_deref() == Some(app)).find_map(|f| {
                f.related_service
                    .as_deref()
                    .and_then(|n| self.kb.find(ItemKind::Service, n))
                    .and_then(|r| self.kb.service(r))
            })
        })
    }

    /// The ids of a topic and its siblings: its service, the FAQs and the app of that service.
    pub(super) fn family(&self, item: ItemRef) -> Vec<String> {
        let mut ids = vec![self.kb.item_id(item).to_owned()];
        if let Some(s) = self.topic_service(item) {
            ids.push(s.id.clone());
            for f in &self.kb.faqs {
                if f.related_service.as_deref() == Some(s.name.as_str()) {
                    ids.push(f.id.clone());
                }
            }
            if let Some(app) = s.online.as_ref().and_then(|o| self.kb.find(ItemKind::App, &o.system)) {
                ids.push(self.kb.item_id(app).to_owned());
            }
        }
        ids.dedup();
        ids
    }

    /// Whether a subject's words name this topic (its service's name or one of its tags).
    fn names_topic(&self, item: ItemRef, subject: &str) -> bool {
        let title = self.kb.item_title(item);
        if title.contains(subject) {
            return true;
        }
        self.topic_service(item).is_some_and(|s| {
            s.name.contains(subject) || s.tags.iter().any(|t| t.contains(subject) || subject.contains(t.as_str()))
        })
    }

    /// The item a follow-up's subject means: the current topic or an earlier one it names, else what a search of
    /// the subject answers confidently (or an earlier topic among its candidates).
    fn subject_item(&self, state: &DialogueState, subject: &str, user: Option<&UserInfo>) -> Option<ItemRef> {
        if let Some(item) = self.topic_named(state, subject) {
            return Some(item);
        }
        let result = self.run_search(subject, user)?;
        if result.decision == Decision::NoMatch {
            return None;
        }
        let earlier: Vec<&str> = state.topics.iter().map(String::as_str).collect();
        let top = result.candidates.iter().take(SUBJECT_CANDIDATES);
        let candidate = top
            .clone()
            .find(|c| earlier.contains(&self.kb.item_id(c.item)))
            .or_else(|| result.candidates.first())
            .map(|c| c.item);
        // What the search found must carry the subject's words, or the subject was only noise.
        candidate.filter(|&i| self.shares_words(i, subject))
    }

    /// The current or an earlier topic that a subject names.
    fn topic_named(&self, state: &DialogueState, subject: &str) -> Option<ItemRef> {
        let current = state.current_item.as_deref().and_then(|id| self.kb.by_id(id));
        if let Some(item) = current.filter(|&i| self.names_topic(i, subject)) {
            return Some(item);
        }
        state.earlier_topics().filter_map(|id| self.kb.by_id(id)).find(|&i| self.names_topic(i, subject))
    }

    /// Whether an item's name (or its service's tags) shares two consecutive characters with `subject`.
    pub(super) fn shares_words(&self, item: ItemRef, subject: &str) -> bool {
        !self.shared_pairs(item, subject).is_empty()
    }

    /// The character pairs of `subject` found in the item's title, its service's name or tags.
    pub(super) fn shared_pairs(&self, item: ItemRef, subject: &str) -> Vec<String> {
        let chars: Vec<char> = normalize(subject).chars().filter(|c| !c.is_whitespace()).collect();
        let mut texts = vec![normalize(self.kb.item_title(item))];
        if let Some(s) = self.topic_service(item) {
            texts.push(normalize(&s.name));
            texts.extend(s.tags.iter().map(|t| normalize(t)));
        }
        chars
            .windows(2)
            .map(|w| w.iter().collect::<String>())
            .filter(|pair| texts.iter().any(|t| t.contains(pair.as_str())))
            .collect()
    }

    pub(super) fn follow_up(
        &self,
        state: &mut DialogueState,
        text: &str,
        field: GuideField,
        subject: Option<&str>,
        user: Option<&UserInfo>,
    ) -> Draft {
        let current = state.current_item.as_deref().and_then(|id| self.kb.by_id(id));
        // With no topic yet (a first question), a field word does not make a follow-up: the question is searched
        // as any first question is (its answer card holds the field, with 相关 cards for close runner-ups); the
        // subject heuristics below are for telling a topic from a new subject, and there is no topic to tell.
        if current.is_none() && state.earlier_topics().next().is_none() {
            let mut d = self.search(state, text, user);
            // A confident service answer says the field asked about first, above the guide.
            let service = d.top_item.as_deref().and_then(|id| self.kb.by_id(id)).and_then(|r| self.kb.service(r));
            if let (Mode::Answer, Some(s)) = (d.mode, service) {
                let value = self.field_value(s, field, user);
                d.text = format!("「{}」的{}：{}\n\n{}", s.name, field.label(), value, d.text);
                d.intent = format!("service.field.{}", field.name());
            }
            return d;
        }
        let named = match subject {
            Some(subject) => match self.topic_named(state, subject) {
                Some(topic) => Some(topic),
                None => {
                    // A question that names its own subject is first a question: a confident answer decides.
                    if let Some(result) = self.run_search(text, user).filter(|r| r.decision == Decision::Answer) {
                        if let Some(top) = result.candidates.first().map(|c| c.item) {
                            let long = text.chars().count() >= LONG_QUESTION_CHARS;
                            if top.kind != ItemKind::Service && (long || self.topic_service(top).is_none()) {
                                return self.answer_item(state, top, result.confidence, "search");
                            }
                            if self.shares_words(top, subject) || long {
                                return self.field_of(state, top, field, user);
                            }
                        }
                    }
                    self.subject_item(state, subject, user)
                }
            },
            None => None,
        };
        // A subject that is neither the topic nor found, but that several items carry, asks which one.
        if let (None, Some(subject)) = (named, subject) {
            if !current.is_some_and(|c| self.shares_words(c, subject)) {
                if let Some(result) = self.run_search(subject, user) {
                    let sharing: Vec<ItemRef> = result
                        .candidates
                        .iter()
                        .take(6)
                        .map(|c| c.item)
                        .filter(|&i| self.shares_words(i, subject))
                        .collect();
                    match sharing.as_slice() {
                        [] if current.is_none() => return self.search(state, text, user),
                        [] => {}
                        [one] => return self.field_of(state, *one, field, user),
                        _ => {
                            let ask = "您问的是下面哪一项？请点选，或换个说法告诉我。";
                            return self.clarify_items(state, &sharing, ask, result.confidence);
                        }
                    }
                }
            }
        }
        let item = named.or(current);
        let Some(item) = item else { return self.search(state, text, user) };
        self.field_of(state, item, field, user)
    }

    /// One field of a topic's service; a FAQ or an app with no service answers with its own card.
    fn field_of(&self, state: &mut DialogueState, item: ItemRef, field: GuideField, user: Option<&UserInfo>) -> Draft {
        match self.topic_service(item) {
            Some(s) => {
                state.set_topic(&s.id);
                state.offered.clear();
                self.guide_field(s, field, user)
            }
            None => {
                let mut d = self.answer_item(state, item, 1.0, "item.show");
                d.intent = format!("service.field.{}", field.name());
                d
            }
        }
    }

    /// The value of one field of a service's 办事指南, as a sentence.
    fn field_value(&self, s: &Service, field: GuideField, user: Option<&UserInfo>) -> String {
        match field {
            GuideField::Contact => match &s.contact.person {
                Some(p) => format!("{p}，电话{}，地点{}", s.contact.phone, s.contact.office),
                None => format!("由{}负责，电话{}，地点{}", s.department, s.contact.phone, s.contact.office),
            },
            GuideField::Phone => format!("{}（{}）", cards::service_phone(s), s.contact.office),
            GuideField::Cost => {
                let guide = format!("{}。{}", s.notes, s.materials.join("；"));
                let mut found = sentences_with(&guide, COST_WORDS);
                if found.is_empty() {
                    // No fee, but amounts (a grant's 多少钱 asks for those).
                    found = sentences_with(&guide, &["元"]);
                }
                if found.is_empty() {
                    format!("办事指南没有列出收费或金额；如有疑问请咨询{}", cards::service_phone(s))
                } else {
                    found.join("")
                }
            }
            GuideField::Materials if s.materials.is_empty() => "无需额外材料".to_owned(),
            GuideField::Materials => s.materials.join("、"),
            GuideField::System | GuideField::Online => match (&s.online, self.kb.online_url(s)) {
                (Some(o), Some(_)) => format!("可以在线办理，在{}办理，请点击下方“在线办理”进入", o.system),
                _ => format!("暂不支持在线办理，请到{}现场办理", s.contact.office),
            },
            GuideField::Duration => {
                let found = sentences_with(&format!("{}。{}", s.notes, s.steps.join("。")), DURATION_WORDS);
                if found.is_empty() {
                    format!(
                        "办事指南没有写明办理时限，业务周期为{}；具体进度可咨询{}",
                        s.cycle,
                        cards::service_phone(s)
                    )
                } else {
                    found.join("")
                }
            }
            GuideField::Hours => {
                let hours = self.kb.department(&s.department).map(|d| d.hours.clone()).filter(|h| !h.is_empty());
                let cycle_has_times = s.cycle.contains(':') || s.cycle.contains('：');
                match (hours, cycle_has_times) {
                    (_, true) => format!("{}，地点{}", s.cycle, s.contact.office),
                    (Some(h), false) => format!("{h}，地点{}", s.contact.office),
                    (None, false) => format!("请在工作时间到{}办理，或先电话咨询{}", s.contact.office, s.contact.phone),
                }
            }
            GuideField::Time => s.cycle.clone(),
            GuideField::Steps if s.steps.is_empty() => s.notes.clone(),
            GuideField::Steps => format!("\n{}", cards::numbered_steps(s)),
            GuideField::Department => s.department.clone(),
            GuideField::Office => s.contact.office.clone(),
            GuideField::Audience => {
                let list = s.audience.iter().map(|a| a.label()).collect::<Vec<_>>().join("、");
                match (user, asker_audience(user)) {
                    (Some(u), Some(a)) if s.audience.contains(&a) => {
                        format!("{list}（您是{}，可以办理）", u.role.label())
                    }
                    (Some(u), Some(_)) => format!("{list}（该事项不面向{}）", u.role.label()),
                    _ => list,
                }
            }
            GuideField::Notes => s.notes.clone(),
        }
    }

    /// A compact card of one field: the service's name, that field, 在线办理 when it is asked about, and a button
    /// for the whole guide.
    fn field_card(&self, s: &Service, field: GuideField, value: &str) -> Card {
        let mut card = Card::new(CardKind::Service, &s.id, &s.name);
        card.subtitle = Some(s.department.clone());
        match field {
            GuideField::Contact => {
                if let Some(p) = &s.contact.person {
                    card.fields.push(Field::new("联系人", p));
                }
                card.fields.push(Field::new("咨询电话", &s.contact.phone));
            }
            GuideField::Phone => card.fields.push(Field::new("咨询电话", cards::service_phone(s))),
            GuideField::Steps if !s.steps.is_empty() => {
                card.fields.push(Field::new("办理流程", cards::numbered_steps(s)))
            }
            _ => card.fields.push(Field::new(field.label(), value.trim())),
        }
        if matches!(field, GuideField::Online | GuideField::System) {
            if let (Some(url), Some(online)) = (self.kb.online_url(s), &s.online) {
                card.actions.push(CardAction::OpenUrl { label: "在线办理".into(), url: url.to_owned() });
                if let Some(f) = card.fields.first_mut() {
                    f.value = online.system.clone();
                }
            }
        }
        card.actions.push(CardAction::Action {
            label: "完整办事指南".into(),
            action: "item.show".into(),
            args: args1("id", &s.id),
        });
        card
    }

    /// One field of a service's guide, as a sentence and a compact card.
    pub(super) fn guide_field(&self, s: &Service, field: GuideField, user: Option<&UserInfo>) -> Draft {
        let value = self.field_value(s, field, user);
        let text = format!("「{}」的{}：{}", s.name, field.label(), value);
        let mut d = Draft::answer(format!("service.field.{}", field.name()), text);
        d.cards.push(self.field_card(s, field, &value));
        d.suggestions = field_suggestions(s, field);
        d.top_item = Some(s.id.clone());
        d
    }
}

/// What to ask next about a service, without the field just answered.
fn field_suggestions(s: &Service, answered: GuideField) -> Vec<Suggestion> {
    let mut out = Vec::new();
    for (field, ask) in [
        (GuideField::Materials, "需要什么材料"),
        (GuideField::Steps, "办理流程是什么"),
        (GuideField::Phone, "电话多少"),
        (GuideField::Office, "在哪里办"),
    ] {
        if field != answered {
            out.push(Suggestion::text(ask));
        }
    }
    out.truncate(3);
    if s.online.is_some() {
        out.push(Suggestion::action("在线办理", "service.start", args1("service", &s.id)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_picked_by_their_words() {
        let notes = "补卡须携带身份证办理，工本费20元，现场领取新卡。原卡余额24小时内转入";
        assert_eq!(sentences_with(notes, COST_WORDS), ["补卡须携带身份证办理，工本费20元，现场领取新卡。"]);
        assert!(sentences_with("助学金每人每年3000元", COST_WORDS).is_empty());
        assert_eq!(sentences_with(notes, DURATION_WORDS).len(), 2);
        assert!(sentences_with("无", COST_WORDS).is_empty());
    }
}
