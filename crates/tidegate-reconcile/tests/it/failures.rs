//! Rate limits and failures: 429s with HubSpot-style headers every N pages slow the run down
//! by the normalized reset and it still completes; a persistent upstream error fails the run
//! with its cause, keeps the cursor, and the next run completes.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tidegate_reconcile::{NoProgress, PageProgress, Progress, RunError};
use tidegate_sandbox::Script;

use crate::support::*;

#[derive(Default)]
struct Waits(Mutex<Vec<(String, Duration)>>, Mutex<u64>);

impl Progress for Waits {
    fn page(&self, p: &PageProgress) {
        *self.1.lock().unwrap() = p.pages;
    }
    fn waiting(&self, why: &str, d: Duration) {
        self.0.lock().unwrap().push((why.to_owned(), d));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_pages_wait_for_the_reset_and_the_run_completes() {
    let h = Harness::start(100, "5m").await;
    h.records.seed(1_000, now_ms() - 60_000);
    // Every 4th list request: 429, interval 1000 ms → RateLimit-Reset / Retry-After: 1 s.
    h.records.rate_limit_every(Some(4), 1_000);
    let r = h.reconciler(fast_options()).await;
    let waits = Arc::new(Waits::default());
    let report = r.run("crm", ACCOUNT, &*waits).await.unwrap();
    assert_eq!(
        (report.scanned, report.missed, report.delivered),
        (1_000, 1_000, 1_000)
    );
    let limited = h.records.rate_limited();
    assert!(limited >= 3, "the sandbox answered 429 {limited} times");
    assert_eq!(u64::from(report.waits), limited, "one wait per 429");
    let seen = waits.0.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, limited);
    assert!(
        seen.iter()
            .all(|(why, d)| why == "rate_limited" && *d == Duration::from_secs(1)),
        "each wait follows the normalized reset: {seen:?}"
    );
    h.receiver.wait_for(1_000).await;
    let (by_version, _) = h.tally();
    assert_eq!(by_version.len(), 1_000);
    assert!(by_version.values().all(|n| *n == 1));
    h.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_fails_the_run_with_its_cause_and_keeps_the_cursor() {
    let h = Harness::start(100, "5m").await;
    h.records.seed(300, now_ms() - 60_000);
    let r = h.reconciler(fast_options()).await;
    h.sandbox
        .script("/v1/records", Script::statuses("500").unwrap());
    let err = r.run("crm", ACCOUNT, &NoProgress).await.unwrap_err();
    match &err {
        RunError::Upstream { code, status, .. } => {
            assert_eq!(code, "upstream_server_error");
            assert_eq!(*status, Some(500));
        }
        other => panic!("unexpected {other:?}"),
    }
    // 1 attempt + 2 retries, and nothing announced.
    assert_eq!(h.sandbox.counters().get("/v1/records"), 3);
    let status = r.status().await.unwrap();
    assert_eq!(status[0].state, "failed");
    assert!(
        status[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("upstream_server_error")
    );
    let st = r.state().load("crm", ACCOUNT, "record").await.unwrap();
    assert!(
        st.hwm.is_none() && st.run.is_some(),
        "the cursor stays where it was"
    );

    h.sandbox.clear_scripts();
    let report = r.run("crm", ACCOUNT, &NoProgress).await.unwrap();
    assert!(report.resumed);
    assert_eq!(report.missed, 300);

    // Unknown account and unknown connector are clear errors.
    assert!(matches!(
        r.run("crm", "acc_404", &NoProgress).await,
        Err(RunError::UnknownAccount(_))
    ));
    assert!(matches!(
        r.run("nope", ACCOUNT, &NoProgress).await,
        Err(RunError::UnknownConnector(_))
    ));
    h.stop();
}
