//! The staged pipeline. Each stage owns one job, lives in its own file and
//! talks to the next through a bounded channel, so memory stays bounded and
//! a slow stage (usually the database) holds back the ones before it:
//!
//! ```text
//! walk ──files──▶ read ×N ──chunks──▶ [held] ──▶ parse (rayon) ──events──▶ sink
//! walk.rs        read.rs              held.rs     parse.rs                  (database,
//!                (skip unchanged,     (records    (reader + chemistry       or JSONL for
//!                 hash, gunzip,        already    + record hash + sink      `scan`)
//!                 split records)       loaded)    encoding, in parallel)
//! ```
//!
//! The `held` stage runs only for a sink that can tell which records it
//! already holds ([`Needs::held`]): those are hashed and looked up in
//! batches, and are not parsed at all.
//!
//! A [`Sink`] declares what it needs ([`Needs`]: file hashes, an encoder,
//! what is already loaded); [`run`] provides exactly that, so no caller can
//! wire a sink up wrongly. Per file, events reach the sink in order:
//! `Begin`, `Records`…, `End`.

mod delivery;
mod hash;
mod held;
mod parse;
pub mod progress;
mod read;
mod rejects;
pub mod shard;
pub mod stats;
mod walk;

pub use hash::record_hash;
pub use parse::process;
pub use progress::with_progress;

use crate::chem::Properties;
use crate::error::{Error, Reject};
use crate::formats::split::Chunk;
use crate::formats::Format;
use crate::identity::cache::IdentityCache;
use crate::identity::{Identity, IdentityMode};
use crate::source::{FileJob, Root};
use crossbeam_channel::{bounded, Receiver};
use stats::{RejectLog, Stats};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A file being read, as the later stages see it.
#[derive(Debug)]
pub struct FileInfo {
    pub job: FileJob,
    /// blake3 of the raw bytes: always set when the sink's [`Needs`] ask
    /// for file hashes.
    pub hash: Option<[u8; 32]>,
    /// How the file was compressed (found by magic bytes).
    pub compression: crate::decode::Compression,
    /// The format the content was read as.
    pub format: Format,
}

/// One molecule, parsed and computed.
#[derive(Debug, Clone)]
pub struct Record {
    pub index: u64,
    pub line: u64,
    pub title: String,
    /// Canonical isomeric SMILES and structure key, or why there is none
    /// (all empty with `--identity off`).
    pub identity: Identity,
    /// The identity mode the record was computed with.
    pub identity_mode: IdentityMode,
    pub fields: Vec<(String, String)>,
    pub props: Properties,
    /// blake3 of the record text, line endings and trailing blanks normalised.
    pub hash: [u8; 32],
    /// Where the record ends in its file (decoded bytes) and the line there.
    pub end_offset: u64,
    pub next_line: u64,
    /// What the sink's [`Encoder`] made of it (empty without one).
    pub encoded: Vec<u8>,
}

/// Turns a record into the bytes its sink stores (COPY rows for the
/// database). It runs in the parallel parse stage, so the sink thread only
/// concatenates.
pub trait Encoder: Send + Sync {
    fn encode(&self, file: &FileInfo, record: &Record, out: &mut Vec<u8>);
}

#[derive(Debug)]
// Almost every outcome is a molecule: boxing it would cost an allocation per
// record for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Molecule(Record),
    /// A record whose text the sink already holds ([`HeldRecords`]): hashed,
    /// not parsed.
    Held(HeldRecord),
    Rejected(Reject),
    /// A comment or header line: not a molecule, not an error.
    Skipped,
}

/// A record the sink already holds: where it is, and its text's hash.
#[derive(Debug, Clone)]
pub struct HeldRecord {
    pub index: u64,
    pub line: u64,
    pub hash: [u8; 32],
    pub end_offset: u64,
    pub next_line: u64,
}

