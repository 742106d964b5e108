//! Running behind a transaction-mode connection pooler (PgBouncer with
//! `pool_mode = transaction`, as platforms run PostgreSQL).
//!
//! Such a pooler gives a client a server connection for one transaction
//! only, so nothing may outlive a transaction: named prepared statements,
//! the startup `options` parameter, session settings, session advisory
//! locks and temporary tables all belong to a session. molingest learns
//! that it is behind one from `--pooler transaction` (or
//! `MOLINGEST_POOLER=transaction`), set once at start-up, and then:
//!
//! - prepares every statement unnamed (never `sqlx_s_N`): [`query`],
//!   [`query_scalar`], [`query_as`] are used instead of sqlx's;
//! - sends no startup `options` and no `extra_float_digits` (PgBouncer
//!   refuses both); the bookkeeping statement timeout is set per
//!   transaction ([`super::tenant_bookkeeping`]);
//! - creates the staging table `ON COMMIT DROP` in each batch's transaction;
//! - refuses `migrate`, which needs a session (sqlx's migration lock).
//!
//! In both modes: every statement with parameters runs inside a transaction
//! (sqlx sends an unnamed statement's Parse and its Bind as two round trips,
//! each ended by Sync: outside a transaction a pooler may give them to two
//! different server connections), and statements that cannot run in one
//! (`CREATE DATABASE`) take the simple protocol; runs are kept apart by
//! leases (rows), not session advisory locks ([`crate::load::runs::Leases`]).
//! The direct path keeps sqlx's cached named statements (one round trip a
//! statement instead of two).

use std::sync::atomic::{AtomicBool, Ordering};

static TRANSACTION_POOLER: AtomicBool = AtomicBool::new(false);

/// Say that connections go through a transaction-mode pooler (start-up).
pub fn set_transaction_pooler(on: bool) {
    TRANSACTION_POOLER.store(on, Ordering::Relaxed);
}

/// Whether connections go through a transaction-mode pooler.
pub fn transaction_pooler() -> bool {
    TRANSACTION_POOLER.load(Ordering::Relaxed)
}

/// What the user passes to say so.
pub const HOW_TO_SAY_SO: &str = "--pooler transaction (or MOLINGEST_POOLER=transaction)";

/// [`sqlx::query`], prepared unnamed behind a pooler.
pub fn query(sql: &str) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql).persistent(!transaction_pooler())
}

/// [`sqlx::query_scalar`], prepared unnamed behind a pooler.
pub fn query_scalar<'q, O>(
    sql: &'q str,
) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
where
    (O,): for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    sqlx::query_scalar(sql).persistent(!transaction_pooler())
}

/// [`sqlx::query_as`], prepared unnamed behind a pooler.
pub fn query_as<'q, O>(
    sql: &'q str,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    sqlx::query_as(sql).persistent(!transaction_pooler())
}

/// A plain message for the errors a pooler gives a client that did not say
/// it is behind one (or a pooler in a mode molingest cannot use).
pub fn explain(message: &str) -> Option<String> {
    if message.contains("unsupported startup parameter") {
        return Some(format!(
            "the server refused the startup parameter `options`: this looks like a connection \
             pooler (PgBouncer refuses it). Pass {HOW_TO_SAY_SO}, or connect directly. \
             See docs/pgbouncer.md ({message})"
        ));
    }
    if message.contains("prepared statement \"sqlx_s_") {
        return Some(format!(
            "prepared statements are not kept between transactions on this connection: this \
             looks like a connection pooler in transaction mode. Pass {HOW_TO_SAY_SO}. \
             See docs/pgbouncer.md ({message})"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooler_errors_are_explained() {
        let m = explain("ERROR: unsupported startup parameter: options").unwrap();
        assert!(m.contains("--pooler transaction"), "{m}");
        let m =
            explain("error returned from database: prepared statement \"sqlx_s_1\" already exists")
                .unwrap();
        assert!(m.contains("transaction mode"), "{m}");
        assert!(explain("relation \"x\" does not exist").is_none());
    }
}
