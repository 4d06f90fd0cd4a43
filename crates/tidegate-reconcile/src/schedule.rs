//! When `serve` runs an account's reconciliation: `every = "24h"` (first run one `every` after
//! the account was created or the gateway started, whichever is later, jittered up to 10%) or
//! a five-field cron expression in UTC (`minute hour day-of-month month day-of-week`, with `*`,
//! lists, ranges and `/step`; day-of-week 0–7, Sunday = 0 or 7; when both day fields are
//! restricted a day matching either runs, as in Vixie cron).

use std::time::Duration;

use time::OffsetDateTime;

/// A reconciliation schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// A fixed period.
    Every(Duration),
    /// A cron expression.
    Cron(Cron),
}

impl Schedule {
    /// Parses a cron expression.
    pub fn cron(expr: &str) -> Result<Schedule, String> {
        Cron::parse(expr).map(Schedule::Cron)
    }

    /// The next run after `now_ms` for a cursor whose anchor (account creation or gateway start,
    /// or the previous scheduled run) is `anchor_ms`; `jitter` in [0, 1) scales the up-to-10%
    /// delay of `Every`.
    pub fn next_after(&self, anchor_ms: i64, now_ms: i64, jitter: f64) -> i64 {
        match self {
            Schedule::Every(every) => {
                let every_ms = every.as_millis().max(1) as i64;
                let jitter_ms = (every_ms as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64;
                let mut at = anchor_ms + every_ms;
                if at < now_ms {
                    // Missed slots (gateway down): run once soon, not once per missed slot.
                    let behind = (now_ms - at) / every_ms + 1;
                    at += behind * every_ms;
                }
                at + jitter_ms
            }
            Schedule::Cron(c) => c.next_after(now_ms.max(anchor_ms)),
        }
    }
}

/// A parsed five-field cron expression (UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_star: bool,
    weekdays_star: bool,
}

fn field(src: &str, min: u32, max: u32, name: &str) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in src.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{name}: bad step {s:?}"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a, name)?, num(b, name)?)
        } else {
            let v = num(range, name)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{name}: {part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, src == "*"))
}

fn num(s: &str, name: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("{name}: {s:?} is not a number"))
}

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week`.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let f: Vec<&str> = expr.split_whitespace().collect();
        if f.len() != 5 {
            return Err(format!(
                "{expr:?}: expected 5 fields (minute hour day-of-month month day-of-week)"
            ));
        }
        let (minutes, _) = field(f[0], 0, 59, "minute")?;
        let (hours, _) = field(f[1], 0, 23, "hour")?;
        let (days, days_star) = field(f[2], 1, 31, "day-of-month")?;
        let (months, _) = field(f[3], 1, 12, "month")?;
        let (mut weekdays, weekdays_star) = field(f[4], 0, 7, "day-of-week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_star,
            weekdays_star,
        })
    }

    fn day_matches(&self, t: OffsetDateTime) -> bool {
        let dom = self.days & (1 << t.day()) != 0;
        let dow = self.weekdays & (1 << t.weekday().number_days_from_sunday()) != 0;
        let month = self.months & (1 << u8::from(t.month())) != 0;
        month
            && match (self.days_star, self.weekdays_star) {
                (true, true) => true,
                (false, true) => dom,
                (true, false) => dow,
                (false, false) => dom || dow,
            }
    }

    /// The first matching minute strictly after `after_ms` (Unix ms); searches up to 5 years.
    pub fn next_after(&self, after_ms: i64) -> i64 {
        let start = after_ms.div_euclid(60_000) * 60 + 60;
        let Ok(mut t) = OffsetDateTime::from_unix_timestamp(start) else {
            return after_ms + 86_400_000;
        };
        let limit = t + time::Duration::days(5 * 366);
        while t < limit {
            if !self.day_matches(t) {
                // Jump to the next midnight.
                let midnight = t.replace_time(time::Time::MIDNIGHT);
                t = midnight + time::Duration::days(1);
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.replace_time(time::Time::MIDNIGHT)
                    + time::Duration::hours(i64::from(t.hour()) + 1);
                continue;
            }
            if self.minutes & (1 << t.minute()) != 0 {
                return t.unix_timestamp() * 1000;
            }
            t += time::Duration::minutes(1);
        }
        after_ms + 86_400_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn every_waits_one_period_after_the_anchor_with_bounded_jitter() {
        let s = Schedule::Every(Duration::from_secs(86_400));
        assert_eq!(s.next_after(0, 0, 0.0), DAY);
        assert_eq!(
            s.next_after(0, 0, 0.999_999),
            DAY + (DAY as f64 * 0.1 * 0.999_999) as i64
        );
        assert!(s.next_after(0, 0, 1.0) <= DAY + DAY / 10);
        // Three periods behind: one run at the next slot, not three.
        assert_eq!(s.next_after(0, 3 * DAY + 5, 0.0), 4 * DAY);
    }

    #[test]
    fn cron_next_occurrences() {
        // 2026-11-29 is a Sunday. 10:00:00Z = 1795946400.
        let sunday_10 = 1_795_946_400_000;
        let c = Cron::parse("30 2 * * *").unwrap();
        // next 02:30 after Sunday 10:00 is Monday 02:30.
        assert_eq!(
            c.next_after(sunday_10),
            sunday_10 + 16 * 3_600_000 + 30 * 60_000
        );
        let c = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(c.next_after(sunday_10), sunday_10 + 15 * 60_000);
        assert_eq!(c.next_after(sunday_10 + 1), sunday_10 + 15 * 60_000);
        // Weekdays only at 09:00: from Sunday 10:00 → Monday 09:00.
        let c = Cron::parse("0 9 * * 1-5").unwrap();
        assert_eq!(c.next_after(sunday_10), sunday_10 + 23 * 3_600_000);
        // Sunday as 7.
        let c = Cron::parse("0 11 * * 7").unwrap();
        assert_eq!(c.next_after(sunday_10), sunday_10 + 3_600_000);
        // Day-of-month OR day-of-week when both are restricted: 1st of month or Monday.
        let c = Cron::parse("0 0 1 * 1").unwrap();
        assert_eq!(c.next_after(sunday_10), sunday_10 + 14 * 3_600_000);
        for bad in [
            "* * * *",
            "60 * * * *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }
}
