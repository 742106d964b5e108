//! `scan`: the pipeline without a database, to preview a library.

use super::{pipeline_options, roots, runtime, Display, Tuning};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::pipeline::progress::Follow;
use crate::pipeline::stats::{RejectLog, Stats, Summary};
use crate::pipeline::{self, with_progress};
use crate::scan::JsonlSink;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Directories, files or object-store URLs.
    pub sources: Vec<String>,
    /// Write every rejected record or file as a JSON line here.
    pub rejects: Option<PathBuf>,
    pub tuning: Tuning,
    pub display: Display,
}

#[derive(Debug, Clone)]
pub struct ScanReport {
    pub summary: Summary,
    pub notices: Vec<String>,
    /// The reader of the JSONL output went away (`| head`): the scan stopped
    /// early, and that is success.
    pub output_closed: bool,
}

impl ScanReport {
    pub fn exit(&self) -> Exit {
        if self.output_closed {
            Exit::Success
        } else {
            exit_for(&self.summary)
        }
    }
}

/// The exit code a run's counts call for.
pub fn exit_for(s: &Summary) -> Exit {
    if s.listings_failed > 0 {
        Exit::Failure
    } else if s.files_seen == 0 && s.files_other_shards == 0 {
        Exit::NoMoleculeFiles
    } else if s.records_rejected > 0 || s.files_failed > 0 {
        Exit::Rejects
    } else if s.files_known_failed > 0 {
        Exit::KnownFailures
    } else {
        Exit::Success
    }
}

/// Scan `req.sources`; with `jsonl`, one line per record (see
/// [`crate::scan::RecordLine`]) is written to it.
pub fn scan(req: &ScanRequest, jsonl: Option<&mut dyn Write>) -> Result<ScanReport> {
    let rt = runtime()?;
    let roots = roots(&rt, &req.sources)?;
    let stats = Stats::default();
    let quiet = req.display.quiet || jsonl.is_some();
    let log = RejectLog::new(req.rejects.as_deref(), quiet)
        .map_err(|e| Error::io(req.rejects.clone().unwrap_or_default(), e))?;
    let start = Instant::now();
    let mut sink = JsonlSink::new(jsonl);
    let options = pipeline_options(&req.tuning, &roots);
    let result = with_progress(&stats, req.display.progress, Follow::Parsed, || {
        pipeline::run(&roots, &options, &mut sink, &stats, &log)
    });
    let output_closed = match result {
        Ok(()) => false,
        Err(Error::OutputClosed) => true,
        Err(e) => return Err(e),
    };
    log.flush()
        .map_err(|e| Error::io(req.rejects.clone().unwrap_or_default(), e))?;
    Ok(ScanReport {
        summary: stats.snapshot(start.elapsed()),
        notices: log.notices(),
        output_closed,
    })
}
