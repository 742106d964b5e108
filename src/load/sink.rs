//! The database sink. Rows arrive already encoded as COPY text (see
//! [`CopyRows`], run in the parallel parse stage); the sink thread packs them
//! into batches and hands each to one of several writer tasks, each with its
//! own connection. A writer's batch is one transaction, as the tenant:
//!
//! 1. COPY the rows into a temporary staging table (PostgreSQL refuses COPY
//!    into a table with row-level security for a role subject to it);
//! 2. `INSERT … SELECT … ORDER BY content_hash ON CONFLICT DO NOTHING` into
//!    `molecules`, and the computed properties of the rows that went in.
//!
//! The sink's own connection keeps the file bookkeeping in order while
//! writers commit in any order:
//! - a file is registered in `molecule_files` before any batch holding its
//!   rows is sent;
//! - a file is marked completed only when every batch up to the last one that
//!   could hold its rows has committed (a commit watermark).
//!
//! So a killed run leaves its unfinished files incomplete; the next run reads
//! them again and the unique key drops what was already loaded. Inserting in
//! hash order keeps concurrent writers (and concurrent runs) from deadlocking.

use super::files::{complete_files, register_files, remember_refused, save_progress};
use super::row::CopyRows;
use super::structure::Dedup;
use super::sync::{Seen, SeenFiles};
use super::writer::{connect_writer, write_with_retry};
use crate::error::Error;
use crate::ids::{OrgId, RunId};
use crate::pipeline::stats::Stats;
use crate::pipeline::{
    Cancel, Event, FileEnd, FileInfo, HeldRecord, HeldRecords, Known, Needs, NothingKnown, Outcome,
    Progress, Sink,
};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use uuid::Uuid;

/// When a batch is sent to the database: whichever limit comes first.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub rows: usize,
    pub bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            rows: 10_000,
            bytes: 16 << 20,
        }
    }
}

/// The first batch's rows; each next batch may hold twice as many, up to
/// [`BatchLimits::rows`].
const FIRST_BATCH_ROWS: usize = 1000;

#[derive(Default)]
pub(super) struct Batch {
    pub(super) seq: u64,
    pub(super) copy: Vec<u8>,
    pub(super) rows: u64,
    /// Records found already loaded (not parsed), with their file's
    /// content hash: written as repeats.
    pub(super) held: Vec<(Vec<u8>, HeldRecord)>,
}

/// Per file (by content hash), how far a batch's rows reach.
type Reach = HashMap<[u8; 32], Progress>;

/// Which batches have committed: every batch below `watermark` has.
#[derive(Default)]
struct Committed {
    watermark: u64,
    above: std::collections::BTreeSet<u64>,
}

impl Committed {
    fn mark(&mut self, seq: u64) {
        self.above.insert(seq);
        while self.above.remove(&self.watermark) {
            self.watermark += 1;
        }
    }
}

/// How the database sink writes.
#[derive(Debug, Clone, Copy)]
pub struct SinkOptions {
    pub limits: BatchLimits,
    /// Connections writing batches at once.
    pub writers: usize,
    /// Read every file again, even those already loaded (`load --full`).
    pub reread_all: bool,
    /// Record every pose as a result of this docking job.
    pub docking_job: Option<Uuid>,
    /// Record dedup (default) or structure dedup (`--dedup structure`).
    pub dedup: Dedup,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            limits: BatchLimits::default(),
            writers: 2,
            reread_all: false,
            docking_job: None,
            dedup: Dedup::Record,
        }
    }
}

/// One file as a load left it: records read = `records` + `rejected`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileDone {
    pub path: String,
    pub records: u64,
    pub rejected: u64,
    /// `completed`, or `failed` when its stream broke.
    pub status: &'static str,
}

impl FileDone {
    pub fn of(f: &FileInfo, end: &FileEnd) -> FileDone {
        FileDone {
            path: f.job.display.clone(),
            records: end.records,
            rejected: end.rejected,
            status: if end.error.is_some() {
                "failed"
            } else {
                "completed"
            },
        }
    }
}

pub struct DbSink {
    rt: Handle,
    docking_job: Option<Uuid>,
    /// The run the rows belong to (for the audit trail).
    run: RunId,
    /// Files completed so far.
    done: Vec<FileDone>,
    org: OrgId,
    limits: BatchLimits,
    /// The organization's completed files, so unchanged ones are skipped.
    known: Arc<SeenFiles>,
    /// The sink's own connection: file registration and completion.
    control: PgConnection,
    batch: Batch,
    /// Files begun but not yet registered.
    unregistered: Vec<Arc<FileInfo>>,
    /// Files ended, with the batch that must commit before they are complete.
    ended: Vec<(Arc<FileInfo>, FileEnd, u64)>,
    committed: Arc<std::sync::Mutex<Committed>>,
    /// How far the current batch reaches into each file, and the same for
    /// each batch sent but not yet known committed: once committed, saved
    /// as the files' progress, so a killed run resumes after it.
    reach: Reach,
    in_flight: Vec<(u64, Reach)>,
    tx: Option<mpsc::Sender<Batch>>,
    writers: Vec<tokio::task::JoinHandle<Result<(), Error>>>,
    /// Files refused for their own bytes (see [`remember_refused`]).
    refused: Vec<crate::error::Reject>,
    /// Looks up records already loaded, so they are not parsed (not with
    /// a docking job: every pose is a result of it, so each is parsed).
    held: Option<Arc<dyn HeldRecords>>,
}

