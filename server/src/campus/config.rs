//! The `[campus]` settings: where 一卡通, 工资, 校园网, 邮箱, 办件 and 消息 come from — the demo tables, or each campus
//! system's HTTP/JSON connector (base URL and token per system, `docs/connectors.md`).

use crate::settings::Secret;
use serde::Deserialize;
use std::time::Duration;

/// How long one call to a campus system may take before the user is told it is unavailable.
pub const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// Which implementation serves the campus systems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampusSource {
    /// Tables in the server's database, seeded from `data/demo/campus.toml`.
    #[default]
    Demo,
    /// The campus systems' HTTP/JSON connectors.
    Http,
}

/// One campus system's connector: where it is and the bearer token it wants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemEndpoint {
    /// e.g. `https://ecard.tjcu.edu.cn/api/ehall`; paths of `docs/connectors.md` are appended.
    pub base_url: String,
    pub token: Secret<String>,
}

/// The connectors, one per system.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampusSystems {
    pub onecard: Option<SystemEndpoint>,
    pub payroll: Option<SystemEndpoint>,
    pub network: Option<SystemEndpoint>,
    pub mail: Option<SystemEndpoint>,
    pub affairs: Option<SystemEndpoint>,
    pub messages: Option<SystemEndpoint>,
}

/// `[campus]` of the config file (and the settings after layering: nothing overrides it).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampusSettings {
    #[serde(default)]
    pub source: CampusSource,
    /// Per-call timeout in milliseconds; `None` means [`DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: Option<u64>,
    /// Where a mailbox is bound, for the http source (the demo file names its own).
    pub mail_binding_url: Option<String>,
    #[serde(default)]
    pub systems: CampusSystems,
}

impl CampusSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_file_section_parses_and_secrets_never_print() {
        let s: CampusSettings = toml::from_str(
            "source = \"http\"\ntimeout_ms = 1500\n[systems.onecard]\nbase_url = \"https://ecard.example/api\"\ntoken = \"t0ps3cret\"\n",
        )
        .unwrap();
        assert_eq!(s.source, CampusSource::Http);
        assert_eq!(s.timeout(), Duration::from_millis(1500));
        assert!(!format!("{s:?}").contains("t0ps3cret"));
        assert!(toml::from_str::<CampusSettings>("sauce = \"demo\"").is_err());
    }
}
