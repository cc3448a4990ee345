//! CAS protocol 3.0 client pieces for the school's 统一身份认证: login/logout URLs, `/p3/serviceValidate` parsing and validation over HTTP.
//!
//! Follows `spec/channels.md` §3: the `service` URL must be byte-identical at `/login` and at validation,
//! XML is matched by local names (namespace prefixes vary), attributes are multi-valued, and anything that
//! is not `authenticationSuccess` is a failure. Tickets are never put into error messages.

use std::collections::BTreeMap;
use std::time::Duration;

use bot::protocol::Role;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Timeout of the back-channel validation call.
pub const DEFAULT_VALIDATE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest service ticket we pass on (CAS recommends accepting up to 256 characters).
pub const MAX_TICKET_LEN: usize = 256;

/// The failure codes of CAS protocol 3.0 (§2.5.2 / §2.6.2 of the CAS spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasFailureCode {
    /// Required parameters missing.
    InvalidRequest,
    /// The ticket does not meet the validation spec (e.g. renew).
    InvalidTicketSpec,
    /// The service may not proxy.
    UnauthorizedServiceProxy,
    /// The proxy callback is invalid.
    InvalidProxyCallback,
    /// Unknown, expired or already used ticket.
    InvalidTicket,
    /// The ticket was issued for another service URL (and is now invalidated).
    InvalidService,
    /// The CAS server failed.
    InternalError,
    /// `/proxy`: the service is not authorised.
    UnauthorizedService,
    /// A code outside the standard set.
    Other(String),
}

impl CasFailureCode {
    /// Maps a `code` attribute to its variant.
    pub fn parse(code: &str) -> CasFailureCode {
        match code.trim() {
            "INVALID_REQUEST" => CasFailureCode::InvalidRequest,
            "INVALID_TICKET_SPEC" => CasFailureCode::InvalidTicketSpec,
            "UNAUTHORIZED_SERVICE_PROXY" => CasFailureCode::UnauthorizedServiceProxy,
            "INVALID_PROXY_CALLBACK" => CasFailureCode::InvalidProxyCallback,
            "INVALID_TICKET" => CasFailureCode::InvalidTicket,
            "INVALID_SERVICE" => CasFailureCode::InvalidService,
            "INTERNAL_ERROR" => CasFailureCode::InternalError,
            "UNAUTHORIZED_SERVICE" => CasFailureCode::UnauthorizedService,
            other => CasFailureCode::Other(other.to_owned()),
        }
    }

    /// The wire form of the code.
    pub fn as_str(&self) -> &str {
        match self {
            CasFailureCode::InvalidRequest => "INVALID_REQUEST",
            CasFailureCode::InvalidTicketSpec => "INVALID_TICKET_SPEC",
            CasFailureCode::UnauthorizedServiceProxy => "UNAUTHORIZED_SERVICE_PROXY",
            CasFailureCode::InvalidProxyCallback => "INVALID_PROXY_CALLBACK",
            CasFailureCode::InvalidTicket => "INVALID_TICKET",
            CasFailureCode::InvalidService => "INVALID_SERVICE",
            CasFailureCode::InternalError => "INTERNAL_ERROR",
            CasFailureCode::UnauthorizedService => "UNAUTHORIZED_SERVICE",
            CasFailureCode::Other(code) => code,
        }
    }
}

/// Why a CAS login could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CasError {
    /// The CAS server answered `authenticationFailure`.
    #[error("CAS authentication failure {}: {description}", .code.as_str())]
    Failure { code: CasFailureCode, description: String },
    /// The answer was neither a success nor a failure document.
    #[error("malformed CAS response: {0}")]
    Malformed(String),
    /// The ticket is empty, too long or has characters outside `[A-Za-z0-9-]`; it is not sent to CAS.
    #[error("ticket has an invalid format")]
    InvalidTicketFormat,
    /// A URL could not be built.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The validation call timed out.
    #[error("CAS validation timed out")]
    Timeout,
    /// The validation call failed in transport (the URL, which holds the ticket, is left out).
    #[error("CAS transport error: {0}")]
    Transport(String),
    /// The CAS server answered with a non-2xx status.
    #[error("CAS HTTP status {0}")]
    Status(u16),
}

impl From<reqwest::Error> for CasError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            CasError::Timeout
        } else {
            CasError::Transport(error.without_url().to_string())
        }
    }
}

