//! The hash chain itself, with no I/O: how an entry is hashed and how a sequence of stored
//! entries is checked. Kept apart from the stores so that SQLite and PostgreSQL are verified by
//! exactly the same code.
//!
//! `entry_hash = SHA-256(prev_hash || canonical JSON of the entry)`, where `prev_hash` is the raw
//! 32 bytes of the previous entry's hash (32 zero bytes for the first entry) and the canonical
//! JSON is the object `{action, actor, at, detail, outcome, seq, target}` with keys in that
//! (lexicographic) order, no insignificant whitespace, and serde_json's string escaping.

use super::{ChainStatus, Entry};

/// The `prev_hash` of the first entry: 32 zero bytes, hex encoded.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical JSON of an entry: the bytes that are hashed.
///
/// Written field by field in a fixed (lexicographic) key order rather than through a
/// `serde_json::Map`, whose order depends on whether some crate in the build enabled
/// serde_json's `preserve_order` feature: a hash must not change with feature unification.
/// String escaping is serde_json's, which is deterministic.
pub fn canonical_json(entry: &Entry) -> String {
    let s = |v: &str| serde_json::to_string(v).expect("a string always serializes");
    format!(
        "{{\"action\":{},\"actor\":{},\"at\":{},\"detail\":{},\"outcome\":{},\"seq\":{},\"target\":{}}}",
        s(&entry.action),
        s(&entry.actor),
        s(&entry.at),
        entry.detail.as_deref().map_or_else(|| "null".to_owned(), s),
        s(&entry.outcome),
        entry.seq,
        s(&entry.target)
    )
}

/// `hex(SHA-256(prev_hash bytes || canonical JSON))`. `None` if `prev_hash` is not 64 hex digits.
pub fn entry_hash(prev_hash: &str, entry: &Entry) -> Option<String> {
    let prev = hex::decode(prev_hash).ok().filter(|b| b.len() == 32)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&prev);
    ctx.update(canonical_json(entry).as_bytes());
    Some(hex::encode(ctx.finish().as_ref()))
}

/// Walks stored entries (in ascending `seq` order) and the recorded head, and reports the first
/// place where the chain does not hold.
#[derive(Debug)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    broken: Option<ChainStatus>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            broken: None,
        }
    }
}

impl Verifier {
    /// Feeds the next stored entry. After the first break, further entries are ignored: the
    /// report names the earliest entry that cannot be trusted.
    pub fn push(&mut self, entry: &Entry) {
        if self.broken.is_some() {
            return;
        }
        if entry.seq != self.expected_seq {
            let reason = if entry.seq > self.expected_seq {
                format!(
                    "entry {} is missing (the next stored entry is {}): entries were deleted",
                    self.expected_seq, entry.seq
                )
            } else {
                format!("entry {} appears out of order", entry.seq)
            };
            self.break_at(self.expected_seq, reason);
            return;
        }
        if entry.prev_hash != self.prev_hash {
            self.break_at(
                entry.seq,
                format!(
                    "entry {} does not link to entry {}: prev_hash differs from that entry's hash",
                    entry.seq,
                    entry.seq - 1
                ),
            );
            return;
        }
        match entry_hash(&entry.prev_hash, entry) {
            Some(h) if h == entry.entry_hash => {
                self.prev_hash = h;
                self.expected_seq += 1;
            }
            _ => self.break_at(
                entry.seq,
                format!(
                    "entry {} was altered: its content no longer matches its entry_hash",
                    entry.seq
                ),
            ),
        }
    }

    /// Ends the walk against the head recorded at the last append.
    pub fn finish(mut self, head_seq: i64, head_hash: &str) -> ChainStatus {
        if let Some(b) = self.broken.take() {
            return b;
        }
        let last_seq = self.expected_seq - 1;
        if head_seq > last_seq {
            return ChainStatus::Broken {
                at_seq: last_seq + 1,
                reason: format!(
                    "entries {}..={} are missing: the head records {} entries but only {} are stored",
                    last_seq + 1,
                    head_seq,
                    head_seq,
                    last_seq
                ),
            };
        }
        if head_seq < last_seq {
            return ChainStatus::Broken {
                at_seq: head_seq + 1,
                reason: format!(
                    "entry {} was inserted outside of an append: the head records {} entries",
                    head_seq + 1,
                    head_seq
                ),
            };
        }
        if head_hash != self.prev_hash {
            return ChainStatus::Broken {
                at_seq: last_seq.max(1),
                reason: "the recorded head hash differs from the last entry's hash".into(),
            };
        }
        ChainStatus::Ok {
            entries: last_seq,
            head_hash: self.prev_hash,
        }
    }

