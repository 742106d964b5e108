//! Retention: per-organization policies in `organization_config` and the
//! deletes that apply them.

use super::tenant;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use sqlx::postgres::PgPool;

/// The only settings there are, all in whole days.
pub const KEYS: &[&str] = &[
    "retention.runs_days",
    "retention.audit_days",
    "retention.rejects_days",
];

/// The longest retention a setting may ask for: 100 years. Past it a date
/// arithmetic would leave PostgreSQL's range (a tenant's absurd value must
/// not stop retention for every organization).
pub const MAX_DAYS: i64 = 36_500;

/// Check a setting: a known key, a whole number of days in 1..=[`MAX_DAYS`].
pub fn check(key: &str, value: &str) -> Result<i64> {
    if !KEYS.contains(&key) {
        return Err(Error::Input(format!(
            "unknown setting {key:?}: the settings are {}",
            KEYS.join(", ")
        )));
    }
    match value.parse::<i64>() {
        Ok(n) if (1..=MAX_DAYS).contains(&n) && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Error::Input(format!(
            "{key}: {value:?} is not a whole number of days from 1 to {MAX_DAYS}"
        ))),
    }
}

pub async fn set(pool: &PgPool, org: OrgId, key: &str, days: i64) -> Result<()> {
    let mut tx = tenant(pool, org).await?;
    crate::db::pooler::query(
        "INSERT INTO organization_config (organization_id, key, value) VALUES ($1, $2, to_jsonb($3::bigint))
         ON CONFLICT (organization_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    )
    .bind(org)
    .bind(key)
    .bind(days)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every setting of the organization, as (key, JSON text).
pub async fn settings(pool: &PgPool, org: OrgId) -> Result<Vec<(String, String)>> {
    let mut tx = tenant(pool, org).await?;
    let rows: Vec<(String, String)> = crate::db::pooler::query_as(
        "SELECT key, value::text FROM organization_config WHERE organization_id = $1 ORDER BY key",
    )
    .bind(org)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A setting's days. A value written past `org config` (a tenant may write
/// its own `organization_config`) is checked here again: one out of range
/// is an error for this organization alone.
fn days(settings: &[(String, String)], key: &str) -> Result<Option<i64>> {
    match settings.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => check(key, v.trim_matches('"')).map(Some),
    }
}

/// What retention deleted (or would delete) in one organization.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Expired {
    pub runs: u64,
    pub audit_rows: u64,
    pub rejects_cleared: u64,
}

/// Apply the organization's policy (count only with `dry_run`). Run
/// records as the tenant (the audit trail records the deletes), audit rows
/// as the administrator (with an audit row saying how many), purge
/// tombstones never.
pub async fn apply(pool: &PgPool, org: OrgId, dry_run: bool) -> Result<Expired> {
    let settings = settings(pool, org).await?;
    // Every value is checked before anything is deleted.
    for key in KEYS {
        days(&settings, key)?;
    }
    let mut out = Expired::default();
    // Tenants may not delete: the administrator does, for this
    // organization only (the audit trail records each delete).
    let mut tx = super::admin_for(pool, org).await?;
    if let Some(d) = days(&settings, "retention.rejects_days")? {
        let sql = if dry_run {
            "SELECT count(*) FROM pipeline_executions WHERE organization_id = $1
             AND started_at < now() - make_interval(days => $2::int) AND rejects <> '[]'::jsonb"
        } else {
            "WITH u AS (UPDATE pipeline_executions SET rejects = '[]'::jsonb WHERE organization_id = $1
             AND started_at < now() - make_interval(days => $2::int) AND rejects <> '[]'::jsonb RETURNING 1)
             SELECT count(*) FROM u"
        };
        out.rejects_cleared = count(&mut tx, sql, org, d).await?;
    }
    if let Some(d) = days(&settings, "retention.runs_days")? {
        let sql = if dry_run {
            "SELECT count(*) FROM pipeline_executions WHERE organization_id = $1
             AND started_at < now() - make_interval(days => $2::int)"
        } else {
            "WITH d AS (DELETE FROM pipeline_executions WHERE organization_id = $1
             AND started_at < now() - make_interval(days => $2::int) RETURNING 1) SELECT count(*) FROM d"
        };
        out.runs = count(&mut tx, sql, org, d).await?;
    }
    if let Some(d) = days(&settings, "retention.audit_days")? {
        let sql = if dry_run {
            "SELECT count(*) FROM audit_log WHERE organization_id = $1
             AND \"timestamp\" < now() - make_interval(days => $2::int) AND action NOT LIKE '%purge%'"
        } else {
            "WITH d AS (DELETE FROM audit_log WHERE organization_id = $1
             AND \"timestamp\" < now() - make_interval(days => $2::int) AND action NOT LIKE '%purge%'
             RETURNING 1) SELECT count(*) FROM d"
        };
        out.audit_rows = count(&mut tx, sql, org, d).await?;
        if !dry_run && out.audit_rows > 0 {
            crate::db::pooler::query(
                "INSERT INTO audit_log (organization_id, actor, action, entity_type, details)
                 VALUES ($1, session_user, 'retention', 'audit_log', jsonb_build_object('rows', $2::bigint))",
            )
            .bind(org)
            .bind(out.audit_rows as i64)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(out)
}

async fn count(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sql: &str,
    org: OrgId,
    days: i64,
) -> Result<u64> {
    let n: i64 = crate::db::pooler::query_scalar(sql)
        .bind(org)
        .bind(days)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n as u64)
}
