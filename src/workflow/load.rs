//! `load`: everything around the pipeline that makes a load safe to run
//! from cron — the organization, one run per source at a time (advisory
//! lock), the run record, the database sink and the report.

use super::docking::DockingRequest;
use super::scan::exit_for;
use super::{pipeline_options, resumed, roots, runtime, Display, Tuning};
use crate::db::{self, RunEnd, RunStatus};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ids::{OrgId, RunId};
use crate::load::bulk::BulkSink;
use crate::load::lease::{take_lock, Watch};
use crate::load::path::LoadPath;
use crate::load::sink::{DbSink, FileDone, SinkOptions};
use crate::pipeline::progress::Follow;
use crate::pipeline::shard::Shard;
use crate::pipeline::stats::{Stats, Summary};
use crate::pipeline::{self, with_progress, Cancel, ErrorBudget};
use crate::source::Root;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct LoadRequest {
    pub database_url: String,
    /// Directories, files or object-store URLs.
    pub sources: Vec<String>,
    /// Organization name; `None`: the one organization the login acts for.
    pub org: Option<String>,
    /// Create the organization if it does not exist.
    pub create_org: bool,
    /// Write every rejected record or file as a JSON line here.
    pub rejects: Option<PathBuf>,
    /// Write each rejected record's own text here, per source file, with
    /// the reasons in `rejects.jsonl`.
    pub rejects_dir: Option<PathBuf>,
    /// Stop once too many records are rejected.
    pub budget: ErrorBudget,
    /// Load only this shard's files (`--shard I/N`).
    pub shard: Option<Shard>,
    /// Record the poses as the results of a docking job.
    pub docking: Option<DockingRequest>,
    /// Batches, writer connections, `--full`.
    pub sink: SinkOptions,
    /// Never take the bulk path (`--no-bulk`).
    pub no_bulk: bool,
    /// Read a folder only once this file is in it (`--require-marker`).
    pub require_marker: Option<String>,
    /// Make the organization follow its sources (`--sync`).
    pub sync: Option<crate::load::sync::SyncOptions>,
    pub tuning: Tuning,
    pub display: Display,
    /// Set (by a signal handler) to stop the run; see [`Cancel`].
    pub cancel: Cancel,
}

/// What a load did. A failure *during* the run is a report with `error`
/// set (the run record says so too); a failure before the run began is an
/// `Err` from [`load`].
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub run_id: RunId,
    pub organization: String,
    pub summary: Summary,
    pub notices: Vec<String>,
    pub resumed_transfers: u64,
    pub error: Option<String>,
    /// The signal that stopped the run (SIGINT 2, SIGTERM 15), if one did.
    pub signal: Option<usize>,
    /// The run stopped because it broke its error budget.
    pub budget_exceeded: bool,
    /// Every file or listing that failed, with its cause (the first 1,000).
    pub failures: Vec<crate::error::Reject>,
    /// Every rejected record, with file, record, line and reason (the
    /// first 1,000): `--json` says why without `--rejects`.
    pub rejects: Vec<crate::error::Reject>,
    /// Per file read: records + rejected, and how it ended. A file cut short
    /// (a signal, the error budget) is not here: the next run reads it.
    pub files: Vec<FileDone>,
    /// Which database was loaded: host (or socket directory), port, name.
    pub database: db::Target,
    /// How the rows were written: `bulk` (a first load) or `staging`.
    pub path: LoadPath,
    /// With `--sync`: what was retired and removed, or why nothing was.
    pub sync: Option<crate::load::sync::SyncReport>,
}

impl LoadReport {
    pub fn exit(&self) -> Exit {
        match (&self.error, self.signal) {
            (Some(_), _) if self.budget_exceeded => Exit::ErrorBudget,
            (Some(_), _) => Exit::Failure,
            (None, Some(15)) => Exit::Terminated,
            (None, Some(_)) => Exit::Interrupted,
            (None, None) if self.sync.as_ref().is_some_and(|s| s.refused) => Exit::SyncRefused,
            (None, None) => exit_for(&self.summary),
        }
    }

