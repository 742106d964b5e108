//! Run records (`pipeline_executions`) and the per-source lease (a row of
//! `load_leases`) that keeps two loads of one source from writing at once.

use crate::db::tenant;
use crate::error::{Reject, Result};
use crate::ids::{OrgId, RunId};
use crate::pipeline::stats::Summary;
use crate::redact;
use sqlx::postgres::PgPool;
use uuid::Uuid;

/// How long a lease lasts unless renewed, and how often a run renews it:
/// a run killed without releasing (SIGKILL, power loss) holds its source
/// for at most this long.
pub const LEASE_SECS: f64 = 10.0;
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The leases a run holds: its source's, and while it loads in bulk, the
/// organization's own (source `''`). Rows of `load_leases`, under row-level
/// security: a tenant sees and takes only its own organization's leases.
#[derive(Debug, Clone)]
pub struct Leases {
    pub org: OrgId,
    pub holder: Uuid,
    pub source: String,
    /// The organization's lease is held too (a bulk first load).
    pub org_wide: bool,
}

impl Leases {
    fn sources(&self) -> Vec<String> {
        let mut v = vec![self.source.clone()];
        if self.org_wide {
            v.push(String::new());
        }
        v
    }

    /// Extend every lease held; `false` when one of them is no longer this
    /// run's (it expired and another run took it).
    pub async fn renew(&self, conn: &mut sqlx::PgConnection) -> Result<bool> {
        let sources = self.sources();
        let mut tx = crate::db::tenant_bookkeeping(&mut *conn, self.org, None).await?;
        let n = crate::db::pooler::query(
            "UPDATE load_leases SET expires_at = clock_timestamp() + make_interval(secs => $4)
             WHERE organization_id = $1 AND source = ANY($2) AND holder = $3",
        )
        .bind(self.org)
        .bind(&sources)
        .bind(self.holder)
        .bind(LEASE_SECS)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == sources.len() as u64)
    }

    /// Give every lease back (the end of the run).
    pub async fn release(&self, conn: &mut sqlx::PgConnection) -> Result<()> {
        let mut tx = crate::db::tenant_bookkeeping(&mut *conn, self.org, None).await?;
        crate::db::pooler::query(
            "UPDATE load_leases SET holder = NULL, expires_at = NULL
             WHERE organization_id = $1 AND source = '' AND holder = $2",
        )
        .bind(self.org)
        .bind(self.holder)
        .execute(&mut *tx)
        .await?;
        // Released, not deleted: tenants hold no DELETE (a DELETE grant
        // would let them lock the shared tables; see docs/security.md).
        crate::db::pooler::query(
            "UPDATE load_leases SET holder = NULL, expires_at = NULL
             WHERE organization_id = $1 AND source = $2 AND holder = $3",
        )
        .bind(self.org)
        .bind(&self.source)
        .bind(self.holder)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Take the lease of (organization, source) for a new run: `Some` when
/// taken, `None` when another live run holds it.
pub async fn try_lease_source(
    conn: &mut sqlx::PgConnection,
    org: OrgId,
    source: &str,
    holder: Uuid,
) -> Result<Option<Leases>> {
    let mut tx = crate::db::tenant_bookkeeping(&mut *conn, org, None).await?;
    let got: Option<bool> = crate::db::pooler::query_scalar(
        "INSERT INTO load_leases AS l (organization_id, source, holder, expires_at)
         VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4))
         ON CONFLICT (organization_id, source) DO UPDATE
             SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, staging = false
             WHERE l.holder IS NULL OR l.expires_at < clock_timestamp()
         RETURNING true",
    )
    .bind(org)
    .bind(source)
    .bind(holder)
    .bind(LEASE_SECS)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(got.map(|_| Leases {
        org,
        holder,
        source: source.to_owned(),
        org_wide: false,
    }))
}

/// What the organization's own lease says, taken under its row lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgLease {
    /// This run now holds it: no other live run of the organization.
    Taken,
    /// Another run holds it (a bulk first load).
    HeldByBulk,
    /// Free, but other runs of the organization are live: not taken.
    Busy,
    /// Free (and not asked for).
    Free,
}

