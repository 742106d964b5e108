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

use super::files::{complete_files, register_files, save_progress};
use super::row::{create_stage, CopyRows, STAGE};
use super::structure::{Dedup, Moved};
use super::tenant_in_run;
use crate::error::Error;
use crate::pipeline::stats::Stats;
use crate::pipeline::{
    Event, FileEnd, FileInfo, Known, Needs, NothingKnown, Outcome, Progress, Sink,
};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
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

#[derive(Default)]
struct Batch {
    seq: u64,
    copy: Vec<u8>,
    rows: u64,
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
    run: Uuid,
    /// Files completed so far.
    done: Vec<FileDone>,
    org: Uuid,
    limits: BatchLimits,
    /// The organization's completed files, so unchanged ones are skipped.
    known: Arc<dyn Known>,
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
}

impl DbSink {
    /// Open the control connection and the writer connections, and look up
    /// what the organization already holds.
    pub fn open(
        rt: &Handle,
        url: &str,
        org: Uuid,
        run: Uuid,
        options: SinkOptions,
        stats: Arc<Stats>,
    ) -> Result<Self, Error> {
        let SinkOptions {
            limits,
            writers,
            reread_all,
            docking_job,
            dedup,
        } = options;
        let mut control = rt.block_on(super::connect::bookkeeping(url, "molingest"))?;
        let known: Arc<dyn Known> = if reread_all {
            Arc::new(NothingKnown)
        } else {
            Arc::new(rt.block_on(super::known::known_files(&mut control, org))?)
        };
        let (tx, rx) = mpsc::channel::<Batch>(1);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let committed = Arc::new(std::sync::Mutex::new(Committed::default()));
        let mut handles = Vec::new();
        for _ in 0..writers.max(1) {
            let mut conn = rt.block_on(connect_writer(url))?;
            let (rx, stats, committed) = (rx.clone(), stats.clone(), committed.clone());
            let url = url.to_owned();
            handles.push(rt.spawn(async move {
                loop {
                    let Some(batch) = rx.lock().await.recv().await else {
                        break;
                    };
                    let t = Instant::now();
                    let seq = batch.seq;
                    write_with_retry(
                        &mut conn,
                        &url,
                        (org, run, docking_job),
                        &batch,
                        &stats,
                        dedup,
                    )
                    .await?;
                    Stats::add_time(&stats.busy_db_ns, t.elapsed());
                    if let Ok(mut c) = committed.lock() {
                        c.mark(seq);
                    }
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
            known,
            control,
            batch: Batch::default(),
            unregistered: Vec::new(),
            ended: Vec::new(),
            committed,
            tx: Some(tx),
            writers: handles,
        })
    }

    /// Send the current batch to a writer (after registering its files), and
    /// complete the files whose batches have all committed.
    fn flush(&mut self) -> Result<(), Error> {
        if self.batch.rows > 0 {
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
        self.rt.block_on(register_files(
            &mut self.control,
            self.org,
            self.run,
            &files,
        ))
    }

    /// Mark completed the ended files whose batches have all committed (all
    /// of them when `all`, after the writers have finished).
    fn complete_files(&mut self, all: bool) -> Result<(), Error> {
        let watermark = match self.committed.lock() {
            Ok(c) => c.watermark,
            Err(_) => return Err(Error::Pipeline("commit tracking poisoned".into())),
        };
        self.save_progress(watermark, all)?;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ended)
            .into_iter()
            .partition(|(_, _, needs)| all || *needs < watermark);
        self.ended = waiting;
        if ready.is_empty() {
            return Ok(());
        }
        self.rt.block_on(complete_files(
            &mut self.control,
            self.org,
            self.run,
            &ready,
        ))?;
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
        self.rt.block_on(save_progress(
            &mut self.control,
            self.org,
            self.run,
            &merged,
        ))
    }

    /// The files this run completed (or failed), with their counts: the
    /// load's per-file reconciliation.
    pub fn files_done(&self) -> &[FileDone] {
        &self.done
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
            known: self.known.clone(),
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
                for o in &outcomes {
                    if let Outcome::Molecule(m) = o {
                        self.batch.copy.extend_from_slice(&m.encoded);
                        self.batch.rows += 1;
                        reach = Some(Progress {
                            records: m.index + 1,
                            offset: m.end_offset,
                            line: m.next_line,
                        });
                    }
                }
                if let (Some(p), Some(hash)) = (reach, f.hash) {
                    self.reach.insert(hash, p);
                }
                if self.batch.rows as usize >= self.limits.rows
                    || self.batch.copy.len() >= self.limits.bytes
                {
                    self.flush()?;
                }
            }
            // Its rows are in batches up to the current one.
            Event::End(f, end) => self.ended.push((f, end, self.batch.seq)),
            Event::FileRejected(_) => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.join_writers()?;
        self.register_files()?;
        self.complete_files(true)
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

async fn connect_writer(url: &str) -> Result<PgConnection, Error> {
    let mut conn = super::connection(url, "molingest-writer").await?;
    create_stage(&mut conn).await?;
    Ok(conn)
}

/// How long a writer keeps retrying one batch through transient faults.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// The COPY of one batch into the temporary staging table is a plain data
/// transfer (at most 16 MB, no locks taken): one making no end in this time
/// is stalled. Seen once in CI (the server waiting for data the client
/// never sent, the client waiting too); such a batch is retried on a new
/// connection instead of waiting forever.
const COPY_STALL: Duration = Duration::from_secs(60);

/// A connection that does not answer a ping in this time is replaced.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

fn stalled() -> Error {
    Error::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the COPY of a batch made no end in {} s",
            COPY_STALL.as_secs()
        ),
    )))
}