    /// The `status` of `--json`.
    pub fn status(&self) -> &'static str {
        match self.exit() {
            Exit::Success => "completed",
            Exit::Rejects => "completed_with_rejects",
            Exit::NoMoleculeFiles => "no_molecule_files",
            Exit::Interrupted | Exit::Terminated => "cancelled",
            Exit::SyncRefused => "sync_refused",
            Exit::KnownFailures => "completed_with_known_failures",
            Exit::Failure | Exit::Usage | Exit::ErrorBudget | Exit::Unaccounted => "failed",
        }
    }

    /// The one JSON document `load --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.summary).unwrap_or_default();
        v["run_id"] = if self.run_id.is_nil() {
            serde_json::Value::Null
        } else {
            self.run_id.to_string().into()
        };
        v["resumed_transfers"] = self.resumed_transfers.into();
        v["notices"] = self.notices.clone().into();
        v["organization"] = self.organization.clone().into();
        v["status"] = self.status().into();
        v["files"] = serde_json::to_value(&self.files).unwrap_or_default();
        v["failures"] = serde_json::to_value(&self.failures).unwrap_or_default();
        v["rejects"] = serde_json::to_value(&self.rejects).unwrap_or_default();
        v["database"] = serde_json::to_value(&self.database).unwrap_or_default();
        v["path"] = serde_json::to_value(self.path).unwrap_or_default();
        if let Some(sync) = &self.sync {
            v["sync"] = serde_json::to_value(sync).unwrap_or_default();
        }
        if let Some(e) = &self.error {
            v["error"] = e.clone().into();
        }
        v
    }
}

pub fn load(req: &LoadRequest) -> Result<LoadReport> {
    if let Some(options) = req.sync.filter(|o| o.dry_run) {
        return super::sync::preview(req, options);
    }
    // Options are checked before anything is recorded: a command that
    // cannot run leaves no run behind (exit 2).
    let rt = runtime()?;
    let rejects = super::rejects::open(
        req.rejects.as_deref(),
        req.rejects_dir.as_deref(),
        req.display.quiet,
        &rt,
    )?;
    let log = &rejects.log;
    // A receptor that cannot be read is an error before anything is written.
    let receptor_hash = match req.docking.as_ref().and_then(|d| d.receptor.as_deref()) {
        Some(path) => Some(super::docking::check_receptor(path)?),
        None => None,
    };
    let roots = roots(&rt, &req.sources)?;
    let url = req.database_url.as_str();
    // The source as the lock, the run record and stale-run closing know it:
    // each shard of a source is a source of its own.
    let mut source = roots
        .iter()
        .map(Root::describe)
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(shard) = req.shard {
        source.push_str(&format!(" [shard {shard}]"));
    }
    // No secret of a URL ever reaches the run record (or the lock key).
    let source = crate::redact::text(&source);
    // The organization, and the database its data lives in.
    let located = rt.block_on(super::admin::locate(
        url,
        req.org.as_deref(),
        req.create_org,
    ))?;
    let (org, org_name, pool) = (located.org.id, located.org.name, located.pool);
    // Removing molecules is the administrator's (tenants may not delete).
    if req.sync.is_some() && !rt.block_on(db::orgs::is_admin(&pool))? {
        return Err(Error::Usage(
            "--sync removes molecules, which only the administrator may do (the role that \
             ran `molingest migrate`); a tenant login loads without it"
                .into(),
        ));
    }
    let url = located.url.as_str();
    let database = db::connect::target(url)?;
    let (lock, leases) = rt.block_on(take_lock(url, org, &org_name, &source))?;
    // From here the leases are renewed, and given back when the run ends
    // (also when it fails): see [`Watch`].
    let mut watch = Watch::start(rt.handle(), lock, leases.clone(), req.cancel.clone());
    // An organization's first load takes the bulk path when it can.
    let ineligible = if req.docking.is_some() {
        Some("--docking-job")
    } else if req.sink.dedup != crate::load::structure::Dedup::Record {
        Some("--dedup structure")
    } else {
        None
    };
    let mut leases = leases;
    let choice = rt.block_on(crate::load::path::choose(
        url,
        &pool,
        (org, &org_name),
        &mut leases,
        !req.no_bulk,
        ineligible,
    ))?;
    watch.set(&leases);
    // Runs of this source still `running` died without closing: close them.
    let stale = rt
        .block_on(db::close_stale_runs(&pool, org, &source))
        .map_err(|e| e.during("closing runs that ended without closing"))?;
    let run = rt
        .block_on(db::begin_run(&pool, org, &source))
        .map_err(|e| e.during("recording the run's start"))?;
    // From here on the run record is closed on every way out: the body's
    // own end, or any error it returns.
    let ctx = RunContext {
        rt: &rt,
        roots: &roots,
        url,
        pool: &pool,
        org,
        org_name: &org_name,
        run,
        rejects: &rejects,
    };
    // A panic is a bug, but the run record must say the run ended.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_body(req, &ctx, choice, &stale, receptor_hash)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Pipeline(format!("internal error (a bug): {what}")))
    });
    let ran = match ran {
        Ok(ran) => ran,
        Err(e) => {
            let message = crate::redact::text(&e.to_string());
            let summary = Stats::default().snapshot(std::time::Duration::ZERO);
            let (kept, notices) = (log.kept(), log.notices());
            let end = RunEnd {
                status: RunStatus::Failed,
                summary: &summary,
                rejects: &kept,
                notices: &notices,
                error: Some(&message),
                sync: None,
            };
            // The error that ended the run is the one to report; a failure
            // to record it as well is said beside it.
            if let Err(closing) = rt.block_on(db::finish_run(&pool, org, run, &end)) {
                eprintln!("molingest: could not record the run's end: {closing}");
            }
            drop(watch);
            return Err(e);
        }
    };
    let (kept, notices) = (log.kept(), log.notices());
    let end = RunEnd {
        status: match (&ran.error, ran.signal) {
            (Some(_), _) => RunStatus::Failed,
            (None, Some(_)) => RunStatus::Cancelled,
            (None, None) => RunStatus::Completed,
        },
        summary: &ran.summary,
        rejects: &kept,
        notices: &notices,
        error: ran.error.as_deref(),
        sync: ran.sync.as_ref(),
    };
    let closed = rt.block_on(db::finish_run(&pool, org, run, &end));
    drop(watch);
    closed.map_err(|e| e.during("recording the run's end"))?;
    Ok(LoadReport {
        run_id: run,
        organization: org_name,
        summary: ran.summary,
        notices,
        resumed_transfers: resumed(&roots),
        error: ran.error,
        signal: ran.signal,
        budget_exceeded: ran.budget_exceeded,
        failures: failures_of(&kept),
        rejects: records_of(&kept),
        files: ran.files,
        database,
        path: ran.path,
        sync: ran.sync,
    })
}

