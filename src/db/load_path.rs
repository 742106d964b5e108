//! Which path a load takes: the bulk first load ([`super::bulk`]) or the
//! staging path ([`super::sink`]), and the organization-level lock that
//! keeps a bulk load from running beside any other load of the
//! organization.

use crate::error::Error;
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use uuid::Uuid;

/// How a load writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadPath {
    /// Batches through a staging table into the partitions (incremental).
    Staging,
    /// Standalone tables attached at the end (first loads).
    Bulk,
}

/// The path a load takes, and why a first load could not go bulk.
pub struct Choice {
    pub path: LoadPath,
    /// Set when the organization had no molecules but the load takes the
    /// staging path anyway.
    pub why_not_bulk: Option<String>,
    /// The connection holding the organization's lock exclusively (bulk).
    pub holder: Option<PgConnection>,
}

/// The organization-level lock (two-int advisory key space, apart from
/// the per-source locks).
fn org_lock_key(org: Uuid) -> (i32, i32) {
    let b = org.as_bytes();
    (0x6d6f_6c69, i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn partition(org: Uuid) -> String {
    format!("molecules_{}", org.simple())
}

/// Choose the load's path. `lock` is the run's own lock connection: a
/// staging load takes the organization lock shared on it (released when
/// the run ends). `allowed` is false for `--no-bulk`; `ineligible` names an
/// option that needs the staging path.
pub async fn choose(
    url: &str,
    org: Uuid,
    org_name: &str,
    lock: &mut PgConnection,
    allowed: bool,
    ineligible: Option<&str>,
) -> Result<Choice, Error> {
    let owner: bool = sqlx::query_scalar(
        "SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = 'public.molecules'::regclass",
    )
    .fetch_one(&mut *lock)
    .await?;
    let (k1, k2) = org_lock_key(org);
    let mut busy = false;
    if owner && allowed && ineligible.is_none() {
        let mut control = super::connect::bookkeeping(url, "molingest-bulk").await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(k1)
            .bind(k2)
            .fetch_one(&mut control)
            .await?;
        if got {
            // No bulk load of this organization is running: what one left
            // behind is garbage.
            sqlx::query("SELECT molingest_bulk_discard($1)")
                .bind(org)
                .execute(&mut control)
                .await?;
            if is_empty(&mut control, org, true).await? {
                return Ok(Choice {
                    path: LoadPath::Bulk,
                    why_not_bulk: None,
                    holder: Some(control),
                });
            }
        }
        busy = !got;
        let _ = control.close().await;
    }
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock_shared($1, $2)")
        .bind(k1)
        .bind(k2)
        .fetch_one(&mut *lock)
        .await?;
    if !free {
        eprintln!(
            "molingest: a first load of {org_name} is running; waiting for it to finish, then loading incrementally"
        );
        sqlx::query("SELECT pg_advisory_lock_shared($1, $2)")
            .bind(k1)
            .bind(k2)
            .execute(&mut *lock)
            .await?;
    }
    let why_not_bulk = if is_empty(lock, org, owner).await? {
        Some(if !allowed {
            "--no-bulk was given".to_owned()
        } else if let Some(option) = ineligible {
            format!("{option} needs the staging path")
        } else if !owner {
            "this login does not own the schema (a tenant's login may not create tables): \
             the bulk path is the administrator's"
                .to_owned()
        } else if busy {
            "another load of this organization was running".to_owned()
        } else {
            "molecules arrived while the path was chosen".to_owned()
        })
    } else {
        None
    };
    Ok(Choice {
        path: LoadPath::Staging,
        why_not_bulk,
        holder: None,
    })
}

/// Whether the organization holds no molecule: read on its partition by
/// the owner (forced row security would hide rows from a non-superuser
/// owner on the parent), through row-level security by a tenant.
async fn is_empty(conn: &mut PgConnection, org: Uuid, owner: bool) -> Result<bool, Error> {
    if owner {
        let sql = format!(
            "SELECT NOT EXISTS (SELECT 1 FROM public.{})",
            partition(org)
        );
        return Ok(sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?);
    }
    let mut tx = super::tenant(&mut *conn, org).await?;
    let empty: bool = sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM molecules WHERE organization_id = $1)",
    )
    .bind(org)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(empty)
}
