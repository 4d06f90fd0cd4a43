//! The loader never panics, whatever it is given, and always either loads or explains.

use std::path::Path;

use proptest::prelude::*;
use tidegate_config::Config;

const CONTRACT: &str = include_str!("../data/contract.toml");

fn env(name: &str) -> Option<String> {
    name.len()
        .is_multiple_of(2)
        .then(|| format!("value-of-{name}"))
}

fn check(src: &str) {
    match Config::from_str(src, Path::new("t.toml"), &env) {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors.iter() {
                assert!(e.line >= 1 && e.col >= 1, "{e}");
                assert!(
                    e.line <= src.lines().count().max(1) + 1,
                    "{e} beyond the text"
                );
                assert!(!e.message.is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        check(&src);
    }

    #[test]
    fn toml_shaped_text_never_panics(
        lines in prop::collection::vec(
            "(\\[(server|connectors\\.[a-z]{1,3}|environments\\.[a-z]{1,3}|logging|keys)\\]|[a-z_]{1,12} = (\"[^\"\\\\]{0,12}\"|[0-9]{1,4}|\\[\"[a-z0-9${}:-]{0,8}\"\\]|\\{ [a-z_]{1,8} = \"[a-z0-9${}]{0,6}\" \\}))",
            0..20,
        )
    ) {
        check(&lines.join("\n"));
    }

    /// The contract example with one line replaced by noise: whatever breaks is reported with
    /// a location inside the file.
    #[test]
    fn a_damaged_valid_config_is_explained(line in 0usize..60, noise in "[a-z_ =\"\\[\\]{}$0-9.,%-]{0,30}") {
        let mut lines: Vec<&str> = CONTRACT.lines().collect();
        let at = line % lines.len();
        lines[at] = &noise;
        check(&lines.join("\n"));
    }
}
