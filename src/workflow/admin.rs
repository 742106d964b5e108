//! Administration: the schema, organizations, and which database to use
//! (starting the embedded one when none is named).

use super::runtime;
use crate::db::{self, connect, embedded::Embedded, OrgRow};
use crate::error::{Error, Result};
use sqlx::PgPool;
use std::path::PathBuf;
use uuid::Uuid;

/// Where the database is: a URL, the `PG*` environment, or the embedded
/// server's data directory.
#[derive(Debug, Clone, Default)]
pub struct Database {
    pub url: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// Which database [`Database::choose`] picked, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `--database-url` / `DATABASE_URL`.
    Url(String),
    /// No URL, but `PGHOST`, `PGDATABASE`, … are set: libpq's way.
    Environment,
    /// `--data-dir` / `MOLINGEST_DATA_DIR` named the embedded cluster.
    EmbeddedAsked,
    /// Nothing named a database: the embedded default.
    EmbeddedDefault,
}

impl Database {
    pub fn embedded(&self) -> Result<Embedded> {
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(Embedded::default_data_dir);
        Embedded::new(&dir)
    }

    /// The order: a URL; else an explicit `--data-dir`; else the `PG*`
    /// variables when any of them names a server; else the embedded default.
    pub fn choose(&self) -> Choice {
        match (&self.url, &self.data_dir) {
            (Some(url), _) if !url.is_empty() => Choice::Url(url.clone()),
            (_, Some(_)) => Choice::EmbeddedAsked,
            _ if connect::environment_names_a_server() => Choice::Environment,
            _ => Choice::EmbeddedDefault,
        }
    }

    /// The URL to connect to, starting the embedded server (and keeping its
    /// schema current, since it is ours) when no other database was named.
    /// [`connect::FROM_ENVIRONMENT`] means "the `PG*` variables".
    pub fn resolve(&self, migrate_embedded: bool) -> Result<String> {
        match self.choose() {
            Choice::Url(url) => return Ok(url),
            Choice::Environment => return Ok(connect::FROM_ENVIRONMENT.to_owned()),
            Choice::EmbeddedAsked => {
                if connect::environment_names_a_server() {
                    eprintln!(
                        "molingest: --data-dir names the embedded database; the PG* variables \
                         are not used (unset --data-dir / MOLINGEST_DATA_DIR to use them)"
                    );
                }
            }
            Choice::EmbeddedDefault => {}
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
        db::migrate_up(&pool).await?;
        Ok(db::applied_migrations(&pool).await?.len())
    })
}

/// Revert every migration (the schema is gone afterwards).
pub fn migrate_down(url: &str) -> Result<()> {
    runtime()?.block_on(async {
        let pool = db::connect(url).await?;
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

pub fn org_list(url: &str) -> Result<Vec<OrgRow>> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        db::list_orgs(&pool).await
    })
}
