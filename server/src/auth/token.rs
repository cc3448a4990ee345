//! Signed, expiring login tokens: `base64url(claims JSON) "." base64url(HMAC-SHA256)`.
//!
//! The MAC covers a version prefix and the whole claims payload (user id, name, role, admin flag, session id,
//! expiry), so changing any of them invalidates the token. Signatures are compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bot::protocol::{Role, UserInfo};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Mixed into every MAC so that a MAC made for anything else with the same key never verifies as a token.
const DOMAIN: &[u8] = b"ehall-login-token.v1.";
/// Longest token we look at; anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 2048;

/// What a token says: who logged in, into which chat session, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user: UserInfo,
    /// The demo account's or CAS attribute's admin flag.
    pub admin: bool,
    /// The chat session the login was bound to.
    pub session: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
}

/// The claims as they travel; short keys keep tokens short.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    sub: String,
    name: String,
    role: Role,
    #[serde(default)]
    adm: bool,
    sid: String,
    exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not of the expected form")]
    Malformed,
    #[error("the token signature does not match")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token secret is empty")]
    InvalidKey,
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    keyed: HmacSha256,
    ttl: Duration,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key", &"***")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TokenSigner {
    /// A signer with this secret; refuses an empty one.
    pub fn new(key: &[u8], ttl: Duration) -> Result<TokenSigner, TokenError> {
        if key.is_empty() {
            return Err(TokenError::InvalidKey);
        }
        let keyed = HmacSha256::new_from_slice(key).map_err(|_| TokenError::InvalidKey)?;
        Ok(TokenSigner { keyed, ttl })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self, payload_b64: &str) -> Vec<u8> {
        let mut mac = self.keyed.clone();
        mac.update(DOMAIN);
        mac.update(payload_b64.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for `user` in `session`, valid for the signer's lifetime from `now` (Unix seconds).
    pub fn sign(&self, user: &UserInfo, admin: bool, session: &str, now: i64) -> (String, Claims) {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            user: user.clone(),
            admin,
            session: session.to_owned(),
            expires_at: now.saturating_add(ttl),
        };
        (self.encode(&claims), claims)
    }

    /// The token for exactly these claims.
    pub fn encode(&self, claims: &Claims) -> String {
        let payload = Payload {
            sub: claims.user.id.clone(),
            name: claims.user.name.clone(),
            role: claims.user.role,
            adm: claims.admin,
            sid: claims.session.clone(),
            exp: claims.expires_at,
        };
        // A struct of strings, a bool and an integer always serializes.
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let payload_b64 = URL_SAFE_NO_PAD.encode(json);
        let mac_b64 = URL_SAFE_NO_PAD.encode(self.mac(&payload_b64));
        format!("{payload_b64}.{mac_b64}")
    }

    /// The claims of a genuine, unexpired token (`now` in Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload_b64, mac_b64) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let given = URL_SAFE_NO_PAD
            .decode(mac_b64)
            .map_err(|_| TokenError::Malformed)?;
        // The signature is checked before the payload is parsed: nothing unauthenticated is interpreted.
        if !constant_time_eq(&given, &self.mac(payload_b64)) {
            return Err(TokenError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if payload.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            user: UserInfo {
                id: payload.sub,
                name: payload.name,
                role: payload.role,
            },
            admin: payload.adm,
            session: payload.sid,
            expires_at: payload.exp,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn signer() -> TokenSigner {
        TokenSigner::new(b"test-secret-0123456789abcdef", Duration::from_secs(3600)).unwrap()
    }

    fn student() -> UserInfo {
        UserInfo {
            id: "2021001234".into(),
            name: "张三".into(),
            role: Role::Student,
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let (token, claims) = signer().sign(&student(), false, "s_abc", NOW);
        assert_eq!(claims.expires_at, NOW + 3600);
        assert_eq!(signer().verify(&token, NOW + 10), Ok(claims));
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
    }

    #[test]
    fn tampering_with_any_field_fails() {
        let signer = signer();
        let (_, claims) = signer.sign(&student(), false, "s_abc", NOW);
        let tampered = [
            Claims {
                user: UserInfo {
                    id: "2021009999".into(),
                    ..student()
                },
                ..claims.clone()
            },
            Claims {
                user: UserInfo {
                    name: "李四".into(),
                    ..student()
                },
                ..claims.clone()
            },
            Claims {
                user: UserInfo {
                    role: Role::Teacher,
                    ..student()
                },
                ..claims.clone()
            },
            Claims {
                admin: true,
                ..claims.clone()
            },
            Claims {
                session: "s_other".into(),
                ..claims.clone()
            },
            Claims {
                expires_at: claims.expires_at + 86_400,
                ..claims.clone()
            },
        ];
        let (_, genuine_mac) = signer
            .encode(&claims)
            .split_once('.')
            .map(|(p, m)| (p.to_owned(), m.to_owned()))
            .unwrap();
        for forged in tampered {
            // The forged payload with the genuine signature.
            let forged_payload = signer.encode(&forged).split_once('.').unwrap().0.to_owned();
            let token = format!("{forged_payload}.{genuine_mac}");
            assert_eq!(
                signer.verify(&token, NOW),
                Err(TokenError::BadSignature),
                "{forged:?}"
            );
        }
        // Another key's token is refused too.
        let other =
            TokenSigner::new(b"another-secret-0123456789", Duration::from_secs(3600)).unwrap();
        let (token, _) = other.sign(&student(), false, "s_abc", NOW);
        assert_eq!(signer.verify(&token, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn flipped_signature_bytes_and_garbage_fail() {
        let signer = signer();
        let (token, _) = signer.sign(&student(), false, "s_abc", NOW);
        let (payload, mac) = token.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(mac).unwrap();
        bytes[31] ^= 1;
        let flipped = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(signer.verify(&flipped, NOW), Err(TokenError::BadSignature));
        let truncated = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&bytes[..16]));
        assert_eq!(
            signer.verify(&truncated, NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(signer.verify("", NOW), Err(TokenError::Malformed));
        assert_eq!(signer.verify("no-dot", NOW), Err(TokenError::Malformed));
        assert_eq!(signer.verify("a.!!!", NOW), Err(TokenError::Malformed));
        assert_eq!(
            signer.verify(&"a".repeat(MAX_TOKEN_LEN + 1), NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let signer = signer();
        let (token, claims) = signer.sign(&student(), false, "s_abc", NOW);
        assert!(signer.verify(&token, claims.expires_at - 1).is_ok());
        assert_eq!(
            signer.verify(&token, claims.expires_at),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify(&token, NOW + 86_400),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn the_comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