impl DbSink {
    /// Open the control connection and the writer connections, and look up
    /// what the organization already holds.
    pub fn open(
        rt: &Handle,
        url: &str,
        org: OrgId,
        run: RunId,
        options: SinkOptions,
        stats: Arc<Stats>,
        cancel: Cancel,
    ) -> Result<Self, Error> {
        let SinkOptions {
            limits,
            writers,
            reread_all,
            docking_job,
            dedup,
        } = options;
        let mut control = rt.block_on(crate::db::connect::bookkeeping(url, "molingest"))?;
        let known: Arc<dyn Known> = if reread_all {
            Arc::new(NothingKnown)
        } else {
            Arc::new(
                rt.block_on(super::known::known_files(&mut control, org))
                    .map_err(|e| e.during("reading the organization's loaded files"))?,
            )
        };
        let held: Option<Arc<dyn HeldRecords>> = match docking_job {
            Some(_) => None,
            None => rt
                .block_on(super::known::HeldInDatabase::open(rt.clone(), url, org))
                .map_err(|e| e.during("connecting the lookup of loaded records"))?
                .map(|h| Arc::new(h) as Arc<dyn HeldRecords>),
        };
        let (tx, rx) = mpsc::channel::<Batch>(1);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let committed = Arc::new(std::sync::Mutex::new(Committed::default()));
        let mut handles = Vec::new();
        for _ in 0..writers.max(1) {
            let mut conn = rt
                .block_on(connect_writer(url))
                .map_err(|e| e.during("connecting a writer"))?;
            let (rx, stats, committed) = (rx.clone(), stats.clone(), committed.clone());
            let cancel = cancel.clone();
            let url = url.to_owned();
            handles.push(rt.spawn(async move {
                loop {
                    let Some(batch) = rx.lock().await.recv().await else {
                        break;
                    };
                    let t = Instant::now();
                    let seq = batch.seq;
                    // A signal stops a batch mid-way: its transaction is
                    // abandoned with the connection (the server rolls it
                    // back), and the next run writes those rows.
                    let written = tokio::select! {
                        r = write_with_retry(
                            &mut conn,
                            &url,
                            (org, run, docking_job),
                            &batch,
                            &stats,
                            dedup,
                        ) => r.map_err(|e| e.during("writing a batch")),
                        () = cancelled(&cancel) => Err(Error::Cancelled),
                    };
                    if let Err(e) = written {
                        // No other writer takes another batch: the run
                        // stops now, with this cause.
                        rx.lock().await.close();
                        return Err(e);
                    }
                    Stats::add_time(&stats.busy_db_ns, t.elapsed());
                    // `mark` cannot panic; a poisoned lock still holds the
                    // true watermark.
                    committed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .mark(seq);
                }
                let _ = conn.close().await;
                Ok(())
            }));
        }
        Ok(DbSink {
            rt: rt.clone(),
            docking_job,
            run,
            done: Vec::new(),
            reach: Reach::new(),
            in_flight: Vec::new(),
            org,
            limits,
            known: SeenFiles::wrap(known),
            control,
            batch: Batch::default(),
            unregistered: Vec::new(),
            ended: Vec::new(),
            committed,
            tx: Some(tx),
            writers: handles,
            refused: Vec::new(),
            held,
        })
    }

    /// Send the current batch to a writer (after registering its files), and
    /// complete the files whose batches have all committed.
    fn flush(&mut self) -> Result<(), Error> {
        if self.batch.rows > 0 || !self.batch.held.is_empty() {
            self.register_files()?;
            let next = Batch {
                seq: self.batch.seq + 1,
                ..Batch::default()
            };
            let batch = std::mem::replace(&mut self.batch, next);
            self.in_flight
                .push((batch.seq, std::mem::take(&mut self.reach)));
            let sent = self.tx.as_ref().map(|tx| tx.blocking_send(batch));
            if !matches!(sent, Some(Ok(()))) {
                // A writer stopped: its error says why.
                return Err(self
                    .join_writers()
                    .err()
                    .unwrap_or_else(|| Error::Pipeline("database writer stopped".into())));
            }
        }
        self.complete_files(false)
    }

    fn register_files(&mut self) -> Result<(), Error> {
        if self.unregistered.is_empty() {
            return Ok(());
        }
        let files = std::mem::take(&mut self.unregistered);
        self.rt
            .block_on(register_files(
                &mut self.control,
                self.org,
                self.run,
                &files,
            ))
            .map(|_| ())
            .map_err(|e| e.during("registering files"))
    }

