//! Building a [`Vault`] from the effective configuration (`tidegate-config`).

use std::{collections::HashMap, sync::Arc};

use secrecy::ExposeSecret;
use tidegate_config::{AuthConfig, Config, KeyProvider, KeysConfig};
use tidegate_crypto::MasterKey;

use crate::{
    ConnectorAuth, EventSink, OAuth2Settings, TokenAuth, Vault, VaultError,
    events::{WebhookEventSink, WebhookTarget},
    keys::KeySource,
    lock::open_lock,
    store::open_store,
};

/// Environment variable that may hold the PREVIOUS master key (same text form as the key
/// file) while a rotation is in progress, so running gateways can read data keys wrapped by
/// either key until `tidegate keys rotate` has finished.
pub const PREVIOUS_KEY_ENV: &str = "TIDEGATE_PREVIOUS_MASTER_KEY";

/// Where the configured master key comes from.
pub fn key_source(keys: &KeysConfig) -> KeySource {
    match keys.provider {
        KeyProvider::File => KeySource::File(
            keys.path
                .clone()
                .unwrap_or_else(|| "./tidegate-data/master.key".into()),
        ),
        KeyProvider::Env => KeySource::Env(
            keys.env
                .clone()
                .unwrap_or_else(|| "TIDEGATE_MASTER_KEY".into()),
        ),
    }
}

/// The vault's view of a connector's `auth` table.
pub fn connector_auth(auth: &AuthConfig) -> ConnectorAuth {
    match auth {
        AuthConfig::OAuth2(o) => ConnectorAuth::OAuth2(OAuth2Settings {
            client_id: o.client_id.clone(),
            client_secret: o.client_secret.clone(),
            token_url: o.token_url.clone(),
            authorize_url: o.authorize_url.clone(),
            scopes: o.scopes.clone(),
            refresh_before: o.refresh_before,
            token_auth: if o.token_auth.as_deref() == Some("basic") {
                TokenAuth::Basic
            } else {
                TokenAuth::Body
            },
            revoked_errors: o.revoked_errors.clone(),
        }),
        AuthConfig::ApiKey(k) => ConnectorAuth::ApiKey {
            header: k.header.clone(),
            query: k.query.clone(),
            prefix: k.prefix.clone(),
        },
        AuthConfig::Basic => ConnectorAuth::Basic,
        AuthConfig::None => ConnectorAuth::None,
    }
}

/// The simple direct event sender for the configured environments (those with a
/// `webhook_url` and `webhook_secret`). `tidegate-events` provides the durable one.
pub fn webhook_sink(config: &Config) -> WebhookEventSink {
    let targets: HashMap<String, WebhookTarget> = config
        .environments
        .iter()
        .filter_map(|(name, env)| {
            let (url, secret) = (env.webhook_url.as_ref()?, env.webhook_secret.as_ref()?);
            Some((
                name.clone(),
                WebhookTarget {
                    url: url.clone(),
                    secret: secret.expose_secret().to_owned().into(),
                },
            ))
        })
        .collect();
    WebhookEventSink::new(targets)
}

impl Vault {
    /// Opens the configured store (running migrations), lock backend and master key, and
    /// registers every connector. Also accepts a previous master key from
    /// [`PREVIOUS_KEY_ENV`] during a rotation.
    pub async fn open(config: &Config, events: Arc<dyn EventSink>) -> Result<Vault, VaultError> {
        let master = key_source(&config.keys).load()?;
        let store = open_store(&config.storage.url).await?;
        let lock = open_lock(&config.locks.url)?;
        let mut builder = Vault::builder(store, lock, master).events(events);
        if std::env::var_os(PREVIOUS_KEY_ENV).is_some() {
            builder = builder.previous_key(MasterKey::from_env(PREVIOUS_KEY_ENV)?);
        }
        for (name, connector) in &config.connectors {
            builder = builder.connector(name.clone(), connector_auth(&connector.auth));
        }
        Ok(builder.build())
    }
}