/// Which records a sink already holds, asked a chunk at a time before
/// parsing (nightly drops repeat most of last night's records).
pub trait HeldRecords: Send + Sync {
    /// For each record hash, whether it is held. An answer that cannot be
    /// had (the database is away) is "none": those records are parsed and
    /// the sink's own conflict handling finds them.
    fn held(&self, hashes: &[[u8; 32]]) -> Vec<bool>;
}

/// How a file ended.
#[derive(Debug, Default, Clone)]
pub struct FileEnd {
    pub records: u64,
    pub rejected: u64,
    /// The stream broke (a cut gzip stream, an I/O error): the records before
    /// the break were delivered, the file is not complete.
    pub error: Option<String>,
    /// The failure is the bytes' own (a corrupt or cut compressed stream, no
    /// records at all): read again, the same content fails the same way. A
    /// read that failed for any other reason (the network, the disk) is not.
    pub lasting: bool,
}

/// What the sink receives.
#[derive(Debug)]
pub enum Event {
    Begin(Arc<FileInfo>),
    Records(Arc<FileInfo>, Vec<Outcome>),
    End(Arc<FileInfo>, FileEnd),
    /// A file refused before any record was read (binary, unreadable, …).
    FileRejected(Reject),
}

/// What a sink needs the pipeline to do for it. The sink says so itself
/// (see [`Sink::needs`]); the pipeline never runs a sink without it.
#[derive(Clone)]
pub struct Needs {
    /// Hash each file's bytes before reading it (its identity in the database).
    pub file_hashes: bool,
    /// Encode each record in the parallel parse stage.
    pub encoder: Option<Arc<dyn Encoder>>,
    /// What is already loaded, so unchanged files are not read again.
    pub known: Arc<dyn Known>,
    /// Which records are already loaded, so they are not parsed again.
    pub held: Option<Arc<dyn HeldRecords>>,
}

impl Default for Needs {
    fn default() -> Self {
        Needs {
            file_hashes: false,
            encoder: None,
            known: Arc::new(NothingKnown),
            held: None,
        }
    }
}

/// Where records go: the database, or JSONL for `scan`.
pub trait Sink {
    /// What the pipeline must provide (default: nothing).
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn event(&mut self, event: Event) -> Result<(), Error>;
    fn finish(&mut self) -> Result<(), Error>;
}

/// What is already loaded, so unchanged files are not read again.
pub trait Known: Send + Sync {
    /// The file's location, size and mtime match a completed load.
    fn unchanged(&self, job: &FileJob) -> bool;
    /// A file with this content hash was completely loaded.
    fn loaded(&self, hash: &[u8; 32]) -> bool;
    /// Completed locations under `prefix` that are not in `seen`.
    fn vanished(&self, prefix: &str, seen: &HashSet<String>) -> Vec<String>;
    /// How far an earlier run committed this (incomplete) file.
    fn progress(&self, _hash: &[u8; 32]) -> Option<Progress> {
        None
    }
    /// A file with this content is at `uri` (every file that is hashed).
    fn located(&self, _uri: &str, _hash: &[u8; 32]) {}
    /// This content failed before, for a reason of its own (see
    /// [`FileEnd::lasting`]): why. It is not read again (`--full` does).
    fn failed_before(&self, _hash: &[u8; 32]) -> Option<String> {
        None
    }
}

/// A file's committed progress: every record before `records` is in the
/// database; the next one starts at byte `offset` (decoded) on `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub records: u64,
    pub offset: u64,
    pub line: u64,
}

impl Progress {
    /// Formats whose records stand alone, so reading can start at a record
    /// boundary (PDB models may be followed by their CONECT lines).
    pub fn resumable(&self, format: Format) -> bool {
        self.records > 0 && matches!(format, Format::Sdf | Format::Smiles | Format::Mol2)
    }
}

