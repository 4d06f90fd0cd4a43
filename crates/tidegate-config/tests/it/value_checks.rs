//! The [`ValueChecks`] hook: every JSONata expression, `rate_limit.format` and
//! `webhooks.verify` is put to it, and what it rejects is a config error at the value's own
//! location (or at `preset = ` for a preset's value). The checker here is a test double of the
//! engine boundary; the binary's tests run the real one.

use std::cell::RefCell;
use std::path::Path;

use tidegate_config::{Config, ConfigErrors, ValueChecks};

/// Rejects expressions containing `BAD` (and the one named in `reject_exactly`), formats other
/// than `plain` and schemes other than `stripe`; records every expression it is asked about.
#[derive(Default)]
struct Strict {
    asked: RefCell<Vec<String>>,
    reject_exactly: Option<&'static str>,
}

impl ValueChecks for Strict {
    fn expression(&self, expr: &str) -> Result<(), String> {
        self.asked.borrow_mut().push(expr.to_owned());
        if expr.contains("BAD") || Some(expr) == self.reject_exactly {
            Err("syntax error at BAD".into())
        } else {
            Ok(())
        }
    }

    fn rate_limit_format(&self, name: &str) -> Result<(), String> {
        match name {
            "plain" => Ok(()),
            other => Err(format!("unknown format {other:?}; expected one of: plain")),
        }
    }

    fn webhook_scheme(&self, name: &str) -> Result<(), String> {
        match name {
            "stripe" => Ok(()),
            other => Err(format!("unknown scheme {other:?}; expected one of: stripe")),
        }
    }
}

fn load_with(src: &str, checks: &Strict) -> Result<Config, ConfigErrors> {
    Config::from_str_with(src, Path::new("tidegate.toml"), &|_| None, checks)
}

fn lines(errors: ConfigErrors) -> Vec<String> {
    errors.to_string().lines().map(str::to_owned).collect()
}

const HEAD: &str = "[server]\n[environments.production]\napi_keys = [\"k\"]\n";

#[test]
fn a_rejected_expression_is_reported_at_its_string() {
    let src = format!(
        "{HEAD}[connectors.crm]\nbase_url = \"https://api.example.com\"\n\
         errors = {{ code = \"errors[0].code\", message = \"BAD(\" }}\n\
         [connectors.billing]\nbase_url = \"https://billing.example.com\"\n\
         [connectors.billing.errors]\nwhen   =   \"ok = false and BAD\"\n"
    );
    let errors = load_with(&src, &Strict::default()).unwrap_err();
    assert_eq!(
        lines(errors),
        [
            "tidegate.toml:6:47: `connectors.crm.errors.message`: invalid JSONata expression: \
             syntax error at BAD",
            "tidegate.toml:10:12: `connectors.billing.errors.when`: invalid JSONata expression: \
             syntax error at BAD",
        ]
    );
}

#[test]
fn every_expression_key_is_checked() {
    let src = format!(
        "{HEAD}[connectors.crm]\nbase_url = \"https://api.example.com\"\n\
         errors = {{ code = \"e1\", message = \"e2\", class = \"e3\", retryable = \"e4\", when = \"e5\", status = \"e6\" }}\n\
         webhooks = {{ verify = \"stripe\", secret = \"s\", account = \"w1\", object = \"w2\", id = \"w3\", version = \"w4\", event_id = \"w5\" }}\n\
         reconcile = {{ object = \"contact\", request = {{ path = \"/c\" }}, records = \"r1\", id = \"r2\", version = \"r3\", next_page = \"r4\" }}\n\
         rate_limit = {{ format = \"plain\" }}\n"
    );
    let checks = Strict::default();
    load_with(&src, &checks).unwrap_or_else(|e| panic!("{e}"));
    let mut asked = checks.asked.take();
    asked.sort();
    assert_eq!(
        asked,
        [
            "e1", "e2", "e3", "e4", "e5", "e6", "r1", "r2", "r3", "r4", "w1", "w2", "w3", "w4",
            "w5"
        ]
    );
}

