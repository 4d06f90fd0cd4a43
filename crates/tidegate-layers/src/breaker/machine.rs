//! The breaker's state machine: one packed atomic word, transitions by compare-and-swap.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{BreakerSettings, Outcome, window::Window};

/// Closed, open or half-open, as shown by `/admin/breakers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow; failures are counted.
    Closed,
    /// Calls are refused until `open_for` has passed.
    Open,
    /// A few probes test whether the upstream recovered.
    HalfOpen,
}

impl BreakerState {
    /// The wire name (`closed`, `open`, `half_open`).
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

// The packed word: | generation (30 bits) | probe successes (16) | probes available (16) | state (2) |
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const STATE_MASK: u64 = 0b11;
const AVAIL_SHIFT: u32 = 2;
const SUCC_SHIFT: u32 = 18;
const GEN_SHIFT: u32 = 34;
const FIELD_MASK: u64 = 0xFFFF;

#[inline]
fn pack(state: u64, avail: u64, successes: u64, generation: u64) -> u64 {
    state
        | (avail & FIELD_MASK) << AVAIL_SHIFT
        | (successes & FIELD_MASK) << SUCC_SHIFT
        | generation << GEN_SHIFT
}
#[inline]
fn state_of(word: u64) -> u64 {
    word & STATE_MASK
}
#[inline]
fn avail_of(word: u64) -> u64 {
    (word >> AVAIL_SHIFT) & FIELD_MASK
}
#[inline]
fn successes_of(word: u64) -> u64 {
    (word >> SUCC_SHIFT) & FIELD_MASK
}
#[inline]
fn generation_of(word: u64) -> u64 {
    word >> GEN_SHIFT
}
#[inline]
fn next_generation(word: u64) -> u64 {
    (generation_of(word) + 1) & ((1 << (64 - GEN_SHIFT)) - 1)
}

// `open_until` packs the instant (ms since `base`) with the low bits of the generation it
// belongs to, so a reader never pairs an open state with a stale instant.
const UNTIL_GEN_BITS: u32 = 20;
const UNTIL_GEN_MASK: u64 = (1 << UNTIL_GEN_BITS) - 1;

/// While half-open with every probe taken, callers are told to come back this soon.
const HALF_OPEN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One circuit breaker (one upstream key). Shared by every clone of the service.
///
/// Breakers live as long as the process: the registry never drops one (a key's breaker must
/// survive stack rebuilds), so it hands out `&'static Breaker` and a call's permit borrows it
/// instead of cloning an `Arc`. That keeps the closed path free of refcount writes, which
/// would otherwise bounce one cache line between every thread calling the same upstream.
pub struct Breaker {
    connector: Arc<str>,
    key: Arc<str>,
    settings: Arc<BreakerSettings>,
    base: Instant,
    word: AtomicU64,
    consecutive: AtomicU32,
    open_until: AtomicU64,
    opened_count: AtomicU64,
    consecutive_opens: AtomicU32,
    window: Option<Window>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("key", &self.key)
            .field("state", &self.state())
            .field("consecutive_failures", &self.consecutive_failures())
            .finish()
    }
}

/// The admission of one call. Report its outcome with [`Permit::record`]; dropping it
/// unrecorded (a cancelled call) hands a half-open probe back.
#[derive(Debug)]
pub struct Permit {
    breaker: &'static Breaker,
    generation: u64,
    probe: bool,
    settled: bool,
}

impl Permit {
    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The breaker that admitted the call.
    pub fn breaker(&self) -> &'static Breaker {
        self.breaker
    }

    /// Reports how the call went.
    pub fn record(mut self, outcome: Outcome, slow: bool) {
        self.settled = true;
        if self.probe {
            self.breaker.record_probe(self.generation, outcome);
        } else {
            self.breaker.record_closed(self.generation, outcome, slow);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            self.breaker.release_probe(self.generation);
        }
    }
}

impl Breaker {
    /// A closed breaker for `key` of `connector` (published as closed to the metrics).
    pub fn new(connector: Arc<str>, key: Arc<str>, settings: Arc<BreakerSettings>) -> Self {
        let window = settings.uses_window().then(|| Window::new(settings.window));
        let breaker = Self {
            connector,
            key,
            base: Instant::now(),
            word: AtomicU64::new(pack(CLOSED, 0, 0, 0)),
            consecutive: AtomicU32::new(0),
            open_until: AtomicU64::new(u64::MAX),
            opened_count: AtomicU64::new(0),
            consecutive_opens: AtomicU32::new(0),
            window,
            settings,
        };
        breaker.publish(BreakerState::Closed);
        breaker
    }

