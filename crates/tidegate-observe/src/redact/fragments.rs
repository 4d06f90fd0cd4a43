//! "Does this name contain any of these fragments?" in one pass over the name.
//!
//! The redactor asks it for every header name of every logged request (and every query
//! parameter name): ten `str::contains` calls each set up a substring searcher for a haystack
//! of a dozen bytes. Here the name is walked once and a fragment is compared only where its
//! first byte occurs.

/// A fixed set of non-empty ASCII fragments (at most 32).
pub(crate) struct Fragments {
    needles: &'static [&'static str],
    /// For each byte, the needles that start with it (bit `k`: `needles[k]`).
    starting_with: [u32; 256],
}

impl Fragments {
    /// # Panics
    /// At compile time, when a fragment is empty or there are more than 32.
    pub(crate) const fn new(needles: &'static [&'static str]) -> Self {
        assert!(needles.len() <= 32, "at most 32 fragments");
        let mut starting_with = [0u32; 256];
        let mut i = 0;
        while i < needles.len() {
            starting_with[needles[i].as_bytes()[0] as usize] |= 1 << i;
            i += 1;
        }
        Fragments {
            needles,
            starting_with,
        }
    }

    /// Whether `hay` contains any of the fragments (as `needles.iter().any(|f| hay.contains(f))`).
    pub(crate) fn found_in(&self, hay: &str) -> bool {
        let hay = hay.as_bytes();
        hay.iter().enumerate().any(|(i, &c)| {
            // Only the needles that start with this byte are compared.
            let mut candidates = self.starting_with[usize::from(c)];
            while candidates != 0 {
                let k = candidates.trailing_zeros() as usize;
                if hay[i..].starts_with(self.needles[k].as_bytes()) {
                    return true;
                }
                candidates &= candidates - 1;
            }
            false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SET: Fragments = Fragments::new(&["token", "auth", "api-key", "apikey", "key", "é"]);

    #[test]
    fn finds_fragments_anywhere() {
        assert!(SET.found_in("x-auth-token"));
        assert!(SET.found_in("authorization"));
        assert!(SET.found_in("hapikey"));
        assert!(SET.found_in("café"));
        assert!(!SET.found_in("content-type"));
        assert!(!SET.found_in(""));
    }

    proptest! {
        #[test]
        fn same_answer_as_contains(hay in "[a-z-éx]{0,24}|.{0,24}") {
            let expected = SET.needles.iter().any(|n| hay.contains(n));
            prop_assert_eq!(SET.found_in(&hay), expected);
        }
    }
}
