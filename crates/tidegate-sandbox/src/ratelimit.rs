//! Rate-limit answers shaped like real vendors' (headers, status and body as their docs show),
//! so tests of rate-limit and error normalization see what production sees.
//!
//! `ANY /ratelimit/{vendor}` answers with the vendor's shape; a script step can do the same
//! with `{ "rate_limit": "hubspot" }`.

use axum::{
    body::Body,
    extract::Path,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use serde::{Deserialize, Serialize};

/// A vendor whose rate-limit answer the sandbox imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// 429, `X-HubSpot-RateLimit-*` (interval in milliseconds), JSON `errorType: RATE_LIMIT`.
    Hubspot,
    /// 403 with `errorCode: REQUEST_LIMIT_EXCEEDED` and `Sforce-Limit-Info: api-usage=used/limit`.
    Salesforce,
    /// 429, `Retry-After` seconds, `X-Rate-Limit*` and draft `ratelimit-*` headers, text body.
    Zendesk,
    /// 429, `x-ratelimit-*` with an absolute epoch `x-ratelimit-reset`, `retry-after`.
    Github,
    /// 429, decimal `Retry-After`, `X-Shopify-Shop-Api-Call-Limit: used/bucket`.
    Shopify,
}

impl Vendor {
    /// Every vendor shape.
    pub const ALL: [Vendor; 5] = [
        Vendor::Hubspot,
        Vendor::Salesforce,
        Vendor::Zendesk,
        Vendor::Github,
        Vendor::Shopify,
    ];

    /// Parses the lower-case name.
    pub fn parse(name: &str) -> Option<Vendor> {
        serde_json::from_value(serde_json::Value::String(name.to_ascii_lowercase())).ok()
    }
}

/// The vendor's rate-limit response.
pub fn response(vendor: Vendor) -> Response {
    let json = HeaderValue::from_static("application/json");
    let (status, headers, content_type, body): (StatusCode, Vec<(&str, String)>, HeaderValue, String) =
        match vendor {
            Vendor::Hubspot => (
                StatusCode::TOO_MANY_REQUESTS,
                vec![
                    ("X-HubSpot-RateLimit-Max", "100".into()),
                    ("X-HubSpot-RateLimit-Remaining", "0".into()),
                    ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000".into()),
                ],
                json,
                serde_json::json!({
                    "status": "error",
                    "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": "6828d000-3d2f-4701-8d90-b21e53b0d005",
                    "policyName": "SECONDLY"
                })
                .to_string(),
            ),
            Vendor::Salesforce => (
                StatusCode::FORBIDDEN,
                vec![("Sforce-Limit-Info", "api-usage=5000/5000".into())],
                json,
                serde_json::json!([
                    { "message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED" }
                ])
                .to_string(),
            ),
            Vendor::Zendesk => (
                StatusCode::TOO_MANY_REQUESTS,
                vec![
                    ("Retry-After", "41".into()),
                    ("X-Rate-Limit", "700".into()),
                    ("X-Rate-Limit-Remaining", "0".into()),
                    ("ratelimit-limit", "700".into()),
                    ("ratelimit-remaining", "0".into()),
                    ("ratelimit-reset", "41".into()),
                ],
                HeaderValue::from_static("text/plain; charset=utf-8"),
                "You have exceeded the rate limit for this account.".into(),
            ),
            Vendor::Github => {
                let reset = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() + 60)
                    .unwrap_or(60);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    vec![
                        ("x-ratelimit-limit", "5000".into()),
                        ("x-ratelimit-remaining", "0".into()),
                        ("x-ratelimit-used", "5000".into()),
                        ("x-ratelimit-reset", reset.to_string()),
                        ("x-ratelimit-resource", "core".into()),
                        ("retry-after", "60".into()),
                    ],
                    json,
                    serde_json::json!({
                        "message": "API rate limit exceeded for installation ID 1.",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                    })
                    .to_string(),
                )
            }
            Vendor::Shopify => (
                StatusCode::TOO_MANY_REQUESTS,
                vec![
                    ("Retry-After", "2.0".into()),
                    ("X-Shopify-Shop-Api-Call-Limit", "40/40".into()),
                ],
                json,
                serde_json::json!({
                    "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
                })
                .to_string(),
            ),
        };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, content_type);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(name),
            HeaderValue::try_from(value),
        ) {
            h.insert(n, v);
        }
    }
    response
}

pub(crate) async fn route(Path(vendor): Path<String>) -> Response {
    match Vendor::parse(&vendor) {
        Some(v) => response(v),
        None => (StatusCode::NOT_FOUND, "unknown vendor").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_has_a_limit_signal() {
        for vendor in Vendor::ALL {
            let r = response(vendor);
            assert!(matches!(r.status().as_u16(), 403 | 429), "{vendor:?}");
            assert!(
                r.headers().keys().any(|k| k.as_str().contains("limit")),
                "{vendor:?} has no limit header"
            );
        }
        assert_eq!(Vendor::parse("HubSpot"), Some(Vendor::Hubspot));
        assert_eq!(Vendor::parse("nope"), None);
    }
}