#[test]
fn each_kind_of_bad_expression_has_its_own_path_and_location() {
    let src = format!(
        "{HEAD}[connectors.crm]\nbase_url = \"https://api.example.com\"\n\
         webhooks = {{ verify = \"stripe\", secret = \"s\", id = \"BAD\" }}\n\
         reconcile = {{ object = \"contact\", request = {{ path = \"/c\" }}, records = \"results\", id = \"id\", version = \"BAD\" }}\n"
    );
    let errors = lines(load_with(&src, &Strict::default()).unwrap_err());
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("tidegate.toml:6:52: `connectors.crm.webhooks.id`: "),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("tidegate.toml:7:104: `connectors.crm.reconcile.version`: "),
        "{}",
        errors[1]
    );
}

#[test]
fn unknown_rate_limit_format_and_webhook_scheme_are_located() {
    let src = format!(
        "{HEAD}[connectors.crm]\nbase_url = \"https://api.example.com\"\n\
         [connectors.crm.rate_limit]\nformat = \"sforce-ish\"\n\
         [connectors.crm.webhooks]\nsecret = \"s\"\nverify = \"stripe-v9\"\n"
    );
    let errors = load_with(&src, &Strict::default()).unwrap_err();
    assert_eq!(
        lines(errors),
        [
            "tidegate.toml:7:10: `connectors.crm.rate_limit.format`: unknown format \
             \"sforce-ish\"; expected one of: plain",
            "tidegate.toml:10:10: `connectors.crm.webhooks.verify`: unknown scheme \
             \"stripe-v9\"; expected one of: stripe",
        ]
    );
}

#[test]
fn a_rejected_preset_value_is_reported_at_the_preset_line() {
    // github's preset writes `code = "errors[0].code"` and `verify = "github"`; this checker
    // rejects both, so both land on the connector's `preset = ` value.
    let src =
        format!("{HEAD}[connectors.gh]\n  preset = \"github\"\nauth = {{ type = \"api_key\" }}\n");
    let checks = Strict {
        reject_exactly: Some("errors[0].code"),
        ..Strict::default()
    };
    let errors = lines(load_with(&src, &checks).unwrap_err());
    assert_eq!(
        errors,
        [
            "tidegate.toml:5:12: `connectors.gh.errors.code`: invalid JSONata expression: \
             syntax error at BAD (from preset `github`)",
            "tidegate.toml:5:12: `connectors.gh.webhooks.verify`: unknown scheme \"github\"; \
             expected one of: stripe (from preset `github`)",
        ]
    );
    // The operator's own value replaces the preset's, and is located where they wrote it.
    let src = format!(
        "{HEAD}[connectors.gh]\npreset = \"github\"\nauth = {{ type = \"api_key\" }}\n\
         webhooks = {{ verify = \"stripe\" }}\nerrors = {{ code = \"BAD\" }}\n"
    );
    let errors = lines(load_with(&src, &Strict::default()).unwrap_err());
    assert_eq!(
        errors,
        [
            "tidegate.toml:8:19: `connectors.gh.errors.code`: invalid JSONata expression: \
          syntax error at BAD"
        ]
    );
}

#[test]
fn without_checks_such_values_are_left_to_the_stack() {
    let src = format!(
        "{HEAD}[connectors.crm]\nbase_url = \"https://api.example.com\"\n\
         errors = {{ code = \"BAD(\" }}\nrate_limit = {{ format = \"nope\" }}\n\
         webhooks = {{ verify = \"nope\", secret = \"s\" }}\n"
    );
    let config = Config::from_str(&src, Path::new("tidegate.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.connectors["crm"]
            .errors
            .as_ref()
            .unwrap()
            .code
            .as_deref(),
        Some("BAD(")
    );
    assert!(load_with(&src, &Strict::default()).is_err());
}
