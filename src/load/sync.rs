//! `load --sync`: the organization follows its source. After a run that
//! listed every source completely and read every file to its end, the
//! source's files that changed or disappeared are retired
//! (`molecule_files.retired_at`, `retired_by`), and the molecules that no
//! current file of the organization holds any more — in this source or any
//! other — are removed with their properties, occurrences and records.
//!
//! - **What is current.** Every file the run listed: by content (the hash
//!   of each file it read or hashed) and, for files skipped as unchanged, by
//!   location (the newest completed row of that location). A file row under
//!   the source that is neither is retired.
//! - **What goes.** A molecule with a record (see [`super::provenance`]) in a
//!   file retired now and none in any file not retired. A molecule that a
//!   docking result still references is kept and counted. Molecules with no
//!   known record at all are never candidates.
//! - **One transaction**, as the administrator for this organization (the
//!   deletes tenants may not make: docs/security.md), audited one row per
//!   statement with its counts. Killed part-way, nothing of it happened and
//!   the next run does it all. It holds the organization's own partition of
//!   `molecules` in SHARE mode: a load of another of its sources waits
//!   (for the sync's length), so no record lands between what the sync
//!   reads and what it removes.
//! - **`--max-retract N` / `N%`** refuses (rolls back) a sync that would
//!   remove more; **`--dry-run`** computes everything and rolls back.

use crate::error::{Error, Result};
use crate::ids::{OrgId, RunId};
use crate::pipeline::{Known, Progress};
use crate::source::FileJob;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How many molecules a sync may remove (`--max-retract`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxRetract {
    Count(u64),
    /// Of the organization's molecules before the sync.
    Percent(f64),
}

impl std::str::FromStr for MaxRetract {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(MaxRetract::Percent(v)),
                _ => Err(format!("{s:?}: a percentage is 0% to 100%")),
            }
        } else {
            s.parse::<u64>().map(MaxRetract::Count).map_err(|_| {
                format!("{s:?}: a count of molecules (e.g. 500) or a percentage (e.g. 5%)")
            })
        }
    }
}

impl MaxRetract {
    fn allows(self, removed: u64, held: u64) -> bool {
        match self {
            MaxRetract::Count(n) => removed <= n,
            MaxRetract::Percent(p) => removed as f64 <= held as f64 * p / 100.0,
        }
    }

    fn describe(self) -> String {
        match self {
            MaxRetract::Count(n) => n.to_string(),
            MaxRetract::Percent(p) => format!("{p}%"),
        }
    }
}

/// How many removed molecules a report names.
pub const NAMES_SHOWN: i64 = 100;

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    pub dry_run: bool,
    pub max_retract: Option<MaxRetract>,
}

/// What a sync did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub dry_run: bool,
    /// Locations of the files retired.
    pub retired_files: Vec<String>,
    pub removed_molecules: u64,
    /// The names of the molecules removed (or, with `--dry-run`, to be
    /// removed), the first [`NAMES_SHOWN`] by name.
    pub removed_names: Vec<String>,
    /// Held by no current file but referenced by docking results: kept.
    pub kept_for_docking: u64,
    /// Why nothing was retracted, when the run was not safe to sync from
    /// or `--max-retract` refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_retracted: Option<String>,
    /// `--max-retract` refused the sync.
    pub refused: bool,
}

impl SyncReport {
    pub fn skipped(why: impl Into<String>) -> Self {
        SyncReport {
            not_retracted: Some(why.into()),
            ..SyncReport::default()
        }
    }

    /// One line for the summary.
    pub fn describe(&self) -> String {
        let verb = if self.dry_run {
            "would retire"
        } else {
            "retired"
        };
        let mut s = match &self.not_retracted {
            Some(why) => format!("sync: nothing retracted: {why}"),
            None => format!(
                "sync: {verb} {} file(s), {} {} molecule(s)",
                self.retired_files.len(),
                if self.dry_run {
                    "would remove"
                } else {
                    "removed"
                },
                self.removed_molecules
            ),
        };
        if self.kept_for_docking > 0 {
            s.push_str(&format!(
                "; kept {} held by no current file but referenced by docking results",
                self.kept_for_docking
            ));
        }
        s
    }
}

