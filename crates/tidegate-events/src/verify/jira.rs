//! Jira / Atlassian admin-registered webhooks: `X-Hub-Signature: sha256=<hex>` (WebSub
//! `method=signature`) over the raw body. Dedup on `X-Atlassian-Webhook-Identifier`.

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use super::crypto::header_hint;
use super::github::verify_sha256_prefixed;
use super::{Scheme, SignatureError, Verified, Verifier, WebhookSecret};

/// The Jira verifier.
#[derive(Debug)]
pub(crate) struct Jira {
    secrets: Vec<WebhookSecret>,
}

impl Jira {
    pub(crate) fn new(secrets: Vec<WebhookSecret>) -> Self {
        Self { secrets }
    }
}

impl Verifier for Jira {
    fn scheme(&self) -> Scheme {
        Scheme::Jira
    }

    fn verify(
        &self,
        _method: &Method,
        _uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Verified, SignatureError> {
        verify_sha256_prefixed(&self.secrets, headers, "x-hub-signature", body)?;
        Ok(Verified {
            event_id: header_hint(headers, "x-atlassian-webhook-identifier"),
        })
    }
}
