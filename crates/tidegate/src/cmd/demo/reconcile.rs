//! Step on reconciliation: webhooks the provider "lost" are found by one polling run, which
//! delivers exactly the missed versions (the ledger both paths share suppresses the rest).

use std::{collections::HashSet, time::Duration};

use tidegate_reconcile::{NoProgress, engine::now_ms};
use tidegate_sandbox::records::WebhookTarget;

use super::{
    Ctx, NotPassed, StepResult, check,
    events::{RECORDS_ACCOUNT, ensure_records_account},
    setup::RECORDS_WEBHOOK_SECRET,
};

const RECORDS: usize = 40;
const CHANGED: usize = 20;
const DROP_SHARE: f64 = 0.3;

fn key(e: &serde_json::Value) -> (String, String) {
    (
        e["data"]["id"].as_str().unwrap_or_default().to_owned(),
        e["data"]["version"].as_str().unwrap_or_default().to_owned(),
    )
}

fn from(source: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |e| e["connector"] == "records" && e["data"]["source"] == source
}

/// Step 10.
pub async fn dropped_webhooks(c: &Ctx) -> StepResult {
    let result = run(c).await;
    c.records.webhooks(None);
    result
}

async fn run(c: &Ctx) -> StepResult {
    ensure_records_account(c).await?;
    let store = c
        .shared
        .vault
        .as_ref()
        .map(|v| v.store().clone())
        .ok_or_else(|| NotPassed::Skipped("the demo gateway has no vault".into()))?;
    let reconciler = tidegate_reconcile::wiring::from_config(
        &c.config,
        c.shared.clone(),
        c.events.publisher.clone(),
        store,
    )
    .await
    .map_err(|e| format!("cannot build the reconciler: {e}"))?;

    c.records.seed(RECORDS, now_ms() - 3_600_000);
    let initial = reconciler
        .run("records", RECORDS_ACCOUNT, &NoProgress)
        .await
        .map_err(|e| format!("initial run: {e}"))?;
    c.say(format!("   initial sync: {}", initial.summary()));
    check(initial.delivered == RECORDS as u64, || initial.summary())?;
    let seen = c
        .wait_events(RECORDS, Duration::from_secs(15), from("reconciliation"))
        .await
        .len();
    check(seen == RECORDS, || {
        format!("receiver got {seen}/{RECORDS} initial records")
    })?;

    c.records.webhooks(Some(WebhookTarget {
        url: c.url(&format!("/webhooks/records/{RECORDS_ACCOUNT}")),
        secret: RECORDS_WEBHOOK_SECRET.into(),
        drop_share: DROP_SHARE,
    }));
    let change = c.records.change_and_notify(CHANGED, now_ms()).await;
    c.say(format!(
        "   provider changed {} records: {} webhooks delivered, {} dropped, {} failed",
        change.changed.len(),
        change.webhooks_sent,
        change.webhooks_dropped,
        change.webhooks_failed
    ));
    check(change.webhooks_failed == 0, || {
        format!(
            "{} webhooks were refused by the gateway",
            change.webhooks_failed
        )
    })?;
    let changed: HashSet<(String, String)> = change.changed.iter().cloned().collect();
    let is_changed = |e: &serde_json::Value| changed.contains(&key(e));
    let via_webhook: HashSet<_> = c
        .wait_events(
            change.webhooks_sent as usize,
            Duration::from_secs(15),
            |e| from("webhook")(e) && is_changed(e),
        )
        .await
        .iter()
        .map(key)
        .collect();
    check(via_webhook.len() as u64 == change.webhooks_sent, || {
        format!(
            "receiver got {}/{} webhook events",
            via_webhook.len(),
            change.webhooks_sent
        )
    })?;

    let second = reconciler
        .run("records", RECORDS_ACCOUNT, &NoProgress)
        .await
        .map_err(|e| format!("reconciliation run: {e}"))?;
    c.say(format!("   reconciliation: {}", second.summary()));
    let missed: HashSet<_> = changed.difference(&via_webhook).cloned().collect();
    let recovered_events = c
        .wait_events(missed.len(), Duration::from_secs(15), |e| {
            from("reconciliation")(e) && is_changed(e)
        })
        .await;
    // Give a stray duplicate the chance to show up before judging "exactly".
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = c.receiver.events();
    let recovered: Vec<_> = all
        .iter()
        .filter(|e| from("reconciliation")(e) && is_changed(e))
        .map(key)
        .collect();
    let recovered_set: HashSet<_> = recovered.iter().cloned().collect();
    c.say(format!(
        "   receiver got {} record.changed with source=reconciliation for the changed records; missed webhooks: {}",
        recovered.len(),
        missed.len()
    ));
    check(!recovered_events.is_empty() || missed.is_empty(), || {
        "no reconciliation event arrived".into()
    })?;
    check(second.delivered == missed.len() as u64, || {
        format!("{} delivered, {} missed", second.delivered, missed.len())
    })?;
    check(
        recovered.len() == missed.len() && recovered_set == missed,
        || {
            format!(
                "reconciliation delivered {:?}, the webhooks missed {:?}",
                recovered_set, missed
            )
        },
    )?;
    Ok(format!(
        "{} of {CHANGED} webhooks dropped; one run: {}; receiver got exactly those {} (source=reconciliation)",
        change.webhooks_dropped,
        second.summary(),
        missed.len()
    ))
}
