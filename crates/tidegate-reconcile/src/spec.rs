//! A connector's `[reconcile]` declaration, compiled once: expressions, `{since}` formatting,
//! the page request (query placeholders) and how a next-page value is followed.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use http::Method;
use tidegate_config::{ConnectorConfig, ReconcileConfig};
use tidegate_upstream::expr::JsonataEngine;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{expr::Expr, schedule::Schedule};

/// How `{since}` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinceFormat {
    /// `2026-11-29T12:00:00Z` (whole seconds, rounded down: never later than the mark).
    Rfc3339,
    /// Unix seconds (rounded down).
    Unix,
    /// Unix milliseconds.
    UnixMs,
}

impl SinceFormat {
    /// Parses the config value.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "rfc3339" => Ok(Self::Rfc3339),
            "unix" => Ok(Self::Unix),
            "unix_ms" => Ok(Self::UnixMs),
            other => Err(format!(
                "since_format {other:?}: expected rfc3339, unix or unix_ms"
            )),
        }
    }

    /// Formats a Unix-ms instant.
    pub fn format(self, ms: i64) -> String {
        let secs = ms.div_euclid(1000);
        match self {
            Self::UnixMs => ms.to_string(),
            Self::Unix => secs.to_string(),
            Self::Rfc3339 => OffsetDateTime::from_unix_timestamp(secs)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".into()),
        }
    }
}

/// A compiled reconciliation declaration.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The object type (`data.object`).
    pub object: String,
    /// Page request method.
    pub method: Method,
    /// Page request path (relative to `base_url`).
    pub path: String,
    /// Query template (values may hold `{since}`, `{page}`, `{cursor}`, `{page_size}`).
    pub query: BTreeMap<String, String>,
    /// JSON body template (search endpoints), same placeholders.
    pub body: Option<serde_json::Value>,
    /// Records of a page.
    pub records: Expr,
    /// Record id.
    pub id: Expr,
    /// Record version.
    pub version: Expr,
    /// Next page token or URL.
    pub next_page: Option<Expr>,
    /// How `{since}` is written.
    pub since_format: SinceFormat,
    /// `{since}` = high-water mark − overlap.
    pub overlap: Duration,
    /// First run: `{since}` = now − this.
    pub initial_lookback: Duration,
    /// `{page_size}`.
    pub page_size: Option<u32>,
    /// When `serve` runs it.
    pub schedule: Option<Schedule>,
    /// The connector's `base_url` path prefix (without trailing `/`), to recognize next-page
    /// URLs that already include it.
    pub base_prefix: String,
    /// `scheme://authority` of `base_url`: absolute next-page URLs must stay on it.
    pub base_origin: String,
}

/// What to fetch next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRef {
    /// The first page.
    First,
    /// A token for `{page}` / `{cursor}`.
    Token(String),
    /// A path-and-query (relative to the connector's base) to follow as is.
    Url(String),
}

impl PageRef {
    /// Decodes the stored form (see [`PageRef::encode`]).
    pub fn decode(stored: Option<&str>) -> PageRef {
        match stored {
            None => PageRef::First,
            Some(s) => match s.strip_prefix("url:") {
                Some(u) => PageRef::Url(u.to_owned()),
                None => PageRef::Token(s.strip_prefix("tok:").unwrap_or(s).to_owned()),
            },
        }
    }

    /// The stored form: `tok:...` or `url:...`; `None` for the first page.
    pub fn encode(&self) -> Option<String> {
        match self {
            PageRef::First => None,
            PageRef::Token(t) => Some(format!("tok:{t}")),
            PageRef::Url(u) => Some(format!("url:{u}")),
        }
    }
}

impl Spec {
    /// Compiles the declaration of `connector` (`None`: it declares no reconciliation).
    pub fn compile(
        engine: &Arc<JsonataEngine>,
        connector: &ConnectorConfig,
    ) -> Result<Option<Spec>, String> {
        let Some(r) = &connector.reconcile else {
            return Ok(None);
        };
        Self::from_config(engine, r, &connector.base_url).map(Some)
    }

    /// Compiles `r` for a connector whose base is `base_url`.
    pub fn from_config(
        engine: &Arc<JsonataEngine>,
        r: &ReconcileConfig,
        base_url: &str,
    ) -> Result<Spec, String> {
        let expr = |key: &str, src: &str| {
            Expr::compile(engine, src).map_err(|e| format!("reconcile.{key}: {e}"))
        };
        let method = Method::from_bytes(r.request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("reconcile.request.method {:?}", r.request.method))?;
        let (base_origin, base_prefix) = split_base(base_url)?;
        let schedule = match (&r.every, &r.cron) {
            (Some(every), _) => Some(Schedule::Every(*every)),
            (None, Some(cron)) => {
                Some(Schedule::cron(cron).map_err(|e| format!("reconcile.cron: {e}"))?)
            }
            (None, None) => None,
        };
        Ok(Spec {
            object: r.object.clone(),
            method,
            path: r.request.path.clone(),
            query: r.request.query.clone(),
            body: r.request.body.clone(),
            records: expr("records", &r.records)?,
            id: expr("id", &r.id)?,
            version: expr("version", &r.version)?,
            next_page: r
                .next_page
                .as_deref()
                .map(|s| expr("next_page", s))
                .transpose()?,
            since_format: SinceFormat::parse(&r.since_format)?,
            overlap: r.overlap,
            initial_lookback: r.initial_lookback,
            page_size: r.page_size,
            schedule,
            base_prefix,
            base_origin,
        })
    }

