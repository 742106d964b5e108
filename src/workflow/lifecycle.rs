//! An organization's whole life: export (data portability), import
//! (backup and recovery), purge (the right to be forgotten). Each works
//! the same for an organization that lives in its own database.

use super::admin::{connect_ready, locate};
use super::runtime;
use crate::db::{self, lifecycle as sql, orgs, routing};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use uuid::Uuid;

/// `manifest.json` of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub molingest_version: String,
    /// The newest migration applied to the database it came from.
    pub schema_version: i64,
    pub organization: ManifestOrg,
    /// Rows per table, e.g. `{"molecules": 1020, "molecule_files": 23, …}`.
    pub row_counts: BTreeMap<String, u64>,
    /// sha256 (hex) of every other file of the export.
    pub sha256: BTreeMap<String, String>,
    /// Fields that differ between two exports of the same data.
    pub run_specific: Vec<String>,
    pub exported_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestOrg {
    pub id: Uuid,
    pub name: String,
}

/// A file written while its sha256 is computed.
struct Hashed {
    file: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
}

impl Hashed {
    fn create(path: &Path) -> Result<Self> {
        let file = crate::private_fs::create_file(path).map_err(|e| Error::io(path, e))?;
        Ok(Hashed {
            file: std::io::BufWriter::new(file),
            hash: Sha256::new(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.file.write_all(bytes)
    }

    fn finish(mut self) -> std::io::Result<String> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        Ok(hex(&self.hash.finalize()))
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::scan::hex(bytes)
}

/// Export every row of organization `name` into `dir` (created if missing;
/// a non-empty one is refused): one JSON Lines file per table, streamed,
/// the molecules as `molecules.smi` too, and `manifest.json`.
pub fn export(url: &str, name: &str, dir: &Path) -> Result<Manifest> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .next()
            .is_some()
    {
        return Err(Error::Input(format!(
            "{}: not empty; export into a new or empty directory",
            dir.display()
        )));
    }
    crate::private_fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    runtime()?.block_on(async {
        let located = locate(url, Some(name), false).await?;
        let org = located.org.id;
        let mut conn = located.pool.acquire().await?;
        let mut sha256 = BTreeMap::new();
        let mut row_counts = BTreeMap::new();
        for (table, _) in sql::ORG_TABLES {
            let file_name = format!("{table}.jsonl");
            let mut out = Hashed::create(&dir.join(&file_name))?;
            let n = sql::export_table(&mut conn, org, table, &mut |b| out.write(b)).await?;
            sha256.insert(file_name, out.finish().map_err(|e| Error::io(dir, e))?);
            row_counts.insert(table.to_string(), n);
        }
        let mut smi = Hashed::create(&dir.join("molecules.smi"))?;
        sql::export_smiles(&mut conn, org, &mut |b| smi.write(b)).await?;
        sha256.insert(
            "molecules.smi".into(),
            smi.finish().map_err(|e| Error::io(dir, e))?,
        );
        let schema_version = db::applied_migrations(&located.pool)
            .await?
            .into_iter()
            .max()
            .unwrap_or(0);
        let manifest = Manifest {
            molingest_version: env!("CARGO_PKG_VERSION").into(),
            schema_version,
            organization: ManifestOrg {
                id: org.0,
                name: located.org.name.clone(),
            },
            row_counts,
            sha256,
            run_specific: vec!["exported_at".into()],
            exported_at: chrono_now(&located.pool).await?,
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Pipeline(format!("manifest: {e}")))?;
        let path = dir.join("manifest.json");
        crate::private_fs::create_file(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &text))
            .map_err(|e| Error::io(&path, e))?;
        Ok(manifest)
    })
}

async fn chrono_now(pool: &sqlx::PgPool) -> Result<String> {
    use sqlx::Row;
    // The simple protocol: one round trip, safe behind a pooler.
    let row =
        sqlx::raw_sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
            .fetch_one(pool)
            .await?;
    Ok(row.try_get(0)?)
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub organization: String,
    pub id: Uuid,
    pub row_counts: BTreeMap<String, u64>,
}

/// Restore an export into a new or empty organization (`as_name`, else the
/// exported name; created if missing, with the exported id when no other
/// organization has it). Refuses a manifest whose checksums do not match
/// or whose schema is newer than the database's.
pub fn import(url: &str, dir: &Path, as_name: Option<&str>) -> Result<ImportReport> {
    let path = dir.join("manifest.json");
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| Error::Input(format!("{}: not a molingest manifest: {e}", path.display())))?;
    for (file, want) in &manifest.sha256 {
        let got = sha256_of(&dir.join(file))?;
        if &got != want {
            return Err(Error::Input(format!(
                "{file}: checksum does not match the manifest (the export is damaged or was edited)"
            )));
        }
    }
    let name = as_name.unwrap_or(&manifest.organization.name).to_owned();
    runtime()?.block_on(async {
        let control = connect_ready(url).await?;
        orgs::require_admin(&control, "org import").await?;
        let newest = db::applied_migrations(&control).await?.into_iter().max().unwrap_or(0);
        if manifest.schema_version > newest {
            return Err(Error::Input(format!(
                "the export's schema ({}) is newer than this database's ({newest}): run `molingest migrate` with a newer molingest first",
                manifest.schema_version
            )));
        }
        let org = match db::find_org(&control, &name).await {
            Ok(org) => org,
            Err(Error::UnknownOrganization(_)) => {
                let mut tx = control.begin().await?;
                let taken: bool =
                    crate::db::pooler::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
                        .bind(manifest.organization.id)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                let id = (!taken).then_some(manifest.organization.id);
                orgs::add_org_row(&control, &name, id.map(crate::ids::OrgId), None).await?;
                db::find_org(&control, &name).await?
            }
            Err(e) => return Err(e),
        };
        let pool = match &org.location {
            Some(l) => connect_ready(&routing::route(url, l)?).await?,
            None => control,
        };
        let mut conn = pool.acquire().await?;
        let held = sql::row_counts(&mut conn, org.id).await?;
        if held.iter().any(|(t, n)| *n > 0 && t != "organizations" && t != "audit_log") {
            return Err(Error::Input(format!(
                "organization {name:?} already holds rows; import into a new or empty organization"
            )));
        }
        // All or nothing: one transaction, so an import killed at any point
        // leaves the organization empty and the same command runs again.
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // The empty organization's own audit rows (its creation) give way
        // to the exported history.
        sql::clear_audit(&mut tx, org.id).await?;
        let mut row_counts = BTreeMap::new();
        for (table, _) in sql::ORG_TABLES {
            if *table == "organizations" {
                continue;
            }
            let path = dir.join(format!("{table}.jsonl"));
            // An export made before this table existed has no file for it.
            if !manifest.row_counts.contains_key(*table) && !path.exists() {
                row_counts.insert(table.to_string(), 0);
                continue;
            }
            let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            let mut total = 0;
            let mut batch = Vec::with_capacity(5000);
            for line in std::io::BufReader::new(file).lines() {
                batch.push(line.map_err(|e| Error::io(&path, e))?);
                if batch.len() == 5000 {
                    total += sql::import_table(&mut tx, org.id, table, &batch)
                        .await
                        .map_err(|e| e.during("importing rows"))?;
                    batch.clear();
                }
            }
            total += sql::import_table(&mut tx, org.id, table, &batch)
                .await
                .map_err(|e| e.during("importing rows"))?;
            row_counts.insert(table.to_string(), total);
        }
        sql::restore_org_row(&mut tx, org.id, &dir.join("organizations.jsonl")).await?;
        tx.commit()
            .await
            .map_err(|e| Error::from(e).during("committing the import"))?;
        row_counts.insert("organizations".into(), 1);
        let _ = conn.close().await;
        Ok(ImportReport {
            organization: name,
            id: org.id.0,
            row_counts,
        })
    })
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(hex(&h.finalize()))
}

