//! `load`: everything around the pipeline that makes a load safe to run
//! from cron — the organization, one run per source at a time (advisory
//! lock), the run record, the database sink and the report.

use super::scan::exit_for;
use super::{pipeline_options, resumed, roots, runtime, Display, Tuning};
use crate::db::sink::{DbSink, SinkOptions};
use crate::db::{self, RunEnd, RunStatus};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::pipeline::stats::{RejectLog, Stats, Summary};
use crate::pipeline::{self, with_progress};
use crate::source::Root;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct LoadRequest {
    pub database_url: String,
    /// Directories, files or object-store URLs.
    pub sources: Vec<String>,
    /// Organization name.
    pub org: String,
    /// Create the organization if it does not exist.
    pub create_org: bool,
    /// Write every rejected record or file as a JSON line here.
    pub rejects: Option<PathBuf>,
    /// Batches, writer connections, `--full`.
    pub sink: SinkOptions,
    pub tuning: Tuning,
    pub display: Display,
}

/// What a load did. A failure *during* the run is a report with `error`
/// set (the run record says so too); a failure before the run began is an
/// `Err` from [`load`].
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub run_id: Uuid,
    pub organization: String,
    pub summary: Summary,
    pub notices: Vec<String>,
    pub resumed_transfers: u64,
    pub error: Option<String>,
    /// Which database was loaded: host (or socket directory), port, name.
    pub database: db::Target,
}

impl LoadReport {
    pub fn exit(&self) -> Exit {
        if self.error.is_some() {
            Exit::Failure
        } else {
            exit_for(&self.summary)
        }
    }

    /// The `status` of `--json`.
    pub fn status(&self) -> &'static str {
        match self.exit() {
            Exit::Success => "completed",
            Exit::Rejects => "completed_with_rejects",
            Exit::Failure | Exit::Usage => "failed",
        }
    }

    /// The one JSON document `load --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.summary).unwrap_or_default();
        v["run_id"] = self.run_id.to_string().into();
        v["resumed_transfers"] = self.resumed_transfers.into();
        v["notices"] = self.notices.clone().into();
        v["organization"] = self.organization.clone().into();
        v["status"] = self.status().into();
        v["database"] = serde_json::to_value(&self.database).unwrap_or_default();
        if let Some(e) = &self.error {
            v["error"] = e.clone().into();
        }
        v
    }
}

pub fn load(req: &LoadRequest) -> Result<LoadReport> {
    let rt = runtime()?;
    let url = req.database_url.as_str();
    let database = db::connect::target(url)?;
    let roots = roots(&rt, &req.sources)?;
    let source = roots
        .iter()
        .map(Root::describe)
        .collect::<Vec<_>>()
        .join(" ");
    let pool = rt.block_on(super::admin::connect_ready(url))?;
    let org = rt.block_on(async {
        match db::org_id(&pool, &req.org).await {
            Err(Error::UnknownOrganization(_)) if req.create_org => {
                db::add_org(&pool, &req.org).await
            }
            other => other,
        }
    })?;
    // One load of a source into an organization at a time: a second one
    // waits for the first, then finds its work done.
    let _lock = match rt.block_on(db::try_lock_source(url, org, &source))? {
        Ok(lock) => lock,
        Err(mut conn) => {
            eprintln!(
                "molingest: another load of {source} into {} is running; waiting for it to finish",
                req.org
            );
            rt.block_on(db::wait_lock_source(&mut conn, org, &source))?;
            conn
        }
    };
    let run = rt.block_on(db::begin_run(&pool, org, &source))?;
    let stats = Arc::new(Stats::default());
    let log = RejectLog::new(req.rejects.as_deref(), req.display.quiet)
        .map_err(|e| Error::io(req.rejects.clone().unwrap_or_default(), e))?;
    let start = Instant::now();
    let options = pipeline_options(&req.tuning, &roots);
    let result = with_progress(&stats, req.display.progress, || {
        let mut sink = DbSink::open(rt.handle(), url, org, req.sink, stats.clone())?;
        pipeline::run(&roots, &options, &mut sink, &stats, &log)
    });
    log.flush()
        .map_err(|e| Error::io(req.rejects.clone().unwrap_or_default(), e))?;
    let summary = stats.snapshot(start.elapsed());
    let error = match &result {
        Ok(()) if summary.listings_failed > 0 => Some(format!(
            "{} source(s) could not be listed",
            summary.listings_failed
        )),
        Ok(()) => None,
        Err(e) => Some(crate::redact::text(&e.to_string())),
    };
    let (kept, notices) = (log.kept(), log.notices());
    let end = RunEnd {
        status: if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        },
        summary: &summary,
        rejects: &kept,
        notices: &notices,
        error: error.as_deref(),
    };
    rt.block_on(db::finish_run(&pool, org, run, &end))?;
    Ok(LoadReport {
        run_id: run,
        organization: req.org.clone(),
        summary,
        notices,
        resumed_transfers: resumed(&roots),
        error,
        database,
    })
}
