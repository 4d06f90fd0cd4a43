//! Every example in `examples/` runs with the one-line command README.md gives for it.
//!
//! The commands are read from README.md's "Examples" section (so the README and this test cannot
//! drift apart), and each is run as written — `cargo run --example NAME ...` from the repository
//! root — checking exit status 0 and a line of output that shows the example did its job. The
//! load-test example additionally gets short-duration environment variables so CI stays fast.
//!
//! An `examples/*.rs` file without a README command fails `every_example_has_a_readme_command`:
//! a new example must be documented (and is then run here).
#![forbid(unsafe_code)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `example name → command` from the inline code spans of README.md's `## Examples` section
/// that contain `cargo run ... --example NAME`.
fn readme_commands() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Examples"))
        .expect("README.md has an `## Examples` section");
    let mut commands = BTreeMap::new();
    for (i, span) in section.split('`').enumerate() {
        // Odd pieces are inside backticks.
        if i % 2 == 0 || !span.contains("cargo run") {
            continue;
        }
        let words: Vec<&str> = span.split_whitespace().collect();
        if let Some(pos) = words.iter().position(|w| *w == "--example") {
            let name = words.get(pos + 1).expect("a name after --example");
            commands
                .entry((*name).to_owned())
                .or_insert_with(|| span.trim().to_owned());
        }
    }
    commands
}

/// The `examples/*.rs` files (single-file examples; Cargo also allows `examples/NAME/main.rs`).
fn example_files() -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).expect("examples/") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        } else if path.join("main.rs").is_file() {
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

struct Output {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `command` (`[VAR=value ...] cargo ARGS...`, as written in the README) from the repository
/// root with `extra_env` added, killing it after `limit`.
fn run_readme_command(command: &str, extra_env: &[(&str, &str)], limit: Duration) -> Output {
    let mut words = command.split_whitespace().peekable();
    let mut env = Vec::new();
    while let Some(word) = words.peek() {
        match word.split_once('=') {
            Some((name, value)) if !name.is_empty() && !name.starts_with('-') => {
                env.push((name.to_owned(), value.to_owned()));
                words.next();
            }
            _ => break,
        }
    }
    assert_eq!(
        words.next(),
        Some("cargo"),
        "README command must start with cargo: {command}"
    );
    // The cargo that runs this test, so toolchain overrides carry over.
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(words)
        .current_dir(root())
        .envs(env)
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null());
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().expect("spawn cargo");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{command}` still running after {limit:?} (includes building it); stdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Runs the README command for `example` and returns its stdout after checking exit 0.
fn run_example(example: &str, extra_env: &[(&str, &str)]) -> String {
    let commands = readme_commands();
    let command = commands
        .get(example)
        .unwrap_or_else(|| panic!("README.md's Examples section has no command for {example}"));
    assert!(
        Path::new(&root().join("examples").join(format!("{example}.rs"))).is_file(),
        "examples/{example}.rs is missing"
    );
    let out = run_readme_command(command, extra_env, Duration::from_secs(900));
    assert!(
        out.status.success(),
        "`{command}` exited with {}; stdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
}

fn assert_line(stdout: &str, needle: &str) {
    assert!(
        stdout.lines().any(|l| l.contains(needle)),
        "expected a line containing {needle:?}; stdout:\n{stdout}"
    );
}

#[test]
fn every_example_has_a_readme_command() {
    let commands = readme_commands();
    let missing: Vec<_> = example_files()
        .into_iter()
        .filter(|name| !commands.contains_key(name))
        .collect();
    assert!(
        missing.is_empty(),
        "examples without a command in README.md's Examples section: {missing:?}"
    );
    // ...and every README command names an example that exists.
    let files = example_files();
    for name in commands.keys() {
        assert!(
            files.contains(name),
            "README names example {name}, which is not in examples/"
        );
    }
}

#[test]
fn hubspot_client_runs_as_documented() {
    let stdout = run_example("hubspot_client", &[]);
    assert_line(&stdout, "GET /crm/v3/objects/contacts -> 200");
    // The 429 is passed back, not retried: exactly one upstream call.
    assert_line(
        &stdout,
        "GET /crm/v3/objects/deals -> 429 Too Many Requests",
    );
    assert_line(&stdout, "upstream calls: 1");
    assert_line(&stdout, "error code=upstream_unavailable retryable=true");
}

#[test]
fn breaker_loadtest_runs_as_documented() {
    // Short cycles so the breaker opens within a 4-second run.
    let stdout = run_example(
        "breaker_loadtest",
        &[
            ("LOADTEST_SECONDS", "4"),
            ("LOADTEST_HEALTHY_S", "1"),
            ("LOADTEST_FAILING_S", "2"),
            ("LOADTEST_RPS", "200"),
        ],
    );
    let opened = stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("breaker opened ")?
                .strip_suffix(" times")?
                .parse::<u32>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `breaker opened N times` line; stdout:\n{stdout}"));
    assert!(
        opened >= 1,
        "the breaker never opened while the upstream failed; stdout:\n{stdout}"
    );
    let refused = stdout
        .lines()
        .find_map(|l| {
            let rest = l.split_once("circuit_open ")?.1;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .unwrap_or_else(|| panic!("no summary `circuit_open N`; stdout:\n{stdout}"));
    assert!(refused > 0, "no request was refused by the open breaker");
}

#[test]
fn sync_job_runs_as_documented() {
    if !root().join("examples/sync_job.rs").is_file() {
        eprintln!("SKIPPED: examples/sync_job.rs is not in this tree");
        return;
    }
    let stdout = run_example("sync_job", &[]);
    // Every changed record reaches the customer, the dropped webhooks via reconciliation.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("customer received "))
        .unwrap_or_else(|| panic!("no `customer received` line; stdout:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    // "customer received R record.changed for C changed records (W via webhooks, M via reconciliation) ..."
    let received: u64 = words[2].parse().expect("received count");
    let changed: u64 = words[5].parse().expect("changed count");
    assert_eq!(received, changed, "{line}");
    assert!(line.contains("via reconciliation"), "{line}");
    assert_line(&stdout, "reconciled crm ");
}