    /// The path-and-query of a page request.
    pub fn page_target(&self, since_ms: i64, page: &PageRef) -> String {
        if let PageRef::Url(u) = page {
            return u.clone();
        }
        let since = self.since_format.format(since_ms);
        let token = match page {
            PageRef::Token(t) => Some(t.as_str()),
            _ => None,
        };
        let page_size = self.page_size.map(|n| n.to_string());
        let mut q = form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (name, template) in &self.query {
            let mut value = template.clone();
            let mut empty = false;
            for (ph, v) in [
                ("{since}", Some(since.as_str())),
                ("{page}", token),
                ("{cursor}", token),
                ("{page_size}", page_size.as_deref()),
            ] {
                if value.contains(ph) {
                    match v {
                        Some(v) if !v.is_empty() => value = value.replace(ph, v),
                        _ => empty = true,
                    }
                }
            }
            if !empty {
                q.append_pair(name, &value);
                any = true;
            }
        }
        let query = q.finish();
        if any {
            format!("{}?{}", self.path, query)
        } else {
            self.path.clone()
        }
    }

    /// The JSON body of a page request (`None`: no body). For a followed URL a body is sent
    /// only with a non-GET method, with `{page}` empty.
    pub fn page_body(&self, since_ms: i64, page: &PageRef) -> Option<Vec<u8>> {
        let template = self.body.as_ref()?;
        let token = match page {
            PageRef::Token(t) => Some(t.as_str()),
            PageRef::Url(_) if self.method == Method::GET => return None,
            _ => None,
        };
        let since = self.since_format.format(since_ms);
        let page_size = self.page_size.map(|n| n.to_string());
        let subst = Subst {
            since: &since,
            token,
            page_size: page_size.as_deref(),
            page_size_num: self.page_size,
        };
        let body = subst.apply(template).unwrap_or(serde_json::Value::Null);
        Some(serde_json::to_vec(&body).expect("JSON serializes"))
    }

    /// Interprets a `next_page` value: empty = last page; `/...` or `http...` = a URL to
    /// follow (it must stay on the connector's origin: credentials go with it); else a token.
    pub fn next_ref(&self, value: Option<String>) -> Result<Option<PageRef>, String> {
        let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        if v.starts_with("http://") || v.starts_with("https://") {
            let rest = v.strip_prefix(&self.base_origin).ok_or_else(|| {
                "next page URL points outside the connector's base_url origin; refused".to_owned()
            })?;
            if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
                return Err(
                    "next page URL points outside the connector's base_url origin; refused".into(),
                );
            }
            return Ok(Some(PageRef::Url(self.relative(rest))));
        }
        if v.starts_with('/') {
            return Ok(Some(PageRef::Url(self.relative(&v))));
        }
        Ok(Some(PageRef::Token(v)))
    }

    /// An origin-relative path-and-query made relative to `base_url` (the stack prefixes the
    /// base path again).
    fn relative(&self, path_and_query: &str) -> String {
        let p = if path_and_query.is_empty() {
            "/"
        } else {
            path_and_query
        };
        if !self.base_prefix.is_empty()
            && let Some(rest) = p.strip_prefix(&self.base_prefix)
            && (rest.starts_with('/') || rest.starts_with('?'))
        {
            return rest.to_owned();
        }
        p.to_owned()
    }
}

/// Placeholder substitution inside a JSON body template.
struct Subst<'a> {
    since: &'a str,
    token: Option<&'a str>,
    page_size: Option<&'a str>,
    page_size_num: Option<u32>,
}

impl Subst<'_> {
    /// `None`: this value is an empty placeholder (its key is dropped).
    fn apply(&self, v: &serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value;
        Some(match v {
            Value::String(s) => {
                if s == "{page_size}" {
                    return self.page_size_num.map(Value::from);
                }
                let mut out = s.clone();
                for (ph, val) in [
                    ("{since}", Some(self.since)),
                    ("{page}", self.token),
                    ("{cursor}", self.token),
                    ("{page_size}", self.page_size),
                ] {
                    if out.contains(ph) {
                        match val {
                            Some(x) if !x.is_empty() => out = out.replace(ph, x),
                            _ if out == ph => return None,
                            _ => out = out.replace(ph, ""),
                        }
                    }
                }
                Value::String(out)
            }
            Value::Array(a) => Value::Array(a.iter().filter_map(|x| self.apply(x)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter_map(|(k, x)| Some((k.clone(), self.apply(x)?)))
                    .collect(),
            ),
            other => other.clone(),
        })
    }
}