/// What the run saw of its sources: the `Known` the pipeline asks about
/// every file, recording the answers (unchanged locations, and the content
/// hash of every file it hashed).
pub struct SeenFiles {
    inner: Arc<dyn Known>,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub unchanged: Vec<String>,
    pub hashes: Vec<[u8; 32]>,
    /// Every hashed file: its location and content.
    pub located: Vec<(String, [u8; 32])>,
}

impl SeenFiles {
    pub fn wrap(inner: Arc<dyn Known>) -> Arc<Self> {
        Arc::new(SeenFiles {
            inner,
            seen: Mutex::new(Seen::default()),
        })
    }

    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn note(&self, f: impl FnOnce(&mut Seen)) {
        let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }
}

impl Known for SeenFiles {
    fn unchanged(&self, job: &FileJob) -> bool {
        let yes = self.inner.unchanged(job);
        if yes {
            self.note(|s| s.unchanged.push(job.uri.clone()));
        }
        yes
    }
    fn loaded(&self, hash: &[u8; 32]) -> bool {
        self.note(|s| s.hashes.push(*hash));
        self.inner.loaded(hash)
    }
    fn located(&self, uri: &str, hash: &[u8; 32]) {
        self.note(|s| s.located.push((uri.to_owned(), *hash)));
    }
    fn vanished(&self, prefix: &str, seen: &HashSet<String>) -> Vec<String> {
        self.inner.vanished(prefix, seen)
    }
    fn progress(&self, hash: &[u8; 32]) -> Option<Progress> {
        self.inner.progress(hash)
    }
    fn failed_before(&self, hash: &[u8; 32]) -> Option<String> {
        self.inner.failed_before(hash)
    }
}

