//! The knowledge base as plain data to move in and out of other stores: taken apart from a loaded
//! [`KnowledgeBase`], written back as a `data/` directory, and rebuilt (and validated) from such a set.

use crate::load::{files, DataError, KnowledgeBase, LoadErrors};
use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything `data/` holds, in file order, with similar questions keyed by item id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeSet {
    pub services: Vec<Service>,
    pub apps: Vec<App>,
    pub faqs: Vec<Faq>,
    pub departments: Vec<Department>,
    pub news: Vec<News>,
    pub lexicon: Lexicon,
    pub texts: BotTexts,
    pub systems: BTreeMap<String, String>,
    /// Similar questions by item id (services, apps and FAQs).
    pub questions: BTreeMap<String, Vec<String>>,
}

/// Why a set could not be written out.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot serialize {file} as TOML: {source}")]
    Toml { file: &'static str, source: toml::ser::Error },
}

#[derive(Serialize)]
struct Services<'a> {
    service: &'a [Service],
}
#[derive(Serialize)]
struct Apps<'a> {
    app: &'a [App],
}
#[derive(Serialize)]
struct Faqs<'a> {
    faq: &'a [Faq],
}
#[derive(Serialize)]
struct Departments<'a> {
    department: &'a [Department],
}
#[derive(Serialize)]
struct NewsList<'a> {
    news: &'a [News],
}
#[derive(Serialize)]
struct Systems<'a> {
    systems: &'a BTreeMap<String, String>,
}

/// The one file similar questions are written to (the loader reads every `questions/*.toml`).
pub const QUESTIONS_FILE: &str = "all.toml";

impl KnowledgeSet {
    /// Takes a loaded knowledge base apart.
    pub fn from_knowledge(kb: &KnowledgeBase) -> KnowledgeSet {
        let mut questions = BTreeMap::new();
        for item in kb.items() {
            if let Some(list) = kb.questions.get(&item) {
                if !list.is_empty() {
                    questions.insert(kb.item_id(item).to_owned(), list.clone());
                }
            }
        }
        KnowledgeSet {
            services: kb.services.clone(),
            apps: kb.apps.clone(),
            faqs: kb.faqs.clone(),
            departments: kb.departments.clone(),
            news: kb.news.clone(),
            lexicon: kb.lexicon.clone(),
            texts: kb.texts.clone(),
            systems: kb.systems.clone(),
            questions,
        }
    }

    /// Writes the set as a data directory that [`KnowledgeBase::load`] accepts (creating `dir` when missing).
    pub fn write_dir(&self, dir: &Path) -> Result<(), WriteError> {
        let qdir = dir.join(files::QUESTIONS_DIR);
        std::fs::create_dir_all(&qdir).map_err(|source| WriteError::Io { path: qdir.clone(), source })?;
        write_toml(dir, files::SERVICES, &Services { service: &self.services })?;
        write_toml(dir, files::APPS, &Apps { app: &self.apps })?;
        write_toml(dir, files::FAQS, &Faqs { faq: &self.faqs })?;
        write_toml(dir, files::DEPARTMENTS, &Departments { department: &self.departments })?;
        write_toml(dir, files::NEWS, &NewsList { news: &self.news })?;
        write_toml(dir, files::LEXICON, &self.lexicon)?;
        write_toml(dir, files::SMALLTALK, &self.texts)?;
        write_toml(dir, files::SYSTEMS, &Systems { systems: &self.systems })?;
        let questions: BTreeMap<&str, &Vec<String>> =
            self.questions.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.as_str(), v)).collect();
        let text = toml::to_string(&questions).map_err(|source| WriteError::Toml { file: "questions", source })?;
        let path = qdir.join(QUESTIONS_FILE);
        std::fs::write(&path, text).map_err(|source| WriteError::Io { path, source })
    }

    /// Builds and validates a knowledge base from the set, through the same loader as `data/`, so that every
    /// rule (and every error message naming a field) is the loader's.
    pub fn build(&self) -> Result<KnowledgeBase, LoadErrors> {
        let dir = scratch_dir();
        let result = match self.write_dir(&dir) {
            Ok(()) => KnowledgeBase::load(&dir),
            Err(e) => {
                Err(LoadErrors(vec![DataError { file: dir.clone(), item: None, field: None, message: e.to_string() }]))
            }
        };
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a scratch knowledge folder");
        }
        result
    }
}

fn write_toml<T: Serialize>(dir: &Path, file: &'static str, value: &T) -> Result<(), WriteError> {
    let text = toml::to_string(value).map_err(|source| WriteError::Toml { file, source })?;
    let path = dir.join(file);
    std::fs::write(&path, text).map_err(|source| WriteError::Io { path, source })
}

/// A fresh folder under the system's temporary directory.
fn scratch_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("ehall-knowledge-{}-{nanos}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data")
    }

    #[test]
    fn the_bundled_data_round_trips_through_a_set() {
        let kb = KnowledgeBase::load(&data_dir()).expect("data loads");
        let set = KnowledgeSet::from_knowledge(&kb);
        let rebuilt = set.build().expect("the written set loads");
        assert_eq!(rebuilt.services, kb.services);
        assert_eq!(rebuilt.faqs, kb.faqs);
        assert_eq!(rebuilt.lexicon, kb.lexicon);
        assert_eq!(rebuilt.texts, kb.texts);
        assert_eq!(KnowledgeSet::from_knowledge(&rebuilt), set);
    }

    #[test]
    fn a_bad_edit_names_its_field() {
        let kb = KnowledgeBase::load(&data_dir()).expect("data loads");
        let mut set = KnowledgeSet::from_knowledge(&kb);
        set.services[0].department = "没有这个部门".into();
        let errors = set.build().expect_err("an unknown department is refused");
        assert!(errors.0.iter().any(|e| e.field.as_deref() == Some("department")), "{errors}");
    }
}
