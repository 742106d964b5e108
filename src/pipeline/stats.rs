//! Counters shared by every stage. Stages add to them as they go; the
//! progress line and the summary read them.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Stats {
    pub files_seen: AtomicU64,
    /// Molecule files left to the other shards (`--shard`).
    pub files_other_shards: AtomicU64,
    /// Files that are not molecule files by name (README, .txt, …).
    pub files_ignored: AtomicU64,
    /// Molecule files recognised as already loaded (unchanged).
    pub files_unchanged: AtomicU64,
    pub files_read: AtomicU64,
    pub files_failed: AtomicU64,
    /// Files loaded by an earlier run that are no longer there.
    pub files_vanished: AtomicU64,
    /// `--require-marker`: molecule files in folders without their marker,
    /// left for a later run.
    pub files_waiting: AtomicU64,
    /// Files whose unchanged content failed before (not read again).
    pub files_known_failed: AtomicU64,
    /// Roots whose listing failed (the run is incomplete).
    pub listings_failed: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_decoded: AtomicU64,
    /// Sizes of the files listed so far, and of those skipped unread (for
    /// the progress bar's total and position).
    pub bytes_listed: AtomicU64,
    pub bytes_skipped: AtomicU64,
    /// Records read: parsed, or held (below).
    pub records_parsed: AtomicU64,
    /// Records the sink already held by their text's hash: counted as
    /// parsed, but only hashed (and recorded as repeats).
    pub records_held: AtomicU64,
    pub records_skipped: AtomicU64,
    /// Records an earlier run committed, not read or parsed again.
    pub records_resumed: AtomicU64,
    pub records_rejected: AtomicU64,
    pub records_inserted: AtomicU64,
    pub records_duplicate: AtomicU64,
    /// New records of structures already loaded (`--dedup structure`).
    pub records_structure_duplicate: AtomicU64,
    /// Database batches written again after a transient fault.
    pub batches_retried: AtomicU64,
    /// Docking results recorded (`--docking-job`), and those without a score.
    pub job_results: AtomicU64,
    pub poses_without_score: AtomicU64,
    /// Nanoseconds each stage spent working (not waiting on a channel).
    pub busy_read_ns: AtomicU64,
    pub busy_parse_ns: AtomicU64,
    /// The held stage: hashing and looking up records already loaded.
    pub busy_held_ns: AtomicU64,
    pub busy_sink_ns: AtomicU64,
    pub busy_db_ns: AtomicU64,
    /// The bulk path's end: building keys and indexes, and the attach.
    pub bulk_build_ns: AtomicU64,
    pub bulk_attach_ns: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn add_time(counter: &AtomicU64, d: Duration) {
        counter.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    pub fn snapshot(&self, elapsed: Duration) -> Summary {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let secs = |c: &AtomicU64| g(c) as f64 / 1e9;
        let seconds = elapsed.as_secs_f64();
        let parsed = g(&self.records_parsed);
        Summary {
            files_seen: g(&self.files_seen),
            files_other_shards: g(&self.files_other_shards),
            files_ignored: g(&self.files_ignored),
            files_unchanged: g(&self.files_unchanged),
            files_read: g(&self.files_read),
            files_failed: g(&self.files_failed),
            files_vanished: g(&self.files_vanished),
            files_waiting: g(&self.files_waiting),
            files_known_failed: g(&self.files_known_failed),
            listings_failed: g(&self.listings_failed),
            bytes_read: g(&self.bytes_read),
            bytes_decoded: g(&self.bytes_decoded),
            records_parsed: parsed,
            records_held: g(&self.records_held),
            records_skipped: g(&self.records_skipped),
            records_resumed: g(&self.records_resumed),
            records_rejected: g(&self.records_rejected),
            records_inserted: g(&self.records_inserted),
            records_duplicate: g(&self.records_duplicate),
            records_structure_duplicate: g(&self.records_structure_duplicate),
            batches_retried: g(&self.batches_retried),
            job_results: g(&self.job_results),
            poses_without_score: g(&self.poses_without_score),
            seconds,
            molecules_per_second: if seconds > 0.0 {
                parsed as f64 / seconds
            } else {
                0.0
            },
            mb_per_second: if seconds > 0.0 {
                g(&self.bytes_decoded) as f64 / 1e6 / seconds
            } else {
                0.0
            },
            busy_seconds: StageTimes {
                read: secs(&self.busy_read_ns),
                parse: secs(&self.busy_parse_ns),
                held: secs(&self.busy_held_ns),
                sink: secs(&self.busy_sink_ns),
                database: secs(&self.busy_db_ns),
                bulk_build: secs(&self.bulk_build_ns),
                bulk_attach: secs(&self.bulk_attach_ns),
            },
        }
    }
}