/// Retire and remove (see the module documentation). `prefixes`: the
/// sources' locations as `molecule_files.source_uri` starts with them.
/// `present`: with `--dry-run`, the content hashes of the records of the
/// files the run would have loaded (they keep their molecules).
pub async fn sync(
    pool: &PgPool,
    (org, run): (OrgId, Option<RunId>),
    prefixes: &[String],
    seen: &Seen,
    present: &HashSet<[u8; 32]>,
    options: SyncOptions,
) -> Result<SyncReport> {
    let mut tx = crate::db::admin_for(pool, org)
        .await
        .map_err(|e| e.during("beginning the sync"))?;
    // No batch of another load of this organization (another source) may
    // commit between what the sync reads and what it removes: those wait
    // on the organization's own partition (no other organization does).
    let partition = format!("molecules_{}", org.simple());
    let exists: bool =
        crate::db::pooler::query_scalar("SELECT to_regclass('public.' || $1) IS NOT NULL")
            .bind(&partition)
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        crate::db::pooler::query(&format!("LOCK TABLE public.{partition} IN SHARE MODE"))
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from(e).during("locking the organization's molecules"))?;
    }
    if let Some(run) = run {
        crate::db::pooler::query("SELECT set_config('molingest.run_id', $1, true)")
            .bind(run.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let hashes: Vec<Vec<u8>> = seen.hashes.iter().map(|h| h.to_vec()).collect();
    // Where each content is now: a location under the sources that the run
    // did not find holding it is gone; one elsewhere is another source's,
    // and keeps its content current.
    record_locations(&mut tx, org, &seen.located).await?;
    let (uris, located): (Vec<String>, Vec<Vec<u8>>) = seen
        .located
        .iter()
        .map(|(u, h)| (u.clone(), h.to_vec()))
        .unzip();
    crate::db::pooler::query(
        "WITH seen AS (SELECT * FROM unnest($2::text[], $3::bytea[]) AS s(uri, hash))
         UPDATE molecule_files f
         SET also_at = ARRAY(SELECT x FROM unnest(f.also_at) x
                             WHERE NOT molingest_under(x, $4::text[])
                                OR EXISTS (SELECT 1 FROM seen s WHERE s.uri = x AND s.hash = f.content_hash))
         WHERE f.organization_id = $1
           AND EXISTS (SELECT 1 FROM unnest(f.also_at) x
                       WHERE molingest_under(x, $4::text[])
                         AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.uri = x AND s.hash = f.content_hash))",
    )
    .bind(org)
    .bind(&uris)
    .bind(&located)
    .bind(prefixes)
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from(e).during("forgetting locations that left the sources"))?;
    let retired: Vec<(Uuid, String)> = crate::db::pooler::query_as(
        "WITH current AS (
             SELECT id FROM molecule_files
             WHERE organization_id = $1 AND content_hash = ANY($2::bytea[])
             UNION
             (SELECT DISTINCT ON (source_uri) id FROM molecule_files
              WHERE organization_id = $1 AND source_uri = ANY($3::text[])
                AND status = 'completed' AND retired_at IS NULL
              ORDER BY source_uri, created_at DESC))
         UPDATE molecule_files f SET retired_at = now(), retired_by = $4
         WHERE f.organization_id = $1 AND f.retired_at IS NULL
           AND molingest_under(f.source_uri, $5::text[])
           AND cardinality(f.also_at) = 0
           AND f.id NOT IN (SELECT id FROM current)
         RETURNING f.id, f.source_uri",
    )
    .bind(org)
    .bind(&hashes)
    .bind(&seen.unchanged)
    .bind(run)
    .bind(prefixes)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| Error::from(e).during("retiring files"))?;
    // A current file loaded before repeats were recorded may hold a
    // molecule without a record saying so: nothing is retracted until such
    // files are read again.
    let unrecorded: i64 = crate::db::pooler::query_scalar(
        "SELECT count(*) FROM molecule_files
         WHERE organization_id = $1 AND retired_at IS NULL AND NOT provenance_complete",
    )
    .bind(org)
    .fetch_one(&mut *tx)
    .await?;
    if unrecorded > 0 {
        tx.rollback().await?;
        return Ok(SyncReport {
            dry_run: options.dry_run,
            ..SyncReport::skipped(format!(
                "{unrecorded} file(s) of the organization were loaded before molingest kept \
                 every record's provenance: run `load --full` once on their sources, then sync"
            ))
        });
    }
    let retired_ids: Vec<Uuid> = retired.iter().map(|(id, _)| *id).collect();
    let present: Vec<Vec<u8>> = present.iter().map(|h| h.to_vec()).collect();
    // Molecules with a record in a file retired now and in no current file.
    let gone: Vec<(Uuid, bool)> = crate::db::pooler::query_as(
        "WITH candidate AS (
             SELECT DISTINCT molecule_id FROM molecule_provenance
             WHERE organization_id = $1 AND file_id = ANY($2::uuid[]))
         SELECT c.molecule_id,
                EXISTS (SELECT 1 FROM job_results j
                        WHERE j.organization_id = $1 AND j.molecule_id = c.molecule_id)
                OR EXISTS (SELECT 1 FROM docking_jobs d
                           WHERE d.organization_id = $1 AND d.receptor_id = c.molecule_id)
         FROM candidate c
         WHERE NOT EXISTS (
                 SELECT 1 FROM molecule_provenance p
                 JOIN molecule_files f ON f.organization_id = p.organization_id AND f.id = p.file_id
                 WHERE p.organization_id = $1 AND p.molecule_id = c.molecule_id
                   AND f.retired_at IS NULL)
           AND NOT EXISTS (
                 SELECT 1 FROM molecules m
                 WHERE m.organization_id = $1 AND m.id = c.molecule_id
                   AND m.content_hash = ANY($3::bytea[]))
           AND NOT EXISTS (
                 SELECT 1 FROM molecule_occurrences o
                 WHERE o.organization_id = $1 AND o.molecule_id = c.molecule_id
                   AND o.content_hash = ANY($3::bytea[]))",
    )
    .bind(org)
    .bind(&retired_ids)
    .bind(&present)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| Error::from(e).during("finding the molecules no current file holds"))?;
    let remove: Vec<Uuid> = gone.iter().filter(|(_, d)| !d).map(|(id, _)| *id).collect();
    let removed_names: Vec<String> = crate::db::pooler::query_scalar(
        "SELECT name::text FROM molecules WHERE organization_id = $1 AND id = ANY($2::uuid[])
         ORDER BY name LIMIT $3",
    )
    .bind(org)
    .bind(&remove)
    .bind(NAMES_SHOWN)
    .fetch_all(&mut *tx)
    .await?;
    let mut report = SyncReport {
        dry_run: options.dry_run,
        retired_files: retired.into_iter().map(|(_, uri)| uri).collect(),
        removed_molecules: remove.len() as u64,
        removed_names,
        kept_for_docking: gone.len() as u64 - remove.len() as u64,
        not_retracted: None,
        refused: false,
    };
    if let Some(limit) = options.max_retract {
        let held: i64 = crate::db::pooler::query_scalar(
            "SELECT count(*) FROM molecules WHERE organization_id = $1",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        if !limit.allows(report.removed_molecules, held.max(0) as u64) {
            report.refused = true;
            report.not_retracted = Some(format!(
                "it would remove {} of the organization's {held} molecules, more than --max-retract {} allows",
                report.removed_molecules,
                limit.describe()
            ));
            tx.rollback().await?;
            return Ok(report);
        }
    }
    if options.dry_run {
        tx.rollback().await?;
        return Ok(report);
    }
    // One statement per table, children first: each is one audit row with
    // its count.
    for table in [
        "molecule_records",
        "molecule_occurrences",
        "molecule_properties",
    ] {
        crate::db::pooler::query(&format!(
            "DELETE FROM {table} WHERE organization_id = $1 AND molecule_id = ANY($2::uuid[])"
        ))
        .bind(org)
        .bind(&remove)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from(e).during("removing molecules"))?;
    }
    crate::db::pooler::query(
        "DELETE FROM molecules WHERE organization_id = $1 AND id = ANY($2::uuid[])",
    )
    .bind(org)
    .bind(&remove)
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from(e).during("removing molecules"))?;
    super::kill_point("sync-before-commit");
    tx.commit()
        .await
        .map_err(|e| Error::from(e).during("committing the sync"))?;
    Ok(report)
}

