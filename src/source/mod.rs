//! Sources: where molecule files come from. A source lists [`FileJob`]s and
//! opens each as a byte stream; everything downstream is the same whatever
//! the source. Local directories are walked with walkdir.

use crate::error::Reject;
use crate::formats::Format;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// One file to read.
#[derive(Debug, Clone)]
pub struct FileJob {
    /// Path relative to the root the user gave (the file name if the root is
    /// a file): what reports and `scan --jsonl` show.
    pub display: String,
    /// Absolute location, stable across runs: `file:///abs/path`.
    pub uri: String,
    pub local: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: Option<i64>,
    /// The format its name promises.
    pub format: Format,
}

impl FileJob {
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(&self.local)?))
    }

    /// blake3 of the raw bytes (compressed, as stored).
    pub fn content_hash(&self) -> std::io::Result<[u8; 32]> {
        let mut h = blake3::Hasher::new();
        h.update_reader(self.open()?)?;
        Ok(*h.finalize().as_bytes())
    }
}

/// What the walk finds.
pub enum Found {
    File(FileJob),
    /// Not a molecule file by its name: counted, not read.
    Ignored(PathBuf),
    /// Could not be listed or examined: a symlink loop, no permission, …
    Problem(Reject),
}

/// Walk each root (a directory or a file) in name order, following symlinks
/// (walkdir detects loops), and hand every entry to `emit`. `emit` returns
/// false to stop early (the consumer went away).
pub fn walk_local(roots: &[PathBuf], mut emit: impl FnMut(Found) -> bool) {
    for root in roots {
        let base = if root.is_file() {
            root.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            root.clone()
        };
        let walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walker {
            let found = match entry {
                Err(e) => {
                    let path = e
                        .path()
                        .map(|p| display(&base, p))
                        .unwrap_or_else(|| root.display().to_string());
                    let reason = if e.loop_ancestor().is_some() {
                        "symlink loop".to_owned()
                    } else {
                        e.io_error()
                            .map(|io| io.to_string())
                            .unwrap_or_else(|| e.to_string())
                    };
                    Found::Problem(Reject::file(path, reason))
                }
                Ok(entry) if entry.file_type().is_dir() => continue,
                Ok(entry) => examine(&base, entry.path()),
            };
            if !emit(found) {
                return;
            }
        }
    }
}

fn examine(base: &Path, path: &Path) -> Found {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let Some(format) = Format::from_name(&name) else {
        return Found::Ignored(path.to_path_buf());
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Found::Problem(Reject::file(display(base, path), e.to_string())),
    };
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Found::File(FileJob {
        display: display(base, path),
        uri: format!("file://{}", abs.display()),
        local: path.to_path_buf(),
        size: meta.len(),
        mtime_ns: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64),
        format,
    })
}

fn display(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    let s = rel.display().to_string();
    if s.is_empty() {
        path.display().to_string()
    } else {
        s
    }
}
