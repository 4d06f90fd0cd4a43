//! The ledger of delivered record versions, shared by the webhook path and reconciliation
//! (CONTRACT §8): a version of a record is announced once, whichever path saw it first.
//!
//! One row per `(connector, account, object, record id, version)` that was queued for delivery,
//! with the time it was queued and which path queued it. **Ids and versions only — never a
//! payload.** Rows older than the retention window ([`DEFAULT_RETENTION`], 30 days) are deleted
//! by [`EventStore::sweep_ledger`].
//!
//! Why it lives here, next to the queue: "insert into the ledger if absent" and "enqueue the
//! event" run in ONE database transaction ([`EventStore::enqueue_new_versions`]), so a crash
//! between them can neither lose an event (ledger row without queue row) nor duplicate one
//! (queue row without ledger row, announced again later). The reconciliation crate only reads
//! the ledger ([`EventStore::delivered_versions`]) and publishes through
//! [`crate::publish::EventPublisher::record_changes`].
//!
//! Migrations: 2900 (events range, after the queue).
//!
//! ```no_run
//! # async fn run(store: tidegate_events::store::EventStore) -> Result<(), tidegate_events::store::StoreError> {
//! let seen = store.delivered_versions("crm", "acc_1", "contact", &["101", "102"]).await?;
//! for (id, version) in &seen { println!("{id}@{version} already delivered"); }
//! # Ok(()) }
//! ```

use std::{collections::HashSet, time::Duration};

use serde_json::Value;

use crate::{
    Event, EventType, RecordSource,
    event::record_changed_data,
    publish::{EventPublisher, PublishError, RecordChange},
    queue::{EventQueue, Published, queue_aad},
    store::{EventStore, NewQueued, StoreError},
};

/// How long a delivered version is remembered by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// One ledger key: which version of which record of which account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionKey {
    /// Connector name.
    pub connector: String,
    /// Integrated account id.
    pub account_id: String,
    /// Object type (`contact`, `ticket`, ...); empty when unknown.
    pub object: String,
    /// The record's id at the provider.
    pub record_id: String,
    /// The record's version (compared for equality only).
    pub version: String,
}

const INSERT_SQL: &str = "INSERT INTO tg_delivered_versions \
     (connector, account_id, object, record_id, version, source, delivered_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

const LOOKUP_SQLITE: &str = "SELECT record_id, version FROM tg_delivered_versions \
     WHERE connector = $1 AND account_id = $2 AND object = $3 \
     AND record_id IN (SELECT value FROM json_each($4))";

const LOOKUP_PG: &str = "SELECT record_id, version FROM tg_delivered_versions \
     WHERE connector = $1 AND account_id = $2 AND object = $3 AND record_id = ANY($4)";

macro_rules! bind_insert {
    ($q:expr, $k:expr, $source:expr, $now:expr) => {
        $q.bind(&$k.connector)
            .bind(&$k.account_id)
            .bind(&$k.object)
            .bind(&$k.record_id)
            .bind(&$k.version)
            .bind($source)
            .bind($now)
    };
}

macro_rules! bind_queue {
    ($q:expr, $row:expr) => {
        $q.bind(&$row.id)
            .bind(&$row.environment)
            .bind(&$row.event_type)
            .bind($row.created_at)
            .bind(&$row.wrapped_key)
            .bind(&$row.sealed)
            .bind($row.next_attempt_at)
            .bind($row.expires_at)
    };
}

impl EventStore {
    /// The `(record id, version)` pairs of `ids` already in the ledger for this account and
    /// object. One query per call (a page of ids), whatever the number of ids.
    pub async fn delivered_versions(
        &self,
        connector: &str,
        account_id: &str,
        object: &str,
        ids: &[&str],
    ) -> Result<HashSet<(String, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<(String, String)> = if let Some(pool) = self.sqlite_pool() {
            let json = serde_json::to_string(ids).expect("strings serialize");
            sqlx::query_as(LOOKUP_SQLITE)
                .bind(connector)
                .bind(account_id)
                .bind(object)
                .bind(json)
                .fetch_all(pool)
                .await?
        } else if let Some(pool) = self.pg_pool() {
            let ids: Vec<&str> = ids.to_vec();
            sqlx::query_as(LOOKUP_PG)
                .bind(connector)
                .bind(account_id)
                .bind(object)
                .bind(ids)
                .fetch_all(pool)
                .await?
        } else {
            unreachable!("a store is sqlite or postgres")
        };
        Ok(rows.into_iter().collect())
    }