/// Nothing is known: every file is read (`scan`, `load --full`).
pub struct NothingKnown;
impl Known for NothingKnown {
    fn unchanged(&self, _: &FileJob) -> bool {
        false
    }
    fn loaded(&self, _: &[u8; 32]) -> bool {
        false
    }
    fn vanished(&self, _: &str, _: &HashSet<String>) -> Vec<String> {
        Vec::new()
    }
}

/// Asks a run to stop: no new file is listed and no further chunk is read;
/// what was read is parsed and handed to the sink, which finishes. A file
/// cut short never ends, so it is not completed and the next run reads it
/// again. The value says why (a signal number, or [`Cancel::LOCK_LOST`]).
#[derive(Clone, Default, Debug)]
pub struct Cancel(Arc<AtomicUsize>);

impl Cancel {
    /// The run lost its advisory lock: another run may start beside it.
    pub const LOCK_LOST: usize = 1000;
    /// More records were rejected than the error budget allows.
    pub const ERROR_BUDGET: usize = 1001;

    pub fn new() -> Self {
        Cancel::default()
    }

    /// The shared value (a signal handler stores the signal number in it).
    pub fn flag(&self) -> Arc<AtomicUsize> {
        self.0.clone()
    }

    pub fn set(&self, reason: usize) {
        let _ = self
            .0
            .compare_exchange(0, reason, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Why the run was asked to stop; `None` while it goes on.
    pub fn reason(&self) -> Option<usize> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            r => Some(r),
        }
    }

    pub fn is_set(&self) -> bool {
        self.reason().is_some()
    }
}

/// How hard the pipeline works: threads, readers and chunk sizes.
#[derive(Clone)]
pub struct Options {
    /// Files read at once.
    pub readers: usize,
    /// Parse threads (the rayon pool).
    pub threads: usize,
    pub chunk_bytes: usize,
    pub chunk_records: usize,
    /// Set to stop the run early (signals, a lost lock, the error budget).
    pub cancel: Cancel,
    pub budget: ErrorBudget,
    /// Read only the files of this shard (`load --shard I/N`).
    pub shard: Option<shard::Shard>,
    /// Which chemical identity the parse stage computes (`--identity`).
    pub identity: IdentityMode,
    /// Read a folder's files only when it (or a folder above it, up to the
    /// root) holds a file of this name (`load --require-marker`).
    pub require_marker: Option<String>,
    /// Identities computed so far in this run, by structure text
    /// (`MOLINGEST_IDENTITY_CACHE` entries, 0 for none).
    pub identity_cache: Option<Arc<IdentityCache>>,
}

/// How many rejected records a run tolerates before it stops
/// (`--max-errors`, `--max-error-rate`). Unlimited by default.
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorBudget {
    /// Stop once more than this many records were rejected.
    pub max_errors: Option<u64>,
    /// Stop once the rejected share of records seen is above this (0–1),
    /// judged after the first [`ErrorBudget::RATE_AFTER`] records, and at
    /// the end of every file.
    pub max_rate: Option<f64>,
}

impl ErrorBudget {
    pub const RATE_AFTER: u64 = 100;

    /// `at_file_end`: judge the rate however few records were seen.
    pub fn exceeded(&self, stats: &Stats, at_file_end: bool) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let rejected = stats.records_rejected.load(Relaxed);
        let seen = rejected + stats.records_parsed.load(Relaxed);
        self.max_errors.is_some_and(|m| rejected > m)
            || self.max_rate.is_some_and(|r| {
                (at_file_end || seen >= Self::RATE_AFTER) && rejected as f64 > r * seen as f64
            })
    }

    /// Why the run stopped, for its record.
    pub fn describe(&self, stats: &Stats) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let rejected = stats.records_rejected.load(Relaxed);
        let seen = rejected + stats.records_parsed.load(Relaxed);
        let limit = match (self.max_errors, self.max_rate) {
            (Some(m), Some(r)) => format!("--max-errors {m} / --max-error-rate {r}"),
            (Some(m), None) => format!("--max-errors {m}"),
            (None, Some(r)) => format!("--max-error-rate {r}"),
            (None, None) => "none".into(),
        };
        format!(
            "error budget exceeded: {rejected} of {seen} records rejected (limit {limit}); \
             what was committed stays, the file that broke the budget is read again next run"
        )
    }
}