/// Note where each hashed file's content was found: a location other than
/// its row's first one joins `also_at`. Every run does it (a copy found by
/// one source keeps the content when another source's sync no longer finds
/// it); a sync again, inside its transaction.
pub async fn record_locations(
    conn: &mut sqlx::PgConnection,
    org: OrgId,
    located: &[(String, [u8; 32])],
) -> Result<()> {
    if located.is_empty() {
        return Ok(());
    }
    let (uris, hashes): (Vec<String>, Vec<Vec<u8>>) =
        located.iter().map(|(u, h)| (u.clone(), h.to_vec())).unzip();
    crate::db::pooler::query(
        "UPDATE molecule_files f
         SET also_at = ARRAY(SELECT DISTINCT x FROM unnest(f.also_at || u.uris) x
                             WHERE x <> f.source_uri ORDER BY x)
         FROM (SELECT hash, array_agg(DISTINCT uri) AS uris
               FROM unnest($2::text[], $3::bytea[]) AS v(uri, hash) GROUP BY hash) u
         WHERE f.organization_id = $1 AND f.content_hash = u.hash
           AND EXISTS (SELECT 1 FROM unnest(u.uris) x
                       WHERE x <> f.source_uri AND NOT (x = ANY(f.also_at)))",
    )
    .bind(org)
    .bind(&uris)
    .bind(&hashes)
    .execute(&mut *conn)
    .await
    .map_err(|e| Error::from(e).during("noting where each file's content is"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_retract_parses_counts_and_percentages() {
        assert_eq!("500".parse(), Ok(MaxRetract::Count(500)));
        assert_eq!("5%".parse(), Ok(MaxRetract::Percent(5.0)));
        assert!("-1".parse::<MaxRetract>().is_err());
        assert!("101%".parse::<MaxRetract>().is_err());
        assert!(MaxRetract::Percent(10.0).allows(10, 100));
        assert!(!MaxRetract::Percent(10.0).allows(11, 100));
        assert!(!MaxRetract::Count(0).allows(1, 100));
    }
}
