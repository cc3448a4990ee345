//! The built-in demo CAS server (`/cas/login`, `/cas/p3/serviceValidate`, `/cas/logout`) for the embedded default.
//!
//! It speaks enough of CAS 3.0 for our own client to log in against it over real HTTP: a login form checked
//! against `data/demo/accounts.toml`, single-use service tickets that expire after 60 s and are bound to their
//! service URL, and the success / failure XML of spec §3.3. It keeps no SSO session. Never for production.

use crate::app::AppState;
use crate::channels::cas::{is_plausible_ticket, CasFailureCode};
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use bot::protocol::Role;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::pages;
use super::token::constant_time_eq;

/// How long an issued service ticket may wait for validation.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// Random characters in a ticket after `ST-<n>-`.
const TICKET_RANDOM_CHARS: usize = 32;

/// One demo account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAccount {
    /// 学工号, the CAS user.
    pub id: String,
    pub name: String,
    pub role: Role,
    pub password: String,
    #[serde(default)]
    pub admin: bool,
    /// For an admin who answers for one department only: sent as the `adminDepartment` attribute.
    #[serde(default)]
    pub admin_department: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    account: Vec<DemoAccount>,
}

/// Why the demo accounts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("cannot read the demo accounts {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the demo accounts {path} are not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Reads the demo accounts file.
pub fn load_accounts(path: &Path) -> Result<Vec<DemoAccount>, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read { path: path.to_owned(), source })?;
    let file: AccountsFile = toml::from_str(&text)
        .map_err(|e| AccountsError::Parse { path: path.to_owned(), message: e.message().trim().to_owned() })?;
    let mut seen = std::collections::HashSet::new();
    for account in &file.account {
        if account.id.trim().is_empty() || account.password.is_empty() || !seen.insert(account.id.as_str()) {
            return Err(AccountsError::Parse {
                path: path.to_owned(),
                message: format!("account `{}` has an empty id or password, or is listed twice", account.id),
            });
        }
    }
    Ok(file.account)
}

#[derive(Debug)]
struct IssuedTicket {
    account: usize,
    service: String,
    issued: Instant,
}

/// The demo server's accounts and outstanding tickets.
#[derive(Debug)]
pub struct DemoCas {
    accounts: Vec<DemoAccount>,
    tickets: Mutex<HashMap<String, IssuedTicket>>,
    counter: std::sync::atomic::AtomicU64,
}

/// A validation refused, as CAS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: CasFailureCode,
    pub description: String,
}

impl DemoCas {
    pub fn new(accounts: Vec<DemoAccount>) -> DemoCas {
        DemoCas { accounts, tickets: Mutex::new(HashMap::new()), counter: std::sync::atomic::AtomicU64::new(1) }
    }

    pub fn accounts(&self) -> &[DemoAccount] {
        &self.accounts
    }

    /// The account with this id and password. Every account's password is compared, in constant time, so that
    /// the answer time does not tell which ids exist.
    fn authenticate(&self, id: &str, password: &str) -> Option<usize> {
        let mut found = None;
        for (index, account) in self.accounts.iter().enumerate() {
            let password_ok = constant_time_eq(account.password.as_bytes(), password.as_bytes());
            if password_ok && account.id == id.trim() {
                found = Some(index);
            }
        }
        found
    }

