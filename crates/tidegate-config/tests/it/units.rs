//! Durations and sizes: table tests live in the crate; here, properties.

use std::time::Duration;

use proptest::prelude::*;
use tidegate_config::{format_duration, format_size, parse_duration, parse_size};

#[test]
fn table() {
    let cases: &[(&str, Duration)] = &[
        ("250ms", Duration::from_millis(250)),
        ("15s", Duration::from_secs(15)),
        ("5m", Duration::from_secs(300)),
        ("1h", Duration::from_secs(3600)),
        ("30d", Duration::from_secs(2_592_000)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text).as_ref(), Ok(want));
    }
    let sizes: &[(&str, u64)] = &[
        ("64KiB", 65_536),
        ("10MiB", 10_485_760),
        ("2GiB", 2_147_483_648),
        ("64KB", 64_000),
        ("10MB", 10_000_000),
        ("2GB", 2_000_000_000),
    ];
    for (text, want) in sizes {
        assert_eq!(parse_size(text).as_ref(), Ok(want));
    }
}

proptest! {
    #[test]
    fn durations_round_trip(ms in 0u64..=10_000_000_000_000) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn sub_millisecond_durations_round_trip(ns in 0u64..=u64::MAX / 4) {
        let d = Duration::from_nanos(ns);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn sizes_round_trip(bytes in any::<u64>()) {
        prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
    }

    #[test]
    fn parsing_never_panics(s in "\\PC{0,24}") {
        let _ = parse_duration(&s);
        let _ = parse_size(&s);
    }

    #[test]
    fn number_unit_shapes_never_panic(n in "[0-9.]{0,40}", unit in "(ms|s|m|h|d|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|x)") {
        let s = format!("{n}{unit}");
        let _ = parse_duration(&s);
        let _ = parse_size(&s);
    }

    #[test]
    fn a_valid_duration_scales_with_its_unit(n in 0u64..1_000_000) {
        prop_assert_eq!(parse_duration(&format!("{n}m")), Ok(Duration::from_secs(n * 60)));
        prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
    }
}
