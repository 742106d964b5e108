//! The reject report: every record or file that was not loaded, counted,
//! kept (the first [`REJECTS_KEPT`]) for the run record, written as JSON
//! lines when asked, with the records' own text when asked, and told on
//! stderr.

use super::stats::Stats;
use crate::error::{Original, Reject};
use crate::formats::Format;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many rejects the run record keeps (the JSONL report keeps all).
pub const REJECTS_KEPT: usize = 1000;

/// Rejects: counted, kept (the first [`REJECTS_KEPT`]) for the run record,
/// written to the JSONL report if one was asked for, and told on stderr.
pub struct RejectLog {
    file: Option<Mutex<BufWriter<File>>>,
    /// `--rejects-dir`: each rejected record's own text, per source file.
    originals: Option<Originals>,
    kept: Mutex<Vec<Reject>>,
    notices: Mutex<Vec<String>>,
    quiet: bool,
}

impl RejectLog {
    pub fn new(report: Option<&Path>, quiet: bool) -> std::io::Result<Self> {
        let file = match report {
            Some(p) => Some(Mutex::new(BufWriter::new(crate::private_fs::create_file(
                p,
            )?))),
            None => None,
        };
        Ok(RejectLog {
            file,
            originals: None,
            kept: Mutex::new(Vec::new()),
            notices: Mutex::new(Vec::new()),
            quiet,
        })
    }

    /// Also write each rejected record's original text under `dir`, one
    /// file per source file in its own format, next to `rejects.jsonl`
    /// with the reasons: fix them and load the directory again.
    pub fn with_dir(mut self, dir: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_dir(dir)?;
        let reasons = BufWriter::new(crate::private_fs::create_file(&dir.join("rejects.jsonl"))?);
        if self.file.is_none() {
            self.file = Some(Mutex::new(reasons));
        }
        self.originals = Some(Originals {
            dir: dir.to_owned(),
            open: Mutex::new(HashMap::new()),
        });
        Ok(self)
    }

    pub fn add(&self, stats: &Stats, mut r: Reject) {
        if let (Some(o), Some(original)) = (&self.originals, r.original.take()) {
            o.write(&r, &original);
        }
        if r.record.is_some() {
            Stats::add(&stats.records_rejected, 1);
        } else if r.skipped {
            Stats::add(&stats.files_ignored, 1);
        } else {
            Stats::add(&stats.files_failed, 1);
        }
        if let Some(f) = &self.file {
            if let Ok(mut w) = f.lock() {
                if let Ok(line) = serde_json::to_string(&r) {
                    let _ = writeln!(w, "{line}");
                }
            }
        }
        if let Ok(mut kept) = self.kept.lock() {
            if !self.quiet && kept.len() < 20 {
                eprintln!("rejected: {r}");
            } else if !self.quiet && kept.len() == 20 {
                eprintln!("rejected: … (further rejects are in the report and the run record)");
            }
            if kept.len() < REJECTS_KEPT {
                kept.push(r);
            }
        }
    }

    /// Something worth telling that is not a reject (a file whose content
    /// does not match its name, read by its content).
    pub fn notice(&self, message: String) {
        if !self.quiet {
            eprintln!("note: {message}");
        }
        if let Ok(mut n) = self.notices.lock() {
            if n.len() < REJECTS_KEPT {
                n.push(message);
            }
        }
    }

    pub fn notices(&self) -> Vec<String> {
        self.notices.lock().map(|n| n.clone()).unwrap_or_default()
    }

    pub fn kept(&self) -> Vec<Reject> {
        self.kept.lock().map(|k| k.clone()).unwrap_or_default()
    }

    pub fn flush(&self) -> std::io::Result<()> {
        if let Some(f) = &self.file {
            if let Ok(mut w) = f.lock() {
                w.flush()?;
            }
        }
        if let Some(o) = &self.originals {
            if let Ok(mut open) = o.open.lock() {
                for w in open.values_mut() {
                    w.flush()?;
                }
            }
        }
        Ok(())
    }
}

/// The rejected records' own text, one file per source file.
struct Originals {
    dir: PathBuf,
    open: Mutex<HashMap<String, BufWriter<File>>>,
}

impl Originals {
    fn write(&self, r: &Reject, original: &Original) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        let name = reject_file_name(&r.path, original.format);
        if !open.contains_key(&name) {
            match crate::private_fs::create_file(&self.dir.join(&name)) {
                Ok(f) => {
                    open.insert(name.clone(), BufWriter::new(f));
                }
                Err(e) => {
                    eprintln!("molingest: cannot write {name} in the rejects directory: {e}");
                    return;
                }
            }
        }
        if let Some(w) = open.get_mut(&name) {
            let text = &original.text;
            let _ = w.write_all(text);
            if !text.ends_with(b"\n") {
                let _ = w.write_all(b"\n");
            }
            // An SDF record's text stops before its `$$$$` line.
            if original.format == Format::Sdf {
                let _ = w.write_all(b"$$$$\n");
            }
        }
    }
}

/// `sub/dir/lib.sdf.gz` → `sub__dir__lib.rejected.sdf`: flat, uncompressed,
/// in the format's own extension so that `molingest load DIR` reads it.
fn reject_file_name(path: &str, format: Format) -> String {
    let flat: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let stem = flat.strip_suffix(".gz").unwrap_or(&flat);
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
    let ext = match format {
        Format::Smiles => "smi",
        f => f.as_str(),
    };
    format!("{stem}.rejected.{ext}")
}
