//! `load --sync` around a run (the retracting itself: [`crate::load::sync`]):
//! whether the run is one to sync from, the sync after it, and
//! `--dry-run`, which reads and compares without writing anything.

use super::load::{failures_of, records_of, LoadReport, LoadRequest};
use super::{pipeline_options, roots, runtime};
use crate::error::{Error, Result};
use crate::identity::IdentityMode;
use crate::ids::{OrgId, RunId};
use crate::load::path::LoadPath;
use crate::load::sync::{Seen, SeenFiles, SyncOptions, SyncReport};
use crate::pipeline::stats::{RejectLog, Stats, Summary};
use crate::pipeline::{self, Event, Known, Needs, Outcome, Sink};
use crate::source::Root;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// Why a run must not retract anything, if it must not: only a run that
/// saw all of its sources, and read every file of them to its end, knows
/// what is gone.
pub(super) fn unsafe_to_sync(
    summary: &Summary,
    error: Option<&str>,
    cancelled: bool,
) -> Option<String> {
    if let Some(e) = error {
        Some(format!("the run failed ({e})"))
    } else if cancelled {
        Some("the run was stopped before its end".into())
    } else if summary.files_seen == 0 && summary.files_other_shards == 0 {
        Some(
            "the sources hold no molecule file at all (an empty or mistyped source looks \
             the same): to empty an organization, purge it"
                .into(),
        )
    } else if summary.listings_failed > 0 {
        Some(format!(
            "{} source(s) could not be listed completely",
            summary.listings_failed
        ))
    } else if summary.files_waiting > 0 {
        Some(format!(
            "{} file(s) wait for their folder's marker (--require-marker)",
            summary.files_waiting
        ))
    } else if summary.files_known_failed > 0 {
        Some(format!(
            "{} file(s) are still failing (not read to their end): their source is not fully known",
            summary.files_known_failed
        ))
    } else if summary.files_failed > 0 {
        Some(format!(
            "{} file(s) could not be read to their end",
            summary.files_failed
        ))
    } else {
        None
    }
}

/// The sync after a run: retracted, or skipped with why. An error of the
/// sync itself is the run's error.
pub(super) fn after_run(
    (rt, pool): (&tokio::runtime::Runtime, &sqlx::PgPool),
    (org, run): (OrgId, RunId),
    roots: &[Root],
    options: SyncOptions,
    seen: &Seen,
    not_safe: Option<String>,
    log: &RejectLog,
) -> Result<SyncReport> {
    let report = match not_safe {
        Some(why) => SyncReport::skipped(why),
        None => {
            let prefixes: Vec<String> = roots.iter().map(Root::uri_prefix).collect();
            rt.block_on(crate::load::sync::sync(
                pool,
                (org, Some(run)),
                &prefixes,
                seen,
                &HashSet::new(),
                options,
            ))?
        }
    };
    tell(&report, log);
    Ok(report)
}

/// Note where each file's content was found (every run: a copy one source
/// holds keeps the content when another source's sync no longer finds it).
/// A failure is a notice: the rows are in, and a sync notes them again.
pub(super) fn note_locations(
    (rt, pool): (&tokio::runtime::Runtime, &sqlx::PgPool),
    (org, run): (OrgId, RunId),
    seen: &Seen,
    log: &RejectLog,
) {
    let noted = rt.block_on(async {
        let mut tx = crate::db::tenant_in_run(pool, org, Some(run)).await?;
        crate::load::sync::record_locations(&mut tx, org, &seen.located).await?;
        tx.commit().await?;
        Ok::<(), Error>(())
    });
    if let Err(e) = noted {
        log.notice(format!("could not note where the files were found: {e}"));
    }
}

