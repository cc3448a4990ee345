//! `/auth/login`, `/auth/callback`, `/auth/logout` and their landing pages; the demo CAS routes when it is on.

use super::{demo_cas, now_unix, pages, Auth, Login, LOGIN_PATH};
use crate::app::AppState;
use crate::channels::cas::{self, CasError, CasFailureCode, LoginOptions};
use crate::store::auth::SessionOwner;
use crate::store::{SessionId, StoreError};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bot::protocol::{Role, UserInfo};
use serde::Deserialize;
use tower_http::cors::{Any, CorsLayer};

/// The login routes, with the demo CAS server's when `demo_cas` is on.
pub fn router(demo_cas: bool) -> Router<AppState> {
    // The widget logs out from whatever site embeds it; the bearer token is the only credential (no cookies), so
    // any origin may send it.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let logout_routes = Router::new().route(super::LOGOUT_PATH, get(logout_page).post(logout)).layer(cors);
    let routes = Router::new()
        .route(LOGIN_PATH, get(login))
        .route("/auth/callback", get(callback))
        .merge(logout_routes)
        .route("/auth/done", get(|| async { pages::login_done() }))
        .route("/auth/logged-out", get(|| async { pages::logged_out() }));
    if demo_cas {
        routes.merge(demo_cas::router())
    } else {
        routes
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    session: Option<String>,
    #[serde(rename = "return")]
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    ticket: Option<String>,
    session: Option<String>,
    #[serde(rename = "return")]
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LogoutQuery {
    #[serde(rename = "return")]
    return_to: Option<String>,
}

fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// Our own origin and the configured embedding origins: where login may return and the token may be posted.
fn allowed_origins(auth: &Auth) -> Vec<String> {
    let mut origins: Vec<String> = std::iter::once(auth.public_base())
        .chain(auth.settings.allowed_origins.iter().cloned())
        .filter_map(|u| origin_of(&u))
        .collect();
    origins.dedup();
    origins
}

/// The return address if it is ours (a path, or a URL on an allowed origin); anything else is dropped, so login
/// can never be used to send a token to another site.
fn allowed_return(auth: &Auth, raw: Option<&str>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty())?;
    if raw.starts_with('/') {
        if raw.starts_with("//") || raw.contains('\\') {
            return None;
        }
        return url::Url::parse(&auth.public_base()).ok()?.join(raw).ok().map(Into::into);
    }
    let origin = origin_of(raw)?;
    allowed_origins(auth).contains(&origin).then(|| raw.to_owned())
}

/// Our CAS `service` URL: `/auth/callback` with the chat session and the return address. Built the same way at
/// login and at validation, so it is byte-identical as CAS requires.
fn callback_service(auth: &Auth, session: Option<&str>, return_to: Option<&str>) -> Result<String, CasError> {
    let raw = format!("{}/auth/callback", auth.public_base());
    let mut url = url::Url::parse(&raw).map_err(|e| CasError::InvalidUrl(format!("{raw}: {e}")))?;
    let pairs = [("session", session), ("return", return_to)];
    if pairs.iter().any(|(_, v)| v.is_some()) {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
    }
    Ok(url.into())
}

/// `/auth/login` again with the same session and return address (the "重新登录" link).
fn login_link(session: Option<&str>, return_to: Option<&str>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    if let Some(session) = session {
        serializer.append_pair("session", session);
    }
    if let Some(return_to) = return_to {
        serializer.append_pair("return", return_to);
    }
    let query = serializer.finish();
    if query.is_empty() {
        LOGIN_PATH.to_owned()
    } else {
        format!("{LOGIN_PATH}?{query}")
    }
}

fn server_failure(detail: &str) -> Response {
    tracing::error!(detail, "login failed on our side");
    pages::login_failed(StatusCode::INTERNAL_SERVER_ERROR, "登录服务出现内部错误，请稍后再试。", None)
}

async fn login(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let auth = &state.auth;
    let session = query.session.as_deref().and_then(SessionId::parse);
    let return_to = allowed_return(auth, query.return_to.as_deref());
    let service = match callback_service(auth, session.as_ref().map(SessionId::as_str), return_to.as_deref()) {
        Ok(service) => service,
        Err(e) => return server_failure(&e.to_string()),
    };
    match cas::login_url(&auth.cas_base(), &service, LoginOptions::default()) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => server_failure(&e.to_string()),
    }
}

