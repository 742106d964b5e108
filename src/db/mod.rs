//! Everything that talks to PostgreSQL. SQL lives here and in `migrations/`.
//!
//! Tenant data is only ever written inside [`tenant`] transactions: they run
//! as the non-owner role `molingest_app`, with the organization set by
//! `set_config('app.current_org_id', …, true)`, so row-level security holds
//! on the load path as it does for any other client.

pub mod embedded;
pub mod load;

use crate::error::{Error, Reject, Result};
use crate::pipeline::stats::Summary;
use crate::pipeline::Known;
use crate::source::FileJob;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use uuid::Uuid;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The role tenant work runs as (created by the migrations).
pub const TENANT_ROLE: &str = "molingest_app";

pub async fn connect(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?.application_name("molingest");
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?)
}

/// One connection of its own (writers, the run's lock), named for
/// pg_stat_activity.
pub async fn connection(url: &str, name: &str) -> Result<sqlx::PgConnection> {
    use sqlx::Connection;
    let options = PgConnectOptions::from_str(url)?.application_name(name);
    Ok(sqlx::PgConnection::connect_with(&options).await?)
}

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

pub async fn add_org(pool: &PgPool, name: &str) -> Result<Uuid> {
    if name.trim().is_empty() {
        return Err(Error::Input("an organization needs a name".into()));
    }
    let id = sqlx::query_scalar("INSERT INTO organizations (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::OrganizationExists(name.into())
            }
            _ => e.into(),
        })?;
    Ok(id)
}

pub async fn org_id(pool: &PgPool, name: &str) -> Result<Uuid> {
    sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::UnknownOrganization(name.into()))
}

pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub molecules: i64,
}

pub async fn list_orgs(pool: &PgPool) -> Result<Vec<OrgRow>> {
    let rows = sqlx::query(
        "SELECT o.id, o.name, (SELECT count(*) FROM molecules m WHERE m.organization_id = o.id) AS n
         FROM organizations o ORDER BY o.name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| OrgRow {
            id: r.get(0),
            name: r.get(1),
            molecules: r.get(2),
        })
        .collect())
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

/// Completed files of an organization, to recognise unchanged input.
#[derive(Debug, Default)]
pub struct KnownFiles {
    by_hash: HashSet<[u8; 32]>,
    /// source_uri → (size, mtime in µs, ETag) of its newest completed load.
    by_location: HashMap<String, (i64, Option<i64>, Option<String>)>,
}

impl Known for KnownFiles {
    /// Same location and size, and the same ETag (objects) or modification
    /// time (files). Nothing is read to decide it.
    fn unchanged(&self, job: &FileJob) -> bool {
        let Some((size, mtime, etag)) = self.by_location.get(&job.uri) else {
            return false;
        };
        if *size != job.size as i64 {
            return false;
        }
        match (etag, &job.etag) {
            (Some(a), Some(b)) => a == b,
            _ => mtime.is_some() && *mtime == job.mtime_ns.map(|n| n / 1000),
        }
    }

    fn loaded(&self, hash: &[u8; 32]) -> bool {
        self.by_hash.contains(hash)
    }

    fn vanished(&self, prefix: &str, seen: &HashSet<String>) -> Vec<String> {
        let under = |uri: &str| {
            uri.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
            })
        };
        let mut gone: Vec<String> = self
            .by_location
            .keys()
            .filter(|uri| under(uri) && !seen.contains(*uri))
            .cloned()
            .collect();
        gone.sort();
        gone
    }
}

pub async fn known_files(pool: &PgPool, org: Uuid) -> Result<KnownFiles> {
    let mut tx = tenant(pool, org).await?;
    let rows = sqlx::query(
        "SELECT content_hash, source_uri, size_bytes,
                (extract(epoch FROM source_mtime) * 1000000)::bigint, etag
         FROM molecule_files WHERE status = 'completed' ORDER BY created_at",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut known = KnownFiles::default();
    for r in rows {
        let hash: Vec<u8> = r.get(0);
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            known.by_hash.insert(h);
        }
        known
            .by_location
            .insert(r.get(1), (r.get(2), r.get(3), r.get(4)));
    }
    Ok(known)
}

