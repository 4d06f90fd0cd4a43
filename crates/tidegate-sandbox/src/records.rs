//! A record store with a paged, updated-since list endpoint and change webhooks, for
//! reconciliation tests, the `sync_job` example and benchmarks.
//!
//! - `GET /v1/records?updated_since_ms=MS&after=TOKEN&limit=N` — records with
//!   `updatedAt >= updated_since_ms`, in id order, `limit` per page (default 100, max 10,000):
//!   `{ "results": [ { "id", "version", "updatedAt", "properties": {...} } ],
//!      "paging": { "next": { "after": "TOKEN" } } }` (`paging` is `null` on the last page).
//!   With [`RecordStore::rate_limit_every`] set, every Nth list request answers a HubSpot-style
//!   429 (`X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`, `errorType: RATE_LIMIT`).
//! - `POST /_sandbox/records/seed` `{ "n", "updated_at_ms"? }`, `POST /_sandbox/records/change`
//!   `{ "m" }` → `{ "changed", "webhooks_sent", "webhooks_dropped" }`.
//!
//! Each change can be announced by a Standard Webhooks-signed `record.updated` webhook to
//! the gateway's `/webhooks/{connector}/{account}` ([`RecordStore::webhooks`]), dropping a
//! chosen share of them — the webhooks a provider "loses" and reconciliation must find.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use tidegate_sandbox::{Sandbox, records::{self, RecordStore}};
//!
//! let store = RecordStore::new("CANARY-123");
//! store.seed(10_000, 0);
//! let sandbox = Sandbox::new().merge(records::router(store.clone()))
//!     .bind("127.0.0.1:0".parse().unwrap()).await?;
//! let changed = store.change(2_000, 1_000);
//! assert_eq!(changed.len(), 2_000);
//! # let _ = sandbox; Ok(()) }
//! ```

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderValue, StatusCode};
use rand::seq::SliceRandom;
use serde::Deserialize;

use crate::webhooks::{WebhookScheme, fire};

/// One stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `rec_0000001`-style id (sorts in creation order).
    pub id: String,
    /// Bumped on every change.
    pub version: u64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

/// Where change webhooks go.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    /// `http://gateway/webhooks/{connector}/{account}`.
    pub url: String,
    /// `whsec_...` Standard Webhooks secret.
    pub secret: String,
    /// Share of webhooks not sent, 0.0..=1.0.
    pub drop_share: f64,
}

/// What a change did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeReport {
    /// `(id, version)` of every changed record.
    pub changed: Vec<(String, String)>,
    /// Webhooks delivered with a 2xx.
    pub webhooks_sent: u64,
    /// Webhooks dropped on purpose.
    pub webhooks_dropped: u64,
    /// Webhooks the gateway did not accept (non-2xx or connection error).
    pub webhooks_failed: u64,
}

#[derive(Debug, Default)]
struct Inner {
    records: Vec<Record>,
    rate_limit_every: Option<u64>,
    rate_limit_interval_ms: u64,
    webhooks: Option<WebhookTarget>,
}

/// The shared record store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RecordStore {
    inner: Arc<Mutex<Inner>>,
    canary: Arc<str>,
    list_requests: Arc<AtomicU64>,
    rate_limited: Arc<AtomicU64>,
}

fn record_json(r: &Record, canary: &str) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "version": r.version.to_string(),
        "updatedAt": r.updated_at,
        "properties": { "name": format!("Record {}", r.id), "note": canary },
    })
}

