//! Acceptance: 10,000 records, 2,000 changed, 30% of their webhooks dropped; one
//! reconciliation run later the receiver holds exactly one `record.changed` per changed
//! version, the missed ones with `source: reconciliation`; the database holds no payload.

use std::collections::HashSet;

use tidegate_reconcile::NoProgress;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_webhooks_are_caught_exactly_once_and_no_payload_is_stored() {
    let h = Harness::start(500, "2h").await;
    let hour_ago = now_ms() - 3_600_000;
    h.records.seed(10_000, hour_ago);

    // Baseline: the first run announces all 10,000 (initial_lookback covers them).
    let r = h.reconciler(fast_options()).await;
    let base = r.run("crm", ACCOUNT, &NoProgress).await.unwrap();
    assert_eq!(
        (base.scanned, base.missed, base.delivered),
        (10_000, 10_000, 10_000)
    );
    h.receiver.wait_for(10_000).await;
    let (by_version, by_source) = h.tally();
    assert_eq!(by_version.len(), 10_000);
    assert!(by_version.values().all(|n| *n == 1));
    assert_eq!(by_source.get("reconciliation"), Some(&10_000));
    h.receiver.clear();

    // 2,000 changes; the provider "loses" 30% of their webhooks.
    h.drop_share(0.30);
    let change = h.records.change_and_notify(2_000, now_ms()).await;
    assert_eq!(change.changed.len(), 2_000);
    assert_eq!(change.webhooks_dropped, 600);
    assert_eq!((change.webhooks_sent, change.webhooks_failed), (1_400, 0));
    h.receiver.wait_for(1_400).await;

    // One run (overlap 2h: it re-reads all 10,000; the ledger knows 8,000 + 1,400 of them).
    let report = r.run("crm", ACCOUNT, &NoProgress).await.unwrap();
    assert_eq!(report.scanned, 10_000);
    assert_eq!((report.missed, report.delivered), (600, 600));
    assert_eq!(
        report.summary(),
        "reconciled crm acc_1: scanned 10000, missed 600, delivered 600"
    );
    h.receiver.wait_for(2_000).await;

    let (by_version, by_source) = h.tally();
    let expected: HashSet<(String, String)> = change.changed.iter().cloned().collect();
    let got: HashSet<(String, String)> = by_version.keys().cloned().collect();
    assert_eq!(got, expected, "every changed version, nothing else");
    let dups: Vec<_> = by_version.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    assert_eq!(by_source.get("webhook"), Some(&1_400));
    assert_eq!(by_source.get("reconciliation"), Some(&600));
    for e in h.receiver.events() {
        if e["data"]["source"] == "reconciliation" {
            assert_eq!(e["data"]["object"], "record");
            assert_eq!(e["data"]["record"]["properties"]["note"], CANARY);
            assert_eq!(e["data"]["record"]["version"], e["data"]["version"]);
            assert_eq!(e["integrated_account_id"], ACCOUNT);
            assert_eq!(e["connector"], "crm");
        }
    }
    assert_eq!(
        h.receiver.rejected(),
        0,
        "every delivery carried a valid signature"
    );

    // A late webhook for a version reconciliation already announced: acknowledged as a
    // duplicate by the ledger (200), nothing delivered again.
    let late = h
        .receiver
        .events()
        .into_iter()
        .find(|e| e["data"]["source"] == "reconciliation")
        .unwrap();
    let (id, version) = (
        late["data"]["id"].as_str().unwrap().to_owned(),
        late["data"]["version"].as_str().unwrap().to_owned(),
    );
    let status = tidegate_sandbox::webhooks::fire(
        &format!("{}/webhooks/crm/{ACCOUNT}", h.gateway),
        tidegate_sandbox::webhooks::WebhookScheme::StandardWebhooks,
        SECRET,
        &tidegate_sandbox::records::RecordStore::webhook_body(&id, &version),
        std::time::SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "acknowledged, not queued");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(h.receiver.events().len(), 2_000);

    // A third run finds nothing new.
    let again = r.run("crm", ACCOUNT, &NoProgress).await.unwrap();
    assert_eq!((again.scanned, again.missed), (10_000, 0));

    // Status for GET /admin/reconcile.
    let status = r.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].state, "idle");
    assert_eq!((status[0].scanned, status[0].missed), (10_000, 0));
    assert!(status[0].high_water_mark.is_some() && status[0].last_error.is_none());

    // The ledger: ids and versions only; the database and its WAL hold no record body.
    let store = h.events.store.clone();
    assert_eq!(store.ledger_len().await.unwrap(), 12_000);
    let cols = ledger_columns(&h).await;
    assert_eq!(
        cols,
        [
            "connector",
            "account_id",
            "object",
            "record_id",
            "version",
            "source",
            "delivered_at"
        ]
    );
    h.stop();
    drop(r);
    let mut scanned_bytes = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", h.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            scanned_bytes += bytes.len();
            assert!(
                !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
                "{path} contains a record body"
            );
        }
    }
    assert!(
        scanned_bytes > 0,
        "the database file exists and was scanned"
    );
}

async fn ledger_columns(h: &Harness) -> Vec<String> {
    use sqlx::Row;
    let pool = sqlx::SqlitePool::connect(&h.config.storage.url)
        .await
        .unwrap();
    let rows =
        sqlx::query("SELECT name FROM pragma_table_info('tg_delivered_versions') ORDER BY cid")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}
