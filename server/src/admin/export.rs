//! `ehall-bot export DIR`: writes the knowledge as the database holds it back to files in the format of `data/`.

use super::records;
use knowledge::store::KnowledgeSet;
use std::path::Path;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot read the knowledge tables: {0}")]
    Read(#[from] super::error::AdminError),
    #[error(transparent)]
    Write(#[from] knowledge::store::WriteError),
}

/// Exports the live (not retired) knowledge of the database at `database_url` to `dir`. Returns the set written.
/// A database never started (no knowledge rows yet) exports nothing and says so.
pub async fn export(database_url: &str, dir: &Path) -> Result<Option<KnowledgeSet>, ExportError> {
    let sql = crate::store::connect(database_url).await?;
    let all = records::load_all(sql.pool()).await?;
    if all.is_empty() {
        return Ok(None);
    }
    let set = records::to_set(&all)?;
    set.write_dir(dir)?;
    Ok(Some(set))
}
