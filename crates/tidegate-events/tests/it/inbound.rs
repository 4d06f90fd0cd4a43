//! The inbound pipeline end to end (without HTTP): signature → account → dedup → event,
//! with the claim check for large bodies. The account directory is a test double at the true
//! boundary (the vault).

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::future::BoxFuture;
use tidegate_core::ErrorCode;
use tidegate_events::{
    Envelope, ManualClock, Signer,
    claim::{ClaimCheck, ClaimCheckSettings},
    dedup::StoreDedup,
    extract::SimpleExpr,
    inbound::{AccountDirectory, ConnectorWebhooks, Inbound, InboundError, InboundOutcome},
    publish::EventPublisher,
    verify::{Scheme, WebhookSecret, verifier_for},
};

use crate::support::*;

struct Accounts;

impl AccountDirectory for Accounts {
    fn environment_of<'a>(
        &'a self,
        connector: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, tidegate_core::BoxError>> {
        let env =
            (connector == "crm" && account_id.starts_with("acc_")).then(|| "production".to_owned());
        Box::pin(async move { Ok(env) })
    }
}

const PROVIDER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn signed(id: &str, body: &str, now_s: i64) -> http::HeaderMap {
    let sig = Signer::new([PROVIDER_SECRET])
        .unwrap()
        .sign(id, now_s, body.as_bytes());
    let mut h = http::HeaderMap::new();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", now_s.to_string().parse().unwrap());
    h.insert("webhook-signature", sig.parse().unwrap());
    h
}

