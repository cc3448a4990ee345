//! 统一身份认证 (CAS) login for the chat: signed login tokens, binding chat sessions to users, the `/auth/*`
//! routes and the built-in demo CAS server.
//!
//! The flow (docs/auth.md): the `login` card opens `/auth/login?session=…`, which redirects to the CAS server's
//! `/login?service=<our /auth/callback?session=…>`; CAS sends the browser back with a ticket, the callback
//! validates it at `/p3/serviceValidate`, binds the chat session to the user (`sessions.user_id`) and hands a
//! signed, expiring token to the widget. The widget connects with `/ws?token=…` (HTTP: `Authorization: Bearer
//! …`) and every turn of that session carries the user. A token only counts while its session is still bound
//! to its user, so logging out (which unbinds) ends it at once.

pub mod config;
pub mod demo_cas;
pub mod embed_login;
pub mod pages;
mod routes;
pub mod secret;
pub mod token;

pub use config::{AuthOverrides, AuthSettings, FileAuthSettings};
pub use routes::router;
pub use token::{Claims, TokenError, TokenSigner};

use crate::channels::cas::{AttributeMapping, CasClient, CasError, DEFAULT_VALIDATE_TIMEOUT};
use crate::store::auth::{AuthStore, SessionOwner};
use crate::store::SessionId;
use axum::http::{header, HeaderMap};
use bot::protocol::{Card, CardAction, Reply, UserInfo};
use demo_cas::DemoCas;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The path of the chat login; the `login` card links here and the server completes the link.
pub const LOGIN_PATH: &str = "/auth/login";
/// The path of logout.
pub const LOGOUT_PATH: &str = "/auth/logout";
/// Put before the welcome text when a presented token is no longer valid.
pub const LOGIN_EXPIRED_NOTICE: &str = "您的登录已过期或已退出，现在以游客身份为您服务，如需查询个人信息请重新登录。";

/// Why login could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error(transparent)]
    Accounts(#[from] demo_cas::AccountsError),
    #[error("invalid login token secret: {0}")]
    Token(#[from] TokenError),
    #[error("auth.token_secret (EHALL_TOKEN_SECRET) must be set when the demo CAS server is off")]
    SecretRequired,
}

/// Who is talking on a connection or request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// No token was presented.
    Guest,
    /// A genuine token whose session is still bound to its user.
    User(Claims),
    /// A token was presented but is forged, expired or logged out: served as a guest, and told so.
    Expired,
}

impl Login {
    pub fn user(&self) -> Option<UserInfo> {
        match self {
            Login::User(claims) => Some(claims.user.clone()),
            Login::Guest | Login::Expired => None,
        }
    }

    /// The session the token was issued for.
    pub fn session(&self) -> Option<&str> {
        match self {
            Login::User(claims) => Some(&claims.session),
            Login::Guest | Login::Expired => None,
        }
    }

    pub fn is_expired(&self) -> bool {
        matches!(self, Login::Expired)
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Login::User(claims) if claims.admin)
    }
}

/// Login state shared by the routes: settings, the signer, the database and the demo CAS.
pub struct Auth {
    settings: AuthSettings,
    signer: TokenSigner,
    /// The session bindings and the users table.
    store: Arc<dyn AuthStore>,
    demo: Option<DemoCas>,
    mapping: AttributeMapping,
    /// Our public address; configured, or learned when the listener is bound.
    public_base: OnceLock<String>,
    /// The address from the settings, for when the listener is never reported (the CLI's tests).
    fallback_addr: SocketAddr,
    cas_client: OnceLock<Result<CasClient, CasError>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("settings", &self.settings).field("demo_cas", &self.demo.is_some()).finish()
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn base_for(addr: SocketAddr) -> String {
    // A wildcard address is not something a browser can open; the loopback of the same family is.
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Auth {
    /// Sets up login: the token secret (configured, or the demo default's generated file), the demo accounts;
    /// `store` keeps the session bindings and users (the app passes its database pool).
    pub fn new(
        settings: &AuthSettings,
        data_dir: &Path,
        addr: SocketAddr,
        store: impl AuthStore,
    ) -> Result<Auth, AuthError> {
        let secret = match &settings.token_secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None if settings.demo_cas => secret::load_or_create(&settings.token_secret_file, config::MIN_SECRET_BYTES)?,
            None => return Err(AuthError::SecretRequired),
        };
        let signer = TokenSigner::new(&secret, settings.token_ttl)?;
        let demo = if settings.demo_cas {
            let path = settings.demo_accounts.clone().unwrap_or_else(|| data_dir.join("demo").join("accounts.toml"));
            let accounts = demo_cas::load_accounts(&path)?;
            tracing::warn!(accounts = accounts.len(), "the demo CAS server is on (/cas): for demonstration only");
            Some(DemoCas::new(accounts))
        } else {
            None
        };
        let public_base = OnceLock::new();
        if let Some(url) = &settings.public_url {
            let _ = public_base.set(url.clone());
        }
        Ok(Auth {
            settings: settings.clone(),
            signer,
            store: Arc::new(store),
            demo,
            mapping: AttributeMapping::default(),
            public_base,
            fallback_addr: addr,
            cas_client: OnceLock::new(),
        })
    }

    /// Learns our address from the bound listener, unless one is configured.
    pub fn on_listening(&self, local: SocketAddr) {
        if self.public_base.set(base_for(local)).is_ok() {
            tracing::info!(public_url = %self.public_base(), cas_url = %self.cas_base(), "login addresses");
        }
    }

    /// Our public address without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub fn public_base(&self) -> String {
        self.public_base.get().cloned().unwrap_or_else(|| base_for(self.fallback_addr))
    }

