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
    let stored = crate::store::admin_records::SqlKnowledgeRecords::new(sql.pool().clone());
    let all = records::load_all(&stored).await?;
    if all.is_empty() {
        return Ok(None);
    }
    let set = records::to_set(&all)?;
    set.write_dir(dir)?;
    Ok(Some(set))
}

/// Flags of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Folder to write services.toml, faqs.toml, …, questions/ into (created when missing).
    pub dir: std::path::PathBuf,
    /// The database to read [default: sqlite://var/ehall.sqlite].
    #[arg(long, env = "EHALL_DATABASE_URL", hide_env_values = true, default_value = crate::settings::DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// Runs `ehall-bot export DIR`.
pub fn run(args: &ExportArgs, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> crate::cli::Status {
    use crate::cli::Status;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "cannot start the async runtime: {e}");
            return Status::Failure;
        }
    };
    match runtime.block_on(export(&args.database_url, &args.dir)) {
        Ok(Some(set)) => {
            let written = writeln!(
                out,
                "{}: services {}, apps {}, faqs {}, departments {}, news {}",
                args.dir.display(),
                set.services.len(),
                set.apps.len(),
                set.faqs.len(),
                set.departments.len(),
                set.news.len()
            );
            if written.is_ok() {
                Status::Success
            } else {
                Status::Failure
            }
        }
        Ok(None) => {
            let _ = writeln!(err, "the database holds no knowledge yet (start the server once to seed it from data/)");
            Status::Failure
        }
        Err(e) => {
            let _ = writeln!(err, "export failed: {e}");
            Status::Failure
        }
    }
}
