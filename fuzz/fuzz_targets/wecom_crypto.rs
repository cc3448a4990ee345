//! Fuzzes WeCom callback decryption and signature checks with a fixed key: any `Encrypt` text must be refused
//! cleanly unless it is a real ciphertext.
#![no_main]
use libfuzzer_sys::fuzz_target;
use server::channels::wecom_crypto::WecomCrypt;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A 43-character EncodingAESKey, as WeCom issues them.
    let Ok(crypt) = WecomCrypt::new("fuzztoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww-fuzz") else { return };
    let _ = crypt.decrypt(text);
    let _ = crypt.open(text);
    let _ = crypt.decrypt_and_unpad(data);
    let (timestamp, rest) = text.split_at(text.len().min(10));
    let _ = crypt.verify_signature(rest, timestamp, "nonce", text);
});
