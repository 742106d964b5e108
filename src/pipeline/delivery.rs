//! `--require-marker`: a delivery (a folder) is read only once its marker
//! is there, so a multi-file delivery is never loaded half-written. The
//! walk holds every file until the listing is complete, then releases the
//! files of folders that hold the marker (or sit below one that does) and
//! names the others, left for a later run.
//!
//! A marker whose name ends in `.json` is a manifest of the delivery:
//!
//! ```json
//! {"files": [{"path": "lib/a.sdf.gz", "size": 12345, "sha256": "9f86d0…"}]}
//! ```
//!
//! (or the bare array), paths relative to the manifest's folder, `size` and
//! `sha256` each optional. A file of the delivery that the manifest does
//! not list, or whose size or SHA-256 differs, is refused by name; a
//! delivery whose manifest lists a file that is not there yet is left for
//! later. Checking a SHA-256 reads the file once more.

use super::stats::{RejectLog, Stats};
use crate::error::Reject;
use crate::source::{FileJob, Root};
use sha2::Digest as _;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;

pub(super) struct Gate<'a> {
    marker: &'a str,
    /// Folders (as locations: `file:///…`, `s3://…`) that hold the marker.
    marked: HashSet<String>,
    /// Every other file listed (not a molecule file), by location: a
    /// manifest may list them too (a README, checksums).
    others: HashSet<String>,
    pub(super) held: Vec<FileJob>,
}

/// One file as a manifest describes it.
#[derive(serde::Deserialize)]
struct Listed {
    path: String,
    size: Option<u64>,
    sha256: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Manifest {
    Object { files: Vec<Listed> },
    Array(Vec<Listed>),
}

impl<'a> Gate<'a> {
    pub(super) fn new(marker: &'a str) -> Self {
        Gate {
            marker,
            marked: HashSet::new(),
            others: HashSet::new(),
            held: Vec::new(),
        }
    }

    fn manifests(&self) -> bool {
        self.marker.ends_with(".json")
    }

    /// A file that is not a molecule file: the marker, if its name says so.
    pub(super) fn note(&mut self, location: &str) {
        let uri = if location.contains("://") {
            location.to_owned()
        } else {
            // A local path, as walked: the same form as a FileJob's uri.
            crate::source::local::uri_of(std::path::Path::new(location))
        };
        if let Some((folder, name)) = uri.rsplit_once('/') {
            if name == self.marker {
                self.marked.insert(folder.to_owned());
            }
        }
        self.others.insert(uri);
    }

    /// The folder whose marker covers `uri` (its own, or one above it up to
    /// its root), if any.
    fn delivery(&self, uri: &str, tops: &[String]) -> Option<String> {
        let top = tops
            .iter()
            .filter(|t| uri.starts_with(t.as_str()))
            .max_by_key(|t| t.len())
            .cloned()
            .unwrap_or_default();
        let mut folder = uri.rsplit_once('/').map_or("", |(d, _)| d);
        loop {
            if self.marked.contains(folder) {
                return Some(folder.to_owned());
            }
            if folder.len() <= top.len() {
                return None;
            }
            folder = folder.rsplit_once('/').map_or("", |(d, _)| d);
        }
    }

    /// Send the files of complete deliveries, refuse the files a manifest
    /// does not vouch for, and name the folders left for later.
    pub(super) fn release(
        mut self,
        roots: &[Root],
        stats: &Stats,
        rejects: &RejectLog,
        mut send: impl FnMut(FileJob) -> bool,
    ) {
        let tops: Vec<String> = roots
            .iter()
            .map(|r| r.uri_prefix().trim_end_matches('/').to_owned())
            .collect();
        let mut waiting: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut deliveries: BTreeMap<String, Vec<FileJob>> = BTreeMap::new();
        let held = std::mem::take(&mut self.held);
        let gate = self;
        for job in held {
            match gate.delivery(&job.uri, &tops) {
                Some(folder) => deliveries.entry(folder).or_default().push(job),
                None => {
                    let own = job.uri.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
                    let w = waiting
                        .entry(own)
                        .or_insert((0, format!("no {} there yet", gate.marker)));
                    w.0 += 1;
                }
            }
        }
        let mut sending = true;
        for (folder, jobs) in deliveries {
            let jobs = if gate.manifests() {
                match gate.vouch(roots, &folder, jobs, stats, rejects) {
                    Ok(jobs) => jobs,
                    Err((files, why)) => {
                        waiting.insert(folder, (files, why));
                        continue;
                    }
                }
            } else {
                jobs
            };
            for job in jobs {
                sending = sending && send(job);
            }
        }
        for (folder, (files, why)) in waiting {
            Stats::add(&stats.files_waiting, files);
            rejects.notice(format!(
                "{folder}: left for later: {why} ({files} file(s) not read)"
            ));
        }
    }

    /// The files of a delivery its manifest vouches for; the others are
    /// refused by name. `Err`: the delivery is not complete (a listed file
    /// is missing) or its manifest cannot be read — all of it waits.
    fn vouch(
        &self,
        roots: &[Root],
        folder: &str,
        jobs: Vec<FileJob>,
        stats: &Stats,
        rejects: &RejectLog,
    ) -> Result<Vec<FileJob>, (u64, String)> {
        let at = format!("{folder}/{}", self.marker);
        let files = jobs.len() as u64;
        let text = crate::source::read_small(roots, &at)
            .map_err(|e| (files, format!("its {} cannot be read: {e}", self.marker)))?;
        let listed: Vec<Listed> = match serde_json::from_slice::<Manifest>(&text) {
            Ok(Manifest::Object { files }) | Ok(Manifest::Array(files)) => files,
            Err(e) => {
                return Err((files, format!("its {} is not a manifest: {e}", self.marker)));
            }
        };
        let by_path: HashMap<&str, &Listed> = listed
            .iter()
            .map(|l| (l.path.trim_start_matches("./"), l))
            .collect();
        let inside = format!("{folder}/");
        let present: HashSet<String> = jobs
            .iter()
            .map(|j| j.uri.as_str())
            .chain(self.others.iter().map(String::as_str))
            .filter_map(|u| u.strip_prefix(&inside).map(str::to_owned))
            .collect();
        if let Some(missing) = listed
            .iter()
            .find(|l| !present.contains(l.path.trim_start_matches("./")))
        {
            return Err((
                files,
                format!(
                    "{} lists {}, which is not there yet",
                    self.marker, missing.path
                ),
            ));
        }
        let mut vouched = Vec::new();
        for job in jobs {
            let rel = job
                .uri
                .strip_prefix(&format!("{folder}/"))
                .unwrap_or(&job.uri);
            let refusal = match by_path.get(rel) {
                None => Some(format!("not in the delivery's {}", self.marker)),
                Some(l) => match (l.size, &l.sha256) {
                    (Some(size), _) if size != job.size => Some(format!(
                        "{} bytes, the delivery's {} says {size}",
                        job.size, self.marker
                    )),
                    (_, Some(want)) => match sha256(&job) {
                        Ok(got) if got.eq_ignore_ascii_case(want.trim()) => None,
                        Ok(got) => Some(format!(
                            "SHA-256 {got}, the delivery's {} says {want}",
                            self.marker
                        )),
                        Err(e) => Some(format!("cannot read to check its SHA-256: {e}")),
                    },
                    _ => None,
                },
            };
            match refusal {
                Some(why) => rejects.add(stats, Reject::file(job.display.clone(), why)),
                None => vouched.push(job),
            }
        }
        Ok(vouched)
    }
}

fn sha256(job: &FileJob) -> std::io::Result<String> {
    let mut r = job.open()?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
