//! Loads and validates the knowledge base from `data/`, naming the file, item and field of every problem.

use crate::model::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in the data files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    pub file: PathBuf,
    /// The item's id (or name, or position when it has neither).
    pub item: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(item) = &self.item {
            write!(f, ": item {item}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading; loading never stops at the first one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<DataError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the knowledge base:", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// The whole knowledge base, validated.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    pub services: Vec<Service>,
    pub apps: Vec<App>,
    pub faqs: Vec<Faq>,
    pub departments: Vec<Department>,
    pub news: Vec<News>,
    pub lexicon: Lexicon,
    pub texts: BotTexts,
    /// 在线办理 URLs of systems that are not apps, by system name.
    pub systems: BTreeMap<String, String>,
    /// Authored similar questions per item.
    pub questions: HashMap<ItemRef, Vec<String>>,
    by_id: HashMap<String, ItemRef>,
    by_name: HashMap<(ItemKind, String), ItemRef>,
}

/// The file names of a data directory.
pub mod files {
    pub const SERVICES: &str = "services.toml";
    pub const APPS: &str = "apps.toml";
    pub const FAQS: &str = "faqs.toml";
    pub const DEPARTMENTS: &str = "departments.toml";
    pub const NEWS: &str = "news.toml";
    pub const LEXICON: &str = "lexicon.toml";
    pub const SMALLTALK: &str = "smalltalk.toml";
    pub const SYSTEMS: &str = "systems.toml";
    pub const QUESTIONS_DIR: &str = "questions";
}

struct Collector {
    errors: Vec<DataError>,
}

impl Collector {
    fn push(&mut self, file: &Path, item: Option<&str>, field: Option<&str>, message: impl Into<String>) {
        self.errors.push(DataError {
            file: file.to_path_buf(),
            item: item.map(str::to_owned),
            field: field.map(str::to_owned),
            message: message.into(),
        });
    }

    fn read_table(&mut self, path: &Path) -> Option<toml::Table> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.push(path, None, None, format!("cannot read: {e}"));
                return None;
            }
        };
        match text.parse::<toml::Table>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(path, None, None, format!("not valid TOML: {}", e.message().trim()));
                None
            }
        }
    }

    /// Reads `[[key]]` entries one by one, so that a bad entry names its own id and field.
    fn read_items<T: DeserializeOwned>(&mut self, path: &Path, key: &str) -> Vec<T> {
        let Some(mut table) = self.read_table(path) else { return Vec::new() };
        let Some(value) = table.remove(key) else {
            self.push(path, None, Some(key), format!("missing the `[[{key}]]` entries"));
            return Vec::new();
        };
        for extra in table.keys() {
            self.push(path, None, Some(extra), "unknown top-level key");
        }
        let toml::Value::Array(entries) = value else {
            self.push(path, None, Some(key), format!("`{key}` must be an array of tables"));
            return Vec::new();
        };
        let mut out = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let label = item_label(&entry, i);
            match T::deserialize(entry) {
                Ok(v) => out.push(v),
                Err(e) => {
                    let msg = e.message().to_string();
                    let field = field_of(&msg);
                    self.push(path, Some(&label), field.as_deref(), msg);
                }
            }
        }
        out
    }

    fn read_whole<T: DeserializeOwned + Default>(&mut self, path: &Path) -> T {
        let Some(table) = self.read_table(path) else { return T::default() };
        match T::deserialize(toml::Value::Table(table)) {
            Ok(v) => v,
            Err(e) => {
                let msg = e.message().to_string();
                let field = field_of(&msg);
                self.push(path, None, field.as_deref(), msg);
                T::default()
            }
        }
    }
}

fn item_label(entry: &toml::Value, index: usize) -> String {
    for key in ["id", "name", "title", "question"] {
        if let Some(toml::Value::String(s)) = entry.get(key) {
            return s.clone();
        }
    }
    format!("#{}", index + 1)
}

/// serde names the field in backticks: "missing field `name`", "unknown field `nmae`, expected …".
fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > "https://".len()
        && !s.contains(char::is_whitespace)
}

