//! How a connector's upstream reports its limits, and the extraction of [`RateLimitInfo`] from a
//! response's headers.
//!
//! A [`RateLimitSettings`] is a list of [`LimitMapping`]s (a vendor's headers: which one holds
//! the quota, the remaining count, the reset and in which unit) plus automatic detection of the
//! standard forms (every IETF draft, `Retry-After`, and — when nothing else matched — the common
//! `X-RateLimit-*` triple). Presets declare mappings as data; a connector can declare one for a
//! vendor that is not in the catalog. These settings are config-agnostic: the config crate's
//! `RateLimitConfig` is converted into them when the stack is built.

use std::{borrow::Cow, str::FromStr, time::SystemTime};

use http::{HeaderMap, HeaderName};

use super::{Limit, RateLimitInfo, parse};

/// The unit of a vendor's reset header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResetUnit {
    /// Delta-seconds until reset (IETF drafts, Zendesk, Pipedrive). Decimals round up.
    Seconds,
    /// Delta-milliseconds until reset.
    Millis,
    /// Unix epoch seconds of the reset (GitHub, Intercom).
    EpochSeconds,
    /// Unix epoch milliseconds of the reset.
    EpochMillis,
    /// An ISO 8601 / RFC 3339 timestamp (Jira).
    Timestamp,
    /// An HTTP-date.
    HttpDate,
    /// The header holds the *window length* in seconds, not a reset; the reset is then reported
    /// as that window (an upper bound).
    WindowSeconds,
    /// The header holds the window length in milliseconds (HubSpot
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`).
    WindowMillis,
    /// Guess from the value's shape (see [`parse::auto_reset`]).
    #[default]
    Auto,
}

impl FromStr for ResetUnit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "seconds" | "s" | "delta_seconds" | "delay_seconds" => ResetUnit::Seconds,
                "ms" | "millis" | "milliseconds" | "delta_ms" => ResetUnit::Millis,
                "epoch" | "unix" | "epoch_seconds" | "unix_seconds" => ResetUnit::EpochSeconds,
                "epoch_ms" | "unix_ms" | "epoch_millis" => ResetUnit::EpochMillis,
                "iso8601" | "rfc3339" | "timestamp" => ResetUnit::Timestamp,
                "http_date" | "httpdate" => ResetUnit::HttpDate,
                "window" | "window_s" | "window_seconds" => ResetUnit::WindowSeconds,
                "window_ms" | "window_millis" => ResetUnit::WindowMillis,
                "auto" | "" => ResetUnit::Auto,
                other => {
                    return Err(format!(
                        "unknown reset_unit {other:?} (expected one of: seconds, ms, epoch, epoch_ms, \
                     iso8601, http_date, window, window_ms, auto)"
                    ));
                }
            },
        )
    }
}

/// How the values of a vendor's headers are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueFormat {
    /// Each header holds one integer.
    #[default]
    Plain,
    /// The `limit` header holds `used/limit` (Shopify `X-Shopify-Shop-Api-Call-Limit: 32/40`).
    UsedOfLimit,
    /// The `limit` header is Salesforce's `Sforce-Limit-Info: api-usage=18/5000; …`; every
    /// member becomes a limit named by its key.
    SforceLimitInfo,
    /// The `limit` header name is a prefix ending in `*` (`zendesk-ratelimit-*`); every header
    /// with that prefix holds `total=N; remaining=N; resets=N` and becomes a limit named by the
    /// rest of its name.
    ZendeskEndpoint,
}

impl FromStr for ValueFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "plain" | "integer" | "" => ValueFormat::Plain,
                "used/limit" | "used_of_limit" | "used_limit" => ValueFormat::UsedOfLimit,
                "sforce_limit_info" | "salesforce" => ValueFormat::SforceLimitInfo,
                "zendesk_endpoint" | "zendesk" => ValueFormat::ZendeskEndpoint,
                other => {
                    return Err(format!(
                        "unknown rate_limit format {other:?} (expected one of: plain, used/limit, \
                     sforce-limit-info, zendesk-endpoint)"
                    ));
                }
            },
        )
    }
}

/// One limit a vendor reports in its own headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitMapping {
    /// The policy name emitted for it (`"default"`, `"daily"`, …).
    pub name: String,
    /// The header holding the quota (or, per [`ValueFormat`], the combined value / prefix).
    pub limit: Option<HeaderName>,
    /// A fixed quota, for vendors that only report what remains (Xero).
    pub quota: Option<u64>,
    /// The header holding the remaining count.
    pub remaining: Option<HeaderName>,
    /// The header holding the reset (or the window, per [`ResetUnit`]).
    pub reset: Option<HeaderName>,
    /// The unit of `reset`.
    pub reset_unit: ResetUnit,
    /// How values are written.
    pub format: ValueFormat,
    /// The window length in seconds, when the vendor documents a fixed one.
    pub window_secs: Option<u64>,
}

impl LimitMapping {
    /// A plain mapping named `name` with no headers yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            limit: None,
            quota: None,
            remaining: None,
            reset: None,
            reset_unit: ResetUnit::Auto,
            format: ValueFormat::Plain,
            window_secs: None,
        }
    }

    /// Builder: the quota header.
    pub fn limit(mut self, header: &'static str) -> Self {
        self.limit = Some(HeaderName::from_static(header));
        self
    }

    /// Builder: the remaining header.
    pub fn remaining(mut self, header: &'static str) -> Self {
        self.remaining = Some(HeaderName::from_static(header));
        self
    }

    /// Builder: the reset header and its unit.
    pub fn reset(mut self, header: &'static str, unit: ResetUnit) -> Self {
        self.reset = Some(HeaderName::from_static(header));
        self.reset_unit = unit;
        self
    }

    /// Builder: the value format.
    pub fn format(mut self, format: ValueFormat) -> Self {
        self.format = format;
        self
    }

    /// Builder: a fixed quota.
    pub fn quota(mut self, quota: u64) -> Self {
        self.quota = Some(quota);
        self
    }

    /// Builder: a fixed window.
    pub fn window_secs(mut self, secs: u64) -> Self {
        self.window_secs = Some(secs);
        self
    }

    /// The limits this mapping finds in `headers` (empty when its headers are absent).
    pub fn extract(&self, headers: &HeaderMap, now: SystemTime) -> Vec<Limit> {
        match self.format {
            ValueFormat::Plain => self.extract_plain(headers, now).into_iter().collect(),
            ValueFormat::UsedOfLimit => self
                .extract_used_of_limit(headers, now)
                .into_iter()
                .collect(),
            ValueFormat::SforceLimitInfo => {
                match self.limit.as_ref().and_then(|h| joined(headers, h)) {
                    Some(v) => parse::sforce_limit_info(&v)
                        .into_iter()
                        .map(|l| l.with_window(self.window_secs))
                        .collect(),
                    None => Vec::new(),
                }
            }
            ValueFormat::ZendeskEndpoint => self.extract_zendesk(headers),
        }
    }

    fn reset_and_window(&self, headers: &HeaderMap, now: SystemTime) -> (Option<u64>, Option<u64>) {
        let raw = self.reset.as_ref().and_then(|h| joined(headers, h));
        let Some(raw) = raw else {
            return (None, self.window_secs);
        };
        let raw = raw.as_ref();
        match self.reset_unit {
            ResetUnit::Seconds => (parse::delay_seconds(raw), self.window_secs),
            ResetUnit::Millis => (parse::millis_delay(raw), self.window_secs),
            ResetUnit::EpochSeconds => (parse::epoch_seconds_reset(raw, now), self.window_secs),
            ResetUnit::EpochMillis => (parse::epoch_millis_reset(raw, now), self.window_secs),
            ResetUnit::Timestamp => (parse::iso8601_reset(raw, now), self.window_secs),
            ResetUnit::HttpDate => (parse::http_date_reset(raw, now), self.window_secs),
            ResetUnit::Auto => (parse::auto_reset(raw, now), self.window_secs),
            ResetUnit::WindowSeconds => (None, parse::delay_seconds(raw).or(self.window_secs)),
            ResetUnit::WindowMillis => (None, parse::millis_delay(raw).or(self.window_secs)),
        }
    }

    fn extract_plain(&self, headers: &HeaderMap, now: SystemTime) -> Option<Limit> {
        let remaining = remaining_count(&joined(headers, self.remaining.as_ref()?)?)?;
        let quota = self
            .limit
            .as_ref()
            .and_then(|h| joined(headers, h))
            .and_then(|v| parse::non_negative_integer(&v))
            .or(self.quota)
            .unwrap_or(remaining);
        let (reset, window) = self.reset_and_window(headers, now);
        Some(
            Limit::new(&self.name, quota, remaining)
                .with_reset(reset)
                .with_window(window),
        )
    }

    fn extract_used_of_limit(&self, headers: &HeaderMap, now: SystemTime) -> Option<Limit> {
        let (used, quota) = parse::used_of_limit(&joined(headers, self.limit.as_ref()?)?)?;
        let (reset, window) = self.reset_and_window(headers, now);
        Some(
            Limit::new(&self.name, quota, quota.saturating_sub(used))
                .with_reset(reset)
                .with_window(window),
        )
    }

    fn extract_zendesk(&self, headers: &HeaderMap) -> Vec<Limit> {
        let Some(prefix) = self
            .limit
            .as_ref()
            .map(|h| h.as_str().trim_end_matches('*'))
        else {
            return Vec::new();
        };
        headers
            .iter()
            .filter_map(|(name, value)| {
                let suffix = name.as_str().strip_prefix(prefix)?;
                let (total, remaining, resets) = parse::zendesk_endpoint(value.to_str().ok()?)?;
                let name = if suffix.is_empty() {
                    self.name.as_str()
                } else {
                    suffix
                };
                Some(
                    Limit::new(name, total, remaining)
                        .with_reset(resets)
                        .with_window(self.window_secs),
                )
            })
            .collect()
    }
}

/// A remaining count: an integer, or a decimal rounded *down* (never more permissive).
fn remaining_count(value: &str) -> Option<u64> {
    let v = value.trim();
    match v.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => {
            parse::non_negative_integer(int)
        }
        Some(_) => None,
        None => parse::non_negative_integer(v),
    }
}

/// The value of `name`, with several field lines joined by `", "` (RFC 9110 §5.3); values that
/// are not visible ASCII are skipped.
pub fn joined<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Cow<'a, str>> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut all = format!("{first}, {second}");
            for v in values {
                all.push_str(", ");
                all.push_str(v);
            }
            Some(Cow::Owned(all))
        }
    }
}

/// Everything a connector knows about its upstream's rate-limit headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// The vendor's own headers.
    pub mappings: Vec<LimitMapping>,
    /// Detect the IETF forms (every draft) automatically. On by default.
    pub detect_standard: bool,
    /// When neither a mapping nor an IETF form matched, read `X-RateLimit-Limit/-Remaining/-Reset`
    /// with an [`ResetUnit::Auto`] reset. On by default.
    pub detect_x_ratelimit: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            mappings: Vec::new(),
            detect_standard: true,
            detect_x_ratelimit: true,
        }
    }
}

static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl RateLimitSettings {
    /// Settings with these vendor mappings and standard detection on.
    pub fn with_mappings(mappings: Vec<LimitMapping>) -> Self {
        Self {
            mappings,
            ..Self::default()
        }
    }

    /// Everything `headers` say about rate limits, as of `now`.
    pub fn extract(&self, headers: &HeaderMap, now: SystemTime) -> RateLimitInfo {
        // This runs twice per exchange (the boundary log and the normalization layer), and
        // most responses carry few or none of these headers: one pass over the names present
        // says which lookups below can find anything, instead of a dozen hashed lookups.
        let present = self.present(headers);
        if !present.any() {
            return RateLimitInfo::default();
        }
        self.extract_present(headers, now, &present)
    }

    /// Which of the headers [`extract`](Self::extract) reads are in `headers` (a superset is
    /// fine, a miss is not).
    fn present(&self, headers: &HeaderMap) -> Present {
        let mut present = Present::default();
        for name in headers.keys() {
            let name = name.as_str();
            if name == http::header::RETRY_AFTER.as_str() {
                present.retry_after = true;
            } else if name.starts_with("ratelimit") {
                present.standard |= self.detect_standard;
            } else if name.starts_with("x-ratelimit-") {
                present.x_ratelimit |= self.detect_x_ratelimit;
            }
            for (k, mapping) in self.mappings.iter().enumerate() {
                if mapping.reads(name) {
                    present.mappings |= Present::bit(k);
                }
            }
        }
        present
    }

    /// [`extract`](Self::extract), looking only where `present` says something may be.
    fn extract_present(
        &self,
        headers: &HeaderMap,
        now: SystemTime,
        present: &Present,
    ) -> RateLimitInfo {
        let mut limits = Vec::new();
        for (k, mapping) in self.mappings.iter().enumerate() {
            if present.mappings & Present::bit(k) != 0 {
                limits.extend(mapping.extract(headers, now));
            }
        }
        if present.standard {
            for limit in standard_limits(headers) {
                // A vendor mapping of the same headers (Zendesk's ratelimit-*) already saw it.
                if !limits.iter().any(|l: &Limit| {
                    l.quota == limit.quota
                        && l.remaining == limit.remaining
                        && l.reset_secs == limit.reset_secs
                }) {
                    limits.push(limit);
                }
            }
        }
        if limits.is_empty() && present.x_ratelimit {
            limits.extend(x_ratelimit_mapping().extract(headers, now));
        }
        let retry_after = present
            .retry_after
            .then(|| joined(headers, &http::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| parse::retry_after(&v, now));
        RateLimitInfo {
            limits,
            retry_after,
        }
    }
}

/// What [`RateLimitSettings::present`] found.
#[derive(Default)]
struct Present {
    /// Bit `k`: mapping `k` reads a header that is there (mappings past the 63rd share bit 63).
    mappings: u64,
    standard: bool,
    x_ratelimit: bool,
    retry_after: bool,
}

impl Present {
    fn bit(mapping: usize) -> u64 {
        1 << mapping.min(63)
    }

    fn any(&self) -> bool {
        self.mappings != 0 || self.standard || self.x_ratelimit || self.retry_after
    }
}

impl LimitMapping {
    /// Whether this mapping reads a header named `name` (Zendesk's `limit` is a name prefix).
    fn reads(&self, name: &str) -> bool {
        [&self.limit, &self.remaining, &self.reset]
            .into_iter()
            .flatten()
            .any(|header| match self.format {
                ValueFormat::ZendeskEndpoint => {
                    name.starts_with(header.as_str().trim_end_matches('*'))
                }
                _ => header.as_str() == name,
            })
    }
}

fn x_ratelimit_mapping() -> &'static LimitMapping {
    static MAPPING: std::sync::OnceLock<LimitMapping> = std::sync::OnceLock::new();
    MAPPING.get_or_init(|| {
        LimitMapping::new(parse::DEFAULT_POLICY)
            .limit("x-ratelimit-limit")
            .remaining("x-ratelimit-remaining")
            .reset("x-ratelimit-reset", ResetUnit::Auto)
    })
}

/// The IETF forms in `headers`: the structured -08+ pair, else the -07 dictionary, plus the
/// -00…-06 triple (which may coexist with either).
fn standard_limits(headers: &HeaderMap) -> Vec<Limit> {
    let mut out = Vec::new();
    let policy = joined(headers, &RATELIMIT_POLICY);
    if let Some(rl) = joined(headers, &RATELIMIT) {
        match parse::ietf_structured(&rl, policy.as_deref()) {
            Some(limits) => out.extend(limits),
            None => out.extend(parse::ietf_draft07(&rl, policy.as_deref())),
        }
    }
    if let Some(remaining) = joined(headers, &RATELIMIT_REMAINING) {
        let limit = joined(headers, &RATELIMIT_LIMIT);
        let reset = joined(headers, &RATELIMIT_RESET);
        // An old-draft policy (`10;w=1`) only; a -08 policy (`"name";q=..`) has no integer items.
        out.extend(parse::ietf_triple(
            limit.as_deref(),
            &remaining,
            reset.as_deref(),
            policy.as_deref(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One mapping of each value format, as the presets declare them.
    fn every_format() -> RateLimitSettings {
        RateLimitSettings::with_mappings(vec![
            LimitMapping::new("plain")
                .limit("x-hubspot-ratelimit-max")
                .remaining("x-hubspot-ratelimit-remaining")
                .reset(
                    "x-hubspot-ratelimit-interval-milliseconds",
                    ResetUnit::WindowMillis,
                ),
            LimitMapping::new("used")
                .limit("x-shopify-shop-api-call-limit")
                .format(ValueFormat::UsedOfLimit),
            LimitMapping::new("sforce")
                .limit("sforce-limit-info")
                .format(ValueFormat::SforceLimitInfo),
            LimitMapping::new("zendesk")
                .limit("zendesk-ratelimit-*")
                .format(ValueFormat::ZendeskEndpoint),
        ])
    }

    const NAMES: &[&str] = &[
        "x-hubspot-ratelimit-max",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-shopify-shop-api-call-limit",
        "sforce-limit-info",
        "zendesk-ratelimit-tickets-index",
        "ratelimit",
        "ratelimit-policy",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "content-type",
        "date",
        "x-request-id",
    ];

    const VALUES: &[&str] = &[
        "10",
        "0",
        "3.5",
        "40/80",
        "api-usage=18/5000",
        "total=700; remaining=699; resets=44",
        "\"default\";r=5;t=30",
        "\"default\";q=100;w=60",
        "limit=100, remaining=50, reset=5",
        "Wed, 21 Oct 2026 07:28:00 GMT",
        "application/json",
    ];

    /// Each kind of header alone is found (a first pass that missed one would skip it).
    #[test]
    fn every_kind_of_header_alone_is_found() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        for (name, value) in [
            ("ratelimit", "limit=100, remaining=50, reset=5"),
            ("ratelimit-remaining", "7"),
            ("x-ratelimit-remaining", "7"),
            ("retry-after", "30"),
            ("x-hubspot-ratelimit-remaining", "7"),
            ("x-shopify-shop-api-call-limit", "40/80"),
            ("sforce-limit-info", "api-usage=18/5000"),
            (
                "zendesk-ratelimit-tickets-index",
                "total=700; remaining=699; resets=44",
            ),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            let info = every_format().extract(&headers, now);
            assert!(
                !info.limits.is_empty() || info.retry_after.is_some(),
                "{name}: {value}"
            );
        }
    }

    proptest! {
        /// The first pass never skips a response the full extraction finds something in.
        #[test]
        fn the_first_pass_changes_no_result(
            picks in proptest::collection::vec((0..NAMES.len(), 0..VALUES.len()), 0..6),
            standard in any::<bool>(),
            x_ratelimit in any::<bool>(),
        ) {
            let mut settings = every_format();
            settings.detect_standard = standard;
            settings.detect_x_ratelimit = x_ratelimit;
            let mut headers = HeaderMap::new();
            for (name, value) in picks {
                headers.append(NAMES[name], VALUES[value].parse().unwrap());
            }
            let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
            let everything = Present {
                mappings: u64::MAX,
                standard: settings.detect_standard,
                x_ratelimit: settings.detect_x_ratelimit,
                retry_after: true,
            };
            prop_assert_eq!(
                settings.extract(&headers, now),
                settings.extract_present(&headers, now, &everything)
            );
        }
    }
}