    fn tickets(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuedTicket>> {
        // A panic while holding the lock leaves the map usable: every operation on it is a single insert/remove.
        self.tickets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a single-use ticket for `service`.
    fn issue(&self, account: usize, service: &str) -> String {
        use rand::Rng;
        let n = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let random: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(TICKET_RANDOM_CHARS)
            .map(char::from)
            .collect();
        let ticket = format!("ST-{n}-{random}");
        let mut tickets = self.tickets();
        tickets.retain(|_, t| t.issued.elapsed() < TICKET_LIFETIME);
        tickets.insert(ticket.clone(), IssuedTicket { account, service: service.to_owned(), issued: Instant::now() });
        ticket
    }

    /// Validates and consumes a ticket (single use: also when validation fails).
    pub fn validate(&self, service: Option<&str>, ticket: Option<&str>) -> Result<&DemoAccount, Refusal> {
        let refuse = |code, description: String| Err(Refusal { code, description });
        let (Some(service), Some(ticket)) = (service.filter(|s| !s.is_empty()), ticket.filter(|t| !t.is_empty()))
        else {
            return refuse(
                CasFailureCode::InvalidRequest,
                "'service' and 'ticket' parameters are both required".into(),
            );
        };
        if !ticket.starts_with("ST-") || !is_plausible_ticket(ticket) {
            return refuse(CasFailureCode::InvalidTicketSpec, "Ticket is not a service ticket".into());
        }
        let issued = self.tickets().remove(ticket);
        let shown = ticket.chars().take(64).collect::<String>();
        match issued {
            None => refuse(CasFailureCode::InvalidTicket, format!("Ticket {shown} not recognized")),
            Some(t) if t.issued.elapsed() >= TICKET_LIFETIME => {
                refuse(CasFailureCode::InvalidTicket, format!("Ticket {shown} has expired"))
            }
            Some(t) if t.service != service => {
                refuse(CasFailureCode::InvalidService, format!("Ticket {shown} does not match supplied service"))
            }
            Some(t) => self
                .accounts
                .get(t.account)
                .ok_or(Refusal { code: CasFailureCode::InternalError, description: "account vanished".into() }),
        }
    }
}

fn xml_escape(text: &str) -> String {
    pages::escape_html(text)
}

/// The CAS 3.0 success document for an account.
pub fn success_xml(account: &DemoAccount) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n\
  <cas:authenticationSuccess>\n\
    <cas:user>{id}</cas:user>\n\
    <cas:attributes>\n\
      <cas:isFromNewLogin>true</cas:isFromNewLogin>\n\
      <cas:authenticationDate>{now}</cas:authenticationDate>\n\
      <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>\n\
      <cas:uid>{id}</cas:uid>\n\
      <cas:cn>{name}</cas:cn>\n\
      <cas:name>{name}</cas:name>\n\
      <cas:role>{role}</cas:role>\n\
      <cas:admin>{admin}</cas:admin>\n\
{department}\
    </cas:attributes>\n\
  </cas:authenticationSuccess>\n\
</cas:serviceResponse>\n",
        id = xml_escape(&account.id),
        name = xml_escape(&account.name),
        role = account.role.label(),
        admin = account.admin,
        department = account
            .admin_department
            .as_deref()
            .map(|d| format!("      <cas:adminDepartment>{}</cas:adminDepartment>\n", xml_escape(d)))
            .unwrap_or_default(),
    )
}

/// The CAS failure document (spec §2.5.2 form).
pub fn failure_xml(refusal: &Refusal) -> String {
    format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n <cas:authenticationFailure code=\"{}\">\n    {}\n  </cas:authenticationFailure>\n</cas:serviceResponse>\n",
        refusal.code.as_str(),
        xml_escape(&refusal.description)
    )
}

/// The demo CAS routes, mounted when `auth.demo_cas` is on.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cas/login", get(login_form).post(login_submit))
        .route("/cas/p3/serviceValidate", get(service_validate))
        .route("/cas/serviceValidate", get(service_validate))
        .route("/cas/logout", get(logout))
}

#[derive(Debug, Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    service: String,
}

#[derive(Debug, Deserialize)]
struct ValidateQuery {
    service: Option<String>,
    ticket: Option<String>,
}

/// Like a campus CAS with open mode off: only services under our own public address are served.
fn registered_service(state: &AppState, service: &str) -> bool {
    let base = state.auth.public_base();
    let Ok(url) = url::Url::parse(service) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https") && service.starts_with(&format!("{base}/"))
}

fn unregistered() -> Response {
    pages::demo_message(StatusCode::BAD_REQUEST, "未注册的服务", "该应用未在统一身份认证中注册，无法登录。", None)
}

async fn login_form(State(state): State<AppState>, Query(query): Query<ServiceQuery>) -> Response {
    let service = query.service.unwrap_or_default();
    if !registered_service(&state, &service) {
        return unregistered();
    }
    pages::demo_login_form(StatusCode::OK, &service, "", None)
}

async fn login_submit(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let Some(demo) = state.auth.demo() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !registered_service(&state, &form.service) {
        return unregistered();
    }
    let Some(account) = demo.authenticate(&form.username, &form.password) else {
        tracing::info!("demo CAS: wrong account or password");
        return pages::demo_login_form(
            StatusCode::UNAUTHORIZED,
            &form.service,
            &form.username,
            Some("账号或密码错误，请重新输入。"),
        );
    };
    let ticket = demo.issue(account, &form.service);
    let Ok(mut target) = url::Url::parse(&form.service) else {
        return unregistered();
    };
    target.query_pairs_mut().append_pair("ticket", &ticket);
    Redirect::to(target.as_str()).into_response()
}

