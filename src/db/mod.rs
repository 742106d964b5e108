//! Everything that talks to PostgreSQL. SQL lives here and in `migrations/`;
//! how connections are made (URL, `PG*` variables, TLS) is [`connect`].
//!
//! Tenant data is only ever read and written inside [`tenant`]
//! transactions: they run as the organization's own role, so row-level
//! security (forced, keyed on the role) holds on the load path as it does
//! for any other client. See README § Security for the model.

pub mod connect;
pub mod docking;
pub mod lifecycle;
pub mod orgs;
pub mod pooler;
pub mod preempt;
pub mod require_auth;
pub mod retention;
pub mod routing;
pub mod verify;

pub use crate::load::runs::{
    begin_run, close_stale_runs, finish_run, try_lease_source, Leases, RunEnd, RunStatus,
};
pub use connect::{connect, connection, Target};
pub use orgs::{add_org, find_org, grant_org, list_orgs, org_id, org_role, own_org, Org, OrgRow};

use crate::error::Result;
use crate::ids::{OrgId, RunId};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The group role every organization role belongs to: it holds the table
/// privileges (created by the migrations). Membership alone sees no rows.
pub const TENANT_ROLE: &str = "molingest_app";

pub async fn migrate_up(pool: &PgPool, target: Option<i64>) -> Result<()> {
    match target {
        None => MIGRATOR.run(pool).await?,
        Some(v) => {
            // sqlx 0.8 has no `run_to`: a migrator of the migrations up to
            // the target (those applied above it are not "missing").
            let upto = sqlx::migrate::Migrator {
                migrations: std::borrow::Cow::Owned(
                    MIGRATOR
                        .iter()
                        .filter(|m| m.version <= v)
                        .cloned()
                        .collect(),
                ),
                ignore_missing: true,
                ..sqlx::migrate::Migrator::DEFAULT
            };
            upto.run(pool).await?
        }
    }
    Ok(())
}

/// Revert the migrations newer than `target` (0: every one, and the schema
/// is gone afterwards).
pub async fn migrate_down(pool: &PgPool, target: i64) -> Result<()> {
    MIGRATOR.undo(pool, target).await?;
    Ok(())
}

/// The migrations `migrate_up` would apply, as `VERSION description`.
pub async fn pending_up(pool: &PgPool, target: Option<i64>) -> Result<Vec<String>> {
    let applied = applied_migrations(pool).await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .filter(|m| target.is_none_or(|t| m.version <= t) && !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect())
}

/// The migrations `migrate_down` would revert, newest first.
pub async fn pending_down(pool: &PgPool, target: i64) -> Result<Vec<String>> {
    let applied = applied_migrations(pool).await?;
    Ok(MIGRATOR
        .iter()
        .rev()
        .filter(|m| m.migration_type.is_up_migration())
        .filter(|m| m.version > target && applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect())
}

/// Applied migration versions, oldest first.
pub async fn applied_migrations(pool: &PgPool) -> Result<Vec<i64>> {
    // One transaction: behind a transaction pooler, statements with
    // parameters are only safe inside one (see pooler).
    let mut tx = pool.begin().await?;
    let exists: bool =
        crate::db::pooler::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *tx)
            .await?;
    let versions = if exists {
        crate::db::pooler::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut *tx)
        .await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    Ok(versions)
}

/// Begin a transaction acting for organization `org`: as its role
/// (`SET LOCAL ROLE molingest_org_<id>`), so row-level security admits this
/// organization's rows and no other's. Works for the administrator (a
/// member of every organization role) and for a tenant login granted this
/// organization; fails for any other.
pub async fn tenant<'c, A>(conn: A, org: OrgId) -> Result<Transaction<'c, Postgres>>
where
    A: sqlx::Acquire<'c, Database = Postgres>,
{
    tenant_in_run(conn, org, None).await
}

/// Begin a transaction in which the administrator (the tables' owner) acts
/// for organization `org` only: the row policies let the owner see and
/// change that organization's rows when `molingest.admin_org` names it.
/// For what tenants may not do themselves (deletes: purge, retention).
pub async fn admin_for<'c, A>(conn: A, org: OrgId) -> Result<Transaction<'c, Postgres>>
where
    A: sqlx::Acquire<'c, Database = Postgres>,
{
    let mut tx = conn.begin().await?;
    pooler::query("SELECT set_config('molingest.admin_org', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// [`tenant`], with the audit trail told which run the changes belong to
/// (`molingest.run_id`, read by the audit triggers). One round trip.
pub async fn tenant_in_run<'c, A>(
    conn: A,
    org: OrgId,
    run: Option<RunId>,
) -> Result<Transaction<'c, Postgres>>
where
    A: sqlx::Acquire<'c, Database = Postgres>,
{
    begin_as(conn, org, run, None).await
}

/// The bookkeeping statement timeout: a small statement that runs this long
/// means a database that stopped answering.
pub const BOOKKEEPING_TIMEOUT: &str = "60s";

/// [`tenant_in_run`] on a bookkeeping connection (file registration and
/// progress, leases). On a direct connection those start with
/// `statement_timeout` = [`BOOKKEEPING_TIMEOUT`]; behind a transaction
/// pooler (no startup options) it is set here, for the transaction only.
pub async fn tenant_bookkeeping<'c, A>(
    conn: A,
    org: OrgId,
    run: Option<RunId>,
) -> Result<Transaction<'c, Postgres>>
where
    A: sqlx::Acquire<'c, Database = Postgres>,
{
    let timeout = pooler::transaction_pooler().then_some(BOOKKEEPING_TIMEOUT);
    begin_as(conn, org, run, timeout).await
}

async fn begin_as<'c, A>(
    conn: A,
    org: OrgId,
    run: Option<RunId>,
    timeout: Option<&str>,
) -> Result<Transaction<'c, Postgres>>
where
    A: sqlx::Acquire<'c, Database = Postgres>,
{
    let mut tx = conn.begin().await?;
    let sql = match timeout {
        None => "SELECT set_config('role', $1, true), set_config('molingest.run_id', coalesce($2, ''), true)",
        Some(_) => "SELECT set_config('role', $1, true), set_config('molingest.run_id', coalesce($2, ''), true), \
                    set_config('statement_timeout', $3, true)",
    };
    let mut q = crate::db::pooler::query(sql)
        .bind(orgs::org_role(org))
        .bind(run.map(|r| r.to_string()));
    if let Some(t) = timeout {
        q = q.bind(t);
    }
    q.execute(&mut *tx).await?;
    Ok(tx)
}
