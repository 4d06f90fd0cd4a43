-- tidegate-events: the ledger of delivered record versions (CONTRACT §8), shared by the webhook
-- path and reconciliation. Ids and versions only, never a payload. Rows are deleted after the
-- retention window (default 30 days). Times are Unix milliseconds.
CREATE TABLE IF NOT EXISTS tg_delivered_versions (
    connector    TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    object       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    version      TEXT NOT NULL,
    source       TEXT NOT NULL,
    delivered_at BIGINT NOT NULL,
    PRIMARY KEY (connector, account_id, object, record_id, version)
);
CREATE INDEX IF NOT EXISTS tg_delivered_versions_age ON tg_delivered_versions (delivered_at);