async fn service_validate(State(state): State<AppState>, Query(query): Query<ValidateQuery>) -> Response {
    let Some(demo) = state.auth.demo() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match demo.validate(query.service.as_deref(), query.ticket.as_deref()) {
        Ok(account) => success_xml(account),
        Err(refusal) => failure_xml(&refusal),
    };
    ([(header::CONTENT_TYPE, "application/xml; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

async fn logout(State(state): State<AppState>, Query(query): Query<ServiceQuery>) -> Response {
    let back = query.service.filter(|s| registered_service(&state, s));
    pages::demo_message(
        StatusCode::OK,
        "已退出统一身份认证",
        "您已退出统一身份认证（演示）。",
        back.as_deref().map(|url| ("返回", url)),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::channels::cas::{parse_service_response, AttributeMapping, CasError};

    fn demo() -> DemoCas {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/demo/accounts.toml");
        DemoCas::new(load_accounts(&path).unwrap())
    }

    const SERVICE: &str = "http://127.0.0.1:8080/auth/callback?session=s_1";

    #[test]
    fn the_bundled_accounts_load() {
        let demo = demo();
        let ids: Vec<_> = demo.accounts().iter().map(|a| (a.id.as_str(), a.role, a.admin)).collect();
        assert_eq!(
            ids,
            [
                ("2021001234", Role::Student, false),
                ("T2008001", Role::Teacher, false),
                ("S2015002", Role::Staff, false),
                ("A0001", Role::Staff, true),
                ("A0002", Role::Staff, true)
            ]
        );
    }

    #[test]
    fn tickets_are_single_use_and_bound_to_their_service() {
        let demo = demo();
        let student = demo.authenticate("2021001234", "demo-student").unwrap();
        assert_eq!(demo.authenticate("2021001234", "wrong"), None);
        assert_eq!(demo.authenticate("T2008001", "demo-student"), None);
        let ticket = demo.issue(student, SERVICE);
        assert!(is_plausible_ticket(&ticket) && ticket.starts_with("ST-"));
        let account = demo.validate(Some(SERVICE), Some(&ticket)).unwrap();
        assert_eq!(account.name, "张三");
        let again = demo.validate(Some(SERVICE), Some(&ticket)).unwrap_err();
        assert_eq!(again.code, CasFailureCode::InvalidTicket);
        let other = demo.issue(student, SERVICE);
        let mismatch = demo.validate(Some("http://127.0.0.1:8080/auth/callback"), Some(&other)).unwrap_err();
        assert_eq!(mismatch.code, CasFailureCode::InvalidService);
        assert_eq!(demo.validate(Some(SERVICE), Some(&other)).unwrap_err().code, CasFailureCode::InvalidTicket);
        assert_eq!(demo.validate(None, Some("ST-1")).unwrap_err().code, CasFailureCode::InvalidRequest);
        assert_eq!(demo.validate(Some(SERVICE), Some("PT-1-x")).unwrap_err().code, CasFailureCode::InvalidTicketSpec);
    }

    #[test]
    fn our_xml_parses_with_our_client() {
        let demo = demo();
        let admin = demo.accounts().iter().find(|a| a.admin).unwrap();
        let success = parse_service_response(&success_xml(admin)).unwrap();
        let identity = success.identity(&AttributeMapping::default());
        assert_eq!(
            (identity.id.as_str(), identity.name.as_deref(), identity.role),
            ("A0001", Some("管理员"), Some(Role::Staff))
        );
        assert_eq!(success.attribute("admin"), Some("true"));
        assert_eq!(success.attribute("adminDepartment"), None, "A0001 answers for all departments");
        let scoped = demo.accounts().iter().find(|a| a.admin_department.is_some()).unwrap();
        let success = parse_service_response(&success_xml(scoped)).unwrap();
        assert_eq!(success.attribute("adminDepartment"), Some("网信办"));
        let refusal =
            Refusal { code: CasFailureCode::InvalidTicket, description: "Ticket ST-1-<x> not recognized".into() };
        assert_eq!(
            parse_service_response(&failure_xml(&refusal)),
            Err(CasError::Failure {
                code: CasFailureCode::InvalidTicket,
                description: "Ticket ST-1-<x> not recognized".into()
            })
        );
    }
}
