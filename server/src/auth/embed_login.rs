//! Login for a widget embedded on another site, without an allow-listed `postMessage` origin.
//!
//! The widget makes a one-time nonce and opens `/auth/login?session=…&return=/auth/embed/done?nonce=…&origin=…`
//! in a popup. After CAS, the 登录成功 page (which stores the token in our origin's localStorage) moves on to
//! `/auth/embed/done`: on our own origin, it reads the token and hands it to `POST /auth/embed/complete` under
//! the nonce, then closes itself. The widget polls `GET /auth/embed/result?nonce=…` and takes the token, once.
//!
//! Why it is safe enough: the nonce is the widget's secret; the result is released only to a request whose
//! browser-set `Origin` is the origin the user saw; for an origin that is neither ours nor in
//! `auth.allowed_origins`, the done page first asks the user to confirm which site gets the login (a link
//! crafted by someone else names their site there). Hand-overs live in memory for a few minutes: behind several
//! replicas, route `/auth/embed/*` of one client to one replica (or configure `allowed_origins`).

use super::{Auth, Login};
use crate::app::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a completed login waits for its widget to pick it up.
const HANDOVER_TTL: Duration = Duration::from_secs(300);
/// At most this many hand-overs are kept; the oldest go first.
const MAX_HANDOVERS: usize = 2000;

/// Completed logins waiting for their widget, by nonce.
#[derive(Default)]
pub struct Handovers {
    waiting: Mutex<HashMap<String, Handover>>,
}

struct Handover {
    token: String,
    origin: String,
    at: Instant,
}

/// Why a hand-over was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HandoverError {
    /// The nonce was used already.
    Taken,
}

impl Handovers {
    pub fn put(&self, nonce: &str, origin: &str, token: &str, now: Instant) -> Result<(), HandoverError> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        waiting.retain(|_, h| now.duration_since(h.at) < HANDOVER_TTL);
        if waiting.contains_key(nonce) {
            return Err(HandoverError::Taken);
        }
        if waiting.len() >= MAX_HANDOVERS {
            if let Some(oldest) = waiting.iter().min_by_key(|(_, h)| h.at).map(|(k, _)| k.clone()) {
                waiting.remove(&oldest);
            }
        }
        let handover = Handover { token: token.to_owned(), origin: origin.to_owned(), at: now };
        waiting.insert(nonce.to_owned(), handover);
        Ok(())
    }

    /// The token for `nonce` if it is ready and `origin` is the one it was confirmed for; taken out when given.
    pub fn take(&self, nonce: &str, origin: &str, now: Instant) -> Pickup {
        let mut waiting = self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match waiting.get(nonce) {
            Some(h) if now.duration_since(h.at) >= HANDOVER_TTL => {
                waiting.remove(nonce);
                Pickup::Pending
            }
            Some(h) if h.origin != origin => Pickup::WrongOrigin,
            Some(_) => waiting.remove(nonce).map(|h| Pickup::Ready(h.token)).unwrap_or(Pickup::Pending),
            None => Pickup::Pending,
        }
    }
}

/// What a poll gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Pickup {
    Ready(String),
    Pending,
    WrongOrigin,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/embed/done", get(done_page))
        .route("/auth/embed/complete", post(complete))
        .route("/auth/embed/result", get(result))
        .layer(Extension(Arc::new(Handovers::default())))
}