fn source_lock_key(org: Uuid, source: &str) -> i64 {
    let h = blake3::Hasher::new()
        .update(org.as_bytes())
        .update(source.as_bytes())
        .finalize();
    let mut k = [0u8; 8];
    k.copy_from_slice(&h.as_bytes()[..8]);
    i64::from_le_bytes(k)
}

/// Take the session advisory lock of (organization, source) on a connection
/// of its own, held for the run: `Ok(connection)` holds it; `Err(connection)`
/// means another run holds it (wait with [`wait_lock_source`]).
pub async fn try_lock_source(
    url: &str,
    org: Uuid,
    source: &str,
) -> Result<Result<sqlx::PgConnection, sqlx::PgConnection>> {
    let mut conn = connection(url, "molingest-lock").await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(source_lock_key(org, source))
        .fetch_one(&mut conn)
        .await?;
    Ok(if got { Ok(conn) } else { Err(conn) })
}

pub async fn wait_lock_source(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    source: &str,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(source_lock_key(org, source))
        .execute(conn)
        .await?;
    Ok(())
}

/// Record the start of a load (a `pipeline_executions` row of the
/// organization's 'molingest load' pipeline).
pub async fn begin_run(pool: &PgPool, org: Uuid, source: &str) -> Result<Uuid> {
    let mut tx = tenant(pool, org).await?;
    let pipeline: Uuid = sqlx::query_scalar(
        "INSERT INTO pipelines (organization_id, name, definition)
         VALUES ($1, 'molingest load', '{\"tool\": \"molingest\"}')
         ON CONFLICT (organization_id, name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(org)
    .fetch_one(&mut *tx)
    .await?;
    let run: Uuid = sqlx::query_scalar(
        "INSERT INTO pipeline_executions (organization_id, pipeline_id, status, source)
         VALUES ($1, $2, 'running', $3) RETURNING id",
    )
    .bind(org)
    .bind(pipeline)
    .bind(source)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// Final state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    Failed,
}

/// Close the run record with its counts, rejects and notices (vanished
/// files, names that do not match their content), and audit it.
/// How a run ended, for its record.
pub struct RunEnd<'a> {
    pub status: RunStatus,
    pub summary: &'a Summary,
    pub rejects: &'a [Reject],
    pub notices: &'a [String],
    pub error: Option<&'a str>,
}

pub async fn finish_run(pool: &PgPool, org: Uuid, run: Uuid, end: &RunEnd<'_>) -> Result<()> {
    let RunEnd {
        status,
        summary,
        rejects,
        notices,
        error,
    } = *end;
    let status = match status {
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
    };
    let mut stats = serde_json::to_value(summary).unwrap_or_default();
    stats["notices"] = serde_json::json!(notices);
    let rejects = serde_json::to_value(rejects).unwrap_or_default();
    let mut tx = tenant(pool, org).await?;
    sqlx::query(
        "UPDATE pipeline_executions SET
            status = $3::job_status, finished_at = now(),
            files_seen = $4, files_loaded = $5, files_skipped = $6, files_failed = $7,
            records_parsed = $8, records_inserted = $9, records_duplicate = $10,
            records_rejected = $11, bytes_read = $12, rejects = $13, stats = $14, error = $15
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(run)
    .bind(status)
    .bind(summary.files_seen as i64)
    .bind(summary.files_read as i64)
    .bind(summary.files_unchanged as i64)
    .bind(summary.files_failed as i64)
    .bind(summary.records_parsed as i64)
    .bind(summary.records_inserted as i64)
    .bind(summary.records_duplicate as i64)
    .bind(summary.records_rejected as i64)
    .bind(summary.bytes_read as i64)
    .bind(&rejects)
    .bind(&stats)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit_log (organization_id, action, entity_type, entity_id, details)
         VALUES ($1, 'molecules.load', 'pipeline_execution', $2, $3)",
    )
    .bind(org)
    .bind(run)
    .bind(serde_json::json!({
        "status": status,
        "records_inserted": summary.records_inserted,
        "records_rejected": summary.records_rejected,
        "files_read": summary.files_read,
    }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
