//! `verify`: recount a source against the database without writing. Every
//! record the source holds must be in the organization's molecules (by its
//! content hash) or be one a load rejects. Run records are not consulted:
//! retention may have deleted them.

use super::{pipeline_options, roots, runtime, Display, Tuning};
use crate::db;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::pipeline::progress::Follow;
use crate::pipeline::stats::{RejectLog, Stats};
use crate::pipeline::{self, Event, Outcome, Sink};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    pub database_url: String,
    pub sources: Vec<String>,
    /// Organization name; `None`: the login's own.
    pub org: Option<String>,
    pub tuning: Tuning,
    pub display: Display,
}

/// One file's reconciliation: `read` = `present` + `rejected` + `missing`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FileCount {
    pub path: String,
    pub read: u64,
    pub present: u64,
    pub rejected: u64,
    pub missing: u64,
    /// The file could not be read whole (refused, broken stream).
    pub unreadable: Option<String>,
}

/// A record of the source that is not in the database.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Missing {
    pub path: String,
    pub record: u64,
    pub line: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub organization: String,
    pub files: Vec<FileCount>,
    /// The first 1,000 missing records.
    pub missing: Vec<Missing>,
    pub missing_total: u64,
}

impl VerifyReport {
    /// What a person reads: per file, read = present + rejected + missing,
    /// then the missing records.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        for f in &self.files {
            let _ = write!(
                o,
                "{}: {} read = {} present + {} rejected + {} missing",
                f.path, f.read, f.present, f.rejected, f.missing
            );
            if let Some(why) = &f.unreadable {
                let _ = write!(o, " (not read whole: {why})");
            }
            o.push('\n');
        }
        for m in &self.missing {
            let _ = writeln!(
                o,
                "missing: {} record {} (line {})",
                m.path, m.record, m.line
            );
        }
        let _ = writeln!(
            o,
            "{}: {} records missing",
            self.organization, self.missing_total
        );
        o
    }

    /// Accounted for: every record present or rejected, every file read.
    pub fn exit(&self) -> Exit {
        if self.missing_total == 0 && self.files.iter().all(|f| f.unreadable.is_none()) {
            Exit::Success
        } else {
            Exit::Unaccounted
        }
    }
}

/// Collects every record's hash per file.
#[derive(Default)]
struct Recount {
    files: BTreeMap<String, FileCount>,
    records: Vec<(String, u64, u64, [u8; 32])>,
}

impl Sink for Recount {
    fn event(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Begin(f) => {
                let path = f.job.display.clone();
                self.files.entry(path.clone()).or_insert(FileCount {
                    path,
                    ..FileCount::default()
                });
            }
            Event::Records(f, outcomes) => {
                let count = self.files.entry(f.job.display.clone()).or_default();
                for o in outcomes {
                    match o {
                        Outcome::Molecule(m) => {
                            count.read += 1;
                            self.records
                                .push((f.job.display.clone(), m.index, m.line, m.hash));
                        }
                        Outcome::Rejected(_) => {
                            count.read += 1;
                            count.rejected += 1;
                        }
                        // `verify` asks for no lookup: none is held.
                        Outcome::Skipped | Outcome::Held(_) => {}
                    }
                }
            }
            Event::End(f, end) => {
                if let Some(e) = end.error {
                    self.files
                        .entry(f.job.display.clone())
                        .or_default()
                        .unreadable = Some(e);
                }
            }
            Event::FileRejected(r) => {
                self.files.insert(
                    r.path.clone(),
                    FileCount {
                        path: r.path.clone(),
                        unreadable: Some(r.reason.clone()),
                        ..FileCount::default()
                    },
                );
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

pub fn verify(req: &VerifyRequest) -> Result<VerifyReport> {
    let rt = runtime()?;
    let roots = roots(&rt, &req.sources)?;
    let located = rt.block_on(super::admin::locate(
        &req.database_url,
        req.org.as_deref(),
        false,
    ))?;
    let stats = Stats::default();
    let log = RejectLog::new(None, true).map_err(|e| Error::io(".", e))?;
    let mut recount = Recount::default();
    let options = pipeline_options(&req.tuning, &roots);
    pipeline::with_progress(&stats, req.display.progress, Follow::Parsed, || {
        pipeline::run(&roots, &options, &mut recount, &stats, &log)
    })?;
    let hashes: Vec<[u8; 32]> = recount.records.iter().map(|r| r.3).collect();
    let present = rt.block_on(db::verify::present(&located.pool, located.org.id, &hashes))?;
    let mut missing = Vec::new();
    let mut missing_total = 0;
    for (path, record, line, hash) in &recount.records {
        let count = recount.files.entry(path.clone()).or_default();
        if present.contains(hash) {
            count.present += 1;
        } else {
            count.missing += 1;
            missing_total += 1;
            if missing.len() < 1000 {
                missing.push(Missing {
                    path: path.clone(),
                    record: *record,
                    line: *line,
                });
            }
        }
    }
    Ok(VerifyReport {
        organization: located.org.name,
        files: recount.files.into_values().collect(),
        missing,
        missing_total,
    })
}