impl KnowledgeBase {
    /// Loads every file of a data directory and checks it; returns all problems at once.
    pub fn load(dir: &Path) -> Result<KnowledgeBase, LoadErrors> {
        let mut c = Collector { errors: Vec::new() };
        let p = |name: &str| dir.join(name);
        let services: Vec<Service> = c.read_items(&p(files::SERVICES), "service");
        let apps: Vec<App> = c.read_items(&p(files::APPS), "app");
        let faqs: Vec<Faq> = c.read_items(&p(files::FAQS), "faq");
        let departments: Vec<Department> = c.read_items(&p(files::DEPARTMENTS), "department");
        let news: Vec<News> = c.read_items(&p(files::NEWS), "news");
        let lexicon: Lexicon = c.read_whole(&p(files::LEXICON));
        let texts: BotTexts = c.read_whole(&p(files::SMALLTALK));
        #[derive(serde::Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct Systems {
            #[serde(default)]
            systems: BTreeMap<String, String>,
        }
        let systems: Systems = c.read_whole(&p(files::SYSTEMS));
        let mut kb = KnowledgeBase {
            services,
            apps,
            faqs,
            departments,
            news,
            lexicon,
            texts,
            systems: systems.systems,
            ..KnowledgeBase::default()
        };
        kb.index_names(&mut c, dir);
        kb.load_questions(&mut c, &dir.join(files::QUESTIONS_DIR));
        kb.validate(&mut c, dir);
        if c.errors.is_empty() {
            Ok(kb)
        } else {
            Err(LoadErrors(c.errors))
        }
    }

    fn index_names(&mut self, c: &mut Collector, dir: &Path) {
        let mut add = |c: &mut Collector, file: &str, kind: ItemKind, index: usize, id: &str, name: &str| {
            let r = ItemRef { kind, index: index as u32 };
            if self.by_id.insert(id.to_owned(), r).is_some() {
                c.push(&dir.join(file), Some(id), Some("id"), "duplicate id");
            }
            if self.by_name.insert((kind, name.to_owned()), r).is_some() {
                c.push(&dir.join(file), Some(id), Some("name"), format!("duplicate name '{name}'"));
            }
        };
        for (i, s) in self.services.iter().enumerate() {
            add(c, files::SERVICES, ItemKind::Service, i, &s.id, &s.name);
        }
        for (i, a) in self.apps.iter().enumerate() {
            add(c, files::APPS, ItemKind::App, i, &a.id, &a.name);
        }
        for (i, f) in self.faqs.iter().enumerate() {
            add(c, files::FAQS, ItemKind::Faq, i, &f.id, &f.question);
        }
    }

    fn load_questions(&mut self, c: &mut Collector, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let Some(table) = c.read_table(&path) else { continue };
            for (id, value) in table {
                let Some(&item) = self.by_id.get(&id) else {
                    c.push(&path, Some(&id), None, "no service, app or FAQ has this id");
                    continue;
                };
                let Ok(list) = Vec::<String>::deserialize(value) else {
                    c.push(&path, Some(&id), None, "must be a list of strings");
                    continue;
                };
                for q in &list {
                    if q.trim().is_empty() {
                        c.push(&path, Some(&id), None, "empty question");
                    }
                }
                self.questions.entry(item).or_default().extend(list);
            }
        }
    }

    fn validate(&self, c: &mut Collector, dir: &Path) {
        let departments: HashSet<&str> = self.departments.iter().map(|d| d.name.as_str()).collect();
        let app_names: HashSet<&str> = self.apps.iter().map(|a| a.name.as_str()).collect();
        let sf = dir.join(files::SERVICES);
        for s in &self.services {
            let id = Some(s.id.as_str());
            for (field, value) in [("id", &s.id), ("name", &s.name), ("summary", &s.summary), ("theme", &s.theme)] {
                if value.trim().is_empty() {
                    c.push(&sf, id, Some(field), "must not be empty");
                }
            }
            if !departments.contains(s.department.as_str()) {
                c.push(&sf, id, Some("department"), format!("unknown department '{}'", s.department));
            }
            if s.audience.is_empty() {
                c.push(&sf, id, Some("audience"), "must name at least one audience");
            }
            if let Some(online) = &s.online {
                if !app_names.contains(online.system.as_str()) && !self.systems.contains_key(&online.system) {
                    c.push(
                        &sf,
                        id,
                        Some("online.system"),
                        format!("'{}' is neither an app nor listed in {}", online.system, files::SYSTEMS),
                    );
                }
            }
        }
        let af = dir.join(files::APPS);
        for a in &self.apps {
            if !is_url(&a.url) {
                c.push(&af, Some(&a.id), Some("url"), format!("not an http(s) URL: '{}'", a.url));
            }
        }
        let ff = dir.join(files::FAQS);
        for f in &self.faqs {
            if f.answer.trim().is_empty() {
                c.push(&ff, Some(&f.id), Some("answer"), "must not be empty");
            }
            if let Some(s) = &f.related_service {
                if self.find(ItemKind::Service, s).is_none() {
                    c.push(&ff, Some(&f.id), Some("related_service"), format!("no service is named '{s}'"));
                }
            }
            if let Some(a) = &f.related_app {
                if self.find(ItemKind::App, a).is_none() {
                    c.push(&ff, Some(&f.id), Some("related_app"), format!("no app is named '{a}'"));
                }
            }
        }
        let yf = dir.join(files::SYSTEMS);
        for (name, url) in &self.systems {
            if !is_url(url) {
                c.push(&yf, Some(name), Some("systems"), format!("not an http(s) URL: '{url}'"));
            }
        }
        let lf = dir.join(files::LEXICON);
        for (i, group) in self.lexicon.synonyms.iter().enumerate() {
            if group.len() < 2 {
                c.push(
                    &lf,
                    Some(&format!("synonyms #{}", i + 1)),
                    Some("synonyms"),
                    "a synonym group needs two or more terms",
                );
            }
        }
        let tf = dir.join(files::SMALLTALK);
        if self.texts.welcome.text.trim().is_empty() {
            c.push(&tf, Some("welcome"), Some("text"), "must not be empty");
        }
        if self.texts.fallback.text.trim().is_empty() {
            c.push(&tf, Some("fallback"), Some("text"), "must not be empty");
        }
        for st in &self.texts.smalltalk {
            if st.replies.is_empty() {
                c.push(
                    &tf,
                    Some(&format!("{:?}", st.intent).to_lowercase()),
                    Some("replies"),
                    "needs at least one reply",
                );
            }
        }
    }

    /// The item of a kind with this name (a FAQ's name is its question).
    pub fn find(&self, kind: ItemKind, name: &str) -> Option<ItemRef> {
        self.by_name.get(&(kind, name.to_owned())).copied()
    }

    /// The item with this id.
    pub fn by_id(&self, id: &str) -> Option<ItemRef> {
        self.by_id.get(id).copied()
    }

    pub fn service(&self, r: ItemRef) -> Option<&Service> {
        (r.kind == ItemKind::Service).then(|| self.services.get(r.index as usize)).flatten()
    }
    pub fn app(&self, r: ItemRef) -> Option<&App> {
        (r.kind == ItemKind::App).then(|| self.apps.get(r.index as usize)).flatten()
    }
    pub fn faq(&self, r: ItemRef) -> Option<&Faq> {
        (r.kind == ItemKind::Faq).then(|| self.faqs.get(r.index as usize)).flatten()
    }

    /// The item's id.
    pub fn item_id(&self, r: ItemRef) -> &str {
        match r.kind {
            ItemKind::Service => self.services.get(r.index as usize).map_or("", |s| s.id.as_str()),
            ItemKind::App => self.apps.get(r.index as usize).map_or("", |a| a.id.as_str()),
            ItemKind::Faq => self.faqs.get(r.index as usize).map_or("", |f| f.id.as_str()),
        }
    }

    /// The item's title as cards show it (a FAQ's title is its question).
    pub fn item_title(&self, r: ItemRef) -> &str {
        match r.kind {
            ItemKind::Service => self.services.get(r.index as usize).map_or("", |s| s.name.as_str()),
            ItemKind::App => self.apps.get(r.index as usize).map_or("", |a| a.name.as_str()),
            ItemKind::Faq => self.faqs.get(r.index as usize).map_or("", |f| f.question.as_str()),
        }
    }

    /// Every retrievable item.
    pub fn items(&self) -> impl Iterator<Item = ItemRef> + '_ {
        let s = (0..self.services.len()).map(|i| ItemRef { kind: ItemKind::Service, index: i as u32 });
        let a = (0..self.apps.len()).map(|i| ItemRef { kind: ItemKind::App, index: i as u32 });
        let f = (0..self.faqs.len()).map(|i| ItemRef { kind: ItemKind::Faq, index: i as u32 });
        s.chain(a).chain(f)
    }

    /// The items the knowledge base links to each item, both ways: a FAQ's related service and app, a service's
    /// 在线办理 system when it is an app. Siblings answer one need (training counts them right; the decision rule
    /// does not treat one as the first candidate's rival).
    pub fn siblings(&self) -> HashMap<ItemRef, Vec<ItemRef>> {
        let mut out: HashMap<ItemRef, Vec<ItemRef>> = HashMap::new();
        let mut link = |a: ItemRef, b: ItemRef| {
            out.entry(a).or_default().push(b);
            out.entry(b).or_default().push(a);
        };
        for item in self.items() {
            if let Some(f) = self.faq(item) {
                if let Some(s) = f.related_service.as_deref().and_then(|n| self.find(ItemKind::Service, n)) {
                    link(item, s);
                }
                if let Some(a) = f.related_app.as_deref().and_then(|n| self.find(ItemKind::App, n)) {
                    link(item, a);
                }
            }
            if let Some(s) = self.service(item) {
                if let Some(a) = s.online.as_ref().and_then(|o| self.find(ItemKind::App, &o.system)) {
                    link(item, a);
                }
            }
        }
        out
    }

    /// Who the item is for (FAQs are for everyone).
    pub fn item_audience(&self, r: ItemRef) -> &[Audience] {
        match r.kind {
            ItemKind::Service => self.services.get(r.index as usize).map_or(&[], |s| s.audience.as_slice()),
            ItemKind::App => self.apps.get(r.index as usize).map_or(&[], |a| a.audience.as_slice()),
            ItemKind::Faq => &[],
        }
    }

    pub fn department(&self, name: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.name == name)
    }

    /// The URL 在线办理 opens for a service, when it has one.
    pub fn online_url(&self, s: &Service) -> Option<&str> {
        let online = s.online.as_ref()?;
        if let Some(r) = self.find(ItemKind::App, &online.system) {
            return self.app(r).map(|a| a.url.as_str());
        }
        self.systems.get(&online.system).map(String::as_str)
    }
}