/// Options of the `/login` redirect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginOptions {
    /// Force the user to enter credentials again.
    pub renew: bool,
    /// Never prompt: come back without a ticket when there is no SSO session (probe silently first).
    pub gateway: bool,
}

fn cas_endpoint(cas_base: &str, path: &str) -> Result<url::Url, CasError> {
    let url = url::Url::parse(&format!("{}/{path}", cas_base.trim_end_matches('/')))
        .map_err(|e| CasError::InvalidUrl(format!("{cas_base}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CasError::InvalidUrl(format!("{cas_base}: not http(s)")));
    }
    Ok(url)
}

fn check_service(service: &str) -> Result<(), CasError> {
    url::Url::parse(service).map(|_| ()).map_err(|e| CasError::InvalidUrl(format!("service {service}: {e}")))
}

/// `{cas_base}/login?service=<encoded service>[&renew=true][&gateway=true]`, e.g. with
/// `cas_base = https://authserver.example.edu.cn/authserver`.
pub fn login_url(cas_base: &str, service: &str, options: LoginOptions) -> Result<String, CasError> {
    check_service(service)?;
    let mut url = cas_endpoint(cas_base, "login")?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("service", service);
        if options.renew {
            query.append_pair("renew", "true");
        }
        if options.gateway {
            query.append_pair("gateway", "true");
        }
    }
    Ok(url.into())
}

/// `{cas_base}/logout[?service=<encoded service>]` (CAS 3.0 redirects only to registered services).
pub fn logout_url(cas_base: &str, service: Option<&str>) -> Result<String, CasError> {
    let mut url = cas_endpoint(cas_base, "logout")?;
    if let Some(service) = service {
        check_service(service)?;
        url.query_pairs_mut().append_pair("service", service);
    }
    Ok(url.into())
}

/// Whether `ticket` looks like a service ticket worth sending to CAS: `[A-Za-z0-9-]`, 1..=256 characters.
pub fn is_plausible_ticket(ticket: &str) -> bool {
    !ticket.is_empty()
        && ticket.len() <= MAX_TICKET_LEN
        && ticket.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `{cas_base}/p3/serviceValidate?service=…&ticket=…`.
pub fn service_validate_url(cas_base: &str, service: &str, ticket: &str) -> Result<String, CasError> {
    check_service(service)?;
    if !is_plausible_ticket(ticket) {
        return Err(CasError::InvalidTicketFormat);
    }
    let mut url = cas_endpoint(cas_base, "p3/serviceValidate")?;
    url.query_pairs_mut().append_pair("service", service).append_pair("ticket", ticket);
    Ok(url.into())
}

/// A successful validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasSuccess {
    /// `cas:user`, trimmed.
    pub user: String,
    /// Attributes by local name; multi-valued, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// `cas:proxyGrantingTicket` (a PGTIOU), when requested.
    pub proxy_granting_ticket: Option<String>,
}

impl CasSuccess {
    /// The first value of an attribute, matched case-insensitively by local name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, values)| values.iter().map(String::as_str).find(|v| !v.is_empty()))
    }

    /// Every value of an attribute, matched case-insensitively.
    pub fn attribute_values(&self, name: &str) -> Vec<&str> {
        self.attributes
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .flat_map(|(_, values)| values.iter().map(String::as_str))
            .collect()
    }

    /// Who logged in, according to `mapping`.
    pub fn identity(&self, mapping: &AttributeMapping) -> CasIdentity {
        let id = mapping.id_attributes.iter().find_map(|name| self.attribute(name)).unwrap_or(&self.user).to_owned();
        let name = mapping.name_attributes.iter().find_map(|name| self.attribute(name)).map(str::to_owned);
        let role = mapping
            .role_attributes
            .iter()
            .flat_map(|name| self.attribute_values(name))
            .find_map(role_from_value)
            .or_else(|| {
                mapping
                    .student_marker_attributes
                    .iter()
                    .any(|name| self.attribute(name).is_some())
                    .then_some(Role::Student)
            });
        CasIdentity { id, name, role }
    }
}