/// The files and listings that failed, of the rejects a run kept.
pub(super) fn failures_of(kept: &[crate::error::Reject]) -> Vec<crate::error::Reject> {
    kept.iter()
        .filter(|r| r.record.is_none())
        .cloned()
        .collect()
}

/// The rejected records, of the rejects a run kept.
pub(super) fn records_of(kept: &[crate::error::Reject]) -> Vec<crate::error::Reject> {
    kept.iter()
        .filter(|r| r.record.is_some())
        .cloned()
        .collect()
}

/// What a run's body works with.
struct RunContext<'a> {
    rt: &'a tokio::runtime::Runtime,
    roots: &'a [Root],
    url: &'a str,
    pool: &'a sqlx::PgPool,
    org: OrgId,
    org_name: &'a str,
    run: RunId,
    rejects: &'a super::rejects::Rejects,
}

/// How the body of a run ended (the run record is closed from this).
struct Ran {
    summary: Summary,
    error: Option<String>,
    signal: Option<usize>,
    budget_exceeded: bool,
    files: Vec<FileDone>,
    path: LoadPath,
    sync: Option<crate::load::sync::SyncReport>,
}

/// Everything between the run's start and its record's end: docking set-up,
/// the pipeline into the chosen sink, after-load maintenance.
fn run_body(
    req: &LoadRequest,
    ctx: &RunContext<'_>,
    mut choice: crate::load::path::Choice,
    stale: &[RunId],
    receptor_hash: Option<[u8; 32]>,
) -> Result<Ran> {
    let RunContext {
        rt,
        roots,
        url,
        pool,
        org,
        org_name,
        run,
        rejects,
    } = *ctx;
    let log = &rejects.log;
    let mut options = pipeline_options(&req.tuning, roots);
    options.cancel = req.cancel.clone();
    options.budget = req.budget;
    options.shard = req.shard;
    options.require_marker = req.require_marker.clone();
    let stats = Arc::new(Stats::default());
    for id in stale {
        log.notice(format!(
            "run {id} of this source ended without closing; closed it as failed"
        ));
    }
    match (&choice.path, &choice.why_not_bulk) {
        (LoadPath::Bulk, _) => log.notice(format!(
            "first load of {org_name}: bulk path (standalone tables, attached as its partitions at the end)"
        )),
        (LoadPath::Staging, Some(why)) => log.notice(format!(
            "first load of {org_name}: staging path, not bulk: {why}"
        )),
        (LoadPath::Staging, None) => {}
    }
    let start = Instant::now();
    let mut sink_options = req.sink;
    let docking = match &req.docking {
        Some(d) => {
            let (job, execution) = super::docking::prepare(
                rt,
                (url, pool),
                (org, run),
                (d, receptor_hash),
                req.sink,
                &stats,
                log,
            )?;
            sink_options.docking_job = Some(job);
            Some((job, execution))
        }
        None => None,
    };
    let mut files = Vec::new();
    let mut seen = crate::load::sync::Seen::default();
    let path = choice.path;
    // The bulk path commits everything at its end: progress follows parsing.
    let follow = match path {
        LoadPath::Bulk => Follow::Parsed,
        LoadPath::Staging => Follow::Committed,
    };
    let result = with_progress(&stats, req.display.progress, follow, || {
        match choice.holder.take() {
            Some(control) => {
                let mut sink = BulkSink::open(
                    rt.handle(),
                    url,
                    (org, run),
                    control,
                    sink_options.reread_all,
                    stats.clone(),
                )?;
                let result = pipeline::run(roots, &options, &mut sink, &stats, log);
                files = sink.files_done().to_vec();
                seen = sink.seen();
                result
            }
            None => {
                let mut sink = DbSink::open(
                    rt.handle(),
                    url,
                    org,
                    run,
                    sink_options,
                    stats.clone(),
                    options.cancel.clone(),
                )?;
                let result = pipeline::run(roots, &options, &mut sink, &stats, log);
                files = sink.files_done().to_vec();
                seen = sink.seen();
                result
            }
        }
    });
    for written in rejects.deliver()? {
        log.notice(format!("rejects written to {written}"));
    }
    let summary = stats.snapshot(start.elapsed());
    let cancelled = options.cancel.reason();
    let budget_exceeded = cancelled == Some(Cancel::ERROR_BUDGET);
    let error = match (&result, cancelled) {
        // A writer stopped mid-batch because the run was asked to stop is
        // not a failure of its own: the reason for stopping is.
        (Err(e), _) if !matches!(e.root(), Error::Cancelled) => {
            let text = e.to_string();
            // A pooler's refusal, for a run that was not told it is behind one.
            let text = db::pooler::explain(&text).unwrap_or(text);
            Some(crate::redact::text(&text))
        }
        (_, Some(Cancel::ERROR_BUDGET)) => Some(req.budget.describe(&stats)),
        (_, Some(Cancel::LOCK_LOST)) => Some(
            "lost the run's lock (its lease of the source could not be renewed): stopped so \
             that no other load of this source writes beside this one; run it again"
                .to_owned(),
        ),
        _ if summary.listings_failed > 0 => Some(format!(
            "{} source(s) could not be listed",
            summary.listings_failed
        )),
        (Err(_), None) => Some("a writer stopped without a cause".to_owned()),
        _ => None,
    };
    let signal = cancelled.filter(|_| error.is_none());
    let mut error = error;
    let sync = match req.sync {
        Some(sync_options) => {
            let not_safe =
                super::sync::unsafe_to_sync(&summary, error.as_deref(), cancelled.is_some());
            match super::sync::after_run(
                (rt, pool),
                (org, run),
                roots,
                sync_options,
                &seen,
                not_safe,
                log,
            ) {
                Ok(report) => Some(report),
                Err(e) => {
                    error = Some(crate::redact::text(&e.during("syncing").to_string()));
                    None
                }
            }
        }
        None => None,
    };
    // A committed sync noted where each file was found in its transaction.
    if !sync
        .as_ref()
        .is_some_and(|s| s.not_retracted.is_none() && !s.dry_run)
    {
        super::sync::note_locations((rt, pool), (org, run), &seen, log);
    }
    // Searches stay fast after an incremental load (a failure here is
    // noted, not fatal: the rows are in).
    if let Err(e) = rt.block_on(crate::load::runs::after_load(
        pool,
        org,
        summary.records_inserted,
    )) {
        log.notice(format!("after-load maintenance failed: {e}"));
    }
    if summary.poses_without_score > 0 {
        log.notice(format!(
            "{} pose(s) carry no docking score: recorded with a NULL score",
            summary.poses_without_score
        ));
    }
    if let Some(ids) = docking {
        let status = if error.is_some() {
            "failed"
        } else {
            "completed"
        };
        rt.block_on(db::docking::finish_execution(
            pool,
            org,
            run,
            ids,
            status,
            error.as_deref(),
        ))
        .map_err(|e| e.during("closing the docking execution"))?;
    }
    Ok(Ran {
        summary,
        error,
        signal,
        budget_exceeded,
        files,
        path,
        sync,
    })
}
