//! `tidegate demo --json` (the real binary): every step of the walkthrough passes, in order,
//! with the outcome it claims, and no token is ever printed.

use super::tidegate;

/// The steps and a fragment each one's detail must contain.
const EXPECTED: &[(&str, &str)] = &[
    ("token injection", "upstream got the stored token as Bearer"),
    (
        "100 callers, expired token",
        "100/100 succeeded with 1 refresh",
    ),
    ("429 with vendor headers", "upstream calls=1"),
    ("circuit breaker", "probe 200 -> closed"),
    ("idempotent retry", "both carried Idempotency-Key"),
    ("vendor error normalized", "upstream.code=VALIDATION_ERROR"),
    ("revoked grant", "424 needs_reauth"),
    ("inbound webhook", "bad signature -> 401"),
    ("claim check", "again 410, directory empty"),
    ("reconciliation", "source=reconciliation"),
    ("audit summary", "findings:"),
];

/// `at_`/`rt_` followed by 40 hex digits: a token as the sandbox issues them.
fn contains_token(text: &str) -> bool {
    ["at_", "rt_"].iter().any(|prefix| {
        text.match_indices(prefix).any(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            rest.len() >= 40 && rest[..40].bytes().all(|b| b.is_ascii_hexdigit())
        })
    })
}

#[test]
fn demo_json_passes_every_step() {
    let out = tidegate().args(["demo", "--json"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is exactly the JSON summary");
    assert_eq!(summary["passed"], true, "{summary}");
    let steps = summary["steps"].as_array().unwrap();
    assert_eq!(steps.len(), EXPECTED.len(), "{summary}");
    for (i, (step, (name, fragment))) in steps.iter().zip(EXPECTED).enumerate() {
        assert_eq!(step["name"], *name, "step {}", i + 1);
        assert_eq!(step["passed"], true, "{step}");
        assert_eq!(step["skipped"], false, "{step}");
        let detail = step["detail"].as_str().unwrap();
        assert!(detail.contains(fragment), "{name}: {detail}");
        // The walkthrough (stderr with --json) has a heading per step.
        assert!(
            stderr.contains(&format!("== {}. {name} ==", i + 1)),
            "{stderr}"
        );
    }
    assert!(!contains_token(&stdout), "a token was printed: {stdout}");
    assert!(!contains_token(&stderr), "a token was printed: {stderr}");
}

#[test]
fn the_token_detector_detects_tokens() {
    assert!(contains_token(&format!("Bearer at_{}", "ab12".repeat(10))));
    assert!(!contains_token("Bearer ************ (43 chars)"));
}
