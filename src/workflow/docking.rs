//! `load --docking-job JOB [--receptor FILE]`: the poses of a load become
//! the results of a docking job, in the design's tables.

use crate::db::{self};
use crate::error::{Error, Result};
use crate::ids::{OrgId, RunId};
use crate::load::sink::{DbSink, SinkOptions};
use crate::pipeline::stats::{RejectLog, Stats};
use crate::pipeline::{self, Event, Options, Outcome, Sink};
use crate::source::Root;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct DockingRequest {
    /// The job's name (a job of that name in the organization is reused).
    pub job: String,
    /// The receptor's file, loaded as a molecule of the organization.
    pub receptor: Option<PathBuf>,
}

/// The first record of a file, read without a database: the receptor must
/// be readable before anything is written.
pub fn check_receptor(path: &Path) -> Result<[u8; 32]> {
    #[derive(Default)]
    struct First {
        hash: Option<[u8; 32]>,
        problem: Option<String>,
    }
    impl Sink for First {
        fn event(&mut self, event: Event) -> Result<(), Error> {
            match event {
                Event::Records(_, outcomes) => {
                    for o in outcomes {
                        match o {
                            Outcome::Molecule(m) if self.hash.is_none() => self.hash = Some(m.hash),
                            Outcome::Rejected(r) if self.problem.is_none() => {
                                self.problem = Some(r.to_string())
                            }
                            _ => {}
                        }
                    }
                }
                Event::FileRejected(r) => self.problem = Some(r.to_string()),
                _ => {}
            }
            Ok(())
        }
        fn finish(&mut self) -> Result<(), Error> {
            Ok(())
        }
    }
    if !path.is_file() {
        return Err(Error::Input(format!(
            "--receptor {}: no such file",
            path.display()
        )));
    }
    let mut first = First::default();
    let stats = Stats::default();
    let log = RejectLog::new(None, true).map_err(|e| Error::io(path, e))?;
    pipeline::run(
        &[Root::Local(path.to_owned())],
        &Options::default(),
        &mut first,
        &stats,
        &log,
    )?;
    match (first.hash, first.problem) {
        (Some(h), _) => Ok(h),
        (None, Some(p)) => Err(Error::Input(format!("--receptor: cannot be read: {p}"))),
        (None, None) => Err(Error::Input(format!(
            "--receptor {}: holds no molecule",
            path.display()
        ))),
    }
}

/// Load the receptor (if any) under this run, then find or create the job
/// and open this run's execution. Returns (job, execution).
pub fn prepare(
    rt: &tokio::runtime::Runtime,
    (url, pool): (&str, &sqlx::PgPool),
    (org, run): (OrgId, RunId),
    (req, receptor_hash): (&DockingRequest, Option<[u8; 32]>),
    sink: SinkOptions,
    stats: &Arc<Stats>,
    log: &RejectLog,
) -> Result<(Uuid, Uuid)> {
    let mut receptor = None;
    if let (Some(path), Some(hash)) = (&req.receptor, receptor_hash) {
        let mut s = DbSink::open(
            rt.handle(),
            url,
            org,
            run,
            sink,
            stats.clone(),
            crate::pipeline::Cancel::new(),
        )?;
        pipeline::run(
            &[Root::Local(path.clone())],
            &Options::default(),
            &mut s,
            stats,
            log,
        )?;
        receptor = rt.block_on(db::docking::molecule_by_hash(pool, org, &hash))?;
    }
    let parameters = serde_json::json!({
        "tool": "molingest",
        "receptor_file": req.receptor.as_ref().map(|p| p.display().to_string()),
    });
    let job = rt.block_on(db::docking::job(
        pool,
        org,
        run,
        &req.job,
        receptor,
        &parameters,
    ))?;
    let execution = rt.block_on(db::docking::begin_execution(pool, org, run, job))?;
    Ok((job, execution))
}
