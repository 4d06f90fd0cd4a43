-- tidegate-vault: integrated accounts with envelope-encrypted credentials.
-- Timestamps are unix milliseconds. `version` is the compare-and-swap fence of every write.
CREATE TABLE IF NOT EXISTS tg_vault_accounts (
    id                TEXT PRIMARY KEY,
    connector         TEXT NOT NULL,
    environment       TEXT NOT NULL,
    auth_type         TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_reason     TEXT,
    credentials       BLOB NOT NULL,
    wrapped_key       BLOB NOT NULL,
    key_id            TEXT NOT NULL,
    expires_at        BIGINT,
    last_refreshed_at BIGINT,
    refresh_count     BIGINT NOT NULL DEFAULT 0,
    version           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tg_vault_accounts_due ON tg_vault_accounts (status, expires_at);