struct Fixture {
    inbound: Inbound,
    store: tidegate_events::store::EventStore,
    clock: ManualClock,
    claims: ClaimCheck,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let (store, dir, _) = sqlite_store().await;
    let clock = ManualClock::starting_now();
    let kek = kek();
    let q = queue(
        store.clone(),
        kek.clone(),
        short_policy(3),
        "http://127.0.0.1:9/unused",
        Arc::new(clock.clone()),
    );
    let claims = ClaimCheck::open(
        &ClaimCheckSettings {
            url: "memory://".into(),
            ttl: Duration::from_secs(900),
            public_base: "http://127.0.0.1:4000".into(),
            s3_options: vec![],
        },
        store.clone(),
        Envelope::new(kek),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let publisher = EventPublisher::new(q, Some(claims.clone()), 1024);
    let crm = ConnectorWebhooks {
        verifier: verifier_for(
            Scheme::StandardWebhooks,
            vec![WebhookSecret::new(PROVIDER_SECRET)],
            Duration::from_secs(300),
        ),
        max_body: 64 * 1024,
        dedup_window: Duration::from_secs(3600),
        account: Some(Box::new(SimpleExpr::parse("account").unwrap())),
        object: Some(Box::new(SimpleExpr::parse("'contact'").unwrap())),
        id: Some(Box::new(SimpleExpr::parse("data.id").unwrap())),
        version: Some(Box::new(SimpleExpr::parse("data.updatedAt").unwrap())),
        event_id: Some(Box::new(SimpleExpr::parse("id").unwrap())),
    };
    let inbound = Inbound::new(
        HashMap::from([("crm".to_owned(), crm)]),
        Arc::new(StoreDedup::new(store.clone(), Arc::new(clock.clone()))),
        Arc::new(Accounts),
        publisher,
        Arc::new(clock.clone()),
    );
    Fixture {
        inbound,
        store,
        clock,
        claims,
        _dir: dir,
    }
}

fn now_s(c: &ManualClock) -> i64 {
    tidegate_events::Clock::now_ms(c) / 1000
}

async fn post(
    f: &Fixture,
    account: Option<&str>,
    headers: &http::HeaderMap,
    body: &str,
) -> Result<InboundOutcome, InboundError> {
    f.inbound
        .handle(
            "crm",
            account,
            &http::Method::POST,
            &"/webhooks/crm".parse().unwrap(),
            headers,
            body.as_bytes(),
        )
        .await
}

#[tokio::test]
async fn verified_webhook_becomes_record_changed_and_duplicates_drop() {
    let f = fixture().await;
    let body = r#"{"id":"prov_1","account":"acc_9","data":{"id":"c_1","updatedAt":"2026-11-29T10:00:00Z"}}"#;
    let h = signed("msg_1", body, now_s(&f.clock));
    let out = post(&f, Some("acc_1"), &h, body).await.unwrap();
    assert!(matches!(out, InboundOutcome::Accepted { .. }), "{out:?}");
    assert_eq!(f.store.counts().await.unwrap().pending, 1);

    // The same provider event again (a provider retry, new signature): acknowledged, dropped.
    f.clock.advance(Duration::from_secs(5));
    let h2 = signed("msg_1", body, now_s(&f.clock));
    assert_eq!(
        post(&f, Some("acc_1"), &h2, body).await.unwrap(),
        InboundOutcome::Duplicate
    );
    assert_eq!(f.store.counts().await.unwrap().pending, 1);

    // After the window the provider id is new again, but this (id, version) was already
    // announced: the delivered-versions ledger (shared with reconciliation) drops it.
    f.clock.advance(Duration::from_secs(3601));
    let h3 = signed("msg_1", body, now_s(&f.clock));
    let third = post(&f, Some("acc_1"), &h3, body).await.unwrap();
    assert_eq!(third, InboundOutcome::Duplicate);
    // A new version of the record under the same (expired) provider id is announced.
    let body_v2 = body.replace("2026-11-29T10:00:00Z", "2026-11-29T11:00:00Z");
    f.clock.advance(Duration::from_secs(3601));
    let h3b = signed("msg_1", &body_v2, now_s(&f.clock));
    let fourth = post(&f, Some("acc_1"), &h3b, &body_v2).await.unwrap();
    assert!(
        matches!(fourth, InboundOutcome::Accepted { .. }),
        "{fourth:?}"
    );

    // Without a path account the `account` expression decides.
    let body2 = r#"{"id":"prov_2","account":"acc_9","data":{"id":"c_2"}}"#;
    let h4 = signed("msg_2", body2, now_s(&f.clock));
    assert!(matches!(
        post(&f, None, &h4, body2).await.unwrap(),
        InboundOutcome::Accepted { .. }
    ));
    assert_eq!(
        f.inbound
            .stats()
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    assert_eq!(
        f.inbound
            .stats()
            .duplicates
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn bad_signatures_are_401_and_change_nothing() {
    let f = fixture().await;
    let body = r#"{"id":"prov_1","data":{"id":"c_1"}}"#;
    let good = signed("msg_1", body, now_s(&f.clock));
    let tampered = body.replace("c_1", "c_2");
    let stale = signed("msg_1", body, now_s(&f.clock) - 301);
    let mut missing = good.clone();
    missing.remove("webhook-signature");
    for (h, b) in [(&good, tampered.as_str()), (&stale, body), (&missing, body)] {
        let err = post(&f, Some("acc_1"), h, b).await.unwrap_err();
        let p = err.to_problem();
        assert_eq!(
            (p.status, p.code),
            (401, ErrorCode::InvalidSignature),
            "{err}"
        );
    }
    assert_eq!(f.store.counts().await.unwrap().pending, 0, "nothing queued");
    // A rejected delivery did not consume the dedup id: the genuine one still goes through.
    assert!(matches!(
        post(&f, Some("acc_1"), &good, body).await.unwrap(),
        InboundOutcome::Accepted { .. }
    ));
    assert_eq!(
        f.inbound
            .stats()
            .invalid_signature
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[tokio::test]
async fn unknown_account_too_large_and_unknown_connector() {
    let f = fixture().await;
    let body = r#"{"id":"prov_1"}"#;
    let h = signed("msg_1", body, now_s(&f.clock));
    let e = post(&f, Some("nobody"), &h, body).await.unwrap_err();
    assert_eq!(e.to_problem().code, ErrorCode::UnknownAccount);
    // The unknown-account refusal did not burn the id either.
    assert!(matches!(
        post(&f, Some("acc_1"), &h, body).await.unwrap(),
        InboundOutcome::Accepted { .. }
    ));

    let big = format!("{{\"id\":\"x\",\"pad\":\"{}\"}}", "y".repeat(70 * 1024));
    let h = signed("msg_2", &big, now_s(&f.clock));
    let e = post(&f, Some("acc_1"), &h, &big).await.unwrap_err();
    assert_eq!(e.to_problem().status, 413);

    let e = f
        .inbound
        .handle(
            "nope",
            None,
            &http::Method::POST,
            &"/".parse().unwrap(),
            &h,
            b"{}",
        )
        .await
        .unwrap_err();
    assert_eq!(e.to_problem().code, ErrorCode::UnknownConnector);
}

#[tokio::test]
async fn large_payload_goes_to_claim_check_and_queue_holds_only_the_ticket() {
    let f = fixture().await;
    let body = format!(
        "{{\"id\":\"prov_big\",\"data\":{{\"id\":\"c_9\"}},\"note\":\"{CANARY}\",\"pad\":\"{}\"}}",
        "z".repeat(4000)
    );
    let h = signed("msg_big", &body, now_s(&f.clock));
    assert!(matches!(
        post(&f, Some("acc_1"), &h, &body).await.unwrap(),
        InboundOutcome::Accepted { .. }
    ));
    for blob in f.store.stored_bytes().await.unwrap() {
        assert!(!blob.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
    }
    let objects = f.claims.stored_objects().await.unwrap();
    assert_eq!(objects.len(), 1, "the body went to the claim check");
    assert!(
        !objects[0]
            .1
            .windows(CANARY.len())
            .any(|w| w == CANARY.as_bytes()),
        "sealed"
    );
    // The sealed queue row is smaller than the body: it holds the ticket, not the payload.
    let rows = f.store.stored_bytes().await.unwrap();
    assert!(
        rows.iter().all(|b| b.len() < 2000),
        "queue row holds only the ticket"
    );
}

#[tokio::test]
async fn store_dedup_semantics() {
    let (store, _dir, _) = sqlite_store().await;
    let w = Duration::from_secs(3600);
    assert!(store.first_seen("c", "a", 1_000, w).await.unwrap());
    assert!(!store.first_seen("c", "a", 2_000, w).await.unwrap());
    assert!(store.first_seen("c", "b", 2_000, w).await.unwrap());
    assert!(
        store
            .first_seen("c", "a", 1_000 + 3_600_000, w)
            .await
            .unwrap(),
        "expired → new"
    );
}

#[tokio::test]
async fn store_dedup_semantics_big_numbers() {
    let (store, _dir, _) = sqlite_store().await;
    let w = Duration::from_secs(3600);
    let t = 1_795_955_014_892i64;
    assert!(store.first_seen("c", "a", t, w).await.unwrap());
    assert!(!store.first_seen("c", "a", t + 5000, w).await.unwrap());
    assert!(
        store.first_seen("c", "a", t + 3_606_000, w).await.unwrap(),
        "expired → new"
    );
}