/// The Chinese page for a failed validation: 401 when CAS refused, 502 when it could not be asked.
fn validation_failed(error: &CasError, retry: &str) -> Response {
    let (status, message) = match error {
        CasError::Failure { code, .. } => {
            let message = match code {
                CasFailureCode::InvalidTicket => {
                    "登录凭证无效或已过期（例如刷新了页面或等待过久），请重新登录。".to_owned()
                }
                CasFailureCode::InvalidService => "登录凭证与本服务不匹配，请重新登录。".to_owned(),
                CasFailureCode::InvalidRequest => "登录请求不完整，请重新登录。".to_owned(),
                CasFailureCode::InvalidTicketSpec => "登录凭证不符合要求，请重新登录。".to_owned(),
                other => format!("统一身份认证未通过（{}），请重新登录。", other.as_str()),
            };
            (StatusCode::UNAUTHORIZED, message)
        }
        CasError::InvalidTicketFormat => (StatusCode::UNAUTHORIZED, "登录凭证格式不正确，请重新登录。".to_owned()),
        CasError::Malformed(_) => {
            (StatusCode::BAD_GATEWAY, "统一身份认证服务返回了无法识别的结果，请稍后再试。".to_owned())
        }
        CasError::Timeout | CasError::Transport(_) | CasError::Status(_) => {
            (StatusCode::BAD_GATEWAY, "暂时无法连接统一身份认证服务，请稍后再试。".to_owned())
        }
        CasError::InvalidUrl(_) => (StatusCode::INTERNAL_SERVER_ERROR, "登录服务配置有误，请联系网信办。".to_owned()),
    };
    tracing::info!(%error, "CAS login refused");
    pages::login_failed(status, &message, Some(retry))
}

/// Binds the requested chat session to `user` when it is a guest's or already theirs; otherwise (unknown, or
/// someone else's) a new session is made for them, so that nobody can take over another user's session.
async fn bind_session(auth: &Auth, requested: Option<&str>, user: &UserInfo) -> Result<SessionId, StoreError> {
    if let Some(id) = requested.and_then(SessionId::parse) {
        match auth.store.session_owner(id.as_str()).await? {
            Some(SessionOwner::Guest) if auth.store.bind_guest_session(id.as_str(), &user.id).await? => return Ok(id),
            Some(SessionOwner::User(owner)) if owner == user.id => return Ok(id),
            Some(SessionOwner::User(_)) => {
                tracing::info!("the session to bind is another user's; starting a new one")
            }
            // A session that had no turn yet is only an id (sessions are stored on their first turn): it becomes
            // the user's under that id, so the widget's dialogue continues. Whoever else knows the id gets
            // nothing from it: every turn checks the owner.
            None => match auth.store.create_bound_session(id.as_str(), &user.id).await {
                Ok(()) => return Ok(id),
                Err(e) => tracing::info!(error = %e, "the session to bind appeared meanwhile; starting a new one"),
            },
            Some(SessionOwner::Guest) => {}
        }
    }
    let id = SessionId::generate();
    auth.store.create_bound_session(id.as_str(), &user.id).await?;
    Ok(id)
}

/// Whether a login returns to our admin page (its token is kept apart from the widget's).
fn goes_to_admin(auth: &Auth, next: &str) -> bool {
    let path = next.strip_prefix(&auth.public_base()).unwrap_or(next);
    path == "/admin" || path.starts_with("/admin?") || path.starts_with("/admin#")
}

