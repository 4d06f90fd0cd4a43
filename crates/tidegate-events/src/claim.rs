//! The claim check (CONTRACT §8): a payload over `claim_check.inline_limit` is sealed under a
//! fresh data key (wrapped by the KEK) and written to an object store (`file://DIR` default,
//! `memory://`, `s3://bucket/prefix` with the usual `AWS_*` variables or explicit options for
//! S3-compatible servers). The event carries `{ "claim_check": { "url", "expires_at" } }`;
//! the URL is absolute on `server.public_url` and its `token` query parameter — an HMAC, under a
//! key derived from the KEK, of the claim id and its expiry — alone authorizes one GET.
//!
//! Single use across processes: redeeming flips `redeemed_at` in the store with a conditional
//! UPDATE, so exactly one GET wins; that GET reads, deletes the object and serves it. A second
//! GET, or one after expiry, is `Gone` (410). The sweeper deletes expired objects by LISTING the
//! object store (object names start with their expiry), so objects written just before a crash
//! are removed too, and deletes any consumed or expired claim rows.

use std::{sync::Arc, time::Duration};

use aws_lc_rs::{hkdf, hmac};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL},
};
use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjPath};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::{
    Clock, Envelope,
    store::{EventStore, Redeem, StoreError},
    verify::constant_time_eq,
};

/// A claim-check failure. Messages carry no payload and no token.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The claim-check URL in the config cannot be used.
    #[error("claim_check.url: {0}")]
    BadUrl(String),
    /// The object store failed.
    #[error("claim-check object store: {0}")]
    Object(#[from] object_store::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token is missing, malformed or not signed by us (→ 401).
    #[error("invalid claim token")]
    InvalidToken,
    /// Already served, expired or deleted (→ 410).
    #[error("claim is gone")]
    Gone,
    /// The object could not be opened (wrong master key or tampered).
    #[error("claim object cannot be decrypted")]
    Crypto,
}

/// The reference an event carries instead of a large payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimTicket {
    /// The claim id (`clm_...`).
    pub id: String,
    /// Absolute URL with the single-use token.
    pub url: String,
    /// When the object is deleted if nobody fetched it.
    pub expires_at: OffsetDateTime,
}

impl ClaimTicket {
    /// `{ "claim_check": { "url", "expires_at" } }` for an event's data.
    pub fn to_json(&self) -> serde_json::Value {
        let expires = self
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        serde_json::json!({ "claim_check": { "url": self.url, "expires_at": expires } })
    }
}

/// A redeemed payload.
#[derive(Debug)]
pub struct ClaimedPayload {
    /// The plaintext, zeroized on drop.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl ClaimedPayload {
    /// `application/json` when the payload looks like JSON, else octet-stream.
    pub fn content_type(&self) -> &'static str {
        match self.bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => "application/json",
            _ => "application/octet-stream",
        }
    }
}

