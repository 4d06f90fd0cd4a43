//! The delivery policy: retry schedule with ±20% jitter, per-attempt timeout, `Retry-After`
//! cap, and the dead-letter TTL (capped at 24 h). Pure functions, unit-tested without time.

use std::time::Duration;

use rand::Rng;

/// The longest a dead letter may be kept (CONTRACT §2: max 24h).
pub const MAX_DEAD_LETTER_TTL: Duration = Duration::from_secs(24 * 3600);

/// How events are retried and for how long they are kept.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryPolicy {
    /// Delay before each attempt (index 0 = the first attempt), each jittered ±`jitter`.
    pub schedule: Vec<Duration>,
    /// Per-attempt HTTP timeout.
    pub timeout: Duration,
    /// How long a dead letter is kept after the last attempt (capped at 24 h).
    pub dead_letter_ttl: Duration,
    /// The longest `Retry-After` honoured; longer values are cut to this.
    pub retry_after_cap: Duration,
    /// Jitter fraction (0.2 = ±20%).
    pub jitter: f64,
    /// How long a claimed row stays leased to a worker before another may take it.
    pub lease: Duration,
    /// Rows claimed per worker round.
    pub batch: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            schedule: vec![s(0), s(5), s(30), s(120), s(300), s(900), s(1800)],
            timeout: s(15),
            dead_letter_ttl: s(3600),
            retry_after_cap: s(600),
            jitter: 0.2,
            lease: s(45),
            batch: 32,
        }
    }
}

impl DeliveryPolicy {
    /// From the `[events]` values (schedule, timeout, dead-letter TTL); other fields default.
    /// An empty schedule means one immediate attempt.
    pub fn new(schedule: Vec<Duration>, timeout: Duration, dead_letter_ttl: Duration) -> Self {
        let schedule = if schedule.is_empty() {
            vec![Duration::ZERO]
        } else {
            schedule
        };
        Self {
            lease: timeout + Duration::from_secs(30),
            schedule,
            timeout,
            dead_letter_ttl: dead_letter_ttl.min(MAX_DEAD_LETTER_TTL),
            ..Self::default()
        }
    }

    /// Number of attempts before an event is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.schedule.len() as u32
    }

    /// The jittered delay before attempt `index` (0-based), or `None` when there is none left.
    pub fn delay_before(&self, index: u32, rng: &mut impl Rng) -> Option<Duration> {
        let base = *self.schedule.get(index as usize)?;
        Some(jittered(base, self.jitter, rng))
    }

    /// The delay before the next attempt after a failure that may carry a `Retry-After`:
    /// the later of the jittered schedule and the (capped) `Retry-After`.
    pub fn next_delay(
        &self,
        next_index: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let scheduled = self.delay_before(next_index, rng)?;
        Some(match retry_after {
            Some(ra) => scheduled.max(ra.min(self.retry_after_cap)),
            None => scheduled,
        })
    }

    /// Safety TTL of a pending row: long enough for every attempt with maximal jitter,
    /// `Retry-After` and timeouts, plus the dead-letter TTL. A row still pending after this
    /// (no worker ran for that long) is deleted by the sweeper: nothing is kept indefinitely.
    pub fn pending_ttl(&self) -> Duration {
        let total: Duration = self.schedule.iter().sum();
        let n = self.schedule.len() as u32;
        total.mul_f64(1.0 + self.jitter)
            + (self.retry_after_cap + self.timeout + self.lease) * n
            + self.dead_letter_ttl
    }
}

/// `base` scaled by a uniform factor in `[1 - jitter, 1 + jitter]`.
pub fn jittered(base: Duration, jitter: f64, rng: &mut impl Rng) -> Duration {
    if base.is_zero() || jitter <= 0.0 {
        return base;
    }
    let f = rng.random_range((1.0 - jitter)..=(1.0 + jitter));
    base.mul_f64(f)
}

/// Parses `Retry-After`: delta-seconds (integer or decimal, rounded up) or an HTTP-date
/// relative to `now`. Negative or unparsable values give `None`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(f) = v.parse::<f64>() {
        return (f.is_finite() && f >= 0.0).then(|| Duration::from_secs(f.ceil() as u64));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_secs(100);
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for _ in 0..10_000 {
            let d = jittered(base, 0.2, &mut rng);
            assert!(
                d >= Duration::from_secs(80) && d <= Duration::from_secs(120),
                "{d:?}"
            );
            lo = lo.min(d);
            hi = hi.max(d);
        }
        // It really jitters (not a constant), across most of the band.
        assert!(lo < Duration::from_secs(82) && hi > Duration::from_secs(118));
        assert_eq!(jittered(Duration::ZERO, 0.2, &mut rng), Duration::ZERO);
    }

    #[test]
    fn schedule_runs_out_and_retry_after_is_capped() {
        let p = DeliveryPolicy::new(
            vec![Duration::ZERO, Duration::from_secs(5)],
            Duration::from_secs(15),
            Duration::from_secs(48 * 3600),
        );
        assert_eq!(p.dead_letter_ttl, MAX_DEAD_LETTER_TTL, "TTL capped at 24h");
        assert_eq!(p.max_attempts(), 2);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(p.next_delay(2, None, &mut rng).is_none());
        let d = p
            .next_delay(1, Some(Duration::from_secs(60)), &mut rng)
            .unwrap();
        assert_eq!(
            d,
            Duration::from_secs(60),
            "Retry-After beats a shorter schedule"
        );
        let d = p
            .next_delay(1, Some(Duration::from_secs(86_400)), &mut rng)
            .unwrap();
        assert_eq!(d, p.retry_after_cap, "absurd Retry-After is capped");
        let d = p
            .next_delay(1, Some(Duration::from_secs(1)), &mut rng)
            .unwrap();
        assert!(
            d >= Duration::from_secs(4),
            "schedule beats a shorter Retry-After"
        );
        assert!(p.pending_ttl() > p.dead_letter_ttl);
    }

    #[test]
    fn retry_after_forms() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("2.1", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(0))
        );
        let earlier = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_700);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", earlier),
            Some(Duration::from_secs(77))
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