/// A nonce as the widget makes them: 22–64 URL-safe characters.
fn valid_nonce(nonce: &str) -> bool {
    (22..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The serialized origin of an http(s) URL or origin.
fn origin_of(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

fn own_origin(auth: &Auth) -> Option<String> {
    origin_of(&auth.public_base())
}

/// Our origin, or one the operator listed in `auth.allowed_origins`: no confirmation asked.
fn trusted_origin(auth: &Auth, origin: &str) -> bool {
    own_origin(auth).as_deref() == Some(origin)
        || auth.settings.allowed_origins.iter().filter_map(|o| origin_of(o)).any(|o| o == origin)
}

#[derive(Deserialize)]
struct DoneQuery {
    nonce: Option<String>,
    origin: Option<String>,
}

fn escape(text: &str) -> String {
    super::pages::escape_html(text)
}

fn small_page(status: StatusCode, title: &str, body: &str, script: Option<&str>) -> Response {
    let script = script.map(|s| format!("<script>{s}</script>")).unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>\
body{{font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;background:#f4f6f9;margin:0;padding:40px 16px;color:#222}}\
main{{max-width:440px;margin:0 auto;background:#fff;border-radius:8px;padding:28px;box-shadow:0 2px 10px rgba(0,0,0,.08)}}\
h1{{font-size:20px;margin:0 0 16px}}p{{line-height:1.6}}.origin{{font-weight:600;word-break:break-all;color:#1f5fae}}\
button{{margin:14px 10px 0 0;padding:9px 22px;border-radius:4px;font-size:15px;cursor:pointer;border:1px solid #1f5fae;\
background:#fff;color:#1f5fae}}button.primary{{background:#1f5fae;color:#fff}}.error{{color:#b0232a}}.note{{color:#777;font-size:13px}}\
</style></head><body><main>{body}</main>{script}</body></html>",
        escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Never framed: the confirmation must not be clickjacked.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Where the popup lands after 登录成功: hands the token over under the nonce (after a confirmation for an
/// unknown site), then closes itself.
async fn done_page(State(state): State<AppState>, Query(query): Query<DoneQuery>) -> Response {
    let nonce = query.nonce.as_deref().filter(|n| valid_nonce(n));
    let origin = query.origin.as_deref().and_then(origin_of);
    let (Some(nonce), Some(origin)) = (nonce, origin) else {
        return small_page(
            StatusCode::BAD_REQUEST,
            "登录未完成",
            "<h1>登录未完成</h1><p class=\"error\">登录链接不完整，请回到对话窗口重新点击“登录”。</p>",
            None,
        );
    };
    let trusted = trusted_origin(&state.auth, &origin);
    let body = format!(
        "<h1>登录成功</h1><div id=\"ask\"{hidden}><p>您正在以下网站的“办事大厅智能助手”中登录：</p>\
<p class=\"origin\">{origin}</p><p>确认后，该网站上的对话窗口将以您的身份查询办件、消息等个人信息。\
如果您没有在这个网站上点击登录，请选择“取消”。</p>\
<button type=\"button\" class=\"primary\" id=\"confirm\">确认登录</button><button type=\"button\" id=\"cancel\">取消</button></div>\
<p id=\"msg\" class=\"note\" role=\"status\">{msg}</p>",
        hidden = if trusted { " hidden" } else { "" },
        origin = escape(&origin),
        msg = if trusted { "正在返回对话窗口…" } else { "" },
    );
    let script = format!(
        "(function(){{var nonce={nonce},origin={origin},trusted={trusted},key={key};\
var msg=document.getElementById('msg');function say(t,bad){{msg.textContent=t;msg.className=bad?'error':'note';}}\
var token=null;try{{token=localStorage.getItem(key);}}catch(e){{}}\
function finish(){{say('登录成功，本页将自动关闭；如未关闭，请手动关闭本页回到对话窗口。');setTimeout(function(){{window.close();}},300);}}\
function hand(){{document.getElementById('ask').hidden=true;say('正在返回对话窗口…');\
fetch('/auth/embed/complete',{{method:'POST',headers:{{'Content-Type':'application/json'}},\
body:JSON.stringify({{nonce:nonce,origin:origin,token:token}})}}).then(function(r){{\
if(r.ok)finish();else say('登录结果未能交给对话窗口（'+r.status+'），请回到对话窗口重新登录。',true);}},\
function(){{say('网络错误，登录结果未能交给对话窗口，请回到对话窗口重新登录。',true);}});}}\
if(!token){{document.getElementById('ask').hidden=true;say('没有找到登录信息（浏览器可能禁止了本站存储），请回到对话窗口重新登录。',true);return;}}\
document.getElementById('confirm').addEventListener('click',hand);\
document.getElementById('cancel').addEventListener('click',function(){{say('已取消，未在该网站登录。');setTimeout(function(){{window.close();}},300);}});\
if(trusted)hand();}})();",
        nonce = super::pages::script_json(&nonce.into()),
        origin = super::pages::script_json(&origin.clone().into()),
        trusted = trusted,
        key = super::pages::script_json(&super::pages::WIDGET_TOKEN_KEY.into()),
    );
    small_page(StatusCode::OK, "登录成功", &body, Some(&script))
}

#[derive(Deserialize)]
struct CompleteBody {
    nonce: String,
    origin: String,
    token: String,
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": { "code": code, "message": message } }))).into_response()
}

/// `POST /auth/embed/complete`: only our own done page calls it (same origin; a cross-site JSON post would
/// need a preflight we never grant).
async fn complete(
    State(state): State<AppState>,
    Extension(handovers): Extension<Arc<Handovers>>,
    headers: HeaderMap,
    Json(body): Json<CompleteBody>,
) -> Response {
    let auth = &state.auth;
    let from = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).and_then(origin_of);
    if from.is_some() && from != own_origin(auth) {
        return json_error(StatusCode::FORBIDDEN, "forbidden", "只能由登录页面提交");
    }
    let Some(origin) = origin_of(&body.origin) else {
        return json_error(StatusCode::BAD_REQUEST, "bad_request", "网站地址无效");
    };
    if !valid_nonce(&body.nonce) {
        return json_error(StatusCode::BAD_REQUEST, "bad_request", "登录编号无效");
    }
    let Login::User(claims) = auth.resolve(Some(&body.token)).await else {
        return json_error(StatusCode::UNAUTHORIZED, "unauthorized", "登录已过期，请重新登录");
    };
    match handovers.put(&body.nonce, &origin, &body.token, Instant::now()) {
        Ok(()) => {
            tracing::info!(user = %claims.user.id, %origin, trusted = trusted_origin(auth, &origin), "embedded login handed over");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(HandoverError::Taken) => json_error(StatusCode::CONFLICT, "conflict", "该登录编号已使用，请重新登录"),
    }
}

#[derive(Deserialize)]
struct ResultQuery {
    nonce: Option<String>,
}

/// `GET /auth/embed/result?nonce=…`: `200 {token}` once, `202 {status: "pending"}` until then. A simple CORS
/// GET: readable by the requesting origin, and released only to the origin the login was confirmed for.
async fn result(
    State(state): State<AppState>,
    Extension(handovers): Extension<Arc<Handovers>>,
    headers: HeaderMap,
    Query(query): Query<ResultQuery>,
) -> Response {
    let request_origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).and_then(origin_of);
    // A same-origin fetch sends no Origin: that is our own origin.
    let origin = request_origin.clone().or_else(|| own_origin(&state.auth)).unwrap_or_default();
    let mut response = match query.nonce.as_deref().filter(|n| valid_nonce(n)) {
        None => json_error(StatusCode::BAD_REQUEST, "bad_request", "登录编号无效"),
        Some(nonce) => match handovers.take(nonce, &origin, Instant::now()) {
            Pickup::Ready(token) => Json(serde_json::json!({ "token": token })).into_response(),
            Pickup::Pending => (StatusCode::ACCEPTED, Json(serde_json::json!({ "status": "pending" }))).into_response(),
            Pickup::WrongOrigin => json_error(StatusCode::FORBIDDEN, "forbidden", "该登录属于另一个网站"),
        },
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = request_origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "abcdefghijklmnopqrstuv";

    #[test]
    fn a_handover_is_given_once_and_only_to_its_origin() {
        let handovers = Handovers::default();
        let now = Instant::now();
        assert_eq!(handovers.take(NONCE, "https://a.example", now), Pickup::Pending);
        assert_eq!(handovers.put(NONCE, "https://a.example", "tok", now), Ok(()));
        assert_eq!(handovers.put(NONCE, "https://a.example", "other", now), Err(HandoverError::Taken));
        assert_eq!(handovers.take(NONCE, "https://evil.example", now), Pickup::WrongOrigin);
        assert_eq!(handovers.take(NONCE, "https://a.example", now), Pickup::Ready("tok".into()));
        assert_eq!(handovers.take(NONCE, "https://a.example", now), Pickup::Pending);
    }

    #[test]
    fn a_handover_expires() {
        let handovers = Handovers::default();
        let then = Instant::now();
        assert_eq!(handovers.put(NONCE, "https://a.example", "tok", then), Ok(()));
        assert_eq!(handovers.take(NONCE, "https://a.example", then + HANDOVER_TTL), Pickup::Pending);
    }

    #[test]
    fn nonces_and_origins_are_checked() {
        assert!(valid_nonce(NONCE));
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce("abcdefghijklmnopqrstuv<script>"));
        assert_eq!(origin_of("https://a.example/x?y").as_deref(), Some("https://a.example"));
        assert_eq!(origin_of("javascript:alert(1)"), None);
    }
}