fn split_base(base_url: &str) -> Result<(String, String), String> {
    let uri: http::Uri = base_url
        .parse()
        .map_err(|_| format!("base_url {base_url:?} is not a URL"))?;
    let (Some(scheme), Some(auth)) = (uri.scheme_str(), uri.authority()) else {
        return Err("base_url must be absolute".into());
    };
    Ok((
        format!("{scheme}://{auth}"),
        uri.path().trim_end_matches('/').to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(base: &str, query: &[(&str, &str)]) -> Spec {
        let cfg: ReconcileConfig = toml::from_str(&format!(
            r#"object = "contact"
               records = "results"
               id = "id"
               version = "updatedAt"
               next_page = "paging.next.after"
               page_size = 100
               request = {{ method = "get", path = "/crm/v3/objects/contacts", query = {{ {} }} }}"#,
            query
                .iter()
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .unwrap();
        Spec::from_config(&Arc::new(JsonataEngine::default()), &cfg, base).unwrap()
    }

    #[test]
    fn presets_ship_working_declarations() {
        let engine = Arc::new(JsonataEngine::default());
        let cases = [
            ("hubspot", "https://api.hubapi.com", "contact", Method::POST),
            (
                "salesforce",
                "https://acme.my.salesforce.com",
                "Contact",
                Method::GET,
            ),
            ("zendesk", "https://acme.zendesk.com", "ticket", Method::GET),
            (
                "shopify",
                "https://shop.myshopify.com/admin/api/2024-10",
                "order",
                Method::GET,
            ),
            ("github", "https://api.github.com", "issue", Method::GET),
        ];
        for (preset, base, object, method) in cases {
            let toml = format!(
                "[server]\n[environments.p]\napi_keys = [\"k\"]\n[connectors.c]\npreset = \"{preset}\"\nbase_url = \"{base}\"\nauth = {{ type = \"none\" }}\n"
            );
            let config =
                tidegate_config::Config::from_str(&toml, std::path::Path::new("t.toml"), &|_| {
                    Some("x".into())
                })
                .unwrap_or_else(|e| panic!("{preset}: {e}"));
            let spec = Spec::compile(&engine, &config.connectors["c"])
                .unwrap_or_else(|e| panic!("{preset}: {e}"))
                .unwrap_or_else(|| panic!("{preset} has no [reconcile]"));
            assert_eq!(spec.object, object, "{preset}");
            assert_eq!(spec.method, method, "{preset}");
            assert!(spec.next_page.is_some(), "{preset} pages");
            assert!(spec.schedule.is_some(), "{preset} is scheduled");
            let target = spec.page_target(1_795_946_400_000, &PageRef::First);
            assert!(target.starts_with(&spec.path), "{preset}: {target}");
        }
        // Shopify's Link header: the next URL is followed on the shop's origin, base path cut.
        let toml = "[server]\n[environments.p]\napi_keys = [\"k\"]\n[connectors.c]\npreset = \"shopify\"\nbase_url = \"https://shop.myshopify.com/admin/api/2024-10\"\nauth = { type = \"none\" }\n";
        let config =
            tidegate_config::Config::from_str(toml, std::path::Path::new("t.toml"), &|_| {
                Some("x".into())
            })
            .unwrap();
        let spec = Spec::compile(&engine, &config.connectors["c"])
            .unwrap()
            .unwrap();
        let mut headers = serde_json::Map::new();
        headers.insert("link".into(), serde_json::json!(
            "<https://shop.myshopify.com/admin/api/2024-10/orders.json?limit=250&page_info=abc>; rel=\"next\""));
        let b = tidegate_upstream::expr::Bindings {
            status: 200,
            headers,
        };
        let next = spec
            .next_page
            .as_ref()
            .unwrap()
            .eval_string(&serde_json::json!({"orders": []}), &b);
        assert_eq!(
            spec.next_ref(next).unwrap(),
            Some(PageRef::Url("/orders.json?limit=250&page_info=abc".into()))
        );
        // Zendesk: end_of_stream ends the run.
        let toml = toml
            .replace("shop.myshopify.com/admin/api/2024-10", "acme.zendesk.com")
            .replace("shopify", "zendesk");
        let config =
            tidegate_config::Config::from_str(&toml, std::path::Path::new("t.toml"), &|_| {
                Some("x".into())
            })
            .unwrap();
        let spec = Spec::compile(&engine, &config.connectors["c"])
            .unwrap()
            .unwrap();
        let e = spec.next_page.as_ref().unwrap();
        let b = tidegate_upstream::expr::Bindings::default();
        let more = serde_json::json!({"end_of_stream": false, "after_url": "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor=x"});
        assert_eq!(
            spec.next_ref(e.eval_string(&more, &b)).unwrap(),
            Some(PageRef::Url(
                "/api/v2/incremental/tickets/cursor.json?cursor=x".into()
            ))
        );
        let done =
            serde_json::json!({"end_of_stream": true, "after_url": "https://acme.zendesk.com/x"});
        assert_eq!(spec.next_ref(e.eval_string(&done, &b)).unwrap(), None);
    }

    #[test]
    fn since_formats() {
        let ms = 1_795_946_400_123;
        assert_eq!(SinceFormat::Rfc3339.format(ms), "2026-11-29T10:00:00Z");
        assert_eq!(SinceFormat::Unix.format(ms), "1795946400");
        assert_eq!(SinceFormat::UnixMs.format(ms), "1795946400123");
        assert!(SinceFormat::parse("iso").is_err());
    }

    #[test]
    fn empty_placeholders_drop_their_parameter() {
        let s = spec(
            "https://api.example.com",
            &[
                ("updatedAfter", "{since}"),
                ("after", "{page}"),
                ("limit", "{page_size}"),
            ],
        );
        let first = s.page_target(1_795_946_400_000, &PageRef::First);
        assert_eq!(
            first,
            "/crm/v3/objects/contacts?limit=100&updatedAfter=2026-11-29T10%3A00%3A00Z"
        );
        let next = s.page_target(1_795_946_400_000, &PageRef::Token("abc 1".into()));
        assert!(next.contains("after=abc+1"), "{next}");
        let soql = spec(
            "https://x.my.salesforce.com",
            &[(
                "q",
                "SELECT Id FROM Contact WHERE LastModifiedDate > {since}",
            )],
        );
        assert_eq!(
            soql.page_target(0, &PageRef::First),
            "/crm/v3/objects/contacts?q=SELECT+Id+FROM+Contact+WHERE+LastModifiedDate+%3E+1970-01-01T00%3A00%3A00Z"
        );
    }

    #[test]
    fn body_templates_substitute_and_drop_empty_placeholders() {
        let mut s = spec("https://api.hubapi.com", &[]);
        s.method = Method::POST;
        s.since_format = SinceFormat::UnixMs;
        s.body = Some(serde_json::json!({
            "filterGroups": [{ "filters": [{ "propertyName": "lastmodifieddate",
                "operator": "GTE", "value": "{since}" }] }],
            "limit": "{page_size}", "after": "{page}"
        }));
        let first: serde_json::Value =
            serde_json::from_slice(&s.page_body(1_000, &PageRef::First).unwrap()).unwrap();
        assert_eq!(first["filterGroups"][0]["filters"][0]["value"], "1000");
        assert_eq!(first["limit"], 100);
        assert!(
            first.get("after").is_none(),
            "empty placeholder drops the key"
        );
        let next: serde_json::Value =
            serde_json::from_slice(&s.page_body(1_000, &PageRef::Token("200".into())).unwrap())
                .unwrap();
        assert_eq!(next["after"], "200");
        s.body = None;
        assert!(s.page_body(0, &PageRef::First).is_none());
    }

    #[test]
    fn next_page_urls_stay_on_the_origin_and_lose_the_base_prefix() {
        let s = spec("https://api.example.com/v2", &[]);
        assert_eq!(s.next_ref(None).unwrap(), None);
        assert_eq!(s.next_ref(Some(" ".into())).unwrap(), None);
        assert_eq!(
            s.next_ref(Some("tok".into())).unwrap(),
            Some(PageRef::Token("tok".into()))
        );
        assert_eq!(
            s.next_ref(Some("https://api.example.com/v2/items?page=2".into()))
                .unwrap(),
            Some(PageRef::Url("/items?page=2".into()))
        );
        assert_eq!(
            s.next_ref(Some("/v2/items?c=1".into())).unwrap(),
            Some(PageRef::Url("/items?c=1".into()))
        );
        assert!(
            s.next_ref(Some("https://evil.example.com/v2/x".into()))
                .is_err()
        );
        assert!(
            s.next_ref(Some("https://api.example.com.evil.io/x".into()))
                .is_err()
        );
        for r in [
            PageRef::First,
            PageRef::Token("t".into()),
            PageRef::Url("/x?y=1".into()),
        ] {
            assert_eq!(PageRef::decode(r.encode().as_deref()), r);
        }
        assert_eq!(
            s.page_target(0, &PageRef::Url("/items?page=2".into())),
            "/items?page=2"
        );
    }
}