impl RecordStore {
    /// An empty store; `canary` appears in every record body (for "no payload stored" scans).
    pub fn new(canary: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                rate_limit_interval_ms: 10_000,
                ..Inner::default()
            })),
            canary: canary.into(),
            list_requests: Arc::default(),
            rate_limited: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `n` records at version 1, updated at `updated_at_ms`.
    pub fn seed(&self, n: usize, updated_at_ms: i64) {
        let mut g = self.lock();
        let start = g.records.len();
        g.records.extend((start..start + n).map(|i| Record {
            id: format!("rec_{i:07}"),
            version: 1,
            updated_at: updated_at_ms,
        }));
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes `m` distinct records spread evenly over the store (version + 1, updated at
    /// `now_ms`); returns their new `(id, version)`. Sends no webhook (see
    /// [`RecordStore::change_and_notify`]).
    pub fn change(&self, m: usize, now_ms: i64) -> Vec<(String, String)> {
        let mut g = self.lock();
        let n = g.records.len();
        let m = m.min(n);
        let mut out = Vec::with_capacity(m);
        for k in 0..m {
            let i = k * n / m.max(1);
            let r = &mut g.records[i];
            r.version += 1;
            r.updated_at = now_ms;
            out.push((r.id.clone(), r.version.to_string()));
        }
        out
    }

    /// Every Nth list request answers a HubSpot-style 429 whose interval header says
    /// `interval_ms` (`None`: never).
    pub fn rate_limit_every(&self, n: Option<u64>, interval_ms: u64) {
        let mut g = self.lock();
        g.rate_limit_every = n.filter(|n| *n > 0);
        g.rate_limit_interval_ms = interval_ms;
    }

    /// Sends change webhooks to `target` (`None`: none).
    pub fn webhooks(&self, target: Option<WebhookTarget>) {
        self.lock().webhooks = target;
    }

    /// List requests served (429s included).
    pub fn list_requests(&self) -> u64 {
        self.list_requests.load(Ordering::Relaxed)
    }

    /// 429s answered.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// The webhook body announcing `(id, version)`.
    pub fn webhook_body(id: &str, version: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": format!("whk_{id}_{version}"),
            "type": "record.updated",
            "data": { "object": "record", "id": id, "version": version },
        }))
        .expect("json")
    }

    /// [`RecordStore::change`], then one signed webhook per change to the configured target,
    /// dropping `drop_share` of them (chosen at random), 16 in flight at a time.
    pub async fn change_and_notify(&self, m: usize, now_ms: i64) -> ChangeReport {
        let changed = self.change(m, now_ms);
        let mut report = ChangeReport {
            changed: changed.clone(),
            ..ChangeReport::default()
        };
        let Some(target) = self.lock().webhooks.clone() else {
            return report;
        };
        let mut order: Vec<usize> = (0..changed.len()).collect();
        order.shuffle(&mut rand::rng());
        let drop = ((changed.len() as f64) * target.drop_share.clamp(0.0, 1.0)).round() as usize;
        report.webhooks_dropped = drop as u64;
        let mut send: Vec<usize> = order[drop..].to_vec();
        send.sort_unstable();
        for chunk in send.chunks(16) {
            let results = futures_util::future::join_all(chunk.iter().map(|&i| {
                let (id, version) = &changed[i];
                let body = Self::webhook_body(id, version);
                let target = target.clone();
                async move {
                    fire(
                        &target.url,
                        WebhookScheme::StandardWebhooks,
                        &target.secret,
                        &body,
                        SystemTime::now(),
                    )
                    .await
                }
            }))
            .await;
            for r in results {
                match r {
                    Ok(s) if s.is_success() => report.webhooks_sent += 1,
                    _ => report.webhooks_failed += 1,
                }
            }
        }
        report
    }
}

