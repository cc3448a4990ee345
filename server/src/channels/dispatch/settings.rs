//! Channel settings: the `serve` flags (each with its `EHALL_*` variable) and what they configure.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------------

/// The channel flags of `serve`; each reads its `EHALL_*` environment variable, so the environment alone
/// configures the channels. A channel is on when its required values are set.
#[derive(Clone, Default, clap::Args)]
pub struct ChannelArgs {
    /// WeCom CorpID (ww…), the receive id of the self-built app's callbacks.
    #[arg(long, env = "EHALL_WECOM_CORP_ID")]
    pub wecom_corp_id: Option<String>,
    /// WeCom AgentID of the self-built app (needed for message/send).
    #[arg(long, env = "EHALL_WECOM_AGENT_ID")]
    pub wecom_agent_id: Option<i64>,
    /// WeCom app Secret (needed for message/send).
    #[arg(long, env = "EHALL_WECOM_SECRET", hide_env_values = true)]
    pub wecom_secret: Option<String>,
    /// Callback Token of the self-built app.
    #[arg(long, env = "EHALL_WECOM_TOKEN", hide_env_values = true)]
    pub wecom_token: Option<String>,
    /// Callback EncodingAESKey (43 characters) of the self-built app.
    #[arg(long, env = "EHALL_WECOM_AES_KEY", hide_env_values = true)]
    pub wecom_aes_key: Option<String>,
    /// WeCom API base URL [default: https://qyapi.weixin.qq.com].
    #[arg(long, env = "EHALL_WECOM_API_BASE")]
    pub wecom_api_base: Option<String>,
    /// How long a WeCom callback waits for the answer before replying empty and sending it later [default: 4000].
    #[arg(long, env = "EHALL_WECOM_PASSIVE_DEADLINE_MS")]
    pub wecom_passive_deadline_ms: Option<u64>,
    /// Callback Token of the WeCom 智能机器人.
    #[arg(long, env = "EHALL_WECOM_BOT_TOKEN", hide_env_values = true)]
    pub wecom_bot_token: Option<String>,
    /// Callback EncodingAESKey of the WeCom 智能机器人.
    #[arg(long, env = "EHALL_WECOM_BOT_AES_KEY", hide_env_values = true)]
    pub wecom_bot_aes_key: Option<String>,
    /// The 今日校园 gateway's app id (X-App-Id, both directions).
    #[arg(long, env = "EHALL_CPDAILY_APP_ID")]
    pub cpdaily_app_id: Option<String>,
    /// The secret shared with the 今日校园 gateway (HMAC-SHA256).
    #[arg(long, env = "EHALL_CPDAILY_SECRET", hide_env_values = true)]
    pub cpdaily_secret: Option<String>,
    /// The 今日校园 gateway base URL for pushes (POST {url}/v1/messages); no pushes when unset.
    #[arg(long, env = "EHALL_CPDAILY_PUSH_URL")]
    pub cpdaily_push_url: Option<String>,
    /// Where cards without a link of their own point in WeCom [default: https://ehall.tjcu.edu.cn/].
    #[arg(long, env = "EHALL_CHANNEL_FALLBACK_URL")]
    pub channel_fallback_url: Option<String>,
}

impl std::fmt::Debug for ChannelArgs {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelArgs")
            .field("wecom_corp_id", &self.wecom_corp_id)
            .field("wecom_agent_id", &self.wecom_agent_id)
            .field("wecom_api_base", &self.wecom_api_base)
            .field("cpdaily_app_id", &self.cpdaily_app_id)
            .field("cpdaily_push_url", &self.cpdaily_push_url)
            .finish_non_exhaustive()
    }
}

/// The WeCom self-built app.
#[derive(Debug, Clone)]
pub struct WecomSettings {
    pub corp_id: String,
    pub token: Secret<String>,
    pub aes_key: Secret<String>,
    /// Both set: answers that miss the passive deadline go out through `message/send`.
    pub agent_id: Option<i64>,
    pub secret: Option<Secret<String>>,
    pub api_base: String,
    pub passive_deadline: Duration,
}

/// The WeCom 智能机器人 (receive id "").
#[derive(Debug, Clone)]
pub struct WecomBotSettings {
    pub token: Secret<String>,
    pub aes_key: Secret<String>,
    pub passive_deadline: Duration,
}

