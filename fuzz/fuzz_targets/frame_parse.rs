//! Fuzzes the chat protocol's client frame parser: any text must give a frame or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = bot::protocol::ClientFrame::parse(text);
    }
});
