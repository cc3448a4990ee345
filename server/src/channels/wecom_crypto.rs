//! WeCom callback encryption (WXBizMsgCrypt): SHA1 signatures and AES-256-CBC message sealing, for self-built apps and the AI bot.
//!
//! The algorithm follows `spec/channels.md` §1.4: `AESKey = base64(EncodingAESKey + "=")` (32 bytes),
//! IV = the key's first 16 bytes, PKCS#7 padding to a multiple of **32** bytes, and a plaintext laid out as
//! `random(16) | msg_len(u32 BE) | msg | receive_id`. Errors map to the library codes -40001..-40011 of §1.5.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Aes256CbcEncryptor = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDecryptor = cbc::Decryptor<aes::Aes256>;

/// Length of the random prefix of every sealed plaintext.
pub const RANDOM_PREFIX_LEN: usize = 16;
/// WXBizMsgCrypt pads to this block size (twice the AES block), per the official samples.
pub const PADDING_BLOCK: usize = 32;
/// An EncodingAESKey is always 43 Base64 characters.
pub const ENCODING_AES_KEY_LEN: usize = 43;

/// Why a WeCom callback could not be verified, decrypted or sealed; `code()` gives the official library code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WecomCryptError {
    /// The `msg_signature` does not match SHA1 over token, timestamp, nonce and ciphertext.
    #[error("signature mismatch (-40001)")]
    ValidateSignature,
    /// The XML (or JSON) envelope could not be parsed.
    #[error("envelope could not be parsed (-40002)")]
    ParseXml,
    /// The signature could not be computed.
    #[error("signature could not be computed (-40003)")]
    ComputeSignature,
    /// The EncodingAESKey is not 43 Base64 characters decoding to 32 bytes.
    #[error("illegal EncodingAESKey (-40004)")]
    IllegalAesKey,
    /// The decrypted receive id is not the configured CorpID (or "" for the AI bot).
    #[error("receive id mismatch (-40005)")]
    ValidateReceiveId,
    /// AES encryption failed.
    #[error("AES encryption failed (-40006)")]
    EncryptAes,
    /// The ciphertext has a bad length or padding.
    #[error("AES decryption failed (-40007)")]
    DecryptAes,
    /// The decrypted buffer is malformed (length prefix out of range, message not UTF-8).
    #[error("decrypted buffer is illegal (-40008)")]
    IllegalBuffer,
    /// Base64 encoding failed.
    #[error("base64 encoding failed (-40009)")]
    EncodeBase64,
    /// The ciphertext is not valid standard Base64.
    #[error("base64 decoding failed (-40010)")]
    DecodeBase64,
    /// The reply envelope could not be generated.
    #[error("reply envelope could not be generated (-40011)")]
    GenReturnXml,
}

impl WecomCryptError {
    /// The WXBizMsgCrypt library return code of this error (§1.5).
    pub fn code(self) -> i32 {
        match self {
            WecomCryptError::ValidateSignature => -40001,
            WecomCryptError::ParseXml => -40002,
            WecomCryptError::ComputeSignature => -40003,
            WecomCryptError::IllegalAesKey => -40004,
            WecomCryptError::ValidateReceiveId => -40005,
            WecomCryptError::EncryptAes => -40006,
            WecomCryptError::DecryptAes => -40007,
            WecomCryptError::IllegalBuffer => -40008,
            WecomCryptError::EncodeBase64 => -40009,
            WecomCryptError::DecodeBase64 => -40010,
            WecomCryptError::GenReturnXml => -40011,
        }
    }
}

/// `lowercase_hex(SHA1(concat(sort([token, timestamp, nonce, encrypt]))))` with plain byte-wise sorting.
pub fn compute_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// A plaintext opened from a WeCom ciphertext, before the receive id is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPlaintext {
    /// The sender's random prefix: opaque, may be any bytes.
    pub random: [u8; RANDOM_PREFIX_LEN],
    /// The message bytes (XML for self-built apps, JSON for the AI bot).
    pub message: Vec<u8>,
    /// The trailing receive id bytes.
    pub receive_id: Vec<u8>,
}

