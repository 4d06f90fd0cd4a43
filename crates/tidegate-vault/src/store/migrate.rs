//! The vault's migrations, embedded at compile time (no `sqlx` macros needed).
//!
//! Versions 1000–1999 belong to the vault; `ignore_missing` lets other crates keep their own
//! versions (events 2000+, reconcile 3000+) in the same `_sqlx_migrations` table.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1000,
        "vault accounts",
        include_str!("../../migrations/sqlite/1000_vault_accounts.sql"),
    ),
    (
        1001,
        "vault connect states",
        include_str!("../../migrations/sqlite/1001_vault_connect_states.sql"),
    ),
];

const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1000,
        "vault accounts",
        include_str!("../../migrations/postgres/1000_vault_accounts.sql"),
    ),
    (
        1001,
        "vault connect states",
        include_str!("../../migrations/postgres/1001_vault_connect_states.sql"),
    ),
];

/// A migrator over `(version, description, sql)` entries that tolerates versions it does not
/// know: every tidegate crate (vault 1000+, events 2000+, reconcile 3000+, audit trail 4000+)
/// keeps its own migrations in the one `_sqlx_migrations` table of the shared database, and each
/// runs only its own list through this one function.
pub fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = list
        .iter()
        .map(|(version, desc, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*desc),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut m = Migrator::with_migrations(migrations);
    m.set_ignore_missing(true);
    m
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}