struct Inner {
    objects: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    db: EventStore,
    envelope: Envelope,
    token_key: hmac::Key,
    public_base: String,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

/// The claim-check store. Cheap to clone.
#[derive(Clone)]
pub struct ClaimCheck {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClaimCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimCheck")
            .field("objects", &self.inner.objects.to_string())
            .field("prefix", &self.inner.prefix.as_ref())
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

/// Where claim-check objects live and how URLs are formed.
#[derive(Clone, Debug)]
pub struct ClaimCheckSettings {
    /// `file://DIR`, `memory://` or `s3://bucket[/prefix]`.
    pub url: String,
    /// How long an unfetched object lives.
    pub ttl: Duration,
    /// The gateway's public base URL (`server.public_url`), without a trailing slash.
    pub public_base: String,
    /// Extra `object_store` S3 options (`aws_endpoint`, `aws_allow_http`, `aws_region`,
    /// `aws_access_key_id`, ...), applied over the `AWS_*` environment.
    pub s3_options: Vec<(String, String)>,
}

/// Derives the claim-token HMAC key from the KEK (HKDF-SHA256, its own salt and info), so the
/// token key never needs storing and every process sharing the KEK agrees on it.
fn derive_token_key(envelope: &Envelope) -> hmac::Key {
    let encoded = envelope.kek().encode();
    let text = encoded.trim();
    let b64 = text
        .strip_prefix(tidegate_crypto::KEY_FILE_PREFIX)
        .unwrap_or(text);
    let ikm = Zeroizing::new(B64.decode(b64).expect("MasterKey::encode is valid base64"));
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tidegate-claim-token-v1").extract(&ikm);
    let okm = prk
        .expand(&[b"claim-token-hmac"], hmac::HMAC_SHA256)
        .expect("32-byte HKDF output is valid");
    hmac::Key::from(okm)
}

fn object_store_for(
    settings: &ClaimCheckSettings,
) -> Result<(Arc<dyn ObjectStore>, ObjPath), ClaimError> {
    let url = settings.url.trim();
    if url == "memory://" || url == "memory:" || url.starts_with("memory://") {
        return Ok((
            Arc::new(object_store::memory::InMemory::new()),
            ObjPath::default(),
        ));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(ClaimError::BadUrl("file:// needs a directory".into()));
        }
        std::fs::create_dir_all(path)
            .map_err(|e| ClaimError::BadUrl(format!("cannot create {path}: {e}")))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(path)?;
        return Ok((Arc::new(fs), ObjPath::default()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ClaimError::BadUrl("s3:// needs a bucket".into()));
        }
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in &settings.s3_options {
            let key = k
                .parse()
                .map_err(|_| ClaimError::BadUrl(format!("unknown S3 option {k}")))?;
            b = b.with_config(key, v);
        }
        let s3 = b.build()?;
        return Ok((Arc::new(s3), ObjPath::from(prefix.trim_matches('/'))));
    }
    Err(ClaimError::BadUrl(
        "expected file://, memory:// or s3://".into(),
    ))
}

impl ClaimCheck {
    /// Opens the configured store.
    pub fn open(
        settings: &ClaimCheckSettings,
        db: EventStore,
        envelope: Envelope,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClaimError> {
        let (objects, prefix) = object_store_for(settings)?;
        Ok(Self {
            inner: Arc::new(Inner {
                objects,
                prefix,
                db,
                token_key: derive_token_key(&envelope),
                envelope,
                public_base: settings.public_base.trim_end_matches('/').to_owned(),
                ttl: settings.ttl,
                clock,
            }),
        })
    }

    fn object_path(&self, expires_ms: i64, id: &str) -> ObjPath {
        self.inner
            .prefix
            .clone()
            .join(format!("{expires_ms:013}-{id}.sealed"))
    }

    fn aad(id: &str) -> Vec<u8> {
        format!("tidegate-claim:{id}").into_bytes()
    }

    fn sign(&self, id: &str, expires_ms: i64) -> String {
        let tag = hmac::sign(
            &self.inner.token_key,
            format!("{id}.{expires_ms}").as_bytes(),
        );
        format!("{expires_ms}.{}", B64URL.encode(tag.as_ref()))
    }

    /// Seals `payload`, stores it, and returns the ticket for the event.
    pub async fn put(&self, payload: &[u8]) -> Result<ClaimTicket, ClaimError> {
        let id = format!("clm_{}", uuid::Uuid::new_v4().simple());
        let now = self.inner.clock.now_ms();
        let expires_ms = now + self.inner.ttl.as_millis() as i64;
        let path = self.object_path(expires_ms, &id);
        let blob = self.inner.envelope.seal_blob(&Self::aad(&id), payload);
        self.inner
            .objects
            .put(&path, PutPayload::from(blob))
            .await?;
        self.inner
            .db
            .insert_claim(&id, path.as_ref(), expires_ms)
            .await?;
        let url = format!(
            "{}/claims/{id}?token={}",
            self.inner.public_base,
            self.sign(&id, expires_ms)
        );
        let expires_at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Ok(ClaimTicket {
            id,
            url,
            expires_at,
        })
    }

    /// Serves claim `id` once. `token` is the `token` query parameter.
    pub async fn redeem(&self, id: &str, token: &str) -> Result<ClaimedPayload, ClaimError> {
        let (exp_str, _) = token.split_once('.').ok_or(ClaimError::InvalidToken)?;
        let expires_ms: i64 = exp_str.parse().map_err(|_| ClaimError::InvalidToken)?;
        if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ClaimError::InvalidToken);
        }
        if !constant_time_eq(self.sign(id, expires_ms).as_bytes(), token.as_bytes()) {
            return Err(ClaimError::InvalidToken);
        }
        let now = self.inner.clock.now_ms();
        let path = self.object_path(expires_ms, id);
        if expires_ms <= now {
            self.delete_quietly(&path).await;
            self.inner.db.delete_claim(id).await?;
            return Err(ClaimError::Gone);
        }
        match self.inner.db.redeem_claim(id, now).await? {
            Redeem::Gone => return Err(ClaimError::Gone),
            Redeem::First(_) => {}
        }
        let blob: Bytes = match self.inner.objects.get(&path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Err(ClaimError::Gone),
            Err(e) => return Err(e.into()),
        };
        // Delete before serving: a payload is served at most once even if the response is lost.
        self.delete_quietly(&path).await;
        self.inner.db.delete_claim(id).await?;
        let bytes = self
            .inner
            .envelope
            .open_blob(&Self::aad(id), &blob)
            .map_err(|_| ClaimError::Crypto)?;
        Ok(ClaimedPayload { bytes })
    }

    async fn delete_quietly(&self, path: &ObjPath) {
        match self.inner.objects.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(target: "tidegate::events",
                    error = %crate::logsafe::redacted_text(&e.to_string()), "claim object delete failed")
            }
        }
    }

    /// Deletes every object past its expiry (found by listing the store) and every consumed or
    /// expired claim row. Returns the number of objects deleted.
    pub async fn sweep(&self) -> Result<usize, ClaimError> {
        let now = self.inner.clock.now_ms();
        let prefix = (!self.inner.prefix.as_ref().is_empty()).then_some(&self.inner.prefix);
        let listed: Vec<_> = self.inner.objects.list(prefix).try_collect().await?;
        let mut deleted = 0;
        for meta in listed {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let expires = name.split('-').next().and_then(|s| s.parse::<i64>().ok());
            // Names that are not ours are left alone.
            if matches!(expires, Some(e) if e <= now) {
                self.delete_quietly(&meta.location).await;
                deleted += 1;
            }
        }
        for (id, key) in self.inner.db.finished_claims(now).await? {
            self.delete_quietly(&ObjPath::from(key.as_str())).await;
            self.inner.db.delete_claim(&id).await?;
        }
        Ok(deleted)
    }

    /// Every object currently stored, as raw (sealed) bytes: for tests and audits.
    pub async fn stored_objects(&self) -> Result<Vec<(String, Bytes)>, ClaimError> {
        let prefix = (!self.inner.prefix.as_ref().is_empty()).then_some(&self.inner.prefix);
        let listed: Vec<_> = self.inner.objects.list(prefix).try_collect().await?;
        let mut out = Vec::new();
        for meta in listed {
            let bytes = self
                .inner
                .objects
                .get(&meta.location)
                .await?
                .bytes()
                .await?;
            out.push((meta.location.to_string(), bytes));
        }
        Ok(out)
    }
}
