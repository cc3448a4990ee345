//! Signed, expiring login tokens: `base64url(claims JSON) "." base64url(HMAC-SHA256)`.
//!
//! The MAC covers a version prefix and the whole claims payload (user id, name, role, admin flag and department,
//! session id, expiry), so changing any of them invalidates the token. Signatures are compared in constant time.

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
    /// The department an admin answers for (CAS attribute `adminDepartment`): their freshness list is scoped to
    /// it. `None`: all departments, or not an admin.
    pub department: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dep: Option<String>,
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
        f.debug_struct("TokenSigner").field("key", &"***").field("ttl", &self.ttl).finish()
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
        self.sign_scoped(user, admin, None, session, now)
    }

    /// Like [`TokenSigner::sign`], for an admin who answers for one department (`None`: all).
    pub fn sign_scoped(
        &self,
        user: &UserInfo,
        admin: bool,
        department: Option<&str>,
        session: &str,
        now: i64,
    ) -> (String, Claims) {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            user: user.clone(),
            admin,
            department: department.map(str::to_owned),
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
            dep: claims.department.clone(),
            sid: claims.session.clone(),
            exp: claims.expires_at,
        };
        // A struct of strings, a bool, an optional string and an integer always serializes.
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
        let given = URL_SAFE_NO_PAD.decode(mac_b64).map_err(|_| TokenError::Malformed)?;
        // The signature is checked before the payload is parsed: nothing unauthenticated is interpreted.
        if !constant_time_eq(&given, &self.mac(payload_b64)) {
            return Err(TokenError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if payload.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            user: UserInfo { id: payload.sub, name: payload.name, role: payload.role },
            admin: payload.adm,
            department: payload.dep,
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
        UserInfo { id: "2021001234".into(), name: "张三".into(), role: Role::Student }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let (token, claims) = signer().sign(&student(), false, "s_abc", NOW);
        assert_eq!(claims.expires_at, NOW + 3600);
        assert_eq!(signer().verify(&token, NOW + 10), Ok(claims));
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
    }

    #[test]
    fn tampering_with_any_field_fails() {
        let signer = signer();
        let (_, claims) = signer.sign(&student(), false, "s_abc", NOW);
        let tampered = [
            Claims { user: UserInfo { id: "2021009999".into(), ..student() }, ..claims.clone() },
            Claims { user: UserInfo { name: "李四".into(), ..student() }, ..claims.clone() },
            Claims { user: UserInfo { role: Role::Teacher, ..student() }, ..claims.clone() },
            Claims { admin: true, ..claims.clone() },
            Claims { department: Some("网信办".into()), ..claims.clone() },
            Claims { session: "s_other".into(), ..claims.clone() },
            Claims { expires_at: claims.expires_at + 86_400, ..claims.clone() },
        ];
        let (_, genuine_mac) =
            signer.encode(&claims).split_once('.').map(|(p, m)| (p.to_owned(), m.to_owned())).unwrap();
        for forged in tampered {
            // The forged payload with the genuine signature.
            let forged_payload = signer.encode(&forged).split_once('.').unwrap().0.to_owned();
            let token = format!("{forged_payload}.{genuine_mac}");
            assert_eq!(signer.verify(&token, NOW), Err(TokenError::BadSignature), "{forged:?}");
        }
        // Another key's token is refused too.
        let other = TokenSigner::new(b"another-secret-0123456789", Duration::from_secs(3600)).unwrap();
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
        assert_eq!(signer.verify(&truncated, NOW), Err(TokenError::BadSignature));
        assert_eq!(signer.verify("", NOW), Err(TokenError::Malformed));
        assert_eq!(signer.verify("no-dot", NOW), Err(TokenError::Malformed));
        assert_eq!(signer.verify("a.!!!", NOW), Err(TokenError::Malformed));
        assert_eq!(signer.verify(&"a".repeat(MAX_TOKEN_LEN + 1), NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn a_department_travels_in_the_token_and_older_tokens_have_none() {
        let signer = signer();
        let (token, claims) = signer.sign_scoped(&student(), true, Some("网信办"), "s_abc", NOW);
        assert_eq!(claims.department.as_deref(), Some("网信办"));
        assert_eq!(signer.verify(&token, NOW), Ok(claims));
        let (plain, _) = signer.sign(&student(), false, "s_abc", NOW);
        let payload = URL_SAFE_NO_PAD.decode(plain.split_once('.').unwrap().0).unwrap();
        assert!(!String::from_utf8(payload).unwrap().contains("dep"), "no department, no key");
        assert_eq!(signer.verify(&plain, NOW).unwrap().department, None);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let signer = signer();
        let (token, claims) = signer.sign(&student(), false, "s_abc", NOW);
        assert!(signer.verify(&token, claims.expires_at - 1).is_ok());
        assert_eq!(signer.verify(&token, claims.expires_at), Err(TokenError::Expired));
        assert_eq!(signer.verify(&token, NOW + 86_400), Err(TokenError::Expired));
    }

    #[test]
    fn the_comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}

/// Property tests: any claims round-trip through a token, any single-byte change of a token is refused, and no
/// input makes `verify` panic.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod property_tests {
    use super::*;
    use proptest::prelude::*;

    fn any_role() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Student), Just(Role::Teacher), Just(Role::Staff)]
    }

    /// Arbitrary claims, with text short enough that every token stays under `MAX_TOKEN_LEN`.
    fn any_claims() -> impl Strategy<Value = Claims> {
        (
            ".{0,40}",
            ".{0,40}",
            any_role(),
            any::<bool>(),
            proptest::option::of(".{0,40}"),
            ".{0,40}",
            (i64::MIN + 1)..=i64::MAX,
        )
            .prop_map(|(id, name, role, admin, department, session, expires_at)| Claims {
                user: UserInfo { id, name, role },
                admin,
                department,
                session,
                expires_at,
            })
    }

    fn any_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..80)
    }

    proptest! {
        #[test]
        fn any_claims_round_trip(key in any_key(), claims in any_claims()) {
            let signer = TokenSigner::new(&key, Duration::from_secs(3600)).unwrap();
            let token = signer.encode(&claims);
            prop_assert!(token.len() <= MAX_TOKEN_LEN);
            prop_assert_eq!(signer.verify(&token, claims.expires_at - 1), Ok(claims.clone()));
            prop_assert_eq!(signer.verify(&token, claims.expires_at), Err(TokenError::Expired));
        }

        #[test]
        fn sign_then_verify_within_the_lifetime(
            key in any_key(),
            id in ".{0,40}",
            name in ".{0,40}",
            role in any_role(),
            admin in any::<bool>(),
            department in proptest::option::of(".{0,40}"),
            session in ".{0,40}",
            now in 0i64..4_000_000_000,
            ttl in 1u64..1_000_000,
            elapsed in 0u64..1_000_000,
        ) {
            let signer = TokenSigner::new(&key, Duration::from_secs(ttl)).unwrap();
            let user = UserInfo { id, name, role };
            let (token, claims) = signer.sign_scoped(&user, admin, department.as_deref(), &session, now);
            prop_assert_eq!(&claims.user, &user);
            prop_assert_eq!(claims.admin, admin);
            prop_assert_eq!(&claims.department, &department);
            prop_assert_eq!(&claims.session, &session);
            let at = now + i64::try_from(elapsed).unwrap();
            let verified = signer.verify(&token, at);
            if elapsed < ttl {
                prop_assert_eq!(verified, Ok(claims));
            } else {
                prop_assert_eq!(verified, Err(TokenError::Expired));
            }
        }

        #[test]
        fn any_single_byte_change_is_refused(
            claims in any_claims(),
            position in any::<prop::sample::Index>(),
            replacement in any::<u8>(),
        ) {
            let signer = TokenSigner::new(b"property-test-secret", Duration::from_secs(3600)).unwrap();
            let token = signer.encode(&claims);
            let mut bytes = token.clone().into_bytes();
            let at = position.index(bytes.len());
            // Tokens are ASCII; a changed byte that breaks UTF-8 could not even reach `verify` as a `&str`.
            let replacement = if replacement.is_ascii() { replacement } else { replacement & 0x7f };
            prop_assume!(bytes[at] != replacement);
            bytes[at] = replacement;
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert!(signer.verify(&tampered, claims.expires_at - 1).is_err(), "{} verified", tampered);
        }

        #[test]
        fn a_token_for_other_claims_or_another_key_is_refused(
            claims in any_claims(),
            other in any_claims(),
            key in any_key(),
        ) {
            let signer = TokenSigner::new(b"property-test-secret", Duration::from_secs(3600)).unwrap();
            // The payload of other claims under the MAC of these: refused unless the claims are the same.
            let (_, mac) = signer.encode(&claims).split_once('.').map(|(p, m)| (p.to_owned(), m.to_owned())).unwrap();
            let other_token = signer.encode(&other);
            let (other_payload, _) = other_token.split_once('.').unwrap();
            let spliced = format!("{other_payload}.{mac}");
            if other != claims {
                prop_assert_eq!(signer.verify(&spliced, other.expires_at - 1), Err(TokenError::BadSignature));
            }
            // The same claims signed with another key.
            prop_assume!(key.as_slice() != b"property-test-secret");
            let foreign = TokenSigner::new(&key, Duration::from_secs(3600)).unwrap().encode(&claims);
            prop_assert_eq!(signer.verify(&foreign, claims.expires_at - 1), Err(TokenError::BadSignature));
        }

        #[test]
        fn verify_never_panics(token in ".{0,300}", now in any::<i64>()) {
            let signer = TokenSigner::new(b"property-test-secret", Duration::from_secs(3600)).unwrap();
            prop_assert!(signer.verify(&token, now).is_err());
        }

        #[test]
        fn verify_never_panics_on_token_shaped_input(
            payload in "[A-Za-z0-9_-]{0,200}",
            mac in "[A-Za-z0-9_-]{0,60}",
            now in any::<i64>(),
        ) {
            let signer = TokenSigner::new(b"property-test-secret", Duration::from_secs(3600)).unwrap();
            let token = format!("{payload}.{mac}");
            prop_assert!(signer.verify(&token, now).is_err());
        }
    }
}