/// A sealed passive reply: ciphertext plus the signature WeCom checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedReply {
    /// Base64 ciphertext.
    pub encrypt: String,
    /// SHA1 signature over token, timestamp, nonce and `encrypt`.
    pub msg_signature: String,
    /// Seconds since the epoch, as chosen by us.
    pub timestamp: u64,
    /// Normally the nonce of the request being answered.
    pub nonce: String,
}

impl SealedReply {
    /// The AI bot's JSON reply envelope (§1b.4); the timestamp is sent as an integer.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "encrypt": self.encrypt,
            "msgsignature": self.msg_signature,
            "timestamp": self.timestamp,
            "nonce": self.nonce,
        })
        .to_string()
    }
}

/// One WeCom callback configuration: Token, EncodingAESKey and the receive id to expect and embed.
#[derive(Clone)]
pub struct WecomCrypt {
    token: String,
    aes_key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for WecomCrypt {
    // The token and key are secrets; never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WecomCrypt").field("receive_id", &self.receive_id).finish_non_exhaustive()
    }
}

/// Decodes the 43-character EncodingAESKey; official libraries ignore the unused trailing bits, so do we.
fn decode_encoding_aes_key(encoding_aes_key: &str) -> Result<[u8; 32], WecomCryptError> {
    if encoding_aes_key.len() != ENCODING_AES_KEY_LEN || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(WecomCryptError::IllegalAesKey);
    }
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = lenient.decode(format!("{encoding_aes_key}=")).map_err(|_| WecomCryptError::IllegalAesKey)?;
    bytes.try_into().map_err(|_| WecomCryptError::IllegalAesKey)
}

