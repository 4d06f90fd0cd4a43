//! Checks on the config file as written (before interpolation): secrets must come from the
//! environment, not be typed into a file that ends up in repositories, tickets and backups.

use crate::findings::{Findings, ids};

/// Whether a string written in the config is a literal secret: it contains no `${VAR}`, or a
/// `${VAR:-default}` supplies a non-empty default (the default is then a secret on disk).
pub fn is_literal_secret(s: &str) -> bool {
    if !s.contains("${") {
        return !s.is_empty();
    }
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if let Some((_, default)) = after[..end].split_once(":-")
            && !default.is_empty()
        {
            return true;
        }
        rest = &after[end + 1..];
    }
    false
}

fn check(path: String, v: Option<&toml::Value>, out: &mut Vec<String>) {
    match v {
        Some(toml::Value::String(s)) if is_literal_secret(s) => out.push(path),
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(format!("{path}[{i}]"), Some(item), out);
            }
        }
        _ => {}
    }
}

/// The config paths of literal secrets in `source` (empty when it does not parse: the loader
/// has already reported that).
pub fn literal_secret_paths(source: &str) -> Vec<String> {
    let Ok(doc) = source.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let table = |v: Option<&toml::Value>| v.and_then(|v| v.as_table()).cloned();
    if let Some(server) = table(doc.get("server")) {
        check("server.admin_key".into(), server.get("admin_key"), &mut out);
    }
    for (name, env) in table(doc.get("environments")).unwrap_or_default() {
        for key in ["api_keys", "webhook_secret", "webhook_secrets"] {
            check(format!("environments.{name}.{key}"), env.get(key), &mut out);
        }
    }
    for (name, c) in table(doc.get("connectors")).unwrap_or_default() {
        if let Some(auth) = table(c.get("auth")) {
            check(
                format!("connectors.{name}.auth.client_secret"),
                auth.get("client_secret"),
                &mut out,
            );
        }
        if let Some(wh) = table(c.get("webhooks")) {
            for key in ["secret", "secrets"] {
                check(
                    format!("connectors.{name}.webhooks.{key}"),
                    wh.get(key),
                    &mut out,
                );
            }
        }
    }
    out
}

pub(crate) fn secrets_in_source(source: Option<&str>, findings: &mut Findings) {
    let Some(source) = source else { return };
    for path in literal_secret_paths(source) {
        findings.push(
            ids::SECRET_IN_CONFIG,
            path.clone(),
            format!("{path} is written literally in the config file (or as a ${{VAR:-default}} default)"),
            format!("Write {path} as \"${{SOME_VAR}}\" and supply the value from the environment or a secret manager; rotate the exposed value."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_or_defaulted_secrets() {
        assert!(is_literal_secret("whsec_abc"));
        assert!(is_literal_secret("${KEY:-dev-key}"));
        assert!(!is_literal_secret("${KEY}"));
        assert!(!is_literal_secret("${KEY:-}"));
        assert!(!is_literal_secret(""));
    }

    #[test]
    fn finds_paths() {
        let src = r#"
[server]
admin_key = "${ADMIN}"
[environments.prod]
api_keys = ["${A}", "literal"]
webhook_secret = "whsec_x"
[connectors.h]
auth = { type = "oauth2", client_secret = "${S:-oops}" }
webhooks = { secret = "${W}" }
"#;
        assert_eq!(
            literal_secret_paths(src),
            vec![
                "environments.prod.api_keys[1]".to_owned(),
                "environments.prod.webhook_secret".into(),
                "connectors.h.auth.client_secret".into()
            ]
        );
    }
}