    fn break_at(&mut self, at_seq: i64, reason: String) {
        self.broken = Some(ChainStatus::Broken { at_seq, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: &str, action: &str) -> Entry {
        let mut e = Entry {
            seq,
            at: "2026-11-29T10:00:00Z".into(),
            actor: "cli:ops".into(),
            action: action.into(),
            target: "account:acc_1".into(),
            outcome: "ok".into(),
            detail: None,
            prev_hash: prev.into(),
            entry_hash: String::new(),
        };
        e.entry_hash = entry_hash(prev, &e).unwrap();
        e
    }

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_HASH.to_owned(), |e| e.entry_hash.clone());
            out.push(entry(seq, &prev, "account.delete"));
        }
        out
    }

    fn verify(entries: &[Entry], head_seq: i64, head_hash: &str) -> ChainStatus {
        let mut v = Verifier::default();
        entries.iter().for_each(|e| v.push(e));
        v.finish(head_seq, head_hash)
    }

    #[test]
    fn canonical_json_has_sorted_keys_and_no_whitespace() {
        let e = entry(7, GENESIS_HASH, "keys.rotate");
        assert_eq!(
            canonical_json(&e),
            r#"{"action":"keys.rotate","actor":"cli:ops","at":"2026-11-29T10:00:00Z","detail":null,"outcome":"ok","seq":7,"target":"account:acc_1"}"#
        );
    }

    #[test]
    fn canonical_json_escapes_like_json_and_round_trips() {
        let mut e = entry(1, GENESIS_HASH, "account.reveal");
        e.detail = Some("quote \" backslash \\ newline \n é".into());
        let text = canonical_json(&e);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["detail"], "quote \" backslash \\ newline \n é");
        assert_eq!(parsed["seq"], 1);
    }

    #[test]
    fn hash_is_sha256_of_prev_bytes_then_json() {
        // Hand-built: 32 zero bytes followed by the canonical JSON, hashed independently.
        let e = entry(1, GENESIS_HASH, "account.reveal");
        let mut input = vec![0u8; 32];
        input.extend_from_slice(canonical_json(&e).as_bytes());
        let expected =
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input).as_ref());
        assert_eq!(e.entry_hash, expected);
        assert_eq!(entry_hash("zz", &e), None);
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(4);
        let head = c[3].entry_hash.clone();
        assert_eq!(
            verify(&c, 4, &head),
            ChainStatus::Ok {
                entries: 4,
                head_hash: head
            }
        );
        assert!(matches!(
            verify(&[], 0, GENESIS_HASH),
            ChainStatus::Ok { entries: 0, .. }
        ));
    }

    #[test]
    fn edited_entry_breaks_at_its_seq() {
        let mut c = chain(4);
        c[1].target = "account:someone_else".into();
        let head = c[3].entry_hash.clone();
        assert!(matches!(
            verify(&c, 4, &head),
            ChainStatus::Broken { at_seq: 2, .. }
        ));
    }

    #[test]
    fn rehashed_edit_breaks_at_the_next_link() {
        let mut c = chain(4);
        c[1].outcome = "refused".into();
        c[1].entry_hash = entry_hash(&c[1].prev_hash, &c[1]).unwrap();
        let head = c[3].entry_hash.clone();
        assert!(matches!(
            verify(&c, 4, &head),
            ChainStatus::Broken { at_seq: 3, .. }
        ));
    }

    #[test]
    fn deleted_middle_entry_breaks_at_the_missing_seq() {
        let mut c = chain(4);
        c.remove(2);
        let head = c[2].entry_hash.clone();
        assert!(matches!(
            verify(&c, 4, &head),
            ChainStatus::Broken { at_seq: 3, .. }
        ));
    }

    #[test]
    fn deleted_newest_entry_is_caught_by_the_head() {
        let mut c = chain(4);
        let head = c[3].entry_hash.clone();
        c.pop();
        assert!(matches!(
            verify(&c, 4, &head),
            ChainStatus::Broken { at_seq: 4, .. }
        ));
    }
}