/// Maps common role values (Chinese and English, as seen in campus CAS attributes) to a [`Role`].
pub fn role_from_value(value: &str) -> Option<Role> {
    let value = value.trim();
    Role::parse(value).or_else(|| match value.to_ascii_lowercase().as_str() {
        "student" | "students" | "undergraduate" | "graduate" | "postgraduate" | "本科生" | "研究生" | "博士生" => {
            Some(Role::Student)
        }
        "faculty" | "teacher" | "teachers" | "教工" => Some(Role::Teacher),
        "staff" | "employee" | "职员" | "行政人员" => Some(Role::Staff),
        _ => None,
    })
}

/// Which attributes carry the id, name and role; schools differ, so this is configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMapping {
    /// Tried in order for the stable 学工号; `cas:user` when none is present.
    pub id_attributes: Vec<String>,
    /// Tried in order for the display name.
    pub name_attributes: Vec<String>,
    /// Attributes whose values name a role (first value that maps wins).
    pub role_attributes: Vec<String>,
    /// Attributes whose mere presence marks a student.
    pub student_marker_attributes: Vec<String>,
}

impl Default for AttributeMapping {
    fn default() -> Self {
        let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        AttributeMapping {
            id_attributes: Vec::new(),
            name_attributes: owned(&["cn", "userName", "user_name", "displayName", "name", "xm"]),
            role_attributes: owned(&[
                "role",
                "userType",
                "user_type",
                "identity",
                "eduPersonAffiliation",
                "affiliation",
                "type",
            ]),
            student_marker_attributes: owned(&["eduPersonStudentID"]),
        }
    }
}

/// The user as our session keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasIdentity {
    /// The canonical campus id (学工号).
    pub id: String,
    pub name: Option<String>,
    pub role: Option<Role>,
}

fn local_name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

