//! Which path a load takes: the bulk first load ([`super::bulk`]) or the
//! staging path ([`super::sink`]), and the organization's lease that
//! keeps a bulk load from running beside any other load of the
//! organization.

use super::runs::{org_lease, Leases, OrgLease};
use crate::error::Error;
use crate::ids::OrgId;
use serde::Serialize;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Connection;

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
    /// The bulk load's control connection (the run holds the organization's lease).
    pub holder: Option<PgConnection>,
}

fn partition(org: OrgId) -> String {
    format!("molecules_{}", org.simple())
}

/// How often a load waiting for a bulk first load looks again.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Choose the load's path. `leases` are the run's (its source's lease is
/// held): a bulk load takes the organization's lease too, which no other
/// load of the organization may hold beside it; a staging load waits while
/// another run holds it. `allowed` is false for `--no-bulk`; `ineligible`
/// names an option that needs the staging path.
pub async fn choose(
    url: &str,
    pool: &PgPool,
    (org, org_name): (OrgId, &str),
    leases: &mut Leases,
    allowed: bool,
    ineligible: Option<&str>,
) -> Result<Choice, Error> {
    let mut conn = pool.acquire().await?;
    let owner: bool = {
        let mut tx = conn.begin().await?;
        let owner = crate::db::pooler::query_scalar(
            "SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = 'public.molecules'::regclass",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        owner
    };
    let want_bulk = owner && allowed && ineligible.is_none();
    let mut busy = false;
    let mut told = false;
    loop {
        match org_lease(&mut conn, leases, want_bulk).await? {
            OrgLease::Taken => {
                let mut control = crate::db::connect::bookkeeping(url, "molingest-bulk").await?;
                // No other load of this organization is running: what a
                // bulk load left behind is garbage.
                let mut tx = control.begin().await?;
                crate::db::pooler::query("SELECT molingest_bulk_discard($1)")
                    .bind(org)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if is_empty(&mut control, org, true).await? {
                    return Ok(Choice {
                        path: LoadPath::Bulk,
                        why_not_bulk: None,
                        holder: Some(control),
                    });
                }
                let _ = control.close().await;
                release_org_lease(&mut conn, leases).await?;
                break;
            }
            // A bulk first load runs (or one killed has not expired yet).
            OrgLease::HeldByBulk => {
                if !told {
                    eprintln!(
                        "molingest: a first load of {org_name} is running; waiting for it to finish, then loading incrementally"
                    );
                    told = true;
                }
                tokio::time::sleep(WAIT_POLL).await;
            }
            OrgLease::Busy => {
                busy = true;
                break;
            }
            OrgLease::Free => break,
        }
    }
    let why_not_bulk = if is_empty(&mut conn, org, owner).await? {
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

/// Give the organization's lease back (a bulk load that found molecules).
async fn release_org_lease(conn: &mut PgConnection, leases: &mut Leases) -> Result<(), Error> {
    let mut tx = crate::db::tenant_bookkeeping(&mut *conn, leases.org, None).await?;
    crate::db::pooler::query(
        "UPDATE load_leases SET holder = NULL, expires_at = NULL
         WHERE organization_id = $1 AND source = '' AND holder = $2",
    )
    .bind(leases.org)
    .bind(leases.holder)
    .execute(&mut *tx)
    .await?;
    // It goes on through the staging path.
    crate::db::pooler::query(
        "UPDATE load_leases SET staging = true
         WHERE organization_id = $1 AND source = $2 AND holder = $3",
    )
    .bind(leases.org)
    .bind(&leases.source)
    .bind(leases.holder)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    leases.org_wide = false;
    Ok(())
}

/// Whether the organization holds no molecule: read on its partition by
/// the owner (forced row security would hide rows from a non-superuser
/// owner on the parent), through row-level security by a tenant.
async fn is_empty(conn: &mut PgConnection, org: OrgId, owner: bool) -> Result<bool, Error> {
    if owner {
        let sql = format!(
            "SELECT NOT EXISTS (SELECT 1 FROM public.{})",
            partition(org)
        );
        let mut tx = conn.begin().await?;
        let empty = crate::db::pooler::query_scalar(&sql)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(empty);
    }
    let mut tx = crate::db::tenant(&mut *conn, org).await?;
    let empty: bool = crate::db::pooler::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM molecules WHERE organization_id = $1)",
    )
    .bind(org)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(empty)
}
