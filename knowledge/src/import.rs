//! Turns a catalog export (the portal's JSON, shaped like `shared/spec/catalog/`) into `data/` TOML files.

use crate::load::files;
use crate::model::{App, Department, Faq, News, Service};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{file}: item #{index}: {message}")]
    Item { file: PathBuf, index: usize, message: String },
    #[error("{file}: not a JSON array: {message}")]
    Shape { file: PathBuf, message: String },
    #[error("{file}: cannot write: {source}")]
    Write { file: PathBuf, source: std::io::Error },
    #[error("cannot serialize {what}: {message}")]
    Serialize { what: &'static str, message: String },
}

/// How many items of each kind were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub services: usize,
    pub apps: usize,
    pub faqs: usize,
    pub departments: usize,
    pub news: usize,
}

fn read_array<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Vec<T>, ImportError> {
    let file = dir.join(name);
    let text = std::fs::read_to_string(&file).map_err(|source| ImportError::Read { file: file.clone(), source })?;
    let values: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| ImportError::Shape { file: file.clone(), message: e.to_string() })?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| ImportError::Item {
                file: file.clone(),
                index: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

fn write_toml<T: Serialize>(
    out: &Path,
    name: &str,
    key: &'static str,
    header: &str,
    items: &[T],
) -> Result<(), ImportError> {
    #[derive(Serialize)]
    struct Wrapper<'a, T> {
        #[serde(flatten)]
        inner: std::collections::BTreeMap<&'static str, &'a [T]>,
    }
    let mut inner = std::collections::BTreeMap::new();
    inner.insert(key, items);
    let body = toml::to_string_pretty(&Wrapper { inner })
        .map_err(|e| ImportError::Serialize { what: key, message: e.to_string() })?;
    let file = out.join(name);
    std::fs::write(&file, format!("{header}\n\n{body}")).map_err(|source| ImportError::Write { file, source })
}

/// Reads `services.json`, `apps.json`, `faqs.json`, `departments.json` and `news.json` from `catalog` and writes
/// the matching TOML files into `out`. Authored files (questions, lexicon, texts, systems) are left alone.
pub fn import_catalog(catalog: &Path, out: &Path) -> Result<ImportSummary, ImportError> {
    let services: Vec<Service> = read_array(catalog, "services.json")?;
    let apps: Vec<App> = read_array(catalog, "apps.json")?;
    let faqs: Vec<Faq> = read_array(catalog, "faqs.json")?;
    let departments: Vec<Department> = read_array(catalog, "departments.json")?;
    let news: Vec<News> = read_array(catalog, "news.json")?;
    std::fs::create_dir_all(out).map_err(|source| ImportError::Write { file: out.to_path_buf(), source })?;
    let note = "# Imported from the portal's catalog by `ehall-bot import-catalog`; edit here or re-import.";
    write_toml(out, files::SERVICES, "service", &format!("# 服务事项与办事指南.\n{note}"), &services)?;
    write_toml(out, files::APPS, "app", &format!("# 直通车应用.\n{note}"), &apps)?;
    write_toml(out, files::FAQS, "faq", &format!("# 常见问题.\n{note}"), &faqs)?;
    write_toml(out, files::DEPARTMENTS, "department", &format!("# 责任部门.\n{note}"), &departments)?;
    write_toml(out, files::NEWS, "news", &format!("# 校内新闻与通知公告.\n{note}"), &news)?;
    Ok(ImportSummary {
        services: services.len(),
        apps: apps.len(),
        faqs: faqs.len(),
        departments: departments.len(),
        news: news.len(),
    })
}
