//! Organizations (tenants): create, look up, list.

use crate::error::{Error, Result};
use sqlx::postgres::PgPool;
use sqlx::Row;
use uuid::Uuid;

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
