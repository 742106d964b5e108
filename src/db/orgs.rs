//! Organizations (tenants): their names, their roles, and who may act for
//! them. Every organization has a NOLOGIN role `molingest_org_<id>`; the
//! row-level security policies admit a session to an organization's rows
//! only through that role (see migrations/…_tenant_roles.up.sql).

use super::{tenant, TENANT_ROLE};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use sqlx::postgres::PgPool;
use sqlx::Row;
use unicode_normalization::UnicodeNormalization;

/// The longest organization name (the column is VARCHAR(255)).
pub const MAX_NAME_CHARS: usize = 255;

/// The role whose members act for organization `org`.
pub fn org_role(org: OrgId) -> String {
    format!("molingest_org_{}", org.simple())
}

/// An organization name as stored: trimmed, Unicode NFC, no control or
/// invisible characters, at most [`MAX_NAME_CHARS`]. Names are unique
/// whatever their case (a unique index on `lower(name)`).
pub fn normalize_name(raw: &str) -> Result<String> {
    let name: String = raw.trim().nfc().collect();
    let bad = |why: &str| Error::Input(format!("organization name {raw:?}: {why}"));
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if let Some(c) = name.chars().find(|&c| c.is_control() || invisible(c)) {
        return Err(bad(&format!(
            "contains the control or invisible character U+{:04X}",
            c as u32
        )));
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(bad(&format!(
            "{n} characters, at most {MAX_NAME_CHARS} allowed"
        )));
    }
    Ok(name)
}

/// Format characters that render as nothing (zero-width spaces and joiners,
/// bidi controls, the BOM, the soft hyphen): two names differing only by
/// them look identical.
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8)
}

/// Is the connected role the administrator: a superuser, or a member of
/// the role that owns the schema (the one that ran `molingest migrate`)?
pub async fn is_admin(pool: &PgPool) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let admin = crate::db::pooler::query_scalar(
        "SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'MEMBER')
         FROM pg_roles r, pg_class c
         WHERE r.rolname = current_user AND c.oid = 'organizations'::regclass",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(admin)
}

/// Refuse administrative commands to a tenant login, saying why.
pub async fn require_admin(pool: &PgPool, what: &str) -> Result<()> {
    if is_admin(pool).await? {
        return Ok(());
    }
    let user: String = sqlx::raw_sql("SELECT current_user::text")
        .fetch_one(pool)
        .await
        .map(|r| r.get(0))?;
    Err(Error::Input(format!(
        "`{what}` needs the administrator (the role that ran `molingest migrate`, or a \
         superuser); {user:?} is not (a tenant login can only load into its organization)"
    )))
}

/// Create an organization and its role; the administrator may act for it.
pub async fn add_org(pool: &PgPool, name: &str) -> Result<OrgId> {
    add_org_row(pool, name, None, None).await
}

/// Create an organization row (with this id, when it mirrors the control
/// database's in an organization's own database), its role if the server
/// lacks it, and the grants. `location`: where its data lives, if elsewhere.
pub async fn add_org_row(
    pool: &PgPool,
    name: &str,
    id: Option<OrgId>,
    location: Option<&str>,
) -> Result<OrgId> {
    let name = normalize_name(name)?;
    require_admin(pool, "org add").await?;
    // Attaching its partitions needs short strong locks on the shared
    // parents: bounded waits, retried, tenant sessions that block them
    // ended after a grace (see `preempt`).
    let mut conn = pool.acquire().await?;
    let watch = (*pool.connect_options()).clone();
    let location = location.map(str::to_owned);
    let (id, ended) = super::preempt::with_parent_locks(&mut conn, watch, |tx| {
        let (name, location) = (name.clone(), location.clone());
        Box::pin(async move {
            let id: OrgId = crate::db::pooler::query_scalar(
                "INSERT INTO organizations (id, name, database_location)
                 VALUES (COALESCE($1, gen_random_uuid()), $2, $3) RETURNING id",
            )
            .bind(id)
            .bind(&name)
            .bind(&location)
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    Error::OrganizationExists(name.clone())
                }
                _ => e.into(),
            })?;
            let role = org_role(id);
            let exists: bool = crate::db::pooler::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
            )
            .bind(&role)
            .fetch_one(&mut **tx)
            .await?;
            if !exists {
                crate::db::pooler::query(&format!(
                    "CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ))
                .execute(&mut **tx)
                .await?;
            }
            for sql in [
                format!("GRANT {TENANT_ROLE} TO {role}"),
                format!("GRANT {role} TO CURRENT_USER"),
            ] {
                crate::db::pooler::query(&sql).execute(&mut **tx).await?;
            }
            // Its partitions of molecules and molecule_properties: created
            // standalone, then attached.
            crate::db::pooler::query("SELECT molingest_add_partitions($1)")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            Ok(id)
        })
    })
    .await?;
    super::preempt::tell(&ended);
    Ok(id)
}

/// An organization as the control database knows it.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    /// Its own database, when it has one (a URL without credentials).
    pub location: Option<String>,
}