impl WecomCrypt {
    /// A self-built app uses its CorpID as receive id; the AI bot (智能机器人) uses `""`.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, WecomCryptError> {
        Ok(WecomCrypt {
            token: token.to_owned(),
            aes_key: decode_encoding_aes_key(encoding_aes_key)?,
            receive_id: receive_id.to_owned(),
        })
    }

    /// The receive id this configuration expects and embeds.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The signature of `encrypt` under this configuration's token.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        compute_signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Checks `msg_signature` exactly (WeCom signs in lowercase hex; nothing is trimmed or case-folded) and in
    /// constant time.
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), WecomCryptError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if bool::from(expected.as_bytes().ct_eq(msg_signature.as_bytes())) {
            Ok(())
        } else {
            Err(WecomCryptError::ValidateSignature)
        }
    }

    /// URL verification (§1.2): checks the signature over `echostr`, decrypts it and returns the text to echo back raw.
    /// `echostr` must already be query-decoded exactly once.
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, WecomCryptError> {
        self.decrypt_verified(msg_signature, timestamp, nonce, echostr)
    }

    /// Checks the signature over the envelope's `Encrypt`, then decrypts and checks the receive id.
    pub fn decrypt_verified(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, WecomCryptError> {
        self.verify_signature(msg_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// Decrypts without a signature check and returns the message if the receive id matches.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, WecomCryptError> {
        let opened = self.open(encrypt)?;
        let receive_id_matches: bool = opened.receive_id.as_slice().ct_eq(self.receive_id.as_bytes()).into();
        if !receive_id_matches {
            return Err(WecomCryptError::ValidateReceiveId);
        }
        String::from_utf8(opened.message).map_err(|_| WecomCryptError::IllegalBuffer)
    }

    /// Decrypts and splits a ciphertext into its parts; no signature or receive id check.
    pub fn open(&self, encrypt: &str) -> Result<OpenedPlaintext, WecomCryptError> {
        let ciphertext = STANDARD.decode(encrypt.trim()).map_err(|_| WecomCryptError::DecodeBase64)?;
        let body = self.decrypt_and_unpad(&ciphertext)?;
        if body.len() < RANDOM_PREFIX_LEN + 4 {
            return Err(WecomCryptError::IllegalBuffer);
        }
        let mut random = [0u8; RANDOM_PREFIX_LEN];
        random.copy_from_slice(&body[..RANDOM_PREFIX_LEN]);
        let mut length_prefix = [0u8; 4];
        length_prefix.copy_from_slice(&body[RANDOM_PREFIX_LEN..RANDOM_PREFIX_LEN + 4]);
        let message_len = u32::from_be_bytes(length_prefix) as usize;
        let message_start = RANDOM_PREFIX_LEN + 4;
        // A corrupt length prefix must be an error, not an out-of-bounds slice.
        let message_end = message_start.checked_add(message_len).ok_or(WecomCryptError::IllegalBuffer)?;
        if message_end > body.len() {
            return Err(WecomCryptError::IllegalBuffer);
        }
        Ok(OpenedPlaintext {
            random,
            message: body[message_start..message_end].to_vec(),
            receive_id: body[message_end..].to_vec(),
        })
    }

    /// AES-256-CBC decryption and strict PKCS#7 (1..=32) unpadding. Also used for the AI bot's encrypted media files.
    pub fn decrypt_and_unpad(&self, ciphertext: &[u8]) -> Result<Vec<u8>, WecomCryptError> {
        if ciphertext.len() < PADDING_BLOCK || !ciphertext.len().is_multiple_of(16) {
            return Err(WecomCryptError::DecryptAes);
        }
        let decryptor = Aes256CbcDecryptor::new_from_slices(&self.aes_key, &self.aes_key[..16])
            .map_err(|_| WecomCryptError::IllegalAesKey)?;
        let mut plaintext =
            decryptor.decrypt_padded_vec_mut::<NoPadding>(ciphertext).map_err(|_| WecomCryptError::DecryptAes)?;
        let pad = plaintext.last().copied().map(usize::from).unwrap_or(0);
        if pad == 0 || pad > PADDING_BLOCK || pad > plaintext.len() {
            return Err(WecomCryptError::DecryptAes);
        }
        plaintext.truncate(plaintext.len() - pad);
        Ok(plaintext)
    }

    /// Encrypts a message with a fresh CSPRNG random prefix.
    pub fn encrypt(&self, message: &str) -> Result<String, WecomCryptError> {
        let mut random = [0u8; RANDOM_PREFIX_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        self.encrypt_with_random(message, &random)
    }

    /// Encrypts a message with a given random prefix; deterministic, for tests and reproducible vectors.
    pub fn encrypt_with_random(
        &self,
        message: &str,
        random: &[u8; RANDOM_PREFIX_LEN],
    ) -> Result<String, WecomCryptError> {
        let message_len = u32::try_from(message.len()).map_err(|_| WecomCryptError::EncryptAes)?;
        let mut body =
            Vec::with_capacity(RANDOM_PREFIX_LEN + 4 + message.len() + self.receive_id.len() + PADDING_BLOCK);
        body.extend_from_slice(random);
        body.extend_from_slice(&message_len.to_be_bytes());
        body.extend_from_slice(message.as_bytes());
        body.extend_from_slice(self.receive_id.as_bytes());
        let pad = PADDING_BLOCK - body.len() % PADDING_BLOCK;
        body.resize(body.len() + pad, pad as u8);
        let encryptor = Aes256CbcEncryptor::new_from_slices(&self.aes_key, &self.aes_key[..16])
            .map_err(|_| WecomCryptError::IllegalAesKey)?;
        let ciphertext = encryptor.encrypt_padded_vec_mut::<NoPadding>(&body);
        Ok(STANDARD.encode(ciphertext))
    }

    /// Encrypts and signs a passive reply with a fresh random prefix.
    pub fn seal(&self, message: &str, timestamp: u64, nonce: &str) -> Result<SealedReply, WecomCryptError> {
        let encrypt = self.encrypt(message)?;
        Ok(self.sign_sealed(encrypt, timestamp, nonce))
    }

    /// Encrypts and signs a passive reply with a given random prefix (deterministic).
    pub fn seal_with_random(
        &self,
        message: &str,
        timestamp: u64,
        nonce: &str,
        random: &[u8; RANDOM_PREFIX_LEN],
    ) -> Result<SealedReply, WecomCryptError> {
        let encrypt = self.encrypt_with_random(message, random)?;
        Ok(self.sign_sealed(encrypt, timestamp, nonce))
    }

    fn sign_sealed(&self, encrypt: String, timestamp: u64, nonce: &str) -> SealedReply {
        let msg_signature = self.signature(&timestamp.to_string(), nonce, &encrypt);
        SealedReply { encrypt, msg_signature, timestamp, nonce: nonce.to_owned() }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;

    const TOKEN: &str = "QDG6eK";
    const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const CORP_ID: &str = "wx5823bf96d3bd56c7";

    const A1_SIGNATURE: &str = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3";
    const A1_ECHOSTR: &str = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";

    const A2_SIGNATURE: &str = "477715d11cdb4164915debcba66cb864d751f3e6";
    const A2_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    const A2_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";

    const A3_SIGNATURE: &str = "0623cbc5a8cbee5bcc137c70de99575366fc2af3";
    const A3_ENCRYPT: &str = "CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl79Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko=";
    const A3_PLAINTEXT: &str = r#"{"ToUserName":"wx5823bf96d3bd56c7","FromUserName":"mycreate","CreateTime": 1409659813,"MsgType":"text","Content":"hello","MsgId":4561255354251345929,"AgentID": 218}"#;

    const A4_SIGNATURE: &str = "1f3153b7abd0ba99b4ab2e57fac2376110d03a3c";
    const A4_ENCRYPT: &str = "pvXgeha3nZ7UQ2DG3WD3IVsNJR38QVl1+h+wmLQHIAwEG3Jey2aTZtvAWzhEZ9JEKGwIUMBWX3JlUhfo7O7WbvI10vHIsdSNr1nr3LuOwAfnwLJAMQNDxi5tHUl08Op59jxOL73r8+g60KOxMTaFwXzlr9Yxgq5ey5nzNb/2vDjjvDZNXkJVmL/XWnv6PXrVbTpNxphqWRv2BpPYqvwRMkHgdFliatljMVlkkRHS40FOHmtBhj/4RXtIexfDx8opBXwi0L9RTlYNQzGx+FA+74xVHG7Le/pmNDwc2Ri5mbw=";
    const A4_PLAINTEXT: &str = r#"{ "ToUserName": "wx5823bf96d3bd56c7", "FromUserName": :mycreate", "CreateTime": 1409659813, "MsgType": "text", "Content": "hello", "MsgId": 4561255354251345929, "AgentID": 218}"#;

    const D1_SIGNATURE: &str = "8d58fe0faecede2b722b60b4fa0a0e4897b43166";
    const D1_ECHOSTR: &str = "sKqRbbiSUnDhFHOvPjtUMScfJJpswkHXJcSX+3HJHW2bO05Z7HEXLO8aKjayeTTH118lcMuoGwUsytusEASVPw==";
    const D2_SIGNATURE: &str = "438e6e550a8425344c4f161d242c1c1c53f6b128";
    const D2_ENCRYPT: &str = "sKqRbbiSUnDhFHOvPjtUMaItCdqvukwpS36WIdX7/qFHkK5W+nB0CsMrLB2ilWgVskgQc0slm4e6/6ZsO3tbosmUJSX/TKYsa32O/WZIfTdA+kpdtI8z7lcuwm64rf4ZJa2WgDix+z1+jty4I497rjvDYjC4gzwGljTOsCZ1ytpsVsQN/DLKkgn7hIrs1rKXBZBWcT5i5sSlHtlAUz5SM0RCDdub38F9Borp4R+fIoRSjLL9NeVinna2r/ORvPARJ8ZkPH/0xh0v92giZVX5TCq31JT5WKfIl7ROxEjAVLE=";
    const D2_PLAINTEXT: &str = r#"{"msgid":"CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=","aibotid":"AIBOTID","chattype":"single","from":{"userid":"USERID"},"response_url":"RESPONSEURL","msgtype":"text","text":{"content":"hello robot"}}"#;
    const D3_PLAINTEXT: &str =
        r#"{"msgtype":"stream","stream":{"id":"STREAMID","finish":false,"content":"正在查询…"}}"#;
    const D3_ENCRYPT: &str = "sKqRbbiSUnDhFHOvPjtUMbK+nYp3MH47WG3fOJz31B0fHgQCN5GcyttzOEhhGFo+m2sh4UJDsT8Hmw7+mcC9HlfsjVPjXN+tH950bvf/RxtOvPJllGTyM9VWeMSmO5a5WGEGJh420No9mkml/mtEqewx6nKFXWVcAwu+Pmz2A5g=";
    const D3_SIGNATURE: &str = "68e6757c962d0d025821e3d49e2c7e019bd1a270";

    fn app() -> WecomCrypt {
        WecomCrypt::new(TOKEN, KEY, CORP_ID).unwrap()
    }

    fn aibot() -> WecomCrypt {
        WecomCrypt::new(TOKEN, KEY, "").unwrap()
    }

    fn random16(ascii: &str) -> [u8; 16] {
        ascii.as_bytes().try_into().unwrap()
    }

    #[test]
    fn the_aes_key_and_iv_match_the_spec() {
        assert_eq!(hex::encode(app().aes_key), "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760");
        assert_eq!(hex::encode(&app().aes_key[..16]), "8d69989bbaabe67328014c194631ad07");
    }

    #[test]
    fn illegal_keys_are_refused() {
        for key in ["", "short", &format!("{KEY}A"), "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2+"] {
            let err = WecomCrypt::new(TOKEN, key, CORP_ID).unwrap_err();
            assert_eq!((err, err.code()), (WecomCryptError::IllegalAesKey, -40004), "{key}");
        }
    }

    #[test]
    fn signatures_of_every_vector_recompute() {
        let cases = [
            (A1_SIGNATURE, "1409659589", "263014780", A1_ECHOSTR),
            (A2_SIGNATURE, "1409659813", "1372623149", A2_ENCRYPT),
            (A3_SIGNATURE, "1409659813", "1372623149", A3_ENCRYPT),
            (A4_SIGNATURE, "1409659813", "1372623149", A4_ENCRYPT),
            (D1_SIGNATURE, "1409659589", "263014780", D1_ECHOSTR),
            (D2_SIGNATURE, "1409659813", "1372623149", D2_ENCRYPT),
            (D3_SIGNATURE, "1409659813", "1372623149", D3_ENCRYPT),
        ];
        for (signature, timestamp, nonce, encrypt) in cases {
            assert_eq!(compute_signature(TOKEN, timestamp, nonce, encrypt), signature);
            assert_eq!(app().verify_signature(signature, timestamp, nonce, encrypt), Ok(()));
            assert_eq!(
                app().verify_signature(&signature.to_uppercase(), timestamp, nonce, encrypt),
                Err(WecomCryptError::ValidateSignature),
                "the signature is compared exactly, case included"
            );
            let padded = format!(" {signature}");
            assert_eq!(
                app().verify_signature(&padded, timestamp, nonce, encrypt),
                Err(WecomCryptError::ValidateSignature)
            );
        }
    }

    #[test]
    fn a1_url_verification_echoes_the_message() {
        let echo = app().verify_url(A1_SIGNATURE, "1409659589", "263014780", A1_ECHOSTR).unwrap();
        assert_eq!(echo, "1616140317555161061");
        let opened = app().open(A1_ECHOSTR).unwrap();
        assert_eq!(&opened.random, b"c41b64491c2468d0");
        assert_eq!(opened.receive_id, CORP_ID.as_bytes());
    }

    #[test]
    fn a2_to_a4_decrypt_to_the_exact_plaintext_and_reencrypt_identically() {
        let cases = [
            (A2_SIGNATURE, A2_ENCRYPT, A2_PLAINTEXT, "0960688932c47ef1"),
            (A3_SIGNATURE, A3_ENCRYPT, A3_PLAINTEXT, "EDH75AiKExevY8L3"),
            (A4_SIGNATURE, A4_ENCRYPT, A4_PLAINTEXT, "WSaxmGcGQ0R23jRP"),
        ];
        for (signature, encrypt, plaintext, random) in cases {
            let message = app().decrypt_verified(signature, "1409659813", "1372623149", encrypt).unwrap();
            assert_eq!(message, plaintext);
            assert_eq!(&app().open(encrypt).unwrap().random, random.as_bytes());
            assert_eq!(app().encrypt_with_random(plaintext, &random16(random)).unwrap(), encrypt);
        }
        assert_eq!(
            app().encrypt_with_random("1616140317555161061", &random16("c41b64491c2468d0")).unwrap(),
            A1_ECHOSTR
        );
    }

    #[test]
    fn the_ai_bot_vectors_use_an_empty_receive_id() {
        let echo = aibot().verify_url(D1_SIGNATURE, "1409659589", "263014780", D1_ECHOSTR).unwrap();
        assert_eq!(echo, "6873286524371638011");
        let inbound = aibot().decrypt_verified(D2_SIGNATURE, "1409659813", "1372623149", D2_ENCRYPT).unwrap();
        assert_eq!(inbound, D2_PLAINTEXT);
        assert!(aibot().open(D2_ENCRYPT).unwrap().receive_id.is_empty());

        let sealed =
            aibot().seal_with_random(D3_PLAINTEXT, 1409659813, "1372623149", &random16("0123456789abcdef")).unwrap();
        assert_eq!(sealed.encrypt, D3_ENCRYPT);
        assert_eq!(sealed.msg_signature, D3_SIGNATURE);
        let json: serde_json::Value = serde_json::from_str(&sealed.to_json()).unwrap();
        assert_eq!(json["msgsignature"], D3_SIGNATURE);
        assert_eq!(json["timestamp"], 1409659813);
        assert_eq!(json["nonce"], "1372623149");
    }

    #[test]
    fn a_receive_id_mismatch_is_40005() {
        assert_eq!(aibot().decrypt(A2_ENCRYPT), Err(WecomCryptError::ValidateReceiveId));
        assert_eq!(app().decrypt(D2_ENCRYPT), Err(WecomCryptError::ValidateReceiveId));
        let other_corp = WecomCrypt::new(TOKEN, KEY, "wwOTHERCORP").unwrap();
        assert_eq!(other_corp.decrypt(A2_ENCRYPT).unwrap_err().code(), -40005);
    }

    #[test]
    fn a_wrong_or_url_encoded_signature_input_is_40001() {
        let url_encoded_echostr = A1_ECHOSTR.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D");
        let err = app().verify_url(A1_SIGNATURE, "1409659589", "263014780", &url_encoded_echostr).unwrap_err();
        assert_eq!((err, err.code()), (WecomCryptError::ValidateSignature, -40001));
        assert_eq!(
            app().verify_url(A1_SIGNATURE, "1409659590", "263014780", A1_ECHOSTR),
            Err(WecomCryptError::ValidateSignature)
        );
        assert_eq!(app().verify_signature("", "1", "2", "3"), Err(WecomCryptError::ValidateSignature));
        let wrong_token = WecomCrypt::new("other", KEY, CORP_ID).unwrap();
        assert_eq!(
            wrong_token.decrypt_verified(A2_SIGNATURE, "1409659813", "1372623149", A2_ENCRYPT),
            Err(WecomCryptError::ValidateSignature)
        );
    }

    #[test]
    fn bad_base64_and_bad_lengths_are_typed_errors() {
        assert_eq!(app().decrypt("not base64!!"), Err(WecomCryptError::DecodeBase64));
        assert_eq!(app().decrypt(&A2_ENCRYPT[1..]), Err(WecomCryptError::DecodeBase64));
        assert_eq!(app().decrypt(""), Err(WecomCryptError::DecryptAes));
        assert_eq!(app().decrypt(&STANDARD.encode([0u8; 16])), Err(WecomCryptError::DecryptAes));
        assert_eq!(app().decrypt(&STANDARD.encode([0u8; 33])), Err(WecomCryptError::DecryptAes));
    }

    #[test]
    fn tampered_ciphertexts_never_panic() {
        let ciphertext = STANDARD.decode(A2_ENCRYPT).unwrap();
        for index in 0..ciphertext.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut tampered = ciphertext.clone();
                tampered[index] ^= flip;
                let result = app().decrypt(&STANDARD.encode(&tampered));
                // Flipping a byte of an early block only garbles random/XML bytes; the rest must fail cleanly.
                if let Err(err) = result {
                    assert!(matches!(
                        err,
                        WecomCryptError::DecryptAes
                            | WecomCryptError::IllegalBuffer
                            | WecomCryptError::ValidateReceiveId
                    ));
                }
            }
        }
    }

    #[test]
    fn bad_padding_and_bad_length_prefixes_are_rejected() {
        let crypt = app();
        let encrypt_raw = |plain: &[u8]| {
            let encryptor = Aes256CbcEncryptor::new_from_slices(&crypt.aes_key, &crypt.aes_key[..16]).unwrap();
            STANDARD.encode(encryptor.encrypt_padded_vec_mut::<NoPadding>(plain))
        };
        // Last byte 0 and 33 are outside 1..=32.
        let mut zero_pad = vec![b'x'; 64];
        zero_pad[63] = 0;
        assert_eq!(crypt.decrypt(&encrypt_raw(&zero_pad)), Err(WecomCryptError::DecryptAes));
        let mut over_pad = vec![b'x'; 64];
        over_pad[63] = 33;
        assert_eq!(crypt.decrypt(&encrypt_raw(&over_pad)), Err(WecomCryptError::DecryptAes));
        // A length prefix far beyond the buffer.
        let mut huge_len = vec![b'r'; 16];
        huge_len.extend_from_slice(&u32::MAX.to_be_bytes());
        huge_len.extend_from_slice(b"abc");
        let pad = 32 - huge_len.len() % 32;
        huge_len.resize(huge_len.len() + pad, pad as u8);
        assert_eq!(crypt.decrypt(&encrypt_raw(&huge_len)), Err(WecomCryptError::IllegalBuffer));
        // A message that is not UTF-8.
        let mut not_utf8 = b"0123456789abcdef".to_vec();
        not_utf8.extend_from_slice(&2u32.to_be_bytes());
        not_utf8.extend_from_slice(&[0xff, 0xfe]);
        not_utf8.extend_from_slice(CORP_ID.as_bytes());
        let pad = 32 - not_utf8.len() % 32;
        not_utf8.resize(not_utf8.len() + pad, pad as u8);
        assert_eq!(crypt.decrypt(&encrypt_raw(&not_utf8)), Err(WecomCryptError::IllegalBuffer));
    }

    #[test]
    fn aligned_bodies_get_a_full_block_of_padding_and_round_trip() {
        // 16 + 4 + 12 + 0 = 32 bytes: already aligned, so 32 bytes of 0x20 are appended.
        let crypt = aibot();
        let encrypt = crypt.encrypt_with_random("twelve bytes", &random16("0123456789abcdef")).unwrap();
        assert_eq!(STANDARD.decode(&encrypt).unwrap().len(), 64);
        assert_eq!(crypt.decrypt(&encrypt).unwrap(), "twelve bytes");
        let random_one = crypt.encrypt("你好，企业微信").unwrap();
        assert_ne!(random_one, crypt.encrypt("你好，企业微信").unwrap());
        assert_eq!(crypt.decrypt(&random_one).unwrap(), "你好，企业微信");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let printed = format!("{:?}", app());
        assert!(!printed.contains(TOKEN) && printed.contains(CORP_ID));
    }
}