fn is_stall(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Write a batch, retrying transient faults (a lost connection, an
/// administrator's shutdown of the backend, a serialization failure or
/// deadlock) with backoff for up to [`RETRY_FOR`], on a new connection when
/// the old one is gone. A batch is one transaction and its insert ignores
/// rows already there, so a retry never loses or doubles a row.
async fn write_with_retry(
    conn: &mut PgConnection,
    url: &str,
    (org, run, job): (Uuid, Uuid, Option<Uuid>),
    batch: &Batch,
    stats: &Stats,
    dedup: Dedup,
) -> Result<(), Error> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut stalls = 0u32;
    loop {
        let err = match write_batch(conn, (org, run, job), batch, dedup).await {
            Ok((moved, (results, unscored))) => {
                Stats::add(&stats.job_results, results);
                Stats::add(&stats.poses_without_score, unscored);
                // Record duplicates: texts already loaded; structure
                // duplicates: new texts of structures already loaded.
                let new_texts = match dedup {
                    Dedup::Record => moved.molecules,
                    Dedup::Structure => moved.occurrences,
                };
                Stats::add(&stats.records_inserted, moved.molecules);
                Stats::add(
                    &stats.records_duplicate,
                    batch.rows.saturating_sub(new_texts),
                );
                Stats::add(
                    &stats.records_structure_duplicate,
                    new_texts.saturating_sub(moved.molecules),
                );
                return Ok(());
            }
            Err(e) => e,
        };
        let stall = is_stall(&err);
        // A stall is retried once whatever the time spent.
        if !transient(&err) || (start.elapsed() + pause > RETRY_FOR && !(stall && stalls == 0)) {
            return Err(err);
        }
        stalls += u32::from(stall);
        Stats::add(&stats.batches_retried, 1);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
        // A stalled connection is in an unknown state: never reused.
        let alive = !stall
            && matches!(
                tokio::time::timeout(PING_TIMEOUT, conn.ping()).await,
                Ok(Ok(()))
            );
        if !alive {
            match connect_writer(url).await {
                Ok(fresh) => *conn = fresh,
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Faults worth retrying: the connection (I/O, closed pool, protocol),
/// `08…` connection exceptions, `57P01`–`57P03` shutdowns, `40001`
/// serialization failures and `40P01` deadlocks.
fn transient(e: &Error) -> bool {
    match e {
        Error::Database(sqlx::Error::Io(_))
        | Error::Database(sqlx::Error::PoolTimedOut)
        | Error::Database(sqlx::Error::PoolClosed)
        | Error::Database(sqlx::Error::WorkerCrashed)
        | Error::Database(sqlx::Error::Protocol(_)) => true,
        Error::Database(sqlx::Error::Database(d)) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }),
        _ => false,
    }
}

/// One batch in one transaction; returns what was new, and how many job
/// results were recorded and how many of those had no score.
async fn write_batch(
    conn: &mut PgConnection,
    (org, run, job): (Uuid, Uuid, Option<Uuid>),
    batch: &Batch,
    dedup: Dedup,
) -> Result<(Moved, (u64, u64)), Error> {
    let mut tx = tenant_in_run(&mut *conn, org, Some(run)).await?;
    let mut moved = Moved::default();
    let mut results = (0, 0);
    if batch.rows > 0 {
        let copied = tokio::time::timeout(COPY_STALL, async {
            let mut copy = tx.copy_in_raw(&STAGE.copy).await?;
            copy.send(batch.copy.as_slice()).await?;
            copy.finish().await?;
            Ok::<(), Error>(())
        })
        .await;
        match copied {
            Ok(r) => r?,
            // The transaction is dropped unfinished; the caller replaces
            // the connection.
            Err(_) => return Err(stalled()),
        }
        moved = match dedup {
            Dedup::Record => Moved {
                molecules: sqlx::query(&STAGE.move_rows)
                    .bind(org)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
                occurrences: 0,
            },
            Dedup::Structure => super::structure::move_by_structure(&mut tx, org).await?,
        };
        if let Some(job) = job {
            let (n, unscored): (i64, i64) = sqlx::query_as(&STAGE.job_results)
                .bind(org)
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
            results = (n as u64, unscored as u64);
        }
    }
    tx.commit().await?;
    Ok((moved, results))
}
