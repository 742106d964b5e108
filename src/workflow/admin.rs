//! Administration: the schema, organizations, and which database to use
//! (starting the embedded one when none is named).

use super::runtime;
use crate::db::{self, embedded::Embedded, OrgRow};
use crate::error::{Error, Result};
use sqlx::PgPool;
use std::path::PathBuf;
use uuid::Uuid;

/// Where the database is: a URL, or the embedded server's data directory.
#[derive(Debug, Clone, Default)]
pub struct Database {
    pub url: Option<String>,
    pub data_dir: Option<PathBuf>,
}

impl Database {
    pub fn embedded(&self) -> Result<Embedded> {
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(Embedded::default_data_dir);
        Embedded::new(&dir)
    }

    /// The URL to connect to, starting the embedded server (and keeping its
    /// schema current, since it is ours) when no URL was given.
    pub fn resolve(&self, migrate_embedded: bool) -> Result<String> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let url = self.embedded()?.ensure_running()?;
        if migrate_embedded {
            runtime()?.block_on(async {
                let pool = db::connect(&url).await?;
                db::migrate_up(&pool).await?;
                pool.close().await;
                Ok::<_, Error>(())
            })?;
        }
        Ok(url)
    }
}

/// Connect and check that the schema is there.
pub async fn connect_ready(url: &str) -> Result<PgPool> {
    let pool = db::connect(url).await?;
    let wanted = db::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .count();
    if db::applied_migrations(&pool).await?.len() < wanted {
        return Err(Error::Input(
            "the database schema is missing or out of date: run `molingest migrate` first".into(),
        ));
    }
    Ok(pool)
}

/// Once the schema exists, only the administrator changes it.
async fn require_admin_if_migrated(pool: &PgPool, what: &str) -> Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('organizations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if exists {
        db::orgs::require_admin(pool, what).await?;
    }
    Ok(())
}

/// A migration and whether it is applied (`migrate status`).
#[derive(Debug, Clone)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// Apply every pending migration; returns how many are applied in all.
pub fn migrate_up(url: &str) -> Result<usize> {
    runtime()?.block_on(async {
        let pool = db::connect(url).await?;
        require_admin_if_migrated(&pool, "migrate").await?;
        db::migrate_up(&pool).await?;
        Ok(db::applied_migrations(&pool).await?.len())
    })
}

/// Revert every migration (the schema is gone afterwards).
pub fn migrate_down(url: &str) -> Result<()> {
    runtime()?.block_on(async {
        let pool = db::connect(url).await?;
        require_admin_if_migrated(&pool, "migrate down").await?;
        db::migrate_down(&pool).await
    })
}

pub fn migration_status(url: &str) -> Result<Vec<MigrationState>> {
    runtime()?.block_on(async {
        let pool = db::connect(url).await?;
        let applied = db::applied_migrations(&pool).await?;
        Ok(db::MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationState {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    })
}

pub fn org_add(url: &str, name: &str) -> Result<Uuid> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        db::add_org(&pool, name).await
    })
}

pub fn org_grant(url: &str, name: &str, login: &str) -> Result<()> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        db::grant_org(&pool, name, login).await
    })
}

pub fn org_list(url: &str) -> Result<Vec<OrgRow>> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        db::list_orgs(&pool).await
    })
}
