-- tidegate-audit: the append-only, hash-chained admin audit trail.
-- Versions 4000+ belong to tidegate-audit; other crates keep their own tables (and migration
-- versions) in the same database, which is why every tidegate migrator ignores unknown versions.
CREATE TABLE IF NOT EXISTS tidegate_admin_trail (
    seq        INTEGER PRIMARY KEY,   -- 1, 2, 3, ... without gaps: a gap is a deleted entry
    at         TEXT    NOT NULL,      -- RFC 3339, UTC
    actor      TEXT    NOT NULL,      -- "admin:<hash prefix of the admin key>" or "cli:<user>"
    action     TEXT    NOT NULL,      -- e.g. "account.reveal", "account.delete", "keys.rotate"
    target     TEXT    NOT NULL,      -- e.g. "account:acc_123"
    outcome    TEXT    NOT NULL,      -- "ok" | "refused" | "failed"
    detail     TEXT,                  -- e.g. the operator's --reason for a reveal
    prev_hash  TEXT    NOT NULL,      -- hex SHA-256 of the previous entry (64 zeros for seq 1)
    entry_hash TEXT    NOT NULL       -- hex SHA-256(prev_hash bytes || canonical JSON of the entry)
);

-- The head of the chain, updated in the same transaction as each append. It lets `verify`
-- notice that the newest entries were deleted (a truncated chain is otherwise still a valid one).
CREATE TABLE IF NOT EXISTS tidegate_admin_trail_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        INTEGER NOT NULL,
    entry_hash TEXT    NOT NULL
);

INSERT OR IGNORE INTO tidegate_admin_trail_head (id, seq, entry_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
