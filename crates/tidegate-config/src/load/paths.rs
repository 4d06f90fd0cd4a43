//! Relative paths in a config are relative to the config file's directory (CONTRACT §2), not
//! to the process's working directory: `tidegate --config /etc/tidegate/tidegate.toml serve`
//! must find `./tidegate-data/` next to the config wherever it is started from.

use std::path::{Component, Path, PathBuf};

use crate::Config;

pub(crate) fn resolve(config: &mut Config, base: &Path) {
    if let Some(p) = &mut config.keys.path {
        *p = join(base, p);
    }
    if let Some(p) = &mut config.logging.file {
        *p = join(base, p);
    }
    config.storage.url = resolve_url(&config.storage.url, &["sqlite://", "sqlite:"], base);
    config.claim_check.url = resolve_url(&config.claim_check.url, &["file://"], base);
}

/// `base/p` for a relative `p` (without a leading `./`), `p` itself when absolute.
pub(crate) fn join(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || base.as_os_str().is_empty() {
        return p.to_owned();
    }
    let rest: PathBuf = p
        .components()
        .skip_while(|c| matches!(c, Component::CurDir))
        .collect();
    base.join(rest)
}

/// Rewrites `scheme + relative path [?query]` to `scheme + absolute-ish path [?query]`, for the
/// first matching scheme prefix. In-memory SQLite and absolute paths are left alone.
fn resolve_url(url: &str, schemes: &[&str], base: &Path) -> String {
    let Some((scheme, rest)) = schemes
        .iter()
        .find_map(|s| url.strip_prefix(s).map(|rest| (*s, rest)))
    else {
        return url.to_owned();
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty()
        || path.starts_with(':')
        || path.starts_with('/')
        || base.as_os_str().is_empty()
    {
        return url.to_owned();
    }
    let joined = join(base, Path::new(path));
    // Keep the `//` form for absolute results (`sqlite:///abs/db`, `file:///abs/dir`).
    let scheme = if scheme == "sqlite:" {
        "sqlite://"
    } else {
        scheme
    };
    let mut out = format!("{scheme}{}", joined.display());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_resolve_against_the_config_dir() {
        let base = Path::new("/etc/tidegate");
        assert_eq!(
            resolve_url(
                "sqlite://./tidegate-data/tidegate.db",
                &["sqlite://", "sqlite:"],
                base
            ),
            "sqlite:///etc/tidegate/tidegate-data/tidegate.db"
        );
        assert_eq!(
            resolve_url("sqlite:data/x.db?mode=rwc", &["sqlite://", "sqlite:"], base),
            "sqlite:///etc/tidegate/data/x.db?mode=rwc"
        );
        assert_eq!(
            resolve_url("sqlite::memory:", &["sqlite://", "sqlite:"], base),
            "sqlite::memory:"
        );
        assert_eq!(
            resolve_url("sqlite:///var/db", &["sqlite://", "sqlite:"], base),
            "sqlite:///var/db"
        );
        assert_eq!(
            resolve_url("postgres://u@h/db", &["sqlite://", "sqlite:"], base),
            "postgres://u@h/db"
        );
        assert_eq!(
            resolve_url("file://./tidegate-data/claims", &["file://"], base),
            "file:///etc/tidegate/tidegate-data/claims"
        );
        assert_eq!(resolve_url("memory://", &["file://"], base), "memory://");
        assert_eq!(
            join(base, Path::new("./a/b")),
            PathBuf::from("/etc/tidegate/a/b")
        );
        assert_eq!(join(base, Path::new("/abs")), PathBuf::from("/abs"));
        assert_eq!(join(Path::new(""), Path::new("./a")), PathBuf::from("./a"));
    }
}
