//! Bearer keys: environment api keys for `/proxy/*`, the admin key for `/admin/*`.
//!
//! Keys are kept only as SHA-256 digests and compared in constant time (`subtle`), against
//! every key, without early exit: neither the timing nor the length of a guess tells an
//! attacker how close it was. The digests also keep the plaintext keys out of memory dumps
//! of long-lived state.
//!
//! A keep-alive connection remembers the last key it presented that was accepted
//! ([`KnownKey`]), so its later requests are checked with one constant-time comparison
//! instead of a digest (the digest was ~5 % of a proxied request's CPU).

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest};
use http::{HeaderMap, header::AUTHORIZATION};
use secrecy::{ExposeSecret, SecretBox};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tidegate_config::Config;

type Digest = [u8; 32];

fn sha256(bytes: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// The bearer token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    if value.len() > 7 && value[..7].eq_ignore_ascii_case(b"bearer ") {
        let token = value[7..].trim_ascii();
        (!token.is_empty()).then_some(token)
    } else {
        None
    }
}

/// Environment api keys → environment.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<(Digest, u32)>,
    environments: Vec<Arc<str>>,
}

impl ApiKeys {
    /// Every `api_keys` entry of every environment.
    pub fn from_config(config: &Config) -> Self {
        let mut keys = Vec::new();
        let mut environments = Vec::new();
        for (name, env) in &config.environments {
            let index = environments.len() as u32;
            environments.push(Arc::from(name.as_str()));
            for key in &env.api_keys {
                keys.push((sha256(key.expose_secret().as_bytes()), index));
            }
        }
        Self { keys, environments }
    }

    /// The environment whose key `token` is, if any.
    pub fn environment(&self, token: &[u8]) -> Option<&Arc<str>> {
        let presented = sha256(token);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (key, env) in &self.keys {
            let eq = key.ct_eq(&presented);
            index = u32::conditional_select(&index, env, eq);
            found |= eq;
        }
        bool::from(found).then(|| &self.environments[index as usize])
    }
}

/// The api key a connection last presented and had accepted, with its environment.
///
/// One per client connection (never shared between connections). A request presenting the
/// same key (compared in constant time) gets the same environment without a digest; any other
/// key goes through [`ApiKeys::environment`], and replaces this one if accepted. Keys are
/// fixed for the life of the process, so a remembered key cannot have been revoked since.
/// The copy is zeroed when the connection ends.
#[derive(Default)]
pub(crate) struct KnownKey(Mutex<Option<Remembered>>);

/// A key a connection had accepted, and its environment.
type Remembered = (SecretBox<[u8]>, Arc<str>);

impl std::fmt::Debug for KnownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownKey(..)")
    }
}

impl KnownKey {
    /// The environment whose key `token` is, if any (as [`ApiKeys::environment`]).
    pub(crate) fn environment(&self, keys: &ApiKeys, token: &[u8]) -> Option<Arc<str>> {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((key, environment)) = &*known
            && bool::from(key.expose_secret().ct_eq(token))
        {
            return Some(environment.clone());
        }
        let environment = keys.environment(token)?.clone();
        *known = Some((SecretBox::new(Box::from(token)), environment.clone()));
        Some(environment)
    }
}

/// The admin bearer key (absent: every admin request is refused).
#[derive(Clone, Debug, Default)]
pub struct AdminKey(Option<Digest>);

impl AdminKey {
    /// From `server.admin_key`.
    pub fn from_config(config: &Config) -> Self {
        Self(
            config
                .server
                .admin_key
                .as_ref()
                .map(|k| sha256(k.expose_secret().as_bytes())),
        )
    }

    /// Whether `headers` carry the admin key.
    pub fn verify(&self, headers: &HeaderMap) -> bool {
        match (self.0, bearer(headers)) {
            (Some(key), Some(token)) => bool::from(key.ct_eq(&sha256(token))),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&headers("Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers("bearer  abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn keys_map_to_their_environment() {
        let toml = r#"
[server]
admin_key = "adm"
[environments.production]
api_keys = ["prod-1", "prod-2"]
[environments.staging]
api_keys = ["stage-1"]
[connectors.crm]
base_url = "https://api.example.com"
"#;
        let config = Config::from_str(toml, std::path::Path::new("t.toml"), &|_| None).unwrap();
        let keys = ApiKeys::from_config(&config);
        assert_eq!(
            keys.environment(b"prod-2").map(|e| &**e),
            Some("production")
        );
        assert_eq!(keys.environment(b"stage-1").map(|e| &**e), Some("staging"));
        assert_eq!(keys.environment(b"prod-"), None);
        assert_eq!(keys.environment(b""), None);
        let connection = KnownKey::default();
        for _ in 0..2 {
            // First the digest, then the remembered key: the same answers.
            let env = connection.environment(&keys, b"prod-2");
            assert_eq!(env.as_deref(), Some("production"));
        }
        assert_eq!(connection.environment(&keys, b"prod-").as_deref(), None);
        assert_eq!(connection.environment(&keys, b"prod-22").as_deref(), None);
        assert_eq!(connection.environment(&keys, b"").as_deref(), None);
        // Another accepted key on the same connection replaces the remembered one.
        assert_eq!(
            connection.environment(&keys, b"stage-1").as_deref(),
            Some("staging")
        );
        assert_eq!(
            connection.environment(&keys, b"prod-2").as_deref(),
            Some("production")
        );
        assert_eq!(format!("{connection:?}"), "KnownKey(..)");
        let admin = AdminKey::from_config(&config);
        assert!(admin.verify(&headers("Bearer adm")));
        assert!(!admin.verify(&headers("Bearer prod-1")));
        assert!(!AdminKey::default().verify(&headers("Bearer adm")));
    }
}
