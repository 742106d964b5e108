//! Everything that talks to PostgreSQL. SQL lives here and in `migrations/`;
//! how connections are made (URL, `PG*` variables, TLS) is [`connect`].
//!
//! Tenant data is only ever written inside [`tenant`] transactions: they run
//! as the non-owner role `molingest_app`, with the organization set by
//! `set_config('app.current_org_id', …, true)`, so row-level security holds
//! on the load path as it does for any other client.

pub mod connect;
mod copy_text;
pub mod embedded;
mod files;
pub mod known;
pub mod orgs;
pub mod row;
pub mod runs;
pub mod sink;

pub use connect::{connect, connection, Target};
pub use orgs::{add_org, list_orgs, org_id, OrgRow};
pub use runs::{begin_run, finish_run, try_lock_source, wait_lock_source, RunEnd, RunStatus};

use crate::error::Result;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The role tenant work runs as (created by the migrations).
pub const TENANT_ROLE: &str = "molingest_app";

pub async fn migrate_up(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Revert every migration (the schema is gone afterwards).
pub async fn migrate_down(pool: &PgPool) -> Result<()> {
    MIGRATOR.undo(pool, 0).await?;
    Ok(())
}

/// Applied migration versions, oldest first.
pub async fn applied_migrations(pool: &PgPool) -> Result<Vec<i64>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?,
    )
}

/// Begin a transaction acting as the tenant: non-owner role, organization
/// set for this transaction only.
pub async fn tenant<'c, A>(conn: A, org: Uuid) -> Result<Transaction<'c, Postgres>>
where
    A: sqlx::Acquire<'c, Database = Postgres>,
{
    let mut tx = conn.begin().await?;
    sqlx::query(&format!("SET LOCAL ROLE {TENANT_ROLE}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT set_config('app.current_org_id', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
