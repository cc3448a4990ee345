//! Hardening: the per-address request budget, and the fuzz targets' parsers run on many generated inputs
//! (the same checks as `fuzz/`, without libFuzzer, so that every test run exercises them).

use ehall_tests::{spawn_app_with, test_settings, TestDb};
use server::channels::{cas, cpdaily, wecom_crypto, wecom_xml};
use std::sync::Arc;

#[tokio::test]
async fn an_address_over_its_request_budget_gets_429_rate_limited() {
    let db = TestDb::new();
    let mut settings = test_settings(&db);
    settings.limits.ip_burst = 3;
    settings.limits.ip_per_second = 0.01;
    let app = spawn_app_with(db, settings).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client.get(app.http_url("/healthz")).send().await.expect("answered");
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            let body: serde_json::Value = response.json().await.expect("a JSON error");
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Inputs(u64);

impl Inputs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A string mixing fragments of valid documents with random bytes and characters.
    fn text(&mut self, fragments: &[&str]) -> String {
        let mut out = String::new();
        let parts = self.next() % 12;
        for _ in 0..parts {
            match self.next() % 4 {
                0 | 1 => out.push_str(fragments[(self.next() % fragments.len() as u64) as usize]),
                2 => out.push(char::from_u32((self.next() % 0x3000) as u32).unwrap_or('?')),
                _ => {
                    let bytes: Vec<u8> = (0..self.next() % 8).map(|_| self.next() as u8).collect();
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        out
    }
}

const ROUNDS: usize = 5_000;

#[test]
fn the_frame_parser_never_panics() {
    let fragments = [
        r#"{"type":"message","id":"m1","text":"校园卡"}"#,
        r#"{"type":"#,
        r#""action""#,
        r#","args":{"#,
        "}",
        "[",
        "]",
        r#""rate","reply":"r_1","helpful":true"#,
        "null",
        "1e999",
        r#"\u0000"#,
        r#""text":"#,
        "\"",
    ];
    let mut inputs = Inputs(0x9e37_79b9_7f4a_7c15);
    for _ in 0..ROUNDS {
        let _ = bot::protocol::ClientFrame::parse(&inputs.text(&fragments));
    }
}

#[test]
fn the_wecom_and_cas_xml_readers_never_panic() {
    let fragments = [
        "<xml>",
        "</xml>",
        "<ToUserName><![CDATA[ww1]]></ToUserName>",
        "<Encrypt><![CDATA[",
        "]]></Encrypt>",
        "<MsgType>text</MsgType>",
        "<Content>校园卡</Content>",
        "<!DOCTYPE x [<!ENTITY a \"b\">]>",
        "&a;",
        "<a:b>",
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">",
        "<cas:authenticationSuccess>",
        "<cas:user>2023001</cas:user>",
        "<cas:attributes>",
        "</cas:attributes>",
        "</cas:serviceResponse>",
        "<samlp:SessionIndex>ST-1</samlp:SessionIndex>",
        "<!--",
        "-->",
    ];
    let mut inputs = Inputs(0x2545_f491_4f6c_dd1d);
    for _ in 0..ROUNDS {
        let xml = inputs.text(&fragments);
        let _ = wecom_xml::XmlFields::parse(&xml);
        let _ = wecom_xml::WecomEnvelope::parse(&xml);
        if let Ok(m) = wecom_xml::WecomInboundMessage::parse(&xml) {
            let _ = m.dedup_key();
        }
        if let Ok(success) = cas::parse_service_response(&xml) {
            let _ = success.identity(&cas::AttributeMapping::default());
        }
        let _ = cas::parse_logout_request(&xml);
    }
}

#[test]
fn wecom_decryption_refuses_garbage_cleanly() {
    let crypt = wecom_crypto::WecomCrypt::new("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww-test")
        .expect("a valid key");
    let sealed = crypt.encrypt("<xml><Content>你好</Content></xml>").expect("encrypt");
    let fragments = [sealed.as_str(), "====", "AAAA", "+/", "abcd"];
    let mut inputs = Inputs(0x1234_5678_9abc_def1);
    for _ in 0..ROUNDS {
        let text = inputs.text(&fragments);
        if text != sealed {
            let _ = crypt.decrypt(&text);
            let _ = crypt.decrypt_and_unpad(text.as_bytes());
        }
    }
    assert_eq!(crypt.decrypt(&sealed).expect("round trip"), "<xml><Content>你好</Content></xml>");
}

#[tokio::test]
async fn the_cpdaily_signature_check_refuses_forgeries() {
    let secret = b"test-secret-0123456789".to_vec();
    let verifier = cpdaily::CpdailyVerifier::new(
        [("app-1".to_owned(), secret.clone())],
        Arc::new(cpdaily::MemorySeenStore::new(1024)),
    );
    let now = 1_800_000_000;
    let body = br#"{"user":"2023001"}"#;
    let good =
        cpdaily::SignedHeaders::sign("app-1", &secret, "POST", "/cb", body, now, "0123456789abcdef0123456789abcdef");
    assert!(verifier.verify("POST", "/cb", &good, body, now).await.is_ok());
    assert!(verifier.verify("POST", "/cb", &good, body, now).await.is_err(), "a replayed nonce is refused");
    let mut inputs = Inputs(0x0bad_cafe_f00d_d00d);
    for _ in 0..500 {
        let mut forged = good.clone();
        match inputs.next() % 4 {
            0 => forged.signature = inputs.text(&["00", "ff", good.signature.as_str()]),
            1 => forged.timestamp = inputs.text(&["1800000000", "-", "9"]),
            2 => forged.nonce = inputs.text(&["nonce", "-"]),
            _ => forged.app_id = inputs.text(&["app-1", "app-2"]),
        }
        let changed = forged.signature != good.signature
            || forged.timestamp != good.timestamp
            || forged.nonce != good.nonce
            || forged.app_id != good.app_id;
        if changed {
            assert!(verifier.verify("POST", "/cb", &forged, body, now).await.is_err(), "{forged:?}");
        }
    }
}