    /// Whether one version is in the ledger.
    pub async fn is_delivered(&self, key: &VersionKey) -> Result<bool, StoreError> {
        let seen = self
            .delivered_versions(
                &key.connector,
                &key.account_id,
                &key.object,
                &[key.record_id.as_str()],
            )
            .await?;
        Ok(seen.contains(&(key.record_id.clone(), key.version.clone())))
    }

    /// In ONE transaction: for each item, inserts its version into the ledger if absent and,
    /// only if it was absent, enqueues its event. Returns, per item, whether it was enqueued
    /// (`false`: that version was already delivered, nothing queued). `source` is
    /// `webhook` or `reconciliation` (kept for operators; not part of the key).
    pub async fn enqueue_new_versions(
        &self,
        items: &[(VersionKey, NewQueued)],
        source: &str,
        now_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(items.len());
        if items.is_empty() {
            return Ok(out);
        }
        let enqueue = crate::store::ENQUEUE_SQL;
        if let Some(pool) = self.sqlite_pool() {
            let mut tx = pool.begin().await?;
            for (key, row) in items {
                let n = bind_insert!(sqlx::query(INSERT_SQL), key, source, now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    bind_queue!(sqlx::query(enqueue), row)
                        .execute(&mut *tx)
                        .await?;
                }
                out.push(n == 1);
            }
            tx.commit().await?;
        } else if let Some(pool) = self.pg_pool() {
            let mut tx = pool.begin().await?;
            for (key, row) in items {
                let n = bind_insert!(sqlx::query(INSERT_SQL), key, source, now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    bind_queue!(sqlx::query(enqueue), row)
                        .execute(&mut *tx)
                        .await?;
                }
                out.push(n == 1);
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Records versions as delivered without queuing anything (e.g. an initial import the
    /// customer already has). Returns how many were new.
    pub async fn mark_delivered(
        &self,
        keys: &[VersionKey],
        source: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        if let Some(pool) = self.sqlite_pool() {
            let mut tx = pool.begin().await?;
            for k in keys {
                n += bind_insert!(sqlx::query(INSERT_SQL), k, source, now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        } else if let Some(pool) = self.pg_pool() {
            let mut tx = pool.begin().await?;
            for k in keys {
                n += bind_insert!(sqlx::query(INSERT_SQL), k, source, now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    /// Deletes ledger rows delivered before `now − retention`. Returns how many.
    pub async fn sweep_ledger(&self, now_ms: i64, retention: Duration) -> Result<u64, StoreError> {
        let cutoff = now_ms - retention.as_millis() as i64;
        let sql = "DELETE FROM tg_delivered_versions WHERE delivered_at < $1";
        Ok(if let Some(pool) = self.sqlite_pool() {
            sqlx::query(sql)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        } else if let Some(pool) = self.pg_pool() {
            sqlx::query(sql)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected()
        } else {
            0
        })
    }

    /// Number of ledger rows (status pages, tests).
    pub async fn ledger_len(&self) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM tg_delivered_versions";
        let (n,): (i64,) = if let Some(pool) = self.sqlite_pool() {
            sqlx::query_as(sql).fetch_one(pool).await?
        } else if let Some(pool) = self.pg_pool() {
            sqlx::query_as(sql).fetch_one(pool).await?
        } else {
            (0,)
        };
        Ok(n.max(0) as u64)
    }
}

impl VersionKey {
    /// The key of `change`, when it names an account, an id and a version (otherwise the
    /// change bypasses the ledger: nothing to compare).
    pub fn of(change: &RecordChange<'_>) -> Option<VersionKey> {
        Some(VersionKey {
            connector: change.connector.to_owned(),
            account_id: change.account_id?.to_owned(),
            object: change.object.unwrap_or_default().to_owned(),
            record_id: change.id?.to_owned(),
            version: change.version?.to_owned(),
        })
    }
}

fn source_name(source: RecordSource) -> &'static str {
    match source {
        RecordSource::Webhook => "webhook",
        RecordSource::Reconciliation => "reconciliation",
    }
}

impl EventQueue {
    /// The queue row of `event`: sealed under a fresh data key, first attempt per the policy.
    fn sealed_row(&self, event: &Event) -> NewQueued {
        let body = event.to_body();
        let sealed = self.envelope().seal(&queue_aad(&event.id), &body);
        let now = self.clock().now_ms();
        let first = self
            .policy()
            .delay_before(0, &mut rand::rng())
            .unwrap_or_default();
        NewQueued {
            id: event.id.clone(),
            environment: event.environment.clone(),
            event_type: event.event_type.as_str().to_owned(),
            created_at: now,
            wrapped_key: sealed.wrapped_key,
            sealed: sealed.ciphertext,
            next_attempt_at: now + first.as_millis() as i64,
            expires_at: now + self.policy().pending_ttl().as_millis() as i64,
        }
    }
}

impl EventPublisher {
    /// Queues several `record.changed` events (a reconciliation page) with ONE ledger
    /// transaction: when this returns `Ok`, every result that says [`Published::Queued`] is
    /// durably queued and its version is in the ledger. Versions already in the ledger are
    /// skipped before anything is written (no claim-check object either). Results are in the
    /// order of `changes`.
    pub async fn record_changes(
        &self,
        changes: &[RecordChange<'_>],
    ) -> Result<Vec<Published>, PublishError> {
        let queue = self.queue();
        let store = queue.store();
        let mut results: Vec<Option<Published>> = vec![None; changes.len()];
        // Cheap read first: skip what the ledger already has (by account and object).
        let mut known: HashSet<(String, String)> = HashSet::new();
        let keys: Vec<Option<VersionKey>> = changes.iter().map(VersionKey::of).collect();
        if let Some(Some(first)) = keys.iter().find(|k| k.is_some()) {
            let same_scope = keys.iter().flatten().all(|k| {
                k.connector == first.connector
                    && k.account_id == first.account_id
                    && k.object == first.object
            });
            if same_scope {
                let ids: Vec<&str> = keys
                    .iter()
                    .flatten()
                    .map(|k| k.record_id.as_str())
                    .collect();
                known = store
                    .delivered_versions(&first.connector, &first.account_id, &first.object, &ids)
                    .await?;
            }
        }
        let mut ledgered: Vec<(usize, VersionKey, NewQueued)> = Vec::new();
        let mut source = "webhook";
        for (i, (change, key)) in changes.iter().zip(keys).enumerate() {
            if !queue.endpoints().contains_key(change.environment) {
                results[i] = Some(Published::NoEndpoint);
                continue;
            }
            if let Some(k) = &key
                && known.contains(&(k.record_id.clone(), k.version.clone()))
            {
                results[i] = Some(Published::AlreadyDelivered);
                continue;
            }
            let body = match &self.claims {
                Some(claims) if change.body.len() > self.inline_limit => {
                    claims.put(change.body).await?.to_json()
                }
                _ => match serde_json::from_slice::<Value>(change.body) {
                    Ok(v) => v,
                    // Not JSON (e.g. Slack's form posts): carried as a string.
                    Err(_) => Value::String(String::from_utf8_lossy(change.body).into_owned()),
                },
            };
            let data = record_changed_data(
                change.object,
                change.id,
                change.version,
                change.source,
                body,
            );
            let event = Event::new(
                EventType::RecordChanged,
                change.environment,
                change.connector,
                change.account_id.map(str::to_owned),
                data,
            );
            let row = queue.sealed_row(&event);
            match key {
                Some(k) => {
                    source = source_name(change.source);
                    ledgered.push((i, k, row));
                }
                None => {
                    store.enqueue(&row).await?;
                    results[i] = Some(Published::Queued { id: event.id });
                }
            }
        }
        if !ledgered.is_empty() {
            let now = queue.clock().now_ms();
            let (idx, items): (Vec<usize>, Vec<(VersionKey, NewQueued)>) = ledgered
                .into_iter()
                .map(|(i, k, row)| (i, (k, row)))
                .unzip();
            let queued = store.enqueue_new_versions(&items, source, now).await?;
            for ((i, (_, row)), q) in idx.into_iter().zip(items).zip(queued) {
                results[i] = Some(if q {
                    Published::Queued { id: row.id }
                } else {
                    Published::AlreadyDelivered
                });
            }
        }
        if results
            .iter()
            .any(|r| matches!(r, Some(Published::Queued { .. })))
        {
            queue.wake().notify_waiters();
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every change has a result"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, v: &str) -> VersionKey {
        VersionKey {
            connector: "crm".into(),
            account_id: "acc_1".into(),
            object: "contact".into(),
            record_id: id.into(),
            version: v.into(),
        }
    }

    fn row(id: &str) -> NewQueued {
        NewQueued {
            id: id.into(),
            environment: "production".into(),
            event_type: "record.changed".into(),
            created_at: 1,
            wrapped_key: vec![1],
            sealed: vec![2],
            next_attempt_at: 1,
            expires_at: 10_000,
        }
    }

    #[tokio::test]
    async fn a_version_is_enqueued_once_and_swept_after_retention() {
        let store = EventStore::connect("sqlite::memory:").await.unwrap();
        ledger_semantics(&store).await;
    }

    /// The same on PostgreSQL, in a fresh schema (dropped afterwards).
    #[tokio::test]
    async fn postgres_ledger_semantics() {
        let Ok(base) = std::env::var("TIDEGATE_TEST_DATABASE_URL") else {
            eprintln!(
                "SKIPPED: postgres_ledger_semantics needs PostgreSQL (set TIDEGATE_TEST_DATABASE_URL)"
            );
            return;
        };
        let schema = format!("tg_ledger_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let store = EventStore::connect(&url).await.unwrap();
        ledger_semantics(&store).await;
        rollback_semantics(&store).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&admin)
            .await
            .unwrap();
    }

    async fn ledger_semantics(store: &EventStore) {
        let first = store
            .enqueue_new_versions(
                &[(key("1", "a"), row("evt_1")), (key("2", "a"), row("evt_2"))],
                "webhook",
                1_000,
            )
            .await
            .unwrap();
        assert_eq!(first, vec![true, true]);
        // The same version again (other path): nothing queued; a new version is.
        let again = store
            .enqueue_new_versions(
                &[(key("1", "a"), row("evt_3")), (key("1", "b"), row("evt_4"))],
                "reconciliation",
                2_000,
            )
            .await
            .unwrap();
        assert_eq!(again, vec![false, true]);
        let ids: Vec<String> = store
            .rows()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ids, vec!["evt_1", "evt_2", "evt_4"]);

        let seen = store
            .delivered_versions("crm", "acc_1", "contact", &["1", "3"])
            .await
            .unwrap();
        assert_eq!(
            seen,
            HashSet::from([("1".into(), "a".into()), ("1".into(), "b".into())])
        );
        assert!(store.is_delivered(&key("2", "a")).await.unwrap());
        assert!(!store.is_delivered(&key("2", "b")).await.unwrap());
        // Other account: independent.
        let other = store
            .delivered_versions("crm", "acc_2", "contact", &["1"])
            .await
            .unwrap();
        assert!(other.is_empty());

        let swept = store
            .sweep_ledger(1_500 + 10, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(swept, 2, "the two rows of t=1000 are past retention");
        assert_eq!(
            store.ledger_len().await.unwrap(),
            1,
            "only (1, b) of t=2000 is left"
        );
    }

    #[tokio::test]
    async fn a_failed_transaction_leaves_neither_ledger_nor_queue_rows() {
        let store = EventStore::connect("sqlite::memory:").await.unwrap();
        rollback_semantics(&store).await;
    }

    async fn rollback_semantics(store: &EventStore) {
        // Duplicate queue id inside one batch: the second enqueue violates the primary key,
        // so the whole batch (ledger rows included) must roll back.
        let (ledger_before, rows_before) = (
            store.ledger_len().await.unwrap(),
            store.rows().await.unwrap(),
        );
        let err = store
            .enqueue_new_versions(
                &[(key("9", "z"), row("evt_x")), (key("8", "z"), row("evt_x"))],
                "reconciliation",
                1,
            )
            .await;
        assert!(err.is_err());
        assert_eq!(store.ledger_len().await.unwrap(), ledger_before);
        assert_eq!(store.rows().await.unwrap(), rows_before);
        assert!(!store.is_delivered(&key("9", "z")).await.unwrap());
    }
}