async fn callback(State(state): State<AppState>, Query(query): Query<CallbackQuery>) -> Response {
    let auth = &state.auth;
    let retry = login_link(query.session.as_deref(), query.return_to.as_deref());
    let Some(ticket) = query.ticket.as_deref().filter(|t| !t.is_empty()) else {
        return pages::login_failed(
            StatusCode::UNAUTHORIZED,
            "没有收到统一身份认证的登录凭证，请重新登录。",
            Some(&retry),
        );
    };
    // The service exactly as /auth/login built it, from the parameters CAS handed back.
    let service = match callback_service(auth, query.session.as_deref(), query.return_to.as_deref()) {
        Ok(service) => service,
        Err(e) => return server_failure(&e.to_string()),
    };
    let validated = match auth.cas_client() {
        Ok(client) => client.validate(&service, ticket).await,
        Err(e) => Err(e),
    };
    let success = match validated {
        Ok(success) => success,
        Err(e) => return validation_failed(&e, &retry),
    };
    let identity = success.identity(&auth.mapping);
    let role = identity.role.unwrap_or_else(|| {
        tracing::warn!("CAS sent no recognizable role; treating the user as a student");
        Role::Student
    });
    let name = identity.name.clone().unwrap_or_else(|| identity.id.clone());
    let user = UserInfo { id: identity.id, name, role };
    let admin = success.attribute("admin").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    // The department an admin answers for (their freshness list is scoped to it); meaningless for a non-admin.
    let department = success.attribute("adminDepartment").map(str::trim).filter(|d| admin && !d.is_empty());
    let session = match bind_session(auth, query.session.as_deref(), &user).await {
        Ok(session) => session,
        Err(e) => return server_failure(&e.to_string()),
    };
    if let Err(e) = auth.store.upsert_user(&user, admin).await {
        tracing::error!(error = %e, "could not record the user");
    }
    let (token, _) = auth.signer.sign_scoped(&user, admin, department, session.as_str(), now_unix());
    let next =
        allowed_return(auth, query.return_to.as_deref()).unwrap_or_else(|| format!("{}/auth/done", auth.public_base()));
    tracing::info!(user = %user.id, role = user.role.label(), %session, "logged in");
    let key = if goes_to_admin(auth, &next) { pages::ADMIN_TOKEN_KEY } else { pages::WIDGET_TOKEN_KEY };
    pages::login_success(&user.name, &token, &allowed_origins(auth), &next, key)
}

/// `POST /auth/logout` with `Authorization: Bearer <token>`: ends the token's session — unbound, its dialogue and
/// forms cleared, the token refused from then on. Without a valid token nothing changes (401): logging out is
/// a change only the holder of the login may make, never a link anyone can open.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let auth = &state.auth;
    let Login::User(claims) = auth.resolve_headers(&headers).await else {
        let body = serde_json::json!({"error": {"code": "unauthorized", "message": "退出登录需要有效的登录凭证"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    };
    if let Err(e) = auth.store.unbind_session(&claims.session, &claims.user.id).await {
        tracing::error!(error = %e, "cannot end the session on logout");
        let body = serde_json::json!({"error": {"code": "internal", "message": "服务器内部错误，请稍后再试"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
    }
    tracing::info!(session = %claims.session, "logged out");
    let cas_logout = cas::logout_url(&auth.cas_base(), Some(&format!("{}/auth/logged-out", auth.public_base()))).ok();
    axum::Json(serde_json::json!({"logged_out": true, "cas_logout": cas_logout})).into_response()
}

/// `GET /auth/logout`: only ends the 统一身份认证 login (a redirect to CAS's logout); no chat session changes on a
/// GET, since its address can be opened by anyone who sees it. The widget logs out with the POST above.
async fn logout_page(State(state): State<AppState>, Query(query): Query<LogoutQuery>) -> Response {
    let auth = &state.auth;
    let back = allowed_return(auth, query.return_to.as_deref())
        .unwrap_or_else(|| format!("{}/auth/logged-out", auth.public_base()));
    match cas::logout_url(&auth.cas_base(), Some(&back)) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => server_failure(&e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_link_keeps_session_and_return() {
        assert_eq!(login_link(None, None), "/auth/login");
        assert_eq!(login_link(Some("s_1"), Some("/x?a=1")), "/auth/login?session=s_1&return=%2Fx%3Fa%3D1");
    }
}
