//! The whole knowledge base in the format of `data/` from the admin page: exported as a ZIP, edited as files,
//! previewed (creates, changes, retires, problems in the loader's words) and applied live.

use crate::admin::{admin_app, call, ADMIN_TOKEN};
use ehall_tests::{chat, TestApp};
use serde_json::{json, Value};
use std::io::{Read, Write};

async fn export(app: &TestApp) -> Vec<(String, String)> {
    let resp = reqwest::Client::new()
        .get(app.http_url("/api/v1/admin/export/data"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET the export");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.expect("the archive");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a ZIP");
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("an entry");
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("UTF-8 TOML");
        files.push((entry.name().expect("a name").into_owned(), text));
    }
    files
}

/// The files as a ZIP, each under `folder/` (an archive of the data folder itself, as people make them).
fn archive(files: &[(String, String)], folder: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        writer.start_file(format!("{folder}{name}"), zip::write::SimpleFileOptions::default()).expect("an entry");
        writer.write_all(text.as_bytes()).expect("written");
    }
    writer.finish().expect("finished").into_inner()
}

async fn import(app: &TestApp, bytes: Vec<u8>, apply: bool) -> (u16, Value) {
    let url = app.http_url(&format!("/api/v1/admin/import/data{}", if apply { "?apply=true" } else { "" }));
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/zip")
        .body(bytes)
        .send()
        .await
        .expect("POST the import");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

fn with_file(files: &[(String, String)], name: &str, edit: impl Fn(&str) -> String) -> Vec<(String, String)> {
    files.iter().map(|(n, t)| (n.clone(), if n == name { edit(t) } else { t.clone() })).collect()
}

#[tokio::test]
async fn the_knowledge_base_is_exported_as_data_files_previewed_and_imported_and_bad_files_change_nothing() {
    let app = admin_app().await;
    let files = export(&app).await;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["services.toml", "apps.toml", "faqs.toml", "departments.toml", "news.toml", "systems.toml"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("questions/")), "{names:?}");

    // The same files back, in a `data/` folder and with a file that is not knowledge: nothing to change.
    let mut same = files.clone();
    same.push(("training/notes.toml".into(), "x = 1\n".into()));
    let (status, preview) = import(&app, archive(&same, "data/"), false).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["changes"], json!([]), "{preview}");
    assert_eq!(preview["ignored"], json!(["data/training/notes.toml"]), "{preview}");

    // One FAQ added and one removed: previewed (nothing stored), then applied and answered at once.
    let renamed = with_file(&files, "questions/all.toml", |text| {
        text.replacen("f-guide-not-work = ", "f-guide-not-work-gone = ", 1)
    });
    let edited = with_file(&renamed, "faqs.toml", |text| {
        let removed = text.replacen("id = \"f-guide-not-work\"", "id = \"f-guide-not-work-gone\"", 1);
        format!(
            "{removed}\n[[faq]]\nid = \"f-data-reading-room\"\nquestion = \"自习室几点开门？\"\nanswer = \"自习室每天7:15至22:45开放。\"\n"
        )
    });
    let (status, preview) = import(&app, archive(&edited, ""), false).await;
    assert_eq!(status, 200, "{preview}");
    let actions: Vec<(String, String)> = preview["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["action"].as_str().unwrap_or("").to_owned(), c["id"].as_str().unwrap_or("").to_owned()))
        .collect();
    for expected in
        [("create", "f-data-reading-room"), ("create", "f-guide-not-work-gone"), ("retire", "f-guide-not-work")]
    {
        assert!(actions.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{actions:?}");
    }
    let before = chat(app.addr, None, "自习室几点开门").await;
    assert!(!before.to_string().contains("22:45"), "a preview stores nothing: {before}");
    let (status, done) = import(&app, archive(&edited, ""), true).await;
    assert_eq!((status, &done["applied"]), (200, &json!(true)), "{done}");
    let after = chat(app.addr, None, "自习室几点开门").await;
    assert!(after.to_string().contains("22:45"), "{after}");
    let (_, retired) =
        call(&app, reqwest::Method::GET, "/api/v1/admin/items/faq/f-guide-not-work", Some(ADMIN_TOKEN), None).await;
    assert_eq!(retired["retired"], true, "{retired}");

    // A file the loader refuses: the whole archive is refused with the file's name, nothing stored.
    let broken = with_file(&files, "services.toml", |text| format!("{text}\n[[service]]\nname = \n"));
    let (status, refused) = import(&app, archive(&broken, ""), true).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["problems"].to_string().contains("services.toml"), "{refused}");
    let still = chat(app.addr, None, "自习室几点开门").await;
    assert!(still.to_string().contains("22:45"), "{still}");

    // Not an archive, or an empty body: a clear error in Chinese.
    let (status, refused) = import(&app, b"PK not really".to_vec(), false).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["problems"].to_string().contains("ZIP"), "{refused}");
    let (status, refused) = import(&app, Vec::new(), false).await;
    assert_eq!(status, 422, "{refused}");
}
