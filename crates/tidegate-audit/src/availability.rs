//! Composite availability: a feature that needs every one of N upstreams at once is up only
//! when all of them are, so (assuming independent failures) its availability is the product of
//! theirs. Five providers at 99.46% each give 0.9946^5 = 97.33%, i.e. about 19 hours of downtime
//! a month — which is why the report states the number next to the target.
//!
//! A month is taken as 30 days (43,200 minutes), the convention most vendor SLAs use.

use serde::Serialize;

/// Minutes in the 30-day month used for "downtime per month".
pub const MINUTES_PER_MONTH: f64 = 30.0 * 24.0 * 60.0;

/// The product of availabilities given as percentages (e.g. `[99.95, 99.9]`), as a percentage.
/// An empty list is 100% (a feature with no upstream dependency).
pub fn composite_percent(uptimes_percent: &[f64]) -> f64 {
    uptimes_percent.iter().map(|p| p / 100.0).product::<f64>() * 100.0
}

/// Minutes of downtime per 30-day month that an availability (in percent) allows.
pub fn downtime_minutes_per_month(availability_percent: f64) -> f64 {
    (1.0 - availability_percent / 100.0) * MINUTES_PER_MONTH
}

/// The composite availability of one group of connectors (a feature), against the target.
#[derive(Debug, Clone, Serialize)]
pub struct Composite {
    /// Feature name (`all connectors` when no `[audit.features]` are configured).
    pub feature: String,
    /// Connectors the feature depends on.
    pub connectors: Vec<String>,
    /// Connectors whose uptime is unknown; they are left out of the product, so the real figure
    /// can only be lower.
    pub unknown: Vec<String>,
    /// Product of the known uptimes, in percent.
    pub composite_percent: f64,
    pub downtime_minutes_per_month: f64,
    /// `[audit] target_availability`, in percent.
    pub target_percent: Option<f64>,
    pub target_downtime_minutes_per_month: Option<f64>,
    /// `None` without a target.
    pub meets_target: Option<bool>,
}

impl Composite {
    /// Computes a group from `(connector, uptime percent if known)`.
    pub fn compute(
        feature: impl Into<String>,
        members: &[(String, Option<f64>)],
        target_percent: Option<f64>,
    ) -> Self {
        let known: Vec<f64> = members.iter().filter_map(|(_, u)| *u).collect();
        let composite = composite_percent(&known);
        Self {
            feature: feature.into(),
            connectors: members.iter().map(|(c, _)| c.clone()).collect(),
            unknown: members
                .iter()
                .filter(|(_, u)| u.is_none())
                .map(|(c, _)| c.clone())
                .collect(),
            composite_percent: composite,
            downtime_minutes_per_month: downtime_minutes_per_month(composite),
            target_percent,
            target_downtime_minutes_per_month: target_percent.map(downtime_minutes_per_month),
            // Compare with a tolerance far below any meaningful SLA digit, so that 99.9 vs a
            // computed 99.90000000000001 is not a miss.
            meets_target: target_percent.map(|t| composite + 1e-9 >= t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_at_99_46_is_97_33_percent() {
        // 0.9946^2 = 0.98922916; ^4 = 0.98922916^2 = 0.978574...; ^5 = 0.978574 * 0.9946
        // = 0.9732900...: 97.33%. Downtime: (1 - 0.97329003) * 43,200 = 1,153.87 min (19.2 h).
        let c = composite_percent(&[99.46; 5]);
        assert!((c - 97.329_003).abs() < 1e-5, "{c}");
        let d = downtime_minutes_per_month(c);
        assert!((d - 1_153.87).abs() < 0.01, "{d}");
    }

    #[test]
    fn three_nines_is_43_2_minutes_a_month() {
        // (1 - 0.999) * 43,200 = 43.2
        assert!((downtime_minutes_per_month(99.9) - 43.2).abs() < 1e-9);
    }

    #[test]
    fn two_providers_against_a_target() {
        // 0.9995 * 0.999 = 0.9985005 → 99.85005%, below 99.9%: 64.78 min vs 43.2 min allowed.
        let members = vec![
            ("hubspot".to_owned(), Some(99.95)),
            ("github".to_owned(), Some(99.9)),
        ];
        let c = Composite::compute("sync", &members, Some(99.9));
        assert!((c.composite_percent - 99.850_05).abs() < 1e-9);
        assert!((c.downtime_minutes_per_month - 64.7784).abs() < 1e-6);
        assert_eq!(c.meets_target, Some(false));
        let ok = Composite::compute("sync", &members, Some(99.8));
        assert_eq!(ok.meets_target, Some(true));
    }

    #[test]
    fn unknown_uptimes_are_listed_not_multiplied() {
        let members = vec![("a".to_owned(), Some(99.0)), ("b".to_owned(), None)];
        let c = Composite::compute("f", &members, None);
        assert_eq!(c.unknown, vec!["b".to_owned()]);
        assert!((c.composite_percent - 99.0).abs() < 1e-9);
        assert_eq!(c.meets_target, None);
        assert_eq!(composite_percent(&[]), 100.0);
    }
}
