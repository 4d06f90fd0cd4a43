-- tidegate-events: the durable outbound queue, dead letters, inbound dedup ids, disabled
-- endpoints and claim-check tickets. Payloads are stored sealed (per-event data key wrapped by
-- the KEK); nothing here is a plaintext payload. Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS tg_event_queue (
    id              TEXT PRIMARY KEY,
    environment     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    wrapped_key     BLOB NOT NULL,
    sealed          BLOB NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tg_event_queue_due ON tg_event_queue (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS tg_event_queue_expiry ON tg_event_queue (expires_at);

CREATE TABLE IF NOT EXISTS tg_webhook_dedup (
    scope      TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, event_id)
);
CREATE INDEX IF NOT EXISTS tg_webhook_dedup_expiry ON tg_webhook_dedup (expires_at);

CREATE TABLE IF NOT EXISTS tg_event_endpoints_disabled (
    environment TEXT NOT NULL,
    url         TEXT NOT NULL,
    disabled_at INTEGER NOT NULL,
    PRIMARY KEY (environment, url)
);

CREATE TABLE IF NOT EXISTS tg_claims (
    id          TEXT PRIMARY KEY,
    object_key  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER
);
CREATE INDEX IF NOT EXISTS tg_claims_expiry ON tg_claims (expires_at);
