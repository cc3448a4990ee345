//! Dialogue transcripts from `tests/transcripts/*.toml`, played through the real websocket, one session each (as a
//! guest, or logged in through the demo CAS when the transcript says `as = "student"` or `as = "teacher"`).

use crate::portal::{login, STUDENT, TEACHER};
use ehall_tests::{connect, connect_with_token, repo_root, spawn_app};
use serde_json::{json, Value};

const ITEM_KINDS: [&str; 3] = ["service", "app", "faq"];

fn strings(turn: &toml::Value, key: &str) -> Vec<String> {
    turn.get(key)
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn check(transcript: &str, step: usize, turn: &toml::Value, reply: &Value) {
    let at = format!("transcript '{transcript}', turn {step}: reply {reply}");
    assert_eq!(reply["type"], "reply", "{at}");
    let str_of = |k: &str| turn.get(k).and_then(toml::Value::as_str);
    if let Some(mode) = str_of("mode") {
        assert_eq!(reply["mode"], mode, "{at}");
    }
    if let Some(intent) = str_of("intent") {
        assert!(reply["intent"].as_str().unwrap_or_default().starts_with(intent), "intent {intent}: {at}");
    }
    let cards = reply["cards"].as_array().cloned().unwrap_or_default();
    let first = cards.first().cloned().unwrap_or(Value::Null);
    if let Some(kind) = str_of("card_kind") {
        assert_eq!(first["kind"], kind, "{at}");
    }
    if let Some(title) = str_of("card_title") {
        assert_eq!(first["title"], title, "{at}");
    }
    for spec in strings(turn, "field") {
        let (label, value) = spec.split_once('=').expect("field checks are label=value");
        let found = first["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["label"] == label)
            .and_then(|f| f["value"].as_str())
            .unwrap_or_default();
        assert!(found.contains(value), "field {label} should hold {value}, has '{found}': {at}");
    }
    for label in strings(turn, "action_url_has") {
        let ok = first["actions"].as_array().into_iter().flatten().any(|a| {
            a["label"] == label.as_str()
                && a["type"] == "open_url"
                && a["url"].as_str().is_some_and(|u| u.starts_with("http"))
        });
        assert!(ok, "an open_url action labelled {label}: {at}");
    }
    for needle in strings(turn, "text_has") {
        assert!(reply["text"].as_str().unwrap_or_default().contains(&needle), "text should contain {needle}: {at}");
    }
    for title in strings(turn, "related_has") {
        let ok = cards
            .iter()
            .skip(1)
            .any(|c| c["title"] == title.as_str() && c["subtitle"].as_str().is_some_and(|s| s.starts_with("相关")));
        assert!(ok, "a 相关 card titled {title} after the answer: {at}");
    }
    for needle in strings(turn, "text_lacks") {
        assert!(
            !reply["text"].as_str().unwrap_or_default().contains(&needle),
            "text should not contain {needle}: {at}"
        );
    }
    let labels = strings(turn, "fields_only");
    if !labels.is_empty() {
        let found: Vec<String> = first["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["label"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(found, labels, "the first card's fields: {at}");
    }
    let titles = strings(turn, "titles");
    if !titles.is_empty() {
        let found: Vec<String> =
            cards.iter().filter_map(|c| c["title"].as_str().map(str::to_owned)).take(titles.len()).collect();
        assert_eq!(found, titles, "the cards' titles, in order: {at}");
    }
    for title in strings(turn, "no_card_titled") {
        assert!(!cards.iter().any(|c| c["title"] == title.as_str()), "no card titled {title}: {at}");
    }
    for title in strings(turn, "list_lacks") {
        let listed = first["items"].as_array().into_iter().flatten().any(|c| c["title"] == title.as_str());
        assert!(!listed, "the list should not hold {title}: {at}");
    }
    for label in strings(turn, "suggestion_has").into_iter().chain(strings(turn, "suggestions_have")) {
        let ok = reply["suggestions"].as_array().into_iter().flatten().any(|s| s["label"] == label.as_str());
        assert!(ok, "a suggestion labelled {label}: {at}");
    }
    if turn.get("no_item_cards").and_then(toml::Value::as_bool) == Some(true) {
        assert!(
            !cards.iter().any(|c| ITEM_KINDS.contains(&c["kind"].as_str().unwrap_or_default())),
            "no service/app/faq card expected: {at}"
        );
    }
}

#[tokio::test]
async fn transcripts_play_as_written() {
    let app = spawn_app().await;
    // TRANSCRIPT_DIR plays another folder (to try phrasings out); TRANSCRIPT_ECHO prints every turn.
    let dir = std::env::var_os("TRANSCRIPT_DIR")
        .map_or_else(|| repo_root().join("tests/transcripts"), std::path::PathBuf::from);
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("transcripts folder").filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut played = 0;
    let mut failed: Vec<String> = Vec::new();
    for file in files.iter().filter(|p| p.extension().is_some_and(|x| x == "toml")) {
        let text = std::fs::read_to_string(file).expect("read transcript file");
        let doc: toml::Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for t in doc.get("transcript").and_then(toml::Value::as_array).expect("[[transcript]] entries") {
            let name = t.get("name").and_then(toml::Value::as_str).unwrap_or("?");
            let mut client = match t.get("as").and_then(toml::Value::as_str) {
                None | Some("guest") => connect(app.addr, None).await,
                Some(role) => {
                    let account = if role == "teacher" { TEACHER } else { STUDENT };
                    let guest = connect(app.addr, None).await;
                    let session = guest.session();
                    guest.close().await;
                    let token = login(app.addr, &session, account).await;
                    connect_with_token(app.addr, Some(&session), Some(&token)).await
                }
            };
            for (i, turn) in t.get("turn").and_then(toml::Value::as_array).expect("turns").iter().enumerate() {
                // `login = "student"`: the guest logs in (same session) and the conversation goes on.
                if let Some(role) = turn.get("login").and_then(toml::Value::as_str) {
                    let account = if role == "teacher" { TEACHER } else { STUDENT };
                    let session = client.session();
                    let token = login(app.addr, &session, account).await;
                    client = connect_with_token(app.addr, Some(&session), Some(&token)).await;
                    continue;
                }
                let id = format!("t{i}");
                let frame = if let Some(say) = turn.get("say").and_then(toml::Value::as_str) {
                    json!({"type": "message", "id": id, "text": say})
                } else {
                    let action = turn.get("action").and_then(toml::Value::as_str).expect("a turn says or acts");
                    let args = turn
                        .get("args")
                        .map(|a| serde_json::to_value(a).expect("args are JSON-able"))
                        .unwrap_or(json!({}));
                    json!({"type": "action", "id": id, "action": action, "args": args})
                };
                let reply = client.send_raw(&frame.to_string()).await;
                if std::env::var_os("TRANSCRIPT_ECHO").is_some() {
                    let said = turn.get("say").and_then(toml::Value::as_str).unwrap_or("(action)");
                    let text: String = reply["text"].as_str().unwrap_or_default().chars().take(60).collect();
                    eprintln!(
                        "[{name}] {said} → {} {} «{}» {text}",
                        reply["mode"], reply["intent"], reply["cards"][0]["title"]
                    );
                }
                // Every transcript is played to its end, and all failing turns are reported together.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(name, i, turn, &reply))).is_err() {
                    failed.push(format!("{} · '{name}' turn {i}", file.display()));
                }
                played += 1;
            }
        }
    }
    assert!(failed.is_empty(), "{} of {played} turns failed:\n{}", failed.len(), failed.join("\n"));
    assert!(played >= 10, "only {played} turns played");
}

#[tokio::test]
async fn a_follow_up_continues_after_reconnecting_with_the_session_id() {
    let app = spawn_app().await;
    let mut first = connect(app.addr, None).await;
    let session = first.session();
    let reply = first.send_text("a", "助学金怎么申请").await;
    assert_eq!(reply["cards"][0]["title"], "学生助学金申请");
    drop(first);
    let mut again = connect(app.addr, Some(&session)).await;
    assert_eq!(again.session(), session);
    let reply = again.send_text("b", "电话多少").await;
    assert!(reply["text"].as_str().unwrap_or_default().contains("26584039"), "{reply}");
}
