-- tidegate-reconcile: one row per (connector, account, object): the high-water mark (start of
-- the last completed run), the run in progress (its start, its {since} and the page token of
-- the next page to fetch) and the last run's outcome. No record data. Times are Unix ms.
CREATE TABLE IF NOT EXISTS tg_reconcile_state (
    connector       TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    object          TEXT NOT NULL,
    hwm             BIGINT,
    run_started_at  BIGINT,
    run_since       BIGINT,
    run_next_page   TEXT,
    run_pages       BIGINT NOT NULL DEFAULT 0,
    run_scanned     BIGINT NOT NULL DEFAULT 0,
    run_missed      BIGINT NOT NULL DEFAULT 0,
    last_started_at BIGINT,
    last_ended_at   BIGINT,
    last_scanned    BIGINT NOT NULL DEFAULT 0,
    last_missed     BIGINT NOT NULL DEFAULT 0,
    last_outcome    TEXT,
    last_error      TEXT,
    PRIMARY KEY (connector, account_id, object)
);
