//! Administration: the schema, organizations, and which database to use
//! (starting the embedded one when none is named).

use super::runtime;
use crate::db::{self, connect, routing, OrgRow};
use crate::embedded::Embedded;
use crate::error::{Error, Result};
use sqlx::PgPool;
use std::path::PathBuf;

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
                db::migrate_up(&pool, None).await?;
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
    let exists: bool =
        crate::db::pooler::query_scalar("SELECT to_regclass('organizations') IS NOT NULL")
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
/// How `migrate` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrateOptions {
    /// `down` on a database that holds organizations: drop it all.
    pub confirm_data_loss: bool,
    /// Up: apply up to this version; down: revert those newer than it.
    pub target: Option<i64>,
    /// Say what would change; change nothing.
    pub dry_run: bool,
}

/// What `migrate` did (or would do) in one database.
#[derive(Debug, Clone)]
pub struct MigrationStep {
    /// The database, as `host:port/name` (never with a password).
    pub database: String,
    /// `VERSION description`, in the order applied or reverted.
    pub migrations: Vec<String>,
}

/// The shared database and every organization's own: the shared one first
/// going up (it holds the routing), last going down.
async fn databases(url: &str, pool: &sqlx::PgPool) -> Result<Vec<String>> {
    let mut urls = vec![url.to_owned()];
    for org in db::orgs::routed_orgs(pool).await? {
        if let Some(location) = &org.location {
            let routed = routing::route(url, location)?;
            if !urls.contains(&routed) {
                urls.push(routed);
            }
        }
    }
    Ok(urls)
}

/// Apply the migrations (up to `options.target`) in the shared database
/// and in every organization's own database.
pub fn migrate_up(url: &str, options: MigrateOptions) -> Result<Vec<MigrationStep>> {
    runtime()?.block_on(async {
        let pool = db::connect(url).await?;
        require_admin_if_migrated(&pool, "migrate").await?;
        let mut steps = Vec::new();
        // The shared database first: a routed organization is only known
        // once its schema is.
        let todo = db::pending_up(&pool, options.target).await?;
        if !options.dry_run {
            db::migrate_up(&pool, options.target).await?;
        }
        steps.push(step(url, todo)?);
        for routed_url in databases(url, &pool).await?.into_iter().skip(1) {
            let routed = db::connect(&routed_url).await?;
            let todo = db::pending_up(&routed, options.target).await?;
            if !options.dry_run {
                db::migrate_up(&routed, options.target).await?;
            }
            routed.close().await;
            steps.push(step(&routed_url, todo)?);
        }
        Ok(steps)
    })
}

/// Revert the migrations newer than `options.target` (all without one) in
/// every organization's own database, then in the shared one. A database
/// that holds organizations' data needs `confirm_data_loss` when every
/// migration is reverted.
pub fn migrate_down(url: &str, options: MigrateOptions) -> Result<Vec<MigrationStep>> {
    runtime()?.block_on(async {
        let pool = db::connect(url).await?;
        require_admin_if_migrated(&pool, "migrate down").await?;
        let target = options.target.unwrap_or(0);
        if !options.confirm_data_loss
            && !options.dry_run
            && db::lifecycle::holds_data(&pool).await?
        {
            return Err(Error::Usage(
                "`migrate down` drops tables and their rows, and this database holds data: \
                 pass --confirm-data-loss if that is what you want (export first: `molingest org export`)"
                    .into(),
            ));
        }
        let mut all = databases(url, &pool).await?;
        // Routed databases first: the shared one holds where they are.
        all.rotate_left(1);
        let mut steps = Vec::new();
        for db_url in all {
            let conn = if db_url == url {
                pool.clone()
            } else {
                db::connect(&db_url).await?
            };
            let todo = db::pending_down(&conn, target).await?;
            if !options.dry_run {
                db::migrate_down(&conn, target).await?;
            }
            steps.push(step(&db_url, todo)?);
        }
        Ok(steps)
    })
}