    /// The connector this breaker guards.
    pub fn connector(&self) -> &Arc<str> {
        &self.connector
    }

    /// Its key: the connector, or `connector/account`.
    pub fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// Its settings.
    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    /// The current state (an open breaker whose time is up still reads `open` until the next
    /// call turns it half-open).
    pub fn state(&self) -> BreakerState {
        match state_of(self.word.load(Ordering::Acquire)) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Ordering::Relaxed)
    }

    /// How many times the breaker has opened since it was created.
    pub fn opened_count(&self) -> u64 {
        self.opened_count.load(Ordering::Relaxed)
    }

    /// How long callers should wait before retrying (zero unless open or saturated half-open).
    pub fn retry_after(&self) -> Duration {
        let word = self.word.load(Ordering::Acquire);
        match state_of(word) {
            OPEN => match self.open_until_of(generation_of(word)) {
                Some(until) => until.saturating_duration_since(Instant::now()),
                None => self.settings.open_for,
            },
            HALF_OPEN if avail_of(word) == 0 => HALF_OPEN_RETRY_AFTER,
            _ => Duration::ZERO,
        }
    }

    /// Admits a call, or refuses it with the time after which a retry may be admitted.
    #[inline]
    pub fn try_acquire(&'static self) -> Result<Permit, Duration> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            match state_of(word) {
                CLOSED => return Ok(self.permit(generation_of(word), false)),
                OPEN => {
                    let generation = generation_of(word);
                    let Some(until) = self.open_until_of(generation) else {
                        // The opener has not published the instant yet: a few ns old.
                        return Err(self.settings.open_for);
                    };
                    let now = Instant::now();
                    if now < until {
                        return Err(until - now);
                    }
                    // Time is up: turn half-open, taking the first probe in the same swap.
                    let probes = u64::from(self.settings.half_open_probes.max(1));
                    let half_open = pack(HALF_OPEN, probes - 1, 0, next_generation(word));
                    match self.word.compare_exchange(
                        word,
                        half_open,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            tracing::info!(breaker = %self.key, "circuit half-open; probing");
                            self.publish(BreakerState::HalfOpen);
                            return Ok(self.permit(generation_of(half_open), true));
                        }
                        Err(actual) => word = actual,
                    }
                }
                _ => {
                    if avail_of(word) == 0 {
                        return Err(HALF_OPEN_RETRY_AFTER);
                    }
                    let taken = word - (1 << AVAIL_SHIFT);
                    match self.word.compare_exchange(
                        word,
                        taken,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(self.permit(generation_of(word), true)),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// Publishes a state change to the `tidegate_breaker_state{connector}` gauge. Only the
    /// connector-level breaker does: metric labels never carry account ids (account-scoped
    /// breakers are listed by `/admin/breakers` instead).
    fn publish(&self, state: BreakerState) {
        if *self.key == *self.connector {
            use tidegate_observe::metrics::{self, BreakerState as Gauge};
            let gauge = match state {
                BreakerState::Closed => Gauge::Closed,
                BreakerState::Open => Gauge::Open,
                BreakerState::HalfOpen => Gauge::HalfOpen,
            };
            metrics::breaker_state(&self.connector, gauge);
        }
    }

    #[inline]
    fn permit(&'static self, generation: u64, probe: bool) -> Permit {
        Permit {
            breaker: self,
            generation,
            probe,
            settled: false,
        }
    }

    fn open_until_of(&self, generation: u64) -> Option<Instant> {
        let packed = self.open_until.load(Ordering::Acquire);
        (packed & UNTIL_GEN_MASK == generation & UNTIL_GEN_MASK)
            .then(|| self.base + Duration::from_millis(packed >> UNTIL_GEN_BITS))
    }

    /// The outcome of a call admitted while closed.
    #[inline]
    fn record_closed(&self, generation: u64, outcome: Outcome, slow: bool) {
        let word = self.word.load(Ordering::Acquire);
        if state_of(word) != CLOSED || generation_of(word) != generation {
            return; // admitted under an older closed period: it says nothing about this one
        }
        match outcome {
            Outcome::Ignored => {}
            Outcome::Success => {
                if self.consecutive.load(Ordering::Relaxed) != 0 {
                    self.consecutive.store(0, Ordering::Relaxed);
                }
                if let Some(window) = &self.window {
                    let totals = window.record(self.base, false, slow);
                    if slow && let Some(reason) = self.rate_exceeded(totals) {
                        self.trip(word, reason);
                    }
                }
            }
            Outcome::Failure => {
                let in_a_row = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(threshold) = self.settings.consecutive_failures
                    && in_a_row >= threshold
                {
                    self.trip(word, "consecutive failures");
                    return;
                }
                if let Some(window) = &self.window {
                    let totals = window.record(self.base, true, slow);
                    if let Some(reason) = self.rate_exceeded(totals) {
                        self.trip(word, reason);
                    }
                }
            }
        }
    }

    fn rate_exceeded(&self, totals: super::window::Totals) -> Option<&'static str> {
        if totals.calls < u64::from(self.settings.min_calls.max(1)) {
            return None;
        }
        let calls = totals.calls as f64;
        if let Some(rate) = self.settings.failure_rate
            && totals.failures as f64 / calls >= rate
        {
            return Some("failure rate");
        }
        if let Some(rate) = self.settings.slow_call_rate
            && totals.slow as f64 / calls >= rate
        {
            return Some("slow-call rate");
        }
        None
    }

    /// The outcome of a half-open probe.
    fn record_probe(&self, generation: u64, outcome: Outcome) {
        match outcome {
            Outcome::Ignored => self.release_probe(generation),
            Outcome::Failure => {
                let word = self.word.load(Ordering::Acquire);
                if state_of(word) == HALF_OPEN && generation_of(word) == generation {
                    self.trip(word, "half-open probe failed");
                }
            }
            Outcome::Success => {
                let probes = u64::from(self.settings.half_open_probes.max(1));
                let mut word = self.word.load(Ordering::Acquire);
                loop {
                    if state_of(word) != HALF_OPEN || generation_of(word) != generation {
                        return;
                    }
                    let successes = successes_of(word) + 1;
                    let next = if successes >= probes {
                        // Fresh counters for the new closed period, before it is published.
                        self.consecutive.store(0, Ordering::Relaxed);
                        if let Some(window) = &self.window {
                            window.reset();
                        }
                        pack(CLOSED, 0, 0, next_generation(word))
                    } else {
                        pack(HALF_OPEN, avail_of(word), successes, generation)
                    };
                    match self.word.compare_exchange(
                        word,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            if state_of(next) == CLOSED {
                                self.consecutive_opens.store(0, Ordering::Relaxed);
                                tracing::info!(breaker = %self.key, "circuit closed");
                                self.publish(BreakerState::Closed);
                            }
                            return;
                        }
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// Hands an unused probe back (a cancelled or inconclusive probe).
    fn release_probe(&self, generation: u64) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if state_of(word) != HALF_OPEN || generation_of(word) != generation {
                return;
            }
            let released = word + (1 << AVAIL_SHIFT);
            match self
                .word
                .compare_exchange(word, released, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Opens the breaker if it is still in the state `from` (one caller wins the swap).
    fn trip(&self, from: u64, reason: &'static str) {
        let generation = next_generation(from);
        if self
            .word
            .compare_exchange(
                from,
                pack(OPEN, 0, 0, generation),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return;
        }
        let opens = self.consecutive_opens.fetch_add(1, Ordering::Relaxed) + 1;
        let open_for = self.open_period(opens);
        let until = Instant::now() + open_for;
        let millis = until.saturating_duration_since(self.base).as_millis() as u64;
        self.open_until.store(
            (millis << UNTIL_GEN_BITS) | (generation & UNTIL_GEN_MASK),
            Ordering::Release,
        );
        self.opened_count.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            breaker = %self.key,
            reason,
            open_for_ms = open_for.as_millis() as u64,
            consecutive_failures = self.consecutive.load(Ordering::Relaxed),
            "circuit opened"
        );
        self.publish(BreakerState::Open);
    }

    /// `open_for`, doubled per consecutive opening up to `max_open_for`, jittered.
    fn open_period(&self, opens: u32) -> Duration {
        let settings = &self.settings;
        let mut period = settings.open_for;
        if let Some(max) = settings.max_open_for {
            let doublings = opens.saturating_sub(1).min(20);
            period = period.saturating_mul(1 << doublings).min(max);
        }
        if settings.open_jitter > 0.0 {
            let spread = settings.open_jitter.min(1.0);
            let factor = 1.0 + spread * (2.0 * rand::random::<f64>() - 1.0);
            period = period.mul_f64(factor);
            if let Some(max) = settings.max_open_for {
                period = period.min(max);
            }
        }
        period
    }
}
