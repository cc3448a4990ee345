//! `ehall-bot check-data`: loads the knowledge base and reports every problem, or what it holds.

use crate::cli::Status;
use knowledge::KnowledgeBase;
use std::io::Write;
use std::path::Path;

/// Prints every problem to `err` and fails, or prints counts to `out`.
pub fn run(data_dir: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Status {
    match KnowledgeBase::load(data_dir) {
        Ok(kb) => {
            let questions: usize = kb.questions.values().map(Vec::len).sum();
            let written = writeln!(
                out,
                "{}: ok\n  services {}\n  apps {}\n  faqs {}\n  departments {}\n  news {}\n  systems {}\n  similar questions {}",
                data_dir.display(),
                kb.services.len(),
                kb.apps.len(),
                kb.faqs.len(),
                kb.departments.len(),
                kb.news.len(),
                kb.systems.len(),
                questions,
            );
            if written.is_ok() {
                Status::Success
            } else {
                Status::Failure
            }
        }
        Err(errors) => {
            let _ = write!(err, "{errors}");
            Status::Failure
        }
    }
}