impl Default for Options {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Options {
            readers: cpus.clamp(1, 4),
            threads: cpus,
            chunk_bytes: 1 << 20,
            chunk_records: 1024,
            cancel: Cancel::new(),
            budget: ErrorBudget::default(),
            shard: None,
            identity: IdentityMode::default(),
            require_marker: None,
            identity_cache: identity_cache_from_env(),
        }
    }
}

/// The identity cache `MOLINGEST_IDENTITY_CACHE` asks for (entries; 0 for
/// none; unset or unreadable: the default size).
fn identity_cache_from_env() -> Option<Arc<IdentityCache>> {
    let entries = std::env::var("MOLINGEST_IDENTITY_CACHE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(crate::identity::cache::DEFAULT_ENTRIES);
    IdentityCache::new(entries).map(Arc::new)
}

/// What the read stage hands the parse stage.
enum ToParse {
    Begin(Arc<FileInfo>),
    /// A chunk, and its records' hashes with whether each is held, when the
    /// `held` stage looked them up.
    Chunk(Arc<FileInfo>, Chunk, Option<held::Lookup>),
    /// The file's end, and why it broke if it did (with whether the bytes
    /// themselves are at fault: see [`FileEnd::lasting`]).
    End(Arc<FileInfo>, Option<(String, bool)>),
    FileRejected(Reject),
}

/// Run the pipeline over `roots` into `sink`. Rejects never stop it; an
/// error from the sink does (and is returned once every stage has stopped).
pub fn run(
    roots: &[Root],
    options: &Options,
    sink: &mut dyn Sink,
    stats: &Stats,
    rejects: &RejectLog,
) -> Result<(), Error> {
    let needs = sink.needs();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .thread_name(|i| format!("molingest-parse-{i}"))
        .build()
        .map_err(|e| Error::Pipeline(e.to_string()))?;
    let readers = options.readers.max(1);
    let (files_tx, files_rx) = bounded::<FileJob>(1024);
    let (parse_tx, parse_rx) = bounded::<ToParse>(readers * 2);
    let (events_tx, events_rx) = bounded::<Event>(4);
    let needs = &needs;
    let known = needs.known.as_ref();
    let encoder = needs.encoder.as_deref();
    let held = needs.held.as_deref();

    std::thread::scope(|s| {
        let problems_tx = parse_tx.clone();
        s.spawn(move || {
            walk::walk_stage(roots, files_tx, problems_tx, known, options, stats, rejects)
        });
        for _ in 0..readers {
            let (rx, tx) = (files_rx.clone(), parse_tx.clone());
            s.spawn(move || read::read_stage(rx, tx, options, needs, stats, rejects));
        }
        drop((files_rx, parse_tx));
        let parse_rx = match held {
            Some(held) => {
                let (tx, rx) = bounded::<ToParse>(readers * 2);
                s.spawn(move || held::held_stage(parse_rx, tx, held, stats));
                rx
            }
            None => parse_rx,
        };
        s.spawn(move || {
            pool.install(|| {
                parse::parse_stage(parse_rx, events_tx, encoder, options, stats, rejects)
            })
        });
        sink_stage(events_rx, sink, stats)
    })
}

fn sink_stage(rx: Receiver<Event>, sink: &mut dyn Sink, stats: &Stats) -> Result<(), Error> {
    for event in rx {
        let t = Instant::now();
        // On error, returning drops the receiver: every stage before stops.
        sink.event(event)?;
        Stats::add_time(&stats.busy_sink_ns, t.elapsed());
    }
    let t = Instant::now();
    sink.finish()?;
    Stats::add_time(&stats.busy_sink_ns, t.elapsed());
    Ok(())
}
