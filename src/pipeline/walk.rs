//! The walk stage: list every root (directories, object-store prefixes) and
//! hand each molecule file to the readers.

use super::delivery::Gate;
use super::stats::{RejectLog, Stats};
use super::{Known, Options, ToParse};
use crate::source::{self, FileJob, Found, Root};
use crossbeam_channel::Sender;

/// Walk problems (loops, permissions) are rejects, told to the sink like any
/// refused file. Once the listing is complete, files loaded before that are
/// gone are reported.
pub(super) fn walk_stage(
    roots: &[Root],
    tx: Sender<FileJob>,
    problems: Sender<ToParse>,
    known: &dyn Known,
    options: &Options,
    stats: &Stats,
    rejects: &RejectLog,
) {
    let cancel = &options.cancel;
    let mut seen = std::collections::HashSet::new();
    let mut complete = true;
    // With a marker, files wait until the whole listing says which folders
    // hold theirs.
    let mut gate = options.require_marker.as_deref().map(Gate::new);
    source::walk(roots, |found| match found {
        Found::File(job) => {
            // Seen by every shard, so no shard reports another's files vanished.
            seen.insert(job.uri.clone());
            if options.shard.is_some_and(|s| !s.owns(&job.uri)) {
                Stats::add(&stats.files_other_shards, 1);
                return true;
            }
            Stats::add(&stats.files_seen, 1);
            Stats::add(&stats.bytes_listed, job.size);
            if let Some(g) = gate.as_mut() {
                g.held.push(job);
                return !cancel.is_set();
            }
            !cancel.is_set() && tx.send(job).is_ok()
        }
        Found::Ignored(location) => {
            if let Some(g) = gate.as_mut() {
                g.note(&location);
            }
            Stats::add(&stats.files_ignored, 1);
            true
        }
        Found::Skipped(r) => {
            rejects.add(stats, r.clone());
            problems.send(ToParse::FileRejected(r)).is_ok()
        }
        Found::Problem(r) => {
            complete = false;
            rejects.add(stats, r.clone());
            problems.send(ToParse::FileRejected(r)).is_ok()
        }
        Found::ListingFailed(r) => {
            complete = false;
            Stats::add(&stats.listings_failed, 1);
            rejects.add(stats, r.clone());
            problems.send(ToParse::FileRejected(r)).is_ok()
        }
    });
    if let Some(g) = gate {
        g.release(roots, stats, rejects, |job| {
            !cancel.is_set() && tx.send(job).is_ok()
        });
    }
    // A listing that failed or stopped part-way says nothing about what vanished.
    if !complete || cancel.is_set() {
        return;
    }
    for root in roots {
        for gone in known.vanished(&root.uri_prefix(), &seen) {
            Stats::add(&stats.files_vanished, 1);
            rejects.notice(format!(
                "{gone}: loaded before, gone now (its molecules stay in the database)"
            ));
        }
    }
}
