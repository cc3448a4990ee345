//! The `[auth]` settings: where the CAS server is, our public address, the token secret and lifetime, the demo CAS.

use crate::settings::{Secret, SettingsError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Where the generated token secret is kept when none is configured (demo default only).
pub const DEFAULT_TOKEN_SECRET_FILE: &str = "var/token-secret";
/// How long a login token stays valid.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);
/// Shortest configured token secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Login settings after layering.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    /// Serve the built-in demo CAS server under `/cas` (on by default; turn off in production).
    pub demo_cas: bool,
    /// The CAS server base, e.g. `https://authserver.tjcu.edu.cn/authserver`; `None` means our own `/cas`.
    pub cas_url: Option<String>,
    /// Our address as browsers and the CAS server see it, e.g. `https://chat.tjcu.edu.cn`; `None` means
    /// `http://<the address we listen on>`. The CAS `service` URL is built from it, never from the Host header.
    pub public_url: Option<String>,
    /// Signs login tokens; when unset the demo default generates one into `token_secret_file`.
    pub token_secret: Option<Secret<String>>,
    pub token_secret_file: PathBuf,
    pub token_ttl: Duration,
    /// The demo CAS accounts; `None` means `<data_dir>/demo/accounts.toml`.
    pub demo_accounts: Option<PathBuf>,
    /// Origins (besides our own) that may embed the widget: login may return there and the login page
    /// posts the token to them.
    pub allowed_origins: Vec<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            demo_cas: true,
            cas_url: None,
            public_url: None,
            token_secret: None,
            token_secret_file: PathBuf::from(DEFAULT_TOKEN_SECRET_FILE),
            token_ttl: DEFAULT_TOKEN_TTL,
            demo_accounts: None,
            allowed_origins: Vec::new(),
        }
    }
}

/// `[auth]` of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAuthSettings {
    pub demo_cas: Option<bool>,
    pub cas_url: Option<String>,
    pub public_url: Option<String>,
    pub token_secret: Option<Secret<String>>,
    pub token_secret_file: Option<PathBuf>,
    pub token_ttl_secs: Option<u64>,
    pub demo_accounts: Option<PathBuf>,
    pub allowed_origins: Option<Vec<String>>,
}

/// What the environment and command line said about login.
#[derive(Debug, Default, Clone)]
pub struct AuthOverrides {
    pub demo_cas: Option<bool>,
    pub cas_url: Option<String>,
    pub public_url: Option<String>,
    pub token_secret: Option<String>,
}

fn invalid(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid { key, message: message.into() }
}

fn check_http_url(key: &'static str, value: &str) -> Result<String, SettingsError> {
    let trimmed = value.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|e| invalid(key, format!("{value}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(key, format!("{value}: must be an http(s) URL")));
    }
    Ok(trimmed.to_owned())
}

impl AuthSettings {
    /// Layers the file and the overrides over the defaults and checks the result.
    pub fn layer(file: FileAuthSettings, overrides: AuthOverrides) -> Result<AuthSettings, SettingsError> {
        let mut s = AuthSettings::default();
        s.demo_cas = overrides.demo_cas.or(file.demo_cas).unwrap_or(s.demo_cas);
        s.cas_url = overrides.cas_url.or(file.cas_url).filter(|u| !u.trim().is_empty());
        s.public_url = overrides.public_url.or(file.public_url).filter(|u| !u.trim().is_empty());
        s.token_secret = overrides.token_secret.map(Secret::new).or(file.token_secret);
        s.token_secret_file = file.token_secret_file.unwrap_or(s.token_secret_file);
        s.token_ttl = file.token_ttl_secs.map_or(s.token_ttl, Duration::from_secs);
        s.demo_accounts = file.demo_accounts;
        s.allowed_origins = file.allowed_origins.unwrap_or_default();
        s.validate()?;
        Ok(s)
    }

    /// Checks URLs, the secret and the lifetime; normalizes URLs (no trailing slash).
    pub fn validate(&mut self) -> Result<(), SettingsError> {
        if let Some(url) = &self.cas_url {
            self.cas_url = Some(check_http_url("auth.cas_url", url)?);
        }
        if let Some(url) = &self.public_url {
            self.public_url = Some(check_http_url("auth.public_url", url)?);
        }
        for origin in &mut self.allowed_origins {
            *origin = check_http_url("auth.allowed_origins", origin)?;
        }
        if let Some(secret) = &self.token_secret {
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(invalid("auth.token_secret", format!("must be at least {MIN_SECRET_BYTES} bytes")));
            }
        }
        if self.token_ttl.is_zero() {
            return Err(invalid("auth.token_ttl_secs", "must be positive"));
        }
        if !self.demo_cas && self.cas_url.is_none() {
            return Err(invalid("auth.cas_url", "must be set when the demo CAS server is off (auth.demo_cas = false)"));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_urls_are_normalized() {
        let file: FileAuthSettings = toml::from_str(
            "demo_cas = true\ncas_url = \"https://ids.example.edu.cn/authserver/\"\ntoken_ttl_secs = 60\n",
        )
        .unwrap();
        let overrides = AuthOverrides { demo_cas: Some(false), ..AuthOverrides::default() };
        let s = AuthSettings::layer(file, overrides).unwrap();
        assert!(!s.demo_cas);
        assert_eq!(s.cas_url.as_deref(), Some("https://ids.example.edu.cn/authserver"));
        assert_eq!(s.token_ttl, Duration::from_secs(60));
    }

    #[test]
    fn production_needs_a_cas_url_and_secrets_need_length() {
        let off = AuthOverrides { demo_cas: Some(false), ..AuthOverrides::default() };
        assert!(AuthSettings::layer(FileAuthSettings::default(), off).is_err());
        let short = AuthOverrides { token_secret: Some("short".into()), ..AuthOverrides::default() };
        assert!(AuthSettings::layer(FileAuthSettings::default(), short).is_err());
        let bad = AuthOverrides { cas_url: Some("ftp://x".into()), ..AuthOverrides::default() };
        assert!(AuthSettings::layer(FileAuthSettings::default(), bad).is_err());
    }
}
