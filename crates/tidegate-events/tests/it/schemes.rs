//! Two independent implementations against each other: every scheme signed by the sandbox's
//! provider-side signer verifies with our verifier, and fails with a wrong secret or a stale
//! clock.

use std::time::{Duration, SystemTime};

use tidegate_events::verify::{Scheme, SignatureError, WebhookSecret, verifier_for};
use tidegate_sandbox::webhooks::{WebhookScheme, sign_for_scheme};

#[test]
fn sandbox_signatures_verify_for_every_scheme() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_946_400);
    let url = "https://tidegate.example.com/webhooks/crm/acc_1?x=1";
    let body = br#"{"id":"evt_9","data":{"id":"42"}}"#;
    for ws in WebhookScheme::ALL {
        let scheme: Scheme = ws.name().parse().unwrap();
        let secret = if ws == WebhookScheme::StandardWebhooks {
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        } else {
            "provider-secret-123"
        };
        let headers = sign_for_scheme(ws, secret, &http::Method::POST, url, body, now);
        let v = verifier_for(
            scheme,
            vec![WebhookSecret::new(secret)],
            Duration::from_secs(300),
        );
        let uri: http::Uri = url.parse().unwrap();
        v.verify(&http::Method::POST, &uri, &headers, body, now)
            .unwrap_or_else(|e| panic!("{ws:?}: {e}"));
        let wrong = verifier_for(
            scheme,
            vec![WebhookSecret::new("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
            Duration::from_secs(300),
        );
        assert_eq!(
            wrong.verify(&http::Method::POST, &uri, &headers, body, now),
            Err(SignatureError::Mismatch),
            "{ws:?}"
        );
        let later = now + Duration::from_secs(400);
        let r = v.verify(&http::Method::POST, &uri, &headers, body, later);
        let timestamped = matches!(
            scheme,
            Scheme::StandardWebhooks
                | Scheme::Stripe
                | Scheme::Slack
                | Scheme::HubspotV3
                | Scheme::Zendesk
        );
        assert_eq!(
            matches!(r, Err(SignatureError::Stale { .. })),
            timestamped,
            "{ws:?}: {r:?}"
        );
    }
}
