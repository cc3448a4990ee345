//! Fuzzes the 今日校园 signed-request check and the webhook body parser. The input is newline-separated
//! `app id / timestamp / nonce / signature / idempotency key / body`; a signature line of `SIGN` is replaced by the
//! correct signature, so the checks behind the HMAC (single-use nonce, idempotency claims) are reached too.
//! Invariants: no panic; only a correctly signed request is accepted; an accepted request replayed is refused.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::channels::cpdaily::{
    sign, CpdailyAuthError, CpdailyInboundEvent, CpdailyVerifier, MemorySeenStore, SignedHeaders,
};
use std::sync::{Arc, OnceLock};

const APP_ID: &str = "app-fuzz";
const SECRET: &[u8] = b"fuzz-secret-0123456789";
const METHOD: &str = "POST";
const PATH: &str = "/api/v1/cpdaily/callback";
const NOW: u64 = 1_800_000_000;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime without drivers")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(6, '\n');
    let mut next = || parts.next().unwrap_or("").to_owned();
    let (app_id, timestamp, nonce, signature, idempotency_key, body) = (next(), next(), next(), next(), next(), next());
    let correct = sign(SECRET, METHOD, PATH, &timestamp, &nonce, body.as_bytes());
    let headers = SignedHeaders {
        app_id,
        timestamp,
        nonce,
        signature: if signature == "SIGN" { correct.clone() } else { signature },
        idempotency_key: (!idempotency_key.is_empty()).then_some(idempotency_key),
    };
    let verifier = CpdailyVerifier::new([(APP_ID.to_owned(), SECRET.to_vec())], Arc::new(MemorySeenStore::new(64)));
    runtime().block_on(async {
        let first = verifier.verify(METHOD, PATH, &headers, body.as_bytes(), NOW).await;
        if let Ok(accepted) = first {
            assert_eq!(headers.app_id, APP_ID);
            assert_eq!(headers.signature.to_ascii_lowercase(), correct, "only the right signature is accepted");
            assert_eq!(accepted.idempotency_key, headers.idempotency_key);
            let replay = verifier.verify(METHOD, PATH, &headers, body.as_bytes(), NOW).await;
            assert_eq!(replay, Err(CpdailyAuthError::ReplayedNonce), "a replayed nonce must be refused");
            if let Some(key) = &accepted.idempotency_key {
                assert_eq!(verifier.claim_once(APP_ID, key, NOW).await, Ok(true));
                assert_eq!(verifier.claim_once(APP_ID, key, NOW + 60).await, Ok(false));
            }
        }
    });
    // The webhook body: a parsed event serializes back to the same event.
    if let Ok(event) = CpdailyInboundEvent::parse(body.as_bytes()) {
        let json = serde_json::to_vec(&event).expect("an event serializes");
        assert_eq!(CpdailyInboundEvent::parse(&json).ok(), Some(event));
    }
});