/// The sync's result as notices: the summary and the run record carry them.
fn tell(report: &SyncReport, log: &RejectLog) {
    let verb = if report.dry_run {
        "would retire"
    } else {
        "retired"
    };
    if report.not_retracted.is_none() || report.refused {
        for f in &report.retired_files {
            log.notice(format!("sync: {verb} {f}"));
        }
        let verb = if report.dry_run || report.refused {
            "would remove"
        } else {
            "removed"
        };
        for name in &report.removed_names {
            log.notice(format!("sync: {verb} molecule {name}"));
        }
        let unnamed = report
            .removed_molecules
            .saturating_sub(report.removed_names.len() as u64);
        if unnamed > 0 {
            log.notice(format!("sync: … and {unnamed} more molecule(s)"));
        }
    }
    log.notice(report.describe());
}

/// `load --sync --dry-run`: read what a run would read (unchanged files are
/// skipped as usual), then compute the sync in a transaction that is rolled
/// back. No lease, no run record, no row.
pub(super) fn preview(req: &LoadRequest, options: SyncOptions) -> Result<LoadReport> {
    let log = RejectLog::new(None, req.display.quiet)
        .map_err(|e| Error::Pipeline(format!("reject log: {e}")))?;
    let rt = runtime()?;
    let roots = roots(&rt, &req.sources)?;
    let located = rt.block_on(super::admin::locate(
        &req.database_url,
        req.org.as_deref(),
        false,
    ))?;
    let (org, pool) = (located.org.id, located.pool);
    rt.block_on(crate::db::orgs::require_admin(&pool, "load --sync"))?;
    let mut control = rt.block_on(crate::db::connect::bookkeeping(&located.url, "molingest"))?;
    let known = rt
        .block_on(crate::load::known::known_files(&mut control, org))
        .map_err(|e| e.during("reading the organization's loaded files"))?;
    let mut sink = Present {
        known: SeenFiles::wrap(Arc::new(known)),
        present: HashSet::new(),
    };
    // Only the records' texts matter here, not their chemistry.
    let mut tuning = req.tuning.clone();
    tuning.identity = IdentityMode::Off;
    let mut pipeline_opts = pipeline_options(&tuning, &roots);
    pipeline_opts.cancel = req.cancel.clone();
    pipeline_opts.require_marker = req.require_marker.clone();
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let result = pipeline::run(&roots, &pipeline_opts, &mut sink, &stats, &log);
    let summary = stats.snapshot(start.elapsed());
    let error = result.err().map(|e| crate::redact::text(&e.to_string()));
    let cancelled = pipeline_opts.cancel.reason();
    let sync = match unsafe_to_sync(&summary, error.as_deref(), cancelled.is_some()) {
        Some(why) => SyncReport {
            dry_run: true,
            ..SyncReport::skipped(why)
        },
        None => {
            let prefixes: Vec<String> = roots.iter().map(Root::uri_prefix).collect();
            rt.block_on(crate::load::sync::sync(
                &pool,
                (org, None),
                &prefixes,
                &sink.known.seen(),
                &sink.present,
                options,
            ))?
        }
    };
    tell(&sync, &log);
    let kept = log.kept();
    Ok(LoadReport {
        run_id: crate::ids::RunId(Uuid::nil()),
        organization: located.org.name,
        summary,
        notices: log.notices(),
        resumed_transfers: 0,
        error,
        signal: cancelled,
        budget_exceeded: false,
        failures: failures_of(&kept),
        rejects: records_of(&kept),
        files: Vec::new(),
        database: crate::db::connect::target(&located.url)?,
        path: LoadPath::Staging,
        sync: Some(sync),
    })
}

/// The dry run's sink: the content hash of every record read.
struct Present {
    known: Arc<SeenFiles>,
    present: HashSet<[u8; 32]>,
}

impl Sink for Present {
    fn needs(&self) -> Needs {
        Needs {
            file_hashes: true,
            encoder: None,
            known: self.known.clone() as Arc<dyn Known>,
            held: None,
        }
    }

    fn event(&mut self, event: Event) -> Result<()> {
        if let Event::Records(_, outcomes) = event {
            for o in outcomes {
                if let Outcome::Molecule(m) = o {
                    self.present.insert(m.hash);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
