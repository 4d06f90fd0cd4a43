//! Crash: the reconciler is killed mid-run (its task aborted after K pages); the next run,
//! built afresh over the same database, resumes from the committed page and completes with no
//! miss and no duplicate at the receiver.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tidegate_reconcile::{NoProgress, PageProgress, Progress};
use tokio::sync::Notify;

use crate::support::*;

struct AfterPages {
    k: u64,
    pages: AtomicU64,
    reached: Arc<Notify>,
}

impl Progress for AfterPages {
    fn page(&self, p: &PageProgress) {
        self.pages.store(p.pages, Ordering::SeqCst);
        if p.pages == self.k {
            self.reached.notify_one();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_without_loss_or_duplicate() {
    let h = Harness::start(100, "5m").await;
    h.records.seed(3_000, now_ms() - 60_000);
    let r = h.reconciler(fast_options()).await;

    let reached = Arc::new(Notify::new());
    let progress = Arc::new(AfterPages {
        k: 7,
        pages: AtomicU64::new(0),
        reached: reached.clone(),
    });
    let task = {
        let r = r.clone();
        let progress = progress.clone();
        tokio::spawn(async move { r.run("crm", ACCOUNT, &*progress).await })
    };
    reached.notified().await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled(), "killed mid-run");
    let killed_at = progress.pages.load(Ordering::SeqCst);
    assert!(
        killed_at < 30,
        "killed before the end (at page {killed_at} of 30)"
    );

    // What a new process finds: a run in progress, cursor on a later page.
    let state = r.state().load("crm", ACCOUNT, "record").await.unwrap();
    let run = state.run.expect("the interrupted run is remembered");
    assert!(run.pages >= 7 && run.next_page.is_some(), "{run:?}");
    drop(r);

    // Restart ("the next process") and complete.
    let r2 = h.reconciler(fast_options()).await;
    let report = r2.run("crm", ACCOUNT, &NoProgress).await.unwrap();
    assert!(report.resumed);
    assert_eq!(
        report.scanned, 3_000,
        "the resumed run counts the pages before the kill"
    );
    assert_eq!(report.pages, 30);
    h.receiver.wait_for(3_000).await;
    let (by_version, by_source) = h.tally();
    assert_eq!(by_version.len(), 3_000, "no miss");
    let dups: Vec<_> = by_version.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "no duplicate: {dups:?}");
    assert_eq!(by_source.get("reconciliation"), Some(&3_000));
    let after = r2.state().load("crm", ACCOUNT, "record").await.unwrap();
    assert!(after.run.is_none());
    assert_eq!(
        after.hwm,
        Some(run.started_at),
        "hwm = start of the (resumed) run"
    );
    h.stop();
}