    /// The CAS server base: configured, or our own demo server.
    pub fn cas_base(&self) -> String {
        self.settings.cas_url.clone().unwrap_or_else(|| format!("{}/cas", self.public_base()))
    }

    pub fn demo(&self) -> Option<&DemoCas> {
        self.demo.as_ref()
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    fn cas_client(&self) -> Result<&CasClient, CasError> {
        self.cas_client
            .get_or_init(|| CasClient::new(&self.cas_base(), DEFAULT_VALIDATE_TIMEOUT))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Who a token belongs to. A token counts only while its session is still bound to its user.
    pub async fn resolve(&self, token: Option<&str>) -> Login {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Login::Guest;
        };
        let claims = match self.signer.verify(token, now_unix()) {
            Ok(claims) => claims,
            Err(TokenError::Expired) => {
                // A genuine token past its time ends its session as a logout does: nobody resuming it later (a
                // guest on the same browser) reads the dialogue or the forms left in it.
                if let Ok(claims) = self.signer.verify(token, i64::MIN) {
                    match self.store.unbind_session(&claims.session, &claims.user.id).await {
                        Ok(true) => tracing::info!(session = %claims.session, "login expired; session ended"),
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %e, "cannot end the session of an expired login"),
                    }
                }
                tracing::info!("login token expired; serving a guest");
                return Login::Expired;
            }
            Err(e) => {
                tracing::info!(reason = %e, "login token refused; serving a guest");
                return Login::Expired;
            }
        };
        match self.store.session_owner(&claims.session).await {
            Ok(Some(SessionOwner::User(bound))) if bound == claims.user.id => Login::User(claims),
            Ok(_) => {
                tracing::info!("login token of a logged-out session; serving a guest");
                Login::Expired
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot check the login binding; serving a guest");
                Login::Expired
            }
        }
    }

    /// Who an HTTP request's `Authorization: Bearer …` belongs to.
    pub async fn resolve_headers(&self, headers: &HeaderMap) -> Login {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        match (headers.contains_key(header::AUTHORIZATION), bearer) {
            (false, _) => Login::Guest,
            (true, None) => Login::Expired,
            (true, Some(token)) => self.resolve(Some(token)).await,
        }
    }

    /// Makes the reply's login/logout links absolute and adds the session they are for (the engine does not
    /// know the session id or our address).
    pub fn complete_links(&self, reply: &mut Reply, session: &SessionId) {
        let base = self.public_base();
        for card in &mut reply.cards {
            complete_card_links(card, &base, session);
        }
    }
}

fn complete_card_links(card: &mut Card, base: &str, session: &SessionId) {
    for action in &mut card.actions {
        if let CardAction::OpenUrl { url, .. } = action {
            if let Some(done) = complete_link(url, base, session) {
                *url = done;
            }
        }
    }
    for item in &mut card.items {
        complete_card_links(item, base, session);
    }
}

fn complete_link(url: &str, base: &str, session: &SessionId) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    if path != LOGIN_PATH && path != LOGOUT_PATH {
        return None;
    }
    let mut full = url::Url::parse(base).ok()?.join(url).ok()?;
    if !full.query_pairs().any(|(k, _)| k == "session") {
        full.query_pairs_mut().append_pair("session", session.as_str());
    }
    Some(full.into())
}

/// The welcome text for a connection whose token was refused.
pub fn expired_welcome(text: &str) -> String {
    format!("{LOGIN_EXPIRED_NOTICE}\n{text}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn login_links_get_the_session_and_our_address() {
        let session = SessionId::parse("s_abc").unwrap();
        let base = "http://127.0.0.1:8080";
        assert_eq!(
            complete_link("/auth/login", base, &session).as_deref(),
            Some("http://127.0.0.1:8080/auth/login?session=s_abc")
        );
        assert_eq!(
            complete_link("/auth/login?session=s_x", base, &session).as_deref(),
            Some("http://127.0.0.1:8080/auth/login?session=s_x")
        );
        assert_eq!(
            complete_link("/auth/logout", base, &session).as_deref(),
            Some("http://127.0.0.1:8080/auth/logout?session=s_abc")
        );
        assert_eq!(complete_link("https://ehall.tjcu.edu.cn/", base, &session), None);
        assert_eq!(complete_link("/auth/loginx", base, &session), None);
    }

    #[test]
    fn wildcard_addresses_become_loopback() {
        assert_eq!(base_for("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080");
        assert_eq!(base_for("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(base_for("10.0.0.5:9000".parse().unwrap()), "http://10.0.0.5:9000");
    }
}