/// Look at (and with `take`, take when no other run of the organization is
/// live) the organization's own lease. Serialized per organization by the
/// row lock of its lease row.
pub async fn org_lease(
    conn: &mut sqlx::PgConnection,
    leases: &mut Leases,
    take: bool,
) -> Result<OrgLease> {
    let org = leases.org;
    let mut tx = crate::db::tenant_bookkeeping(&mut *conn, org, None).await?;
    crate::db::pooler::query(
        "INSERT INTO load_leases (organization_id, source) VALUES ($1, '') ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .execute(&mut *tx)
    .await?;
    let held: bool = crate::db::pooler::query_scalar(
        "SELECT holder IS NOT NULL AND holder <> $2 AND expires_at > clock_timestamp()
         FROM load_leases WHERE organization_id = $1 AND source = '' FOR UPDATE",
    )
    .bind(org)
    .bind(leases.holder)
    .fetch_one(&mut *tx)
    .await?;
    let state = if held {
        OrgLease::HeldByBulk
    } else if !take {
        OrgLease::Free
    } else {
        // Only runs that have chosen the staging path count: runs still
        // choosing wait for this row's lock, then find the bulk load.
        let others: bool = crate::db::pooler::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM load_leases WHERE organization_id = $1 AND source <> ''
                 AND holder <> $2 AND staging AND expires_at > clock_timestamp())",
        )
        .bind(org)
        .bind(leases.holder)
        .fetch_one(&mut *tx)
        .await?;
        if others {
            OrgLease::Busy
        } else {
            crate::db::pooler::query(
                "UPDATE load_leases SET holder = $2,
                        expires_at = clock_timestamp() + make_interval(secs => $3)
                 WHERE organization_id = $1 AND source = ''",
            )
            .bind(org)
            .bind(leases.holder)
            .bind(LEASE_SECS)
            .execute(&mut *tx)
            .await?;
            OrgLease::Taken
        }
    };
    // A run that will write through the staging path says so while it
    // holds the organization's row, so no bulk load starts beside it.
    if matches!(state, OrgLease::Free | OrgLease::Busy) {
        crate::db::pooler::query(
            "UPDATE load_leases SET staging = true
             WHERE organization_id = $1 AND source = $2 AND holder = $3",
        )
        .bind(org)
        .bind(&leases.source)
        .bind(leases.holder)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if state == OrgLease::Taken {
        leases.org_wide = true;
    }
    Ok(state)
}

/// Record the start of a load (a `pipeline_executions` row of the
/// organization's 'molingest load' pipeline).
pub async fn begin_run(pool: &PgPool, org: OrgId, source: &str) -> Result<RunId> {
    let run = RunId(Uuid::now_v7());
    let mut tx = crate::db::tenant_in_run(pool, org, Some(run)).await?;
    let pipeline: Uuid = crate::db::pooler::query_scalar(
        "INSERT INTO pipelines (organization_id, name, definition)
         VALUES ($1, 'molingest load', '{\"tool\": \"molingest\"}')
         ON CONFLICT (organization_id, name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(org)
    .fetch_one(&mut *tx)
    .await?;
    crate::db::pooler::query(
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
    /// With `--sync`: what was retired and removed.
    pub sync: Option<&'a super::sync::SyncReport>,
}

pub async fn finish_run(pool: &PgPool, org: OrgId, run: RunId, end: &RunEnd<'_>) -> Result<()> {
    let RunEnd {
        status,
        summary,
        rejects,
        notices,
        error,
        sync,
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
    if let Some(sync) = sync {
        stats["sync"] = serde_json::to_value(sync).unwrap_or_default();
    }
    let rejects = serde_json::to_value(rejects).unwrap_or_default();
    let mut tx = crate::db::tenant_in_run(pool, org, Some(run)).await?;
    crate::db::pooler::query(
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
pub async fn close_stale_runs(pool: &PgPool, org: OrgId, source: &str) -> Result<Vec<RunId>> {
    let stale: Vec<RunId> = {
        let mut tx = tenant(pool, org).await?;
        let ids = crate::db::pooler::query_scalar(
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
        let mut tx = crate::db::tenant_in_run(pool, org, Some(run)).await?;
        let ids: Vec<RunId> = crate::db::pooler::query_scalar(
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
pub async fn after_load(pool: &PgPool, org: OrgId, added: u64) -> Result<()> {
    if added == 0 {
        return Ok(());
    }
    let mut tx = tenant(pool, org).await?;
    crate::db::pooler::query("SELECT molingest_after_load($1, $2)")
        .bind(org)
        .bind(added as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