/// Look an organization up by name (normalised, case-insensitively).
pub async fn find_org(pool: &PgPool, name: &str) -> Result<Org> {
    let name = normalize_name(name)?;
    let mut tx = pool.begin().await?;
    let row = crate::db::pooler::query(
        "SELECT id, name, database_location FROM organizations WHERE lower(name) = lower($1)",
    )
    .bind(&name)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or(Error::UnknownOrganization(name))?;
    Ok(Org {
        id: row.get(0),
        name: row.get(1),
        location: row.get(2),
    })
}

/// Organizations whose data lives in a database of their own.
pub async fn routed_orgs(pool: &PgPool) -> Result<Vec<Org>> {
    let rows = crate::db::pooler::query(
        "SELECT id, name, database_location FROM organizations
         WHERE database_location IS NOT NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Org {
            id: r.get(0),
            name: r.get(1),
            location: r.get(2),
        })
        .collect())
}

/// Let an existing login role load into organization `name`, and nothing
/// else. Refused for a role that would defeat isolation: a superuser, one
/// with BYPASSRLS, or one already acting for another organization.
pub async fn grant_org(pool: &PgPool, name: &str, login: &str) -> Result<()> {
    require_admin(pool, "org grant").await?;
    let org = org_id(pool, name).await?;
    let mut tx = pool.begin().await?;
    let row = crate::db::pooler::query(
        "SELECT r.rolsuper, r.rolbypassrls, r.rolcanlogin,
                (SELECT array_agg(o.rolname::text) FROM pg_roles o
                 WHERE o.rolname ~ '^molingest_org_[0-9a-f]{32}$' AND o.rolname <> $2
                   AND pg_has_role(r.oid, o.oid, 'MEMBER'))
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(login)
    .bind(org_role(org))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| Error::Input(format!("no role named {login:?} on this server")))?;
    let (superuser, bypass, can_login): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
    let others: Option<Vec<String>> = row.get(3);
    let refuse = |why: &str| {
        Err(Error::Input(format!(
            "cannot grant {name:?} to {login:?}: {why}"
        )))
    };
    if superuser {
        return refuse("it is a superuser, which bypasses row-level security");
    }
    if bypass {
        return refuse("it has BYPASSRLS, which bypasses row-level security");
    }
    if !can_login {
        return refuse("it is not a login role");
    }
    if let Some(o) = others.filter(|o| !o.is_empty()) {
        return refuse(&format!(
            "it already acts for another organization ({})",
            o.join(", ")
        ));
    }
    let ident = login.replace('"', "\"\"");
    sqlx::raw_sql(&format!("GRANT {} TO \"{ident}\"", org_role(org)))
        .execute(pool)
        .await?;
    Ok(())
}

/// The organization of a name, matched as it is stored (normalised,
/// case-insensitively).
pub async fn org_id(pool: &PgPool, name: &str) -> Result<OrgId> {
    let name = normalize_name(name)?;
    let mut tx = pool.begin().await?;
    let id = crate::db::pooler::query_scalar(
        "SELECT id FROM organizations WHERE lower(name) = lower($1)",
    )
    .bind(&name)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    id.ok_or(Error::UnknownOrganization(name))
}

/// The organization the connected login acts for, when it acts for exactly
/// one (a tenant login; `load` without `--org`).
pub async fn own_org(pool: &PgPool) -> Result<Option<Org>> {
    let mut tx = pool.begin().await?;
    let row = crate::db::pooler::query(
        "SELECT id, name, database_location FROM organizations
         WHERE id = molingest_current_org() AND NOT EXISTS (
             SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper)",
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|r| Org {
        id: r.get(0),
        name: r.get(1),
        location: r.get(2),
    }))
}

pub struct OrgRow {
    pub id: OrgId,
    pub name: String,
    pub location: Option<String>,
    pub molecules: i64,
}

/// Every organization the connected role may see, with its molecule count
/// (counted as the tenant: the policies are forced, even for the owner).
pub async fn list_orgs(pool: &PgPool) -> Result<Vec<OrgRow>> {
    let mut tx = pool.begin().await?;
    let orgs: Vec<(OrgId, String, Option<String>)> = crate::db::pooler::query_as(
        "SELECT id, name, database_location FROM organizations ORDER BY name",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut out = Vec::with_capacity(orgs.len());
    for (id, name, location) in orgs {
        let mut tx = tenant(pool, id).await?;
        let molecules: i64 = crate::db::pooler::query_scalar("SELECT count(*) FROM molecules")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        out.push(OrgRow {
            id,
            name,
            location,
            molecules,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_normalised_and_checked() {
        assert_eq!(normalize_name("  acme\t").unwrap(), "acme");
        // NFD "é" becomes NFC.
        assert_eq!(normalize_name("cafe\u{301}").unwrap(), "caf\u{e9}");
        assert!(normalize_name("ac\u{200b}me").is_err(), "zero-width space");
        assert!(normalize_name("ac\tme").is_err(), "tab inside");
        assert!(normalize_name("   ").is_err());
        assert!(normalize_name(&"x".repeat(256)).is_err());
        assert!(
            normalize_name(&"é".repeat(255)).is_ok(),
            "255 characters, not bytes"
        );
    }
}
