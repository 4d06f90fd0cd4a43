//! The error normalization on hostile upstream bodies (deep nesting, huge arrays, non-JSON,
//! expression-looking strings), with real preset expressions: never panics, always a problem,
//! never more than the 64 KiB cap read.
#![no_main]

use std::sync::OnceLock;

use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use tidegate_upstream::errors::{ErrorExprs, ErrorSettings, MAX_ERROR_BODY, normalize};

fn presets() -> &'static Vec<ErrorSettings> {
    static P: OnceLock<Vec<ErrorSettings>> = OnceLock::new();
    P.get_or_init(|| {
        let exprs: &[ErrorExprs<'static>] = &[
            ErrorExprs { code: Some("$[0].errorCode"), message: Some("$[0].message"), class: Some("$[0].errorCode = 'REQUEST_LIMIT_EXCEEDED' ? 'rate_limited'"), ..Default::default() },
            ErrorExprs { code: Some("category ? category : errorType"), message: Some("message"), ..Default::default() },
            ErrorExprs { code: Some("error"), message: Some("error"), when: Some("ok = false"), status: Some("error = 'ratelimited' ? 429 : 400"), ..Default::default() },
            ErrorExprs { code: Some("$join(errors.code, ',')"), message: Some("$join(errors.message, '; ')"), retryable: Some("$count(errors[code='rate_limit_exceeded']) > 0"), ..Default::default() },
            ErrorExprs { code: Some("error.errors[0].reason"), message: Some("$string(**.message)"), ..Default::default() },
            ErrorExprs { code: Some("$keys($)"), message: Some("$sort($spread($).*)"), ..Default::default() },
        ];
        exprs.iter().map(|e| ErrorSettings::compile(e).unwrap()).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    let settings = &presets()[usize::from(*selector) % presets().len()];
    let body = &body[..body.len().min(MAX_ERROR_BODY)];
    let status = if selector & 0x80 == 0 { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let problem = normalize(settings, status, &HeaderMap::new(), body, None);
    if status == StatusCode::BAD_REQUEST {
        let p = problem.expect("a 4xx is always normalized");
        assert!((400..=599).contains(&p.status));
    }
});
