//! `tidegate presets list|show NAME`: the built-in provider catalog (CONTRACT §2 `preset`).
//!
//! `list` prints one line per preset with the facts an operator picks a preset for; `show`
//! prints the preset's TOML exactly as compiled in, ready to copy into a connector table.
//! Neither reads the config file.

use super::Failure;

/// `tidegate presets ...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PresetsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PresetsCommand {
    /// One line per built-in preset: category, base URL, rate-limit reading, webhook scheme,
    /// idempotency header.
    List,
    /// The preset's TOML, as compiled in.
    Show {
        /// The preset name (see `tidegate presets list`).
        name: String,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<(), Failure> {
    match args.command {
        PresetsCommand::List => {
            print!("{}", list_table());
            Ok(())
        }
        PresetsCommand::Show { name } => match tidegate_config::presets::source(&name) {
            Some(src) => {
                print!("{src}");
                Ok(())
            }
            None => Err(Failure::Invalid(format!(
                "unknown preset `{name}`; built-in presets: {}",
                tidegate_config::presets::list()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

/// The `list` output: an aligned text table.
fn list_table() -> String {
    let header = [
        "NAME",
        "CATEGORY",
        "BASE URL",
        "RATE LIMITS",
        "WEBHOOKS",
        "IDEMPOTENCY",
    ]
    .map(str::to_owned);
    let mut rows = vec![header];
    for name in tidegate_config::presets::list() {
        let src = tidegate_config::presets::source(name).unwrap_or_default();
        let table: toml::Table = src.parse().unwrap_or_default();
        let get = |path: &[&str]| -> Option<String> {
            let mut value = table.get(path[0])?;
            for key in &path[1..] {
                value = value.get(key)?;
            }
            value.as_str().map(str::to_owned)
        };
        let rate = get(&["rate_limit", "format"])
            .or_else(|| get(&["rate_limit", "remaining"]).map(|h| format!("headers ({h})")))
            .unwrap_or_else(|| "ietf".to_owned());
        let idempotency = match table.get("idempotency") {
            Some(_) => get(&["idempotency", "header"]).unwrap_or_else(|| "none".to_owned()),
            None => "unknown".to_owned(),
        };
        rows.push([
            name.to_owned(),
            get(&["category"]).unwrap_or_else(|| "-".to_owned()),
            get(&["base_url"]).unwrap_or_else(|| "(per tenant)".to_owned()),
            rate,
            get(&["webhooks", "verify"]).unwrap_or_else(|| "-".to_owned()),
            idempotency,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_listed_with_its_facts() {
        let table = list_table();
        let names: Vec<&str> = tidegate_config::presets::list().collect();
        assert_eq!(table.lines().count(), names.len() + 1);
        for name in names {
            assert!(
                table.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} missing:\n{table}"
            );
        }
        let slack = table.lines().find(|l| l.starts_with("slack ")).unwrap();
        assert!(
            slack.contains("https://slack.com/api")
                && slack.contains("slack")
                && slack.contains("none"),
            "{slack}"
        );
        let stripe = table.lines().find(|l| l.starts_with("stripe ")).unwrap();
        assert!(stripe.contains("Idempotency-Key"), "{stripe}");
    }

    #[test]
    fn show_rejects_an_unknown_preset() {
        let err = run(Args {
            command: PresetsCommand::Show {
                name: "nope".into(),
            },
        })
        .unwrap_err();
        assert!(matches!(err, Failure::Invalid(m) if m.contains("salesforce")));
    }
}
