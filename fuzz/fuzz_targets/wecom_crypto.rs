//! Fuzzes WeCom callback decryption and signature checks with a fixed key. The first input byte picks a mode:
//! untrusted `Encrypt` text (refused cleanly unless it is a real ciphertext), a fuzzer-chosen plaintext body that is
//! sealed here with the same key so `open` has to split attacker-shaped layouts (length prefix, receive id,
//! padding), or an encrypt/seal round trip that must give the message back.
#![no_main]
use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use server::channels::wecom_crypto::{WecomCrypt, WecomCryptError, PADDING_BLOCK, RANDOM_PREFIX_LEN};

/// A 43-character EncodingAESKey, as WeCom issues them.
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const RECEIVE_ID: &str = "ww-fuzz";

/// The raw AES key behind [`ENCODING_AES_KEY`], decoded independently of the code under test.
fn aes_key() -> [u8; 32] {
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = lenient.decode(format!("{ENCODING_AES_KEY}=")).expect("the fixed key is valid Base64");
    bytes.try_into().expect("the fixed key decodes to 32 bytes")
}

/// AES-256-CBC with IV = key[..16] and no padding of its own; `block` must be a multiple of 16 bytes.
fn seal_raw(block: &[u8]) -> Vec<u8> {
    let key = aes_key();
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &key[..16])
        .expect("a 32-byte key and a 16-byte IV")
        .encrypt_padded_vec_mut::<NoPadding>(block)
}

fn untrusted_text(crypt: &WecomCrypt, data: &[u8]) {
    let _ = crypt.decrypt_and_unpad(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crypt.decrypt(text);
    let _ = crypt.open(text);
    let (timestamp, rest) = text.split_at(text.floor_char_boundary(10));
    let _ = crypt.verify_signature(rest, timestamp, "nonce", text);
    let _ = crypt.decrypt_verified(rest, timestamp, "nonce", text);
}

/// `body` is the plaintext layout `random | len | msg | receive_id`, shaped by the fuzzer; padded as WeCom does.
fn chosen_plaintext(crypt: &WecomCrypt, body: &[u8]) {
    let pad = PADDING_BLOCK - body.len() % PADDING_BLOCK;
    let mut padded = body.to_vec();
    padded.resize(body.len() + pad, pad as u8);
    let ciphertext = seal_raw(&padded);
    assert_eq!(crypt.decrypt_and_unpad(&ciphertext).as_deref(), Ok(body), "unpadding must undo WeCom padding");
    let encrypt = STANDARD.encode(&ciphertext);
    match crypt.open(&encrypt) {
        Ok(opened) => {
            let mut joined = opened.random.to_vec();
            joined.extend_from_slice(&(opened.message.len() as u32).to_be_bytes());
            joined.extend_from_slice(&opened.message);
            joined.extend_from_slice(&opened.receive_id);
            assert_eq!(joined, body, "the opened parts must be the whole plaintext");
        }
        Err(e) => assert_eq!(e, WecomCryptError::IllegalBuffer),
    }
    let _ = crypt.decrypt(&encrypt);
}

/// Raw blocks, so the unpadding check sees every last-byte value (0, > 32, longer than the text).
fn chosen_blocks(crypt: &WecomCrypt, data: &[u8]) {
    let mut blocks = data.to_vec();
    blocks.resize(data.len().div_ceil(16) * 16, 0);
    if blocks.is_empty() {
        return;
    }
    let ciphertext = seal_raw(&blocks);
    if let Ok(plain) = crypt.decrypt_and_unpad(&ciphertext) {
        let pad = usize::from(blocks[blocks.len() - 1]);
        assert!((1..=PADDING_BLOCK).contains(&pad) && plain == blocks[..blocks.len() - pad]);
    }
    let _ = crypt.open(&STANDARD.encode(&ciphertext));
}

fn round_trip(crypt: &WecomCrypt, data: &[u8]) {
    let mut random = [0u8; RANDOM_PREFIX_LEN];
    let (head, tail) = data.split_at(data.len().min(RANDOM_PREFIX_LEN));
    random[..head.len()].copy_from_slice(head);
    let message = String::from_utf8_lossy(tail);
    let encrypt = crypt.encrypt_with_random(&message, &random).expect("any message up to 4 GiB seals");
    assert_eq!(crypt.decrypt(&encrypt).as_deref(), Ok(message.as_ref()));
    let sealed = crypt.seal_with_random(&message, 1_700_000_000, "nonce", &random).expect("sealing succeeds");
    let opened =
        crypt.decrypt_verified(&sealed.msg_signature, "1700000000", "nonce", &sealed.encrypt).expect("own seal opens");
    assert_eq!(opened, message);
    assert_eq!(crypt.open(&sealed.encrypt).map(|o| o.random), Ok(random));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let crypt = WecomCrypt::new("fuzztoken", ENCODING_AES_KEY, RECEIVE_ID).expect("the fixed key is accepted");
    match mode % 4 {
        0 => untrusted_text(&crypt, rest),
        1 => chosen_plaintext(&crypt, rest),
        2 => chosen_blocks(&crypt, rest),
        _ => round_trip(&crypt, rest),
    }
});