/// What a purge deleted, per table.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    pub organization: Uuid,
    pub rows_deleted: BTreeMap<String, u64>,
    pub database_dropped: bool,
}

/// Delete every row of the organization in every table, its audit rows
/// included, and the organization itself (for one with its own database,
/// its data there, or the database with `drop_database`), leaving one
/// tombstone. `confirm` must repeat the name.
pub fn purge(
    url: &str,
    name: &str,
    confirm: Option<&str>,
    drop_database: bool,
) -> Result<PurgeReport> {
    let normal = orgs::normalize_name(name)?;
    match confirm.map(orgs::normalize_name).transpose()? {
        Some(c) if c.to_lowercase() == normal.to_lowercase() => {}
        _ => {
            return Err(Error::Usage(format!(
                "`org purge` deletes every row of {normal:?} for good: repeat its name with --confirm {normal:?}"
            )))
        }
    }
    runtime()?.block_on(async {
        let control = connect_ready(url).await?;
        orgs::require_admin(&control, "org purge").await?;
        let org = db::find_org(&control, &normal).await?;
        let mut counts = BTreeMap::new();
        let mut database_dropped = false;
        if let Some(location) = &org.location {
            let target = routing::route(url, location)?;
            if drop_database {
                drop_db(&target).await?;
                database_dropped = true;
            } else {
                let pool = connect_ready(&target).await?;
                counts = sql::purge_rows(&pool, org.id).await?;
                sql::tombstone(&pool, org.id, &counts).await?;
                pool.close().await;
            }
        } else if drop_database {
            return Err(Error::Usage(
                "--drop-database: this organization has no database of its own".into(),
            ));
        }
        let here = sql::purge_rows(&control, org.id).await?;
        for (t, n) in here {
            *counts.entry(t).or_insert(0) += n;
        }
        sql::tombstone(&control, org.id, &counts).await?;
        sql::drop_org_role(&control, org.id).await?;
        Ok(PurgeReport {
            organization: org.id.0,
            rows_deleted: counts,
            database_dropped,
        })
    })
}

async fn drop_db(url: &str) -> Result<()> {
    let mut server =
        url::Url::parse(url).map_err(|e| Error::Input(format!("database URL: {e}")))?;
    let name = server.path().trim_start_matches('/').replace('"', "\"\"");
    server.set_path("/postgres");
    let mut conn = crate::db::connection(server.as_str(), "molingest").await?;
    // Not in a transaction (PostgreSQL refuses): the simple protocol.
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}
