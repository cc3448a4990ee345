//! Fuzzes the 今日校园 signed-request check: arbitrary headers and bodies must be refused (or, for a correct
//! signature, accepted once) without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::channels::cpdaily::{CpdailyVerifier, MemorySeenStore, SignedHeaders};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(5, '\n');
    let mut next = || parts.next().unwrap_or("").to_owned();
    let headers = SignedHeaders {
        app_id: next(),
        timestamp: next(),
        nonce: next(),
        signature: next(),
        idempotency_key: None,
    };
    let body = next();
    let verifier = CpdailyVerifier::new(
        [("app-fuzz".to_owned(), b"fuzz-secret-0123456789".to_vec())],
        Arc::new(MemorySeenStore::new(64)),
    );
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else { return };
    let _ = runtime.block_on(verifier.verify("POST", "/api/v1/cpdaily/callback", &headers, body.as_bytes(), 1_800_000_000));
});