fn attribute_value(start: &BytesStart<'_>, name: &str) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Parses a `/serviceValidate` or `/p3/serviceValidate` XML answer.
pub fn parse_service_response(xml: &str) -> Result<CasSuccess, CasError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut success: Option<CasSuccess> = None;
    let mut failure: Option<(CasFailureCode, String)> = None;
    loop {
        let event = reader.read_event().map_err(|e| CasError::Malformed(e.to_string()))?;
        match event {
            Event::Start(start) => {
                let name = local_name(&start);
                match name.as_str() {
                    "authenticationSuccess" => success = Some(CasSuccess::default()),
                    "authenticationFailure" => {
                        let code = attribute_value(&start, "code").unwrap_or_default();
                        failure = Some((CasFailureCode::parse(&code), String::new()));
                    }
                    _ => {}
                }
                stack.push(name);
                text.clear();
            }
            // The old Jasig style: <cas:attribute name="x" value="y"/>.
            Event::Empty(empty)
                if local_name(&empty) == "attribute" && stack.last().map(String::as_str) == Some("attributes") =>
            {
                if let (Some(success), Some(name)) = (success.as_mut(), attribute_value(&empty, "name")) {
                    let value = attribute_value(&empty, "value").unwrap_or_default();
                    success.attributes.entry(name).or_default().push(value);
                }
            }
            Event::Text(chunk) => {
                text.push_str(&chunk.unescape().map_err(|e| CasError::Malformed(e.to_string()))?);
            }
            Event::CData(chunk) => text.push_str(&String::from_utf8_lossy(&chunk.into_inner())),
            Event::End(_) => {
                let Some(name) = stack.pop() else {
                    return Err(CasError::Malformed("unbalanced end tag".into()));
                };
                let parent = stack.last().map(String::as_str);
                let value = text.trim().to_owned();
                match (parent, name.as_str(), success.as_mut()) {
                    (Some("authenticationSuccess"), "user", Some(success)) => success.user = value,
                    (Some("authenticationSuccess"), "proxyGrantingTicket", Some(success)) => {
                        success.proxy_granting_ticket = Some(value).filter(|v| !v.is_empty())
                    }
                    (Some("attributes"), attribute, Some(success)) => {
                        success.attributes.entry(attribute.to_owned()).or_default().push(value)
                    }
                    (_, "authenticationFailure", _) => {
                        if let Some((_, description)) = failure.as_mut() {
                            *description = value;
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some((code, description)) = failure {
        return Err(CasError::Failure { code, description });
    }
    match success {
        Some(success) if !success.user.is_empty() => Ok(success),
        Some(_) => Err(CasError::Malformed("authenticationSuccess without user".into())),
        None => Err(CasError::Malformed("neither authenticationSuccess nor authenticationFailure".into())),
    }
}

/// The `SessionIndex` (the service ticket we validated) of a single-logout `logoutRequest`; `None` if absent.
/// Use it only to destroy the session bound to that ticket: the request is unauthenticated.
pub fn parse_logout_request(xml: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut inside_session_index = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => inside_session_index = local_name(&start) == "SessionIndex",
            Ok(Event::Text(text)) if inside_session_index => {
                let value = text.unescape().ok()?.trim().to_owned();
                return (!value.is_empty()).then_some(value);
            }
            Ok(Event::End(_)) => inside_session_index = false,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// A validating client for one CAS server; share it (it pools connections).
#[derive(Debug, Clone)]
pub struct CasClient {
    http: reqwest::Client,
    cas_base: String,
}

impl CasClient {
    /// A client for `cas_base` (e.g. `https://authserver.example.edu.cn/authserver`) with a per-call timeout.
    pub fn new(cas_base: &str, timeout: Duration) -> Result<CasClient, CasError> {
        cas_endpoint(cas_base, "login")?;
        let http =
            reqwest::Client::builder().timeout(timeout).build().map_err(|e| CasError::Transport(e.to_string()))?;
        Ok(CasClient { http, cas_base: cas_base.to_owned() })
    }

    /// The login redirect for `service`.
    pub fn login_url(&self, service: &str, options: LoginOptions) -> Result<String, CasError> {
        login_url(&self.cas_base, service, options)
    }

    /// Validates a service ticket at `/p3/serviceValidate`; `service` must be the one used at `/login`.
    pub async fn validate(&self, service: &str, ticket: &str) -> Result<CasSuccess, CasError> {
        let url = service_validate_url(&self.cas_base, service, ticket)?;
        let response = self.http.get(url).send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(CasError::Status(status.as_u16()));
        }
        parse_service_response(&response.text().await?)
    }
}

/// One-off validation with a fresh client and the default 5 s timeout.
pub async fn validate(cas_base: &str, service: &str, ticket: &str) -> Result<CasSuccess, CasError> {
    CasClient::new(cas_base, DEFAULT_VALIDATE_TIMEOUT)?.validate(service, ticket).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use axum::extract::Query;
    use axum::routing::get;
    use axum::Router;
    use std::collections::HashMap;

    const SERVICE: &str = "https://chat.example.edu.cn/cas/callback";
    const BASE: &str = "https://authserver.example.edu.cn/authserver";

    const SPEC_SUCCESS: &str = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationSuccess>
      <cas:user>username</cas:user>
      <cas:attributes>
        <cas:firstname>John</cas:firstname>
        <cas:lastname>Doe</cas:lastname>
        <cas:title>Mr.</cas:title>
        <cas:email>jdoe@example.org</cas:email>
        <cas:affiliation>staff</cas:affiliation>
        <cas:affiliation>faculty</cas:affiliation>
      </cas:attributes>
      <cas:proxyGrantingTicket>PGTIOU-84678-8a9d...</cas:proxyGrantingTicket>
    </cas:authenticationSuccess>
</cas:serviceResponse>"#;

    const CAMPUS_SUCCESS: &str = r#"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>
  <cas:authenticationSuccess>
    <cas:user>20210001</cas:user>
    <cas:attributes>
      <cas:isFromNewLogin>true</cas:isFromNewLogin>
      <cas:authenticationDate>2024-03-01T10:20:30.123+08:00[Asia/Shanghai]</cas:authenticationDate>
      <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>
      <cas:uid>20210001</cas:uid>
      <cas:cn>张三</cas:cn>
      <cas:userName>张三</cas:userName>
      <cas:eduPersonStudentID>20210001</cas:eduPersonStudentID>
    </cas:attributes>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;

    const SPEC_FAILURE: &str = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
 <cas:authenticationFailure code="INVALID_TICKET">
    Ticket ST-1856339-aA5Yuvrxzpv8Tau1cYQ7 not recognized
  </cas:authenticationFailure>
</cas:serviceResponse>"#;

    #[test]
    fn the_login_redirect_encodes_the_service() {
        assert_eq!(
            login_url(BASE, SERVICE, LoginOptions::default()).unwrap(),
            "https://authserver.example.edu.cn/authserver/login?service=https%3A%2F%2Fchat.example.edu.cn%2Fcas%2Fcallback"
        );
        assert_eq!(
            login_url(&format!("{BASE}/"), "https://chat.example.edu.cn/cas/callback?next=/h5&x=1", LoginOptions { renew: false, gateway: true }).unwrap(),
            "https://authserver.example.edu.cn/authserver/login?service=https%3A%2F%2Fchat.example.edu.cn%2Fcas%2Fcallback%3Fnext%3D%2Fh5%26x%3D1&gateway=true"
        );
        assert!(login_url(BASE, SERVICE, LoginOptions { renew: true, gateway: false })
            .unwrap()
            .ends_with("&renew=true"));
        assert!(matches!(login_url("not a url", SERVICE, LoginOptions::default()), Err(CasError::InvalidUrl(_))));
        assert!(matches!(login_url(BASE, "/relative", LoginOptions::default()), Err(CasError::InvalidUrl(_))));
        assert_eq!(
            logout_url(BASE, Some("https://chat.example.edu.cn/")).unwrap(),
            "https://authserver.example.edu.cn/authserver/logout?service=https%3A%2F%2Fchat.example.edu.cn%2F"
        );
    }

    #[test]
    fn the_validate_url_matches_the_spec_example() {
        assert_eq!(
            service_validate_url(BASE, SERVICE, "ST-1856339-aA5Yuvrxzpv8Tau1cYQ7").unwrap(),
            "https://authserver.example.edu.cn/authserver/p3/serviceValidate?service=https%3A%2F%2Fchat.example.edu.cn%2Fcas%2Fcallback&ticket=ST-1856339-aA5Yuvrxzpv8Tau1cYQ7"
        );
        for bad in ["", "ST-1&x=2", "ST 1", &"S".repeat(257)] {
            assert_eq!(service_validate_url(BASE, SERVICE, bad), Err(CasError::InvalidTicketFormat), "{bad}");
        }
    }

    #[test]
    fn the_spec_success_parses_with_multi_valued_attributes() {
        let success = parse_service_response(SPEC_SUCCESS).unwrap();
        assert_eq!(success.user, "username");
        assert_eq!(success.attributes["affiliation"], ["staff", "faculty"]);
        assert_eq!(success.attribute("EMAIL"), Some("jdoe@example.org"));
        assert_eq!(success.proxy_granting_ticket.as_deref(), Some("PGTIOU-84678-8a9d..."));
        let identity = success.identity(&AttributeMapping::default());
        assert_eq!(identity, CasIdentity { id: "username".into(), name: None, role: Some(Role::Staff) });
    }

    #[test]
    fn the_campus_success_maps_to_a_student() {
        let success = parse_service_response(CAMPUS_SUCCESS).unwrap();
        assert_eq!(success.user, "20210001");
        assert_eq!(success.attribute("authenticationDate"), Some("2024-03-01T10:20:30.123+08:00[Asia/Shanghai]"));
        let identity = success.identity(&AttributeMapping::default());
        assert_eq!(
            identity,
            CasIdentity { id: "20210001".into(), name: Some("张三".into()), role: Some(Role::Student) }
        );
        let by_uid = AttributeMapping { id_attributes: vec!["uid".into()], ..AttributeMapping::default() };
        assert_eq!(success.identity(&by_uid).id, "20210001");
    }

    #[test]
    fn the_spec_failure_is_a_typed_error() {
        assert_eq!(
            parse_service_response(SPEC_FAILURE),
            Err(CasError::Failure {
                code: CasFailureCode::InvalidTicket,
                description: "Ticket ST-1856339-aA5Yuvrxzpv8Tau1cYQ7 not recognized".into()
            })
        );
        let codes = [
            ("INVALID_REQUEST", CasFailureCode::InvalidRequest),
            ("INVALID_TICKET_SPEC", CasFailureCode::InvalidTicketSpec),
            ("UNAUTHORIZED_SERVICE_PROXY", CasFailureCode::UnauthorizedServiceProxy),
            ("INVALID_PROXY_CALLBACK", CasFailureCode::InvalidProxyCallback),
            ("INVALID_SERVICE", CasFailureCode::InvalidService),
            ("INTERNAL_ERROR", CasFailureCode::InternalError),
            ("UNAUTHORIZED_SERVICE", CasFailureCode::UnauthorizedService),
            ("SOMETHING_NEW", CasFailureCode::Other("SOMETHING_NEW".into())),
        ];
        for (wire, code) in codes {
            let xml = format!(
                r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="{wire}">x</cas:authenticationFailure></cas:serviceResponse>"#
            );
            assert_eq!(
                parse_service_response(&xml),
                Err(CasError::Failure { code: code.clone(), description: "x".into() })
            );
            assert_eq!(code.as_str(), wire);
        }
    }

    #[test]
    fn other_prefixes_jasig_attributes_and_garbage() {
        let xml = r#"<sso:serviceResponse xmlns:sso="http://www.yale.edu/tp/cas"><sso:authenticationSuccess><sso:user> T001 </sso:user><sso:attributes><sso:attribute name="userType" value="教师"/><sso:attribute name="name" value="李老师"/></sso:attributes></sso:authenticationSuccess></sso:serviceResponse>"#;
        let identity = parse_service_response(xml).unwrap().identity(&AttributeMapping::default());
        assert_eq!(identity, CasIdentity { id: "T001".into(), name: Some("李老师".into()), role: Some(Role::Teacher) });
        assert!(matches!(parse_service_response("<html>login page</html>"), Err(CasError::Malformed(_))));
        assert!(matches!(parse_service_response("yes\n"), Err(CasError::Malformed(_))));
        assert!(matches!(
            parse_service_response("<cas:serviceResponse xmlns:cas='x'><cas:authenticationSuccess><cas:user></cas:user></cas:authenticationSuccess></cas:serviceResponse>"),
            Err(CasError::Malformed(_))
        ));
        assert!(matches!(parse_service_response("<a><b></a>"), Err(CasError::Malformed(_))));
    }

    #[test]
    fn role_values_map() {
        assert_eq!(role_from_value("学生"), Some(Role::Student));
        assert_eq!(role_from_value("Undergraduate"), Some(Role::Student));
        assert_eq!(role_from_value("faculty"), Some(Role::Teacher));
        assert_eq!(role_from_value("职工"), Some(Role::Staff));
        assert_eq!(role_from_value("alumni"), None);
    }

    #[test]
    fn logout_requests_yield_the_session_index() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="LR-1" Version="2.0" IssueInstant="2024-03-01T10:20:30Z">
  <saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">@NOT_USED@</saml:NameID>
  <samlp:SessionIndex>ST-1856339-aA5Yuvrxzpv8Tau1cYQ7</samlp:SessionIndex>
</samlp:LogoutRequest>"#;
        assert_eq!(parse_logout_request(xml).as_deref(), Some("ST-1856339-aA5Yuvrxzpv8Tau1cYQ7"));
        assert_eq!(parse_logout_request("<x/>"), None);
        assert_eq!(parse_logout_request("garbage <"), None);
    }

    async fn fake_validate(Query(query): Query<HashMap<String, String>>) -> String {
        let ticket = query.get("ticket").cloned().unwrap_or_default();
        if ticket == "ST-slow" {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        if query.get("service").map(String::as_str) != Some(SERVICE) {
            return format!(
                r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_SERVICE">service mismatch for {ticket}</cas:authenticationFailure></cas:serviceResponse>"#
            );
        }
        if ticket == "ST-1-good" {
            CAMPUS_SUCCESS.to_owned()
        } else {
            SPEC_FAILURE.to_owned()
        }
    }

    async fn start_cas() -> String {
        let app = Router::new()
            .route("/authserver/p3/serviceValidate", get(fake_validate))
            .route("/broken/p3/serviceValidate", get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "down") }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn validation_over_http() {
        let origin = start_cas().await;
        let base = format!("{origin}/authserver");
        let success = validate(&base, SERVICE, "ST-1-good").await.unwrap();
        assert_eq!(success.identity(&AttributeMapping::default()).name.as_deref(), Some("张三"));
        assert!(matches!(
            validate(&base, SERVICE, "ST-2-used").await,
            Err(CasError::Failure { code: CasFailureCode::InvalidTicket, .. })
        ));
        assert!(matches!(
            validate(&base, "https://chat.example.edu.cn/cas/callback/", "ST-1-good").await,
            Err(CasError::Failure { code: CasFailureCode::InvalidService, .. })
        ));
        assert_eq!(validate(&format!("{origin}/broken"), SERVICE, "ST-1").await, Err(CasError::Status(502)));
        let impatient = CasClient::new(&base, Duration::from_millis(200)).unwrap();
        assert_eq!(impatient.validate(SERVICE, "ST-slow").await, Err(CasError::Timeout));
    }
}
