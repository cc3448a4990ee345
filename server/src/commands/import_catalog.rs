//! `ehall-bot import-catalog`: writes the catalog export's items into data/ TOML files.

use crate::cli::{ImportCatalogArgs, Status};
use knowledge::import::import_catalog;
use std::io::Write;

pub fn run(args: &ImportCatalogArgs, out: &mut dyn Write, err: &mut dyn Write) -> Status {
    match import_catalog(&args.catalog, &args.out) {
        Ok(s) => {
            let _ = writeln!(
                out,
                "imported into {}: {} services, {} apps, {} faqs, {} departments, {} news",
                args.out.display(),
                s.services,
                s.apps,
                s.faqs,
                s.departments,
                s.news
            );
            Status::Success
        }
        Err(e) => {
            let _ = writeln!(err, "import failed: {e}");
            Status::Failure
        }
    }
}