/// The 今日校园 gateway contract (docs/channels.md §3).
#[derive(Debug, Clone)]
pub struct CpdailySettings {
    pub app_id: String,
    pub secret: Secret<String>,
    pub push_url: Option<String>,
    pub reply_deadline: Duration,
}

/// Which channels are on and how they are reached; all off by default.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    pub wecom: Option<WecomSettings>,
    pub wecom_bot: Option<WecomBotSettings>,
    pub cpdaily: Option<CpdailySettings>,
    pub fallback_url: String,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings { wecom: None, wecom_bot: None, cpdaily: None, fallback_url: DEFAULT_FALLBACK_URL.to_owned() }
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl ChannelSettings {
    /// Builds the settings from the flags; a channel given only some of its required values is an error.
    pub fn from_args(args: &ChannelArgs) -> Result<ChannelSettings, SettingsError> {
        let invalid = |key, message: &str| SettingsError::Invalid { key, message: message.to_owned() };
        let mut settings = ChannelSettings::default();
        if let Some(url) = non_empty(&args.channel_fallback_url) {
            settings.fallback_url = url;
        }
        let wecom = (non_empty(&args.wecom_corp_id), non_empty(&args.wecom_token), non_empty(&args.wecom_aes_key));
        settings.wecom = match wecom {
            (None, None, None) => None,
            (Some(corp_id), Some(token), Some(aes_key)) => {
                WecomCrypt::new(&token, &aes_key, &corp_id)
                    .map_err(|_| invalid("EHALL_WECOM_AES_KEY", "must be the 43-character EncodingAESKey"))?;
                Some(WecomSettings {
                    corp_id,
                    token: Secret::new(token),
                    aes_key: Secret::new(aes_key),
                    agent_id: args.wecom_agent_id,
                    secret: non_empty(&args.wecom_secret).map(Secret::new),
                    api_base: non_empty(&args.wecom_api_base).unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
                    passive_deadline: Duration::from_millis(
                        args.wecom_passive_deadline_ms.unwrap_or(DEFAULT_PASSIVE_DEADLINE_MS),
                    ),
                })
            }
            _ => {
                return Err(invalid(
                    "EHALL_WECOM_CORP_ID",
                    "the WeCom app needs EHALL_WECOM_CORP_ID, EHALL_WECOM_TOKEN and EHALL_WECOM_AES_KEY together",
                ))
            }
        };
        settings.wecom_bot = match (non_empty(&args.wecom_bot_token), non_empty(&args.wecom_bot_aes_key)) {
            (None, None) => None,
            (Some(token), Some(aes_key)) => {
                WecomCrypt::new(&token, &aes_key, "")
                    .map_err(|_| invalid("EHALL_WECOM_BOT_AES_KEY", "must be the 43-character EncodingAESKey"))?;
                Some(WecomBotSettings {
                    token: Secret::new(token),
                    aes_key: Secret::new(aes_key),
                    passive_deadline: Duration::from_millis(
                        args.wecom_passive_deadline_ms.unwrap_or(DEFAULT_PASSIVE_DEADLINE_MS),
                    ),
                })
            }
            _ => {
                return Err(invalid(
                    "EHALL_WECOM_BOT_TOKEN",
                    "the WeCom 智能机器人 needs EHALL_WECOM_BOT_TOKEN and EHALL_WECOM_BOT_AES_KEY together",
                ))
            }
        };
        settings.cpdaily = match (non_empty(&args.cpdaily_app_id), non_empty(&args.cpdaily_secret)) {
            (None, None) => None,
            (Some(app_id), Some(secret)) => Some(CpdailySettings {
                app_id,
                secret: Secret::new(secret),
                push_url: non_empty(&args.cpdaily_push_url),
                reply_deadline: Duration::from_millis(DEFAULT_CPDAILY_DEADLINE_MS),
            }),
            _ => {
                return Err(invalid(
                    "EHALL_CPDAILY_APP_ID",
                    "今日校园 needs EHALL_CPDAILY_APP_ID and EHALL_CPDAILY_SECRET together",
                ))
            }
        };
        Ok(settings)
    }
}
