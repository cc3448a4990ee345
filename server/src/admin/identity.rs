//! Who is calling the admin API: a bearer token resolved to a principal, and the admin check.
//!
//! CSRF: the admin API reads its credential only from the `Authorization: Bearer` header, never from a cookie,
//! so a page on another origin cannot make the browser send it; the admin page keeps the token in
//! `sessionStorage` and sets the header itself.
//!
//! A token is first resolved as a 统一身份认证 login token (`crate::auth`, whose claims carry the CAS or demo
//! account's admin flag and `adminDepartment`); failing that, by the configured [`TokenVerifier`]
//! ([`StaticTokens`] from `EHALL_ADMIN_TOKENS`, for operators and tests without CAS).
//!
//! An admin's department (their freshness list shows only its items) comes from the admin list
//! (`EHALL_ADMINS="A0001,A0002:网信办"`) when it names one, else from the login: the CAS `adminDepartment`
//! attribute, or the static token's `:department`.

use super::error::AdminError;
use super::AdminContext;
use crate::app::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A logged-in user as the admin API sees them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    pub id: String,
    pub name: String,
    /// Set by the identity provider (a CAS `admin` attribute, an `admin = true` demo account).
    pub admin: bool,
    /// An admin of one department sees that department's items in the freshness list; `None` sees all.
    pub department: Option<String>,
}

/// Turns a bearer token into a principal; `None` for a token that is unknown, expired or forged.
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Option<Principal>;
}

/// Tokens listed in configuration: `EHALL_ADMIN_TOKENS="token=user_id[:department],…"`. Whether the user is an
/// admin is decided by [`AdminPolicy`] (`EHALL_ADMINS`).
#[derive(Debug, Default)]
pub struct StaticTokens {
    by_token: HashMap<String, Principal>,
}

impl StaticTokens {
    pub fn parse(spec: &str) -> StaticTokens {
        let mut by_token = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((token, who)) = entry.split_once('=') else {
                continue;
            };
            let (id, department) = match who.split_once(':') {
                Some((id, dept)) => (id, Some(dept.to_owned())),
                None => (who, None),
            };
            if token.len() < 8 || id.is_empty() {
                tracing::warn!("ignoring an EHALL_ADMIN_TOKENS entry with a short token or no user id");
                continue;
            }
            let principal = Principal { id: id.to_owned(), name: id.to_owned(), admin: false, department };
            by_token.insert(token.to_owned(), principal);
        }
        StaticTokens { by_token }
    }
}

#[async_trait::async_trait]
impl TokenVerifier for StaticTokens {
    async fn verify(&self, token: &str) -> Option<Principal> {
        self.by_token.get(token).cloned()
    }
}

/// Who counts as an admin: a principal flagged admin by its identity provider, or a user id in `EHALL_ADMINS`
/// (`"A0001,A0002:网信办"`: an entry may name the one department that admin answers for).
#[derive(Debug, Default, Clone)]
pub struct AdminPolicy {
    admin_ids: HashSet<String>,
    departments: HashMap<String, String>,
}

impl AdminPolicy {
    pub fn parse(list: &str) -> AdminPolicy {
        let mut policy = AdminPolicy::default();
        for entry in list.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
            let (id, department) = match entry.split_once(':') {
                Some((id, dept)) => (id.trim(), Some(dept.trim()).filter(|d| !d.is_empty())),
                None => (entry, None),
            };
            if id.is_empty() {
                continue;
            }
            if let Some(dept) = department {
                policy.departments.insert(id.to_owned(), dept.to_owned());
            }
            policy.admin_ids.insert(id.to_owned());
        }
        policy
    }

    /// The department the admin list binds this user to, if it names one.
    pub fn department_of(&self, id: &str) -> Option<&str> {
        self.departments.get(id).map(String::as_str)
    }

    pub fn is_admin(&self, p: &Principal) -> bool {
        p.admin || self.admin_ids.contains(&p.id)
    }

    /// The principal with the department the admin list names for them, which wins over the login's.
    pub fn scoped(&self, mut p: Principal) -> Principal {
        if let Some(dept) = self.department_of(&p.id) {
            p.department = Some(dept.to_owned());
        }
        p
    }
}

/// The admin making a request; extracting it answers 401 without a valid token and 403 for a non-admin.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The admin context of the app, or 503 when the app was built without one.
pub fn context(state: &AppState) -> Result<Arc<AdminContext>, AdminError> {
    state.admin.clone().ok_or(AdminError::Unavailable)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = context(state)?;
        let token = bearer(parts).ok_or(AdminError::Unauthorized)?;
        let principal = match state.auth.resolve(Some(token)).await {
            crate::auth::Login::User(claims) => Principal {
                id: claims.user.id.clone(),
                name: claims.user.name.clone(),
                admin: claims.admin,
                department: claims.department.clone(),
            },
            crate::auth::Login::Guest | crate::auth::Login::Expired => {
                ctx.verifier.verify(token).await.ok_or(AdminError::Unauthorized)?
            }
        };
        let principal = ctx.policy.scoped(principal);
        if !ctx.policy.is_admin(&principal) {
            return Err(AdminError::Forbidden);
        }
        Ok(Admin(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_tokens_and_the_admin_list() {
        let tokens = StaticTokens::parse("tok-admin-1=A0001, tok-dept-22=A0002:网信办, short=x, tok-student=S001");
        let policy = AdminPolicy::parse("A0001,A0002");
        let admin = tokens.verify("tok-admin-1").await.expect("a known token");
        assert!(policy.is_admin(&admin));
        assert_eq!(tokens.verify("tok-dept-22").await.expect("a known token").department.as_deref(), Some("网信办"));
        assert!(tokens.verify("short").await.is_none());
        let scoped = AdminPolicy::parse("A0001, S2015002:后勤管理处");
        let cas_login = |id: &str| Principal { id: id.into(), name: id.into(), admin: false, department: None };
        let staff = scoped.scoped(cas_login("S2015002"));
        assert!(scoped.is_admin(&staff));
        assert_eq!(staff.department.as_deref(), Some("后勤管理处"));
        assert_eq!(scoped.scoped(cas_login("A0001")).department, None);
        assert!(!scoped.is_admin(&cas_login("后勤管理处")));
        assert!(!policy.is_admin(&tokens.verify("tok-student").await.expect("a known token")));
    }
}
