//! `ChannelStore`, the channel routes' view of their shared state (dedup keys, nonces, 智能机器人 streams and WeCom
//! bindings), over a [`ChannelKeyStore`] from `store::channel_keys`; mapping a channel member to a campus user.

use super::*;
use crate::store::channel_keys::ChannelKeyStore;
use crate::store::StoreError;

pub use crate::store::channel_keys::StoredStream;

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    crate::channels::cpdaily::unix_now()
}

/// Dedup keys, nonces, recorded responses, streams and bindings in the server's database, so that every replica
/// sees them.
#[derive(Clone)]
pub struct ChannelStore {
    keys: Arc<dyn ChannelKeyStore>,
}

impl std::fmt::Debug for ChannelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelStore").finish_non_exhaustive()
    }
}

impl ChannelStore {
    /// The store over `keys`; the app passes its database pool.
    pub fn new(keys: impl ChannelKeyStore) -> ChannelStore {
        ChannelStore { keys: Arc::new(keys) }
    }

    /// Claims `key` for `ttl_secs`: true when it was not live (new, or expired and taken over), false when it was.
    pub async fn claim(&self, key: &str, ttl_secs: u64, now: u64) -> Result<bool, StoreError> {
        self.keys.claim(key, ttl_secs, now).await
    }

    /// Forgets a claim (the delivery was refused, so its retry must be processed).
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.keys.release(key).await
    }

    /// Records what a claimed key was answered with.
    pub async fn set_response(&self, key: &str, response: &str) -> Result<(), StoreError> {
        self.keys.set_response(key, response).await
    }

    /// The recorded response of a key: `None` if the key is unknown, `Some(None)` while it is being answered.
    pub async fn response(&self, key: &str) -> Result<Option<Option<String>>, StoreError> {
        self.keys.response(key).await
    }

    /// Deletes expired keys and streams.
    pub async fn purge(&self, now: u64) -> Result<(), StoreError> {
        self.keys.purge(now).await
    }

    /// Starts a stream with its placeholder, pollable for [`AIBOT_STREAM_TTL_SECS`].
    pub async fn create_stream(&self, stream_id: &str, placeholder: &str, now: u64) -> Result<(), StoreError> {
        self.keys.create_stream(stream_id, placeholder, now, now.saturating_add(AIBOT_STREAM_TTL_SECS)).await
    }

    /// Stores a stream's whole answer and marks it finished.
    pub async fn finish_stream(
        &self,
        stream_id: &str,
        content: &str,
        card: Option<&TemplateCard>,
    ) -> Result<(), StoreError> {
        let card_json = card.and_then(|c| serde_json::to_string(c).ok());
        self.keys.finish_stream(stream_id, content, card_json.as_deref()).await
    }

    /// A stream's progress, if it exists.
    pub async fn stream(&self, stream_id: &str) -> Result<Option<StoredStream>, StoreError> {
        self.keys.stream(stream_id).await
    }

    /// The campus user behind a WeCom UserID (or a 今日校园 学工号): the `wecom_bindings` row if any, then the
    /// `users` table of CAS logins for the name and role; else the id itself as a 学生 (documented default).
    pub async fn resolve_user(&self, channel_user_id: &str, use_bindings: bool) -> UserInfo {
        let mut id = channel_user_id.to_owned();
        let mut name: Option<String> = None;
        let mut role: Option<Role> = None;
        if use_bindings {
            match self.keys.binding(channel_user_id).await {
                Ok(Some(binding)) => {
                    id = binding.campus_id;
                    name = binding.name;
                    role = binding.role.as_deref().and_then(Role::parse);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read wecom_bindings"),
            }
        }
        // The users table belongs to CAS login; it may be absent in older databases, which only costs the name.
        if let Ok(Some(known)) = self.keys.known_user(&id).await {
            if name.is_none() {
                name = known.name;
            }
            if role.is_none() {
                role = known.role.as_deref().and_then(Role::parse);
            }
        }
        UserInfo { name: name.unwrap_or_else(|| id.clone()), id, role: role.unwrap_or(Role::Student) }
    }

    /// The WeCom UserIDs of a campus user, for pushing them notices (the reverse of [`ChannelStore::resolve_user`]):
    /// the `wecom_bindings` rows bound to this campus id; without any, the campus id itself (UserID = 学工号), unless
    /// a row binds that UserID to another campus user, in which case none.
    pub async fn wecom_user_ids(&self, campus_id: &str) -> Result<Vec<String>, StoreError> {
        self.keys.wecom_user_ids(campus_id).await
    }
}

impl SeenKeyStore for ChannelStore {
    fn insert_if_absent<'a>(
        &'a self,
        key: &'a str,
        ttl_secs: u64,
        now: u64,
    ) -> StoreFuture<'a, Result<bool, SeenStoreError>> {
        Box::pin(
            async move { self.claim(key, ttl_secs, now).await.map_err(|e| SeenStoreError::Backend(e.to_string())) },
        )
    }
}