/// How long each stage was busy; the one closest to the wall time is the limit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageTimes {
    pub read: f64,
    pub parse: f64,
    /// Looking up records already loaded (see `records_held`).
    pub held: f64,
    pub sink: f64,
    pub database: f64,
    /// Bulk path only (else 0): keys, indexes and foreign keys built after
    /// the COPYs, on two connections (wall time); the attach transaction.
    pub bulk_build: f64,
    pub bulk_attach: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub files_seen: u64,
    pub files_other_shards: u64,
    pub files_ignored: u64,
    pub files_unchanged: u64,
    pub files_read: u64,
    pub files_failed: u64,
    pub files_vanished: u64,
    pub files_waiting: u64,
    pub files_known_failed: u64,
    pub listings_failed: u64,
    pub bytes_read: u64,
    pub bytes_decoded: u64,
    pub records_parsed: u64,
    /// Of the parsed: already loaded, known by their hash and not parsed.
    pub records_held: u64,
    pub records_skipped: u64,
    pub records_resumed: u64,
    pub records_rejected: u64,
    pub records_inserted: u64,
    pub records_duplicate: u64,
    pub records_structure_duplicate: u64,
    pub batches_retried: u64,
    pub job_results: u64,
    pub poses_without_score: u64,
    pub seconds: f64,
    pub molecules_per_second: f64,
    pub mb_per_second: f64,
    pub busy_seconds: StageTimes,
}

impl Summary {
    /// The summary a person reads on stderr at the end of `what` (`scan`,
    /// `load`); `run` is the run record's id for a load.
    pub fn render(&self, what: &str, run: Option<&str>) -> String {
        use std::fmt::Write as _;
        let s = self;
        let b = &s.busy_seconds;
        let mut o = String::new();
        let _ = writeln!(o, "molingest {what}: {:.2} s", s.seconds);
        let _ = writeln!(
            o,
            "  files     {} found: {} molecule files ({} read, {} unchanged, {} failed), {} not molecule files",
            s.files_seen + s.files_ignored,
            s.files_seen,
            s.files_read,
            s.files_unchanged,
            s.files_failed,
            s.files_ignored
        );
        if run.is_some() {
            let _ = writeln!(
                o,
                "  records   {} read{}, {} inserted, {} duplicate, {} structure duplicate, {} rejected",
                s.records_parsed,
                if s.records_held > 0 {
                    format!(" ({} already loaded, not parsed again)", s.records_held)
                } else {
                    String::new()
                },
                s.records_inserted,
                s.records_duplicate,
                s.records_structure_duplicate,
                s.records_rejected
            );
        } else {
            let _ = writeln!(
                o,
                "  records   {} parsed, {} rejected",
                s.records_parsed, s.records_rejected
            );
        }
        let _ = writeln!(
            o,
            "  data      {:.1} MB read, {:.1} MB decoded, {:.1} MB/s",
            s.bytes_read as f64 / 1e6,
            s.bytes_decoded as f64 / 1e6,
            s.mb_per_second
        );
        let _ = writeln!(o, "  rate      {:.0} molecules/s", s.molecules_per_second);
        let _ = writeln!(
            o,
            "  busy      read {:.2} s, parse {:.2} s, sink {:.2} s, database {:.2} s (summed over connections)",
            b.read, b.parse, b.sink, b.database
        );
        if b.held > 0.0 {
            let _ = writeln!(
                o,
                "  held      {:.2} s hashing and looking up records already loaded",
                b.held
            );
        }
        if b.bulk_build > 0.0 {
            let _ = writeln!(
                o,
                "  bulk      keys and indexes built in {:.2} s, attached in {:.3} s",
                b.bulk_build, b.bulk_attach
            );
        }
        if let Some(run) = run {
            let _ = writeln!(o, "  run       {run}");
            if s.records_inserted == 0 && s.records_rejected == 0 {
                let _ = writeln!(o, "  nothing new: every molecule found was already loaded");
            }
        }
        o
    }
}

pub use super::rejects::{RejectLog, REJECTS_KEPT};