fn step(url: &str, migrations: Vec<String>) -> Result<MigrationStep> {
    Ok(MigrationStep {
        database: db::connect::target(url)?.to_string(),
        migrations,
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

/// Create an organization; with `database`, its data lives in that
/// database (created if missing, migrated), reached with the caller's
/// credentials.
pub fn org_add(url: &str, name: &str, database: Option<&str>) -> Result<crate::ids::OrgId> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        let Some(database) = database else {
            return db::add_org(&pool, name).await;
        };
        let location = routing::location(database)?;
        db::orgs::require_admin(&pool, "org add").await?;
        let name = db::orgs::normalize_name(name)?;
        // Only "no such organization" means the name is free; any other
        // error (the database down, a timeout) is an error.
        match db::find_org(&pool, &name).await {
            Ok(_) => return Err(Error::OrganizationExists(name)),
            Err(Error::UnknownOrganization(_)) => {}
            Err(e) => return Err(e.during("checking whether the name is taken")),
        }
        let target = routing::route(url, &location)?;
        let tenant_pool = connect_creating(&target).await?;
        db::migrate_up(&tenant_pool, None).await?;
        let id = db::orgs::add_org_row(&tenant_pool, &name, None, None).await?;
        // Only this organization's role (and the administrator) may connect
        // to its database: PUBLIC's default CONNECT and TEMPORARY go.
        let mut tx = tenant_pool.begin().await?;
        let db_name: String = db::pooler::query_scalar("SELECT current_database()")
            .fetch_one(&mut *tx)
            .await?;
        let ident = db_name.replace('"', "\"\"");
        for sql in [
            format!("REVOKE CONNECT, TEMPORARY ON DATABASE \"{ident}\" FROM PUBLIC"),
            format!(
                "GRANT CONNECT, TEMPORARY ON DATABASE \"{ident}\" TO {}",
                db::orgs::org_role(id)
            ),
        ] {
            db::pooler::query(&sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    Error::from(e)
                        .during("restricting who may connect to the organization's database")
                })?;
        }
        tx.commit().await?;
        tenant_pool.close().await;
        db::orgs::add_org_row(&pool, &name, Some(id), Some(&location)).await
    })
}

/// Connect to a database, creating it first if the server lacks it.
async fn connect_creating(url: &str) -> Result<PgPool> {
    match db::connect(url).await {
        Err(Error::NoSuchDatabase(_)) => {
            let mut server =
                url::Url::parse(url).map_err(|e| Error::Input(format!("database URL: {e}")))?;
            let name = server.path().trim_start_matches('/').to_owned();
            server.set_path("/postgres");
            let admin = db::connect(server.as_str()).await?;
            let ident = name.replace('"', "\"\"");
            sqlx::raw_sql(&format!("CREATE DATABASE \"{ident}\""))
                .execute(&admin)
                .await?;
            admin.close().await;
            db::connect(url).await
        }
        other => other,
    }
}

/// An organization and a connection to the database its data lives in.
pub struct Located {
    pub org: db::Org,
    /// The URL of the organization's data (the control URL, or routed).
    pub url: String,
    pub pool: PgPool,
}

/// Find an organization in the control database (`name`: `None` for the
/// login's own; `create`: add it when missing) and connect to where its
/// data lives. Every command that touches an organization's data starts here.
pub async fn locate(control_url: &str, name: Option<&str>, create: bool) -> Result<Located> {
    let control = connect_ready(control_url).await?;
    let org = match name {
        None => db::own_org(&control).await?.ok_or_else(|| {
            Error::Input(
                "no --org given, and this login does not act for exactly one organization".into(),
            )
        })?,
        Some(name) => match db::find_org(&control, name).await {
            Err(Error::UnknownOrganization(_)) if create => {
                db::add_org(&control, name).await?;
                db::find_org(&control, name).await?
            }
            other => other?,
        },
    };
    let Some(location) = &org.location else {
        return Ok(Located {
            org,
            url: control_url.to_owned(),
            pool: control,
        });
    };
    control.close().await;
    let url = routing::route(control_url, location)?;
    let pool = connect_ready(&url).await?;
    Ok(Located { org, url, pool })
}

/// Let `login` act for organization `name`: in the control database and,
/// for an organization with its own database, on that database's server
/// (roles belong to a server, and the login must exist there too).
pub fn org_grant(url: &str, name: &str, login: &str) -> Result<()> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        db::grant_org(&pool, name, login).await?;
        if let Some(location) = db::find_org(&pool, name).await?.location {
            let routed = connect_ready(&routing::route(url, &location)?).await?;
            db::grant_org(&routed, name, login).await?;
            routed.close().await;
        }
        Ok(())
    })
}

/// Every organization with its molecule count, counted where its data lives.
pub fn org_list(url: &str) -> Result<Vec<OrgRow>> {
    runtime()?.block_on(async {
        let pool = connect_ready(url).await?;
        let mut rows = db::list_orgs(&pool).await?;
        for row in rows.iter_mut() {
            if let Some(location) = &row.location {
                let routed = connect_ready(&routing::route(url, location)?).await?;
                row.molecules = db::list_orgs(&routed)
                    .await?
                    .iter()
                    .find(|r| r.id == row.id)
                    .map_or(0, |r| r.molecules);
                routed.close().await;
            }
        }
        Ok(rows)
    })
}
