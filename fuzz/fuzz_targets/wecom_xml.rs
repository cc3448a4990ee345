//! Fuzzes the WeCom XML readers (the outer envelope, the decrypted message, the generic field reader).
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::channels::wecom_xml::{WecomEnvelope, WecomInboundMessage, XmlFields};

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        let _ = XmlFields::parse(xml);
        let _ = WecomEnvelope::parse(xml);
        if let Ok(message) = WecomInboundMessage::parse(xml) {
            let _ = message.dedup_key();
        }
    }
});
