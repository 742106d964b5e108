//! Run records (`pipeline_executions`) and the per-source advisory lock
//! that keeps two loads of one source from writing at once.

use super::tenant;
use crate::error::{Reject, Result};
use crate::pipeline::stats::Summary;
use crate::redact;
use sqlx::postgres::PgPool;
use uuid::Uuid;

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
    let mut conn = super::connect::bookkeeping(url, "molingest-lock").await?;
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
    let run = Uuid::now_v7();
    let mut tx = super::tenant_in_run(pool, org, Some(run)).await?;
    let pipeline: Uuid = sqlx::query_scalar(
        "INSERT INTO pipelines (organization_id, name, definition)
         VALUES ($1, 'molingest load', '{\"tool\": \"molingest\"}')
         ON CONFLICT (organization_id, name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(org)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO pipeline_executions (id, organization_id, pipeline_id, status, source)
         VALUES ($4, $1, $2, 'running', $3)",
    )
    .bind(org)
    .bind(pipeline)
    .bind(source)
    .bind(run)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// Final state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    Failed,
    /// Stopped by a signal: committed batches stand, the rest is read again
    /// by the next run.
    Cancelled,
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
        RunStatus::Cancelled => "cancelled",
    };
    // Nothing secret is stored: rejects are redacted when made, the rest here.
    let notices: Vec<String> = notices.iter().map(|n| redact::text(n)).collect();
    let error = error.map(redact::text);
    let mut stats = serde_json::to_value(summary).unwrap_or_default();
    stats["notices"] = serde_json::json!(notices);
    let rejects = serde_json::to_value(rejects).unwrap_or_default();
    let mut tx = super::tenant_in_run(pool, org, Some(run)).await?;
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
    .bind(error.as_deref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Close, as failed, the runs of this organization and source that are
/// still `running`: the caller holds the source's lock, so they died
/// without closing (SIGKILL, power loss, a lost database). The audit
/// trail records each closing under that run's id. Returns their ids.
pub async fn close_stale_runs(pool: &PgPool, org: Uuid, source: &str) -> Result<Vec<Uuid>> {
    let stale: Vec<Uuid> = {
        let mut tx = tenant(pool, org).await?;
        let ids = sqlx::query_scalar(
            "SELECT id FROM pipeline_executions
             WHERE organization_id = $1 AND source = $2 AND status = 'running'",
        )
        .bind(org)
        .bind(source)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        ids
    };
    let mut closed = Vec::new();
    // One transaction per run, so each closing is audited under its run.
    for run in stale {
        let mut tx = super::tenant_in_run(pool, org, Some(run)).await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE pipeline_executions SET status = 'failed', finished_at = now(),
                error = 'the run ended without closing (killed, power loss or lost database); closed by the next run'
         WHERE organization_id = $1 AND id = $2 AND status = 'running'
         RETURNING id",
        )
        .bind(org)
        .bind(run)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        closed.extend(ids);
    }
    Ok(closed)
}

/// After a load that added rows: merge the GIN pending lists, ANALYZE when
/// the table grew by more than ~10 % (an administrator-owned function the
/// tenant may call for its own organization).
pub async fn after_load(pool: &PgPool, org: Uuid, added: u64) -> Result<()> {
    if added == 0 {
        return Ok(());
    }
    let mut tx = tenant(pool, org).await?;
    sqlx::query("SELECT molingest_after_load($1, $2)")
        .bind(org)
        .bind(added as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
