//! The walk stage: list every root (directories, object-store prefixes) and
//! hand each molecule file to the readers.

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
        let waiting = g.release(roots, |job| !cancel.is_set() && tx.send(job).is_ok());
        for (folder, files) in waiting {
            Stats::add(&stats.files_waiting, files);
            rejects.notice(format!(
                "{folder}: left for later: no {} there yet ({files} file(s) not read)",
                options.require_marker.as_deref().unwrap_or_default()
            ));
        }
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

/// `--require-marker`: a delivery (a folder) is read only once its marker
/// is there, so a multi-file delivery is never loaded half-written.
struct Gate<'a> {
    marker: &'a str,
    /// Folders (as locations: `file:///…`, `s3://…`) that hold the marker.
    marked: std::collections::HashSet<String>,
    held: Vec<FileJob>,
}

impl<'a> Gate<'a> {
    fn new(marker: &'a str) -> Self {
        Gate {
            marker,
            marked: Default::default(),
            held: Vec::new(),
        }
    }

    /// A file that is not a molecule file: the marker, if its name says so.
    fn note(&mut self, location: &str) {
        let uri = if location.contains("://") {
            location.to_owned()
        } else {
            // A local path, as walked: the same form as a FileJob's uri.
            let abs = std::fs::canonicalize(location)
                .unwrap_or_else(|_| std::path::PathBuf::from(location));
            format!("file://{}", abs.display())
        };
        if let Some((folder, name)) = uri.rsplit_once('/') {
            if name == self.marker {
                self.marked.insert(folder.to_owned());
            }
        }
    }

    /// Send the files whose folder, or a folder above it up to their root,
    /// holds the marker; return the other folders with their file counts.
    fn release(
        self,
        roots: &[Root],
        mut send: impl FnMut(FileJob) -> bool,
    ) -> std::collections::BTreeMap<String, u64> {
        let tops: Vec<String> = roots.iter().map(Root::uri_prefix).collect();
        let mut waiting = std::collections::BTreeMap::new();
        let mut sending = true;
        for job in self.held {
            let top = tops
                .iter()
                .filter(|t| job.uri.starts_with(t.trim_end_matches('/')))
                .max_by_key(|t| t.len())
                .map(|t| t.trim_end_matches('/').to_owned())
                .unwrap_or_default();
            let mut folder = job.uri.rsplit_once('/').map_or("", |(d, _)| d);
            let own = folder.to_owned();
            let ready = loop {
                if self.marked.contains(folder) {
                    break true;
                }
                if folder.len() <= top.len() {
                    break false;
                }
                match folder.rsplit_once('/') {
                    Some((up, _)) => folder = up,
                    None => break false,
                }
            };
            if ready {
                sending = sending && send(job);
            } else {
                *waiting.entry(own).or_insert(0) += 1;
            }
        }
        waiting
    }
}
