//! The design's docking tables: the job (reused by name), one execution per
//! run, and the results (written by the sink with each batch).

use super::tenant_in_run;
use crate::error::Result;
use crate::ids::{OrgId, RunId};
use sqlx::postgres::PgPool;
use uuid::Uuid;

/// The organization's docking job of this name, created if missing (its
/// receptor and parameters set when given). Shard workers starting together
/// all get the same job (unique per organization and name).
pub async fn job(
    pool: &PgPool,
    org: OrgId,
    run: RunId,
    name: &str,
    receptor: Option<Uuid>,
    parameters: &serde_json::Value,
) -> Result<Uuid> {
    let mut tx = tenant_in_run(pool, org, Some(run)).await?;
    let id: Uuid = crate::db::pooler::query_scalar(
        "INSERT INTO docking_jobs (organization_id, name, receptor_id, status, parameters)
         VALUES ($1, $2, $3, 'running', $4)
         ON CONFLICT (organization_id, name) DO UPDATE
             SET receptor_id = COALESCE(EXCLUDED.receptor_id, docking_jobs.receptor_id),
                 parameters = docking_jobs.parameters || EXCLUDED.parameters
         RETURNING id",
    )
    .bind(org)
    .bind(name)
    .bind(receptor)
    .bind(parameters)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A job execution for this run.
pub async fn begin_execution(pool: &PgPool, org: OrgId, run: RunId, job: Uuid) -> Result<Uuid> {
    let mut tx = tenant_in_run(pool, org, Some(run)).await?;
    let id = crate::db::pooler::query_scalar(
        "INSERT INTO job_executions (organization_id, job_id, status, started_at, worker, pipeline_execution_id)
         VALUES ($1, $2, 'running', now(), 'molingest load', $3) RETURNING id",
    )
    .bind(org)
    .bind(job)
    .bind(run)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Close the execution (and the job) with the run's outcome.
pub async fn finish_execution(
    pool: &PgPool,
    org: OrgId,
    run: RunId,
    (job, execution): (Uuid, Uuid),
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    let mut tx = tenant_in_run(pool, org, Some(run)).await?;
    crate::db::pooler::query(
        "UPDATE job_executions SET status = $3::job_status, finished_at = now(), error = $4
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(execution)
    .bind(status)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    crate::db::pooler::query(
        "UPDATE docking_jobs SET status = $3::job_status WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(job)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The molecule with this content hash.
pub async fn molecule_by_hash(pool: &PgPool, org: OrgId, hash: &[u8; 32]) -> Result<Option<Uuid>> {
    let mut tx = tenant_in_run(pool, org, None).await?;
    let id = crate::db::pooler::query_scalar(
        "SELECT id FROM molecules WHERE organization_id = $1 AND content_hash = $2",
    )
    .bind(org)
    .bind(hash.to_vec())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}