    /// Mark completed the ended files whose batches have all committed (all
    /// of them when `all`, after the writers have finished).
    fn complete_files(&mut self, all: bool) -> Result<(), Error> {
        let watermark = self
            .committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .watermark;
        self.save_progress(watermark, all)?;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ended)
            .into_iter()
            .partition(|(_, _, needs)| all || *needs < watermark);
        self.ended = waiting;
        if ready.is_empty() {
            return Ok(());
        }
        self.rt
            .block_on(complete_files(
                &mut self.control,
                self.org,
                self.run,
                &ready,
            ))
            .map_err(|e| e.during("marking files completed"))?;
        self.done
            .extend(ready.iter().map(|(f, end, _)| FileDone::of(f, end)));
        Ok(())
    }

    /// Save the progress of the files whose batches have committed.
    fn save_progress(&mut self, watermark: u64, all: bool) -> Result<(), Error> {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(seq, _)| all || *seq < watermark);
        self.in_flight = waiting;
        let mut merged = Reach::new();
        for (_, reach) in done {
            for (hash, p) in reach {
                let e = merged.entry(hash).or_insert(p);
                if p.records > e.records {
                    *e = p;
                }
            }
        }
        if merged.is_empty() {
            return Ok(());
        }
        let merged: Vec<_> = merged.into_iter().collect();
        self.rt
            .block_on(save_progress(
                &mut self.control,
                self.org,
                self.run,
                &merged,
            ))
            .map_err(|e| e.during("saving file progress"))
    }

    /// The files this run completed (or failed), with their counts: the
    /// load's per-file reconciliation.
    pub fn files_done(&self) -> &[FileDone] {
        &self.done
    }

    /// What the run saw of its sources (for `--sync`).
    pub fn seen(&self) -> Seen {
        self.known.seen()
    }

    fn join_writers(&mut self) -> Result<(), Error> {
        self.tx = None;
        let mut result = Ok(());
        for w in std::mem::take(&mut self.writers) {
            let r = self
                .rt
                .block_on(w)
                .map_err(|e| Error::Pipeline(format!("database writer: {e}")))
                .and_then(|r| r);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Sink for DbSink {
    /// A file's rows are keyed to its content hash: every file must have one.
    fn needs(&self) -> Needs {
        Needs {
            file_hashes: true,
            encoder: Some(Arc::new(CopyRows {
                docking: self.docking_job.is_some(),
            })),
            known: self.known.clone() as Arc<dyn Known>,
            held: self.held.clone(),
        }
    }

    fn event(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Begin(f) => {
                if f.hash.is_none() {
                    return Err(Error::Pipeline(format!(
                        "{}: no content hash; the database sink cannot key its rows",
                        f.job.display
                    )));
                }
                self.unregistered.push(f)
            }
            Event::Records(f, outcomes) => {
                let mut reach = None;
                for o in outcomes {
                    match o {
                        Outcome::Molecule(m) => {
                            self.batch.copy.extend_from_slice(&m.encoded);
                            self.batch.rows += 1;
                            reach = Some(Progress {
                                records: m.index + 1,
                                offset: m.end_offset,
                                line: m.next_line,
                            });
                        }
                        Outcome::Held(h) => {
                            reach = Some(Progress {
                                records: h.index + 1,
                                offset: h.end_offset,
                                line: h.next_line,
                            });
                            let file = f.hash.unwrap_or_default().to_vec();
                            self.batch.held.push((file, h));
                        }
                        Outcome::Rejected(_) | Outcome::Skipped => {}
                    }
                }
                if let (Some(p), Some(hash)) = (reach, f.hash) {
                    self.reach.insert(hash, p);
                }
                // The first batches are small and grow (1,000 rows, 2,000,
                // … up to the limit): writing starts while parsing goes on,
                // which is most of a small incremental load's time.
                let rows = self
                    .limits
                    .rows
                    .min(FIRST_BATCH_ROWS << self.batch.seq.min(16));
                if (self.batch.rows as usize + self.batch.held.len()) >= rows
                    || self.batch.copy.len() >= self.limits.bytes
                {
                    self.flush()?;
                }
            }
            // Its rows are in batches up to the current one.
            Event::End(f, end) => self.ended.push((f, end, self.batch.seq)),
            Event::FileRejected(r) => {
                if r.refused_content.is_some() {
                    self.refused.push(r);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.join_writers()?;
        self.register_files()?;
        self.complete_files(true)?;
        let refused = std::mem::take(&mut self.refused);
        remember_refused(&self.rt, &mut self.control, (self.org, self.run), &refused)
    }
}

/// Resolves once the run is asked to stop (a signal, a lost lock, the
/// error budget).
pub(crate) async fn cancelled(cancel: &Cancel) {
    while !cancel.is_set() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

impl Drop for DbSink {
    fn drop(&mut self) {
        // Make sure the writer tasks end with us (on error paths).
        self.tx = None;
        for w in self.writers.drain(..) {
            w.abort();
        }
    }
}