#[derive(Deserialize)]
struct ListQuery {
    updated_since_ms: Option<i64>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn list(State(store): State<RecordStore>, Query(q): Query<ListQuery>) -> Response {
    let n = store.list_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let (every, interval) = {
        let g = store.lock();
        (g.rate_limit_every, g.rate_limit_interval_ms)
    };
    if every.is_some_and(|e| n.is_multiple_of(e)) {
        store.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(serde_json::json!({
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "category": "RATE_LIMITS",
                "policyName": "TEN_SECONDLY_ROLLING",
                "correlationId": format!("{n:08x}-sandbox"),
            })),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert("x-hubspot-ratelimit-max", HeaderValue::from_static("100"));
        h.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from_str(&interval.to_string()).expect("digits"),
        );
        return resp;
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let since = q.updated_since_ms.unwrap_or(i64::MIN);
    let page: Vec<serde_json::Value>;
    let next: Option<String>;
    {
        let g = store.lock();
        let start = match &q.after {
            // Ids sort in creation order: resume after the token's id.
            Some(after) => g
                .records
                .partition_point(|r| r.id.as_str() <= after.as_str()),
            None => 0,
        };
        let mut taken = Vec::with_capacity(limit);
        let mut last = None;
        let mut i = start;
        while i < g.records.len() && taken.len() < limit {
            let r = &g.records[i];
            if r.updated_at >= since {
                taken.push(record_json(r, &store.canary));
                last = Some(r.id.clone());
            }
            i += 1;
        }
        let more = g.records[i..].iter().any(|r| r.updated_at >= since);
        next = if more { last } else { None };
        page = taken;
    }
    let paging = match next {
        Some(after) => serde_json::json!({ "next": { "after": after } }),
        None => serde_json::Value::Null,
    };
    Json(serde_json::json!({ "results": page, "paging": paging })).into_response()
}

#[derive(Deserialize)]
struct SeedRequest {
    n: usize,
    updated_at_ms: Option<i64>,
}

async fn seed(State(store): State<RecordStore>, Json(req): Json<SeedRequest>) -> Response {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    store.seed(req.n, req.updated_at_ms.unwrap_or(now));
    Json(serde_json::json!({ "records": store.len() })).into_response()
}

#[derive(Deserialize)]
struct ChangeRequest {
    m: usize,
}

async fn change(State(store): State<RecordStore>, Json(req): Json<ChangeRequest>) -> Response {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let r = store.change_and_notify(req.m, now).await;
    Json(serde_json::json!({
        "changed": r.changed.len(),
        "webhooks_sent": r.webhooks_sent,
        "webhooks_dropped": r.webhooks_dropped,
        "webhooks_failed": r.webhooks_failed,
    }))
    .into_response()
}

/// `GET /v1/records`, `POST /_sandbox/records/seed`, `POST /_sandbox/records/change`.
pub fn router(store: RecordStore) -> Router {
    Router::new()
        .route("/v1/records", get(list))
        .route("/_sandbox/records/seed", post(seed))
        .route("/_sandbox/records/change", post(change))
        .with_state(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get_json(
        router: &Router,
        uri: &str,
    ) -> (StatusCode, serde_json::Value, http::HeaderMap) {
        let resp = router
            .clone()
            .oneshot(
                http::Request::get(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&body).unwrap(), headers)
    }

    #[tokio::test]
    async fn pages_filters_by_update_time_and_rate_limits() {
        let store = RecordStore::new("CANARY");
        store.seed(25, 1_000);
        let changed = store.change(5, 5_000);
        assert_eq!(changed.len(), 5);
        assert!(changed.iter().all(|(_, v)| v == "2"));
        let router = router(store.clone());
        // Everything, 10 per page: 3 pages.
        let mut after: Option<String> = None;
        let mut seen = 0;
        let mut pages = 0;
        loop {
            let uri = match &after {
                Some(a) => format!("/v1/records?limit=10&after={a}"),
                None => "/v1/records?limit=10".into(),
            };
            let (s, body, _) = get_json(&router, &uri).await;
            assert_eq!(s, 200);
            pages += 1;
            seen += body["results"].as_array().unwrap().len();
            assert_eq!(body["results"][0]["properties"]["note"], "CANARY");
            match body["paging"]["next"]["after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => break,
            }
        }
        assert_eq!((seen, pages), (25, 3));
        // Only the changed ones.
        let (_, body, _) = get_json(&router, "/v1/records?updated_since_ms=5000&limit=100").await;
        let ids: Vec<&str> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            changed.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>()
        );
        assert!(body["paging"].is_null());

        store.rate_limit_every(Some(2), 1_000);
        let before = store.list_requests();
        let (s1, _, _) = get_json(&router, "/v1/records?limit=1").await;
        let (s2, b2, h2) = get_json(&router, "/v1/records?limit=1").await;
        let ok_then_limited = if (before + 1).is_multiple_of(2) {
            (s2, s1)
        } else {
            (s1, s2)
        };
        assert_eq!(
            ok_then_limited,
            (StatusCode::OK, StatusCode::TOO_MANY_REQUESTS)
        );
        if s2 == 429 {
            assert_eq!(b2["errorType"], "RATE_LIMIT");
            assert_eq!(h2["x-hubspot-ratelimit-interval-milliseconds"], "1000");
        }
        assert_eq!(store.rate_limited(), 1);
    }
}
