//! Relative paths resolve against the config file's directory, from any working directory.

use std::path::Path;

use tidegate_config::Config;

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("etc");
    std::fs::create_dir(&conf_dir).unwrap();
    let path = conf_dir.join("tidegate.toml");
    std::fs::write(
        &path,
        r#"[server]
[storage]
url = "sqlite:data/db.sqlite?mode=rwc"
[keys]
path = "secrets/master.key"
[claim_check]
url = "file://claims"
[logging]
file = "../logs/boundary.log"
[environments.dev]
api_keys = ["k"]
[connectors.c]
base_url = "https://c.example"
"#,
    )
    .unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.source_path.as_deref(), Some(path.as_path()));
    let c = conf_dir.display();
    assert_eq!(
        config.storage.url,
        format!("sqlite://{c}/data/db.sqlite?mode=rwc")
    );
    assert_eq!(
        config.keys.path.as_deref(),
        Some(conf_dir.join("secrets/master.key").as_path())
    );
    assert_eq!(config.claim_check.url, format!("file://{c}/claims"));
    assert_eq!(
        config.logging.file.as_deref(),
        Some(conf_dir.join("../logs/boundary.log").as_path())
    );
}

#[test]
fn absolute_paths_and_non_file_urls_are_kept() {
    let src = r#"[server]
[storage]
url = "postgres://postgres@127.0.0.1/test"
[keys]
path = "/var/lib/tidegate/master.key"
[claim_check]
url = "s3://bucket/prefix"
[environments.dev]
api_keys = ["k"]
[connectors.c]
base_url = "https://c.example"
"#;
    let config = Config::from_str(src, Path::new("/etc/tidegate/tidegate.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.storage.url, "postgres://postgres@127.0.0.1/test");
    assert_eq!(
        config.keys.path.as_deref(),
        Some(Path::new("/var/lib/tidegate/master.key"))
    );
    assert_eq!(config.claim_check.url, "s3://bucket/prefix");
}
