//! `ehall-bot ask`: one question answered from the command line, readable or as the protocol's JSON.

use clap::Parser;
use ehall_tests::{assert_reply, data_dir};
use server::cli::{Cli, Command, Status};

fn ask(question: &str, json: bool) -> (Status, String, String) {
    // Parsed like the real command line, so flags added later keep their defaults here.
    // Lexical retrieval: the server tests cover the semantic path; loading the model per call would only cost time.
    let data = data_dir();
    let mut argv = vec!["ehall-bot", "ask", question, "--semantic", "false", "--data-dir"];
    argv.push(data.to_str().expect("a UTF-8 data path"));
    if json {
        argv.push("--json");
    }
    let Command::Ask(args) = Cli::try_parse_from(argv).expect("valid arguments").command else {
        panic!("not the ask command")
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = server::commands::ask::run(&args, &mut out, &mut err);
    (status, String::from_utf8(out).expect("utf-8"), String::from_utf8(err).expect("utf-8"))
}

#[test]
fn ask_prints_the_reply_frame_as_json() {
    let (status, out, err) = ask("校园卡丢了怎么补办", true);
    assert_eq!(status, Status::Success, "{err}");
    let frame: serde_json::Value = serde_json::from_str(&out).expect("the output is one JSON frame");
    assert_reply(&frame, None);
}

#[test]
fn ask_prints_mode_text_and_card_titles_readably() {
    let (status, json_out, _) = ask("校园卡丢了怎么补办", true);
    assert_eq!(status, Status::Success);
    let frame: serde_json::Value = serde_json::from_str(&json_out).expect("JSON");
    let (status, out, err) = ask("校园卡丢了怎么补办", false);
    assert_eq!(status, Status::Success, "{err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "[{}] {}",
            frame["mode"].as_str().unwrap_or(""),
            frame["intent"].as_str().unwrap_or("")
        )),
        "{out}"
    );
    let text = frame["text"].as_str().expect("text");
    assert!(out.contains(text.lines().next().unwrap_or_default()), "{out}");
    for card in frame["cards"].as_array().expect("cards") {
        assert!(out.contains(&format!("■ {}", card["title"].as_str().unwrap_or_default())), "{out}");
    }
}

#[test]
fn ask_refuses_empty_questions() {
    let (status, out, err) = ask("   ", false);
    assert_eq!(status, Status::Failure);
    assert!(out.is_empty());
    assert!(err.contains("不能为空"), "{err}");
}
