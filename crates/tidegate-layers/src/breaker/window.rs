//! Sliding windows for the rate modes, as rings of atomic counters (no lock).
//!
//! Under concurrent updates the totals are approximate by at most the calls in flight at a
//! bucket rollover or reset; exactness there would need a lock on every call.

use std::{
    sync::atomic::{AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use tokio::time::Instant;

use super::FailureWindow;

/// The counts the rates are computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Totals {
    pub(super) calls: u64,
    pub(super) failures: u64,
    pub(super) slow: u64,
}

pub(super) enum Window {
    Calls(CallWindow),
    Time(TimeWindow),
}

impl Window {
    pub(super) fn new(kind: FailureWindow) -> Self {
        match kind {
            FailureWindow::Calls(n) => Window::Calls(CallWindow::new(n.max(1) as usize)),
            FailureWindow::Time(period) => Window::Time(TimeWindow::new(period)),
        }
    }

    pub(super) fn record(&self, base: Instant, failure: bool, slow: bool) -> Totals {
        match self {
            Window::Calls(w) => w.record(failure, slow),
            Window::Time(w) => w.record(base, failure, slow),
        }
    }

    pub(super) fn reset(&self) {
        match self {
            Window::Calls(w) => w.reset(),
            Window::Time(w) => w.reset(),
        }
    }
}

const FAILURE: u8 = 0b10;
const SLOW: u8 = 0b100;
const USED: u8 = 0b1;

/// The last N calls: one byte per slot (outcome flags); the running failure and slow counts
/// are adjusted by the difference between the outcome written and the one it overwrote.
pub(super) struct CallWindow {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl CallWindow {
    fn new(size: usize) -> Self {
        Self {
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    fn record(&self, failure: bool, slow: bool) -> Totals {
        let seq = self.next.fetch_add(1, Ordering::AcqRel);
        let flags = USED | if failure { FAILURE } else { 0 } | if slow { SLOW } else { 0 };
        let slot = &self.slots[(seq % self.slots.len() as u64) as usize];
        let old = slot.swap(flags, Ordering::AcqRel);
        let delta = |bit: u8| i64::from(flags & bit != 0) - i64::from(old & bit != 0);
        let (df, ds) = (delta(FAILURE), delta(SLOW));
        let failures = if df != 0 {
            self.failures.fetch_add(df, Ordering::AcqRel) + df
        } else {
            self.failures.load(Ordering::Acquire)
        };
        let slow_calls = if ds != 0 {
            self.slow.fetch_add(ds, Ordering::AcqRel) + ds
        } else {
            self.slow.load(Ordering::Acquire)
        };
        Totals {
            calls: (seq + 1).min(self.slots.len() as u64),
            failures: failures.max(0) as u64,
            slow: slow_calls.max(0) as u64,
        }
    }

    fn reset(&self) {
        for slot in self.slots.iter() {
            slot.store(0, Ordering::Relaxed);
        }
        self.failures.store(0, Ordering::Relaxed);
        self.slow.store(0, Ordering::Relaxed);
        self.next.store(0, Ordering::Release);
    }
}

const BUCKETS: u64 = 10;

struct Bucket {
    /// Which bucket-length period (counted from `base`, plus one) these counts belong to;
    /// 0 = empty.
    epoch: AtomicU64,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

/// The calls of the last period, in 10 buckets of a tenth of it each.
pub(super) struct TimeWindow {
    buckets: Box<[Bucket]>,
    bucket_nanos: u64,
}

impl TimeWindow {
    fn new(period: Duration) -> Self {
        let bucket_nanos = (period.as_nanos() as u64 / BUCKETS).max(1_000_000);
        Self {
            buckets: (0..BUCKETS)
                .map(|_| Bucket {
                    epoch: AtomicU64::new(0),
                    calls: AtomicU32::new(0),
                    failures: AtomicU32::new(0),
                    slow: AtomicU32::new(0),
                })
                .collect(),
            bucket_nanos,
        }
    }

    fn record(&self, base: Instant, failure: bool, slow: bool) -> Totals {
        let epoch = Instant::now().saturating_duration_since(base).as_nanos() as u64
            / self.bucket_nanos
            + 1;
        let bucket = &self.buckets[(epoch % BUCKETS) as usize];
        let seen = bucket.epoch.load(Ordering::Acquire);
        if seen < epoch
            && bucket
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            bucket.calls.store(0, Ordering::Relaxed);
            bucket.failures.store(0, Ordering::Relaxed);
            bucket.slow.store(0, Ordering::Relaxed);
        }
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        if failure {
            bucket.failures.fetch_add(1, Ordering::Relaxed);
        }
        if slow {
            bucket.slow.fetch_add(1, Ordering::Relaxed);
        }
        if !failure && !slow {
            // Rates only rise on a failure or a slow call: a success needs no totals.
            return Totals {
                calls: 0,
                failures: 0,
                slow: 0,
            };
        }
        let oldest = epoch.saturating_sub(BUCKETS - 1).max(1);
        let mut totals = Totals {
            calls: 0,
            failures: 0,
            slow: 0,
        };
        for bucket in self.buckets.iter() {
            let e = bucket.epoch.load(Ordering::Acquire);
            if (oldest..=epoch).contains(&e) {
                totals.calls += u64::from(bucket.calls.load(Ordering::Relaxed));
                totals.failures += u64::from(bucket.failures.load(Ordering::Relaxed));
                totals.slow += u64::from(bucket.slow.load(Ordering::Relaxed));
            }
        }
        totals
    }

    fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.epoch.store(0, Ordering::Release);
        }
    }
}
