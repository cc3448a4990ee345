//! `ehall-bot check-data` on good and broken knowledge bases.

use ehall_tests::data_dir;
use server::cli::Status;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the data dir") {
        let entry = entry.expect("a dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn check(dir: &Path) -> (Status, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = server::commands::check_data::run(dir, &mut out, &mut err);
    (status, String::from_utf8(out).expect("utf-8"), String::from_utf8(err).expect("utf-8"))
}

#[test]
fn the_bundled_data_passes_and_is_counted() {
    let (status, out, err) = check(&data_dir());
    assert_eq!(status, Status::Success, "{err}");
    assert!(out.contains(": ok") && out.contains("services "), "{out}");
    assert!(err.is_empty());
}

#[test]
fn a_broken_data_dir_fails_naming_file_item_and_field() {
    let temp = tempfile::tempdir().expect("temp dir");
    copy_dir(&data_dir(), temp.path());
    let kb = knowledge::KnowledgeBase::load(temp.path()).expect("the copy loads before it is broken");
    let service = &kb.services[0];
    let services_file = temp.path().join("services.toml");
    let text = std::fs::read_to_string(&services_file).expect("read services.toml");
    let needle = format!("department = \"{}\"", service.department);
    assert!(text.contains(&needle), "services.toml has `{needle}`");
    std::fs::write(&services_file, text.replacen(&needle, "department = \"不存在的部门\"", 1)).expect("write");

    let (status, out, err) = check(temp.path());
    assert_eq!(status, Status::Failure, "{out}");
    let line = err
        .lines()
        .find(|l| l.contains("不存在的部门"))
        .unwrap_or_else(|| panic!("no line names the bad value:\n{err}"));
    assert!(line.contains("services.toml"), "{line}");
    assert!(line.contains(&service.id), "{line}");
    assert!(line.contains("department"), "{line}");
}

#[test]
fn a_missing_required_field_is_named() {
    let temp = tempfile::tempdir().expect("temp dir");
    copy_dir(&data_dir(), temp.path());
    let kb = knowledge::KnowledgeBase::load(temp.path()).expect("the copy loads");
    let app = &kb.apps[0];
    let apps_file = temp.path().join("apps.toml");
    let text = std::fs::read_to_string(&apps_file).expect("read apps.toml");
    let needle = format!("url = \"{}\"\n", app.url);
    assert!(text.contains(&needle), "apps.toml has `{needle}`");
    std::fs::write(&apps_file, text.replacen(&needle, "", 1)).expect("write");

    let (status, _, err) = check(temp.path());
    assert_eq!(status, Status::Failure);
    assert!(err.lines().any(|l| l.contains("apps.toml") && l.contains(&app.id) && l.contains("url")), "{err}");
}
