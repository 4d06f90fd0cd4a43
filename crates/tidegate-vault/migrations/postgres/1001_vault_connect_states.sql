-- tidegate-vault: pending OAuth connect flows (state + PKCE verifier), single-use and expiring.
-- The verifier is sealed with its own data key like any other secret.
CREATE TABLE IF NOT EXISTS tg_vault_connect_states (
    state         TEXT PRIMARY KEY,
    connector     TEXT NOT NULL,
    environment   TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    verifier      BYTEA NOT NULL,
    wrapped_key   BYTEA NOT NULL,
    expires_at    BIGINT NOT NULL
);
