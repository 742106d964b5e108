//! Local directories and files, walked with walkdir.

use super::{FileJob, Found, Origin};
use crate::error::Reject;
use crate::formats::Format;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Walk each root (a directory or a file) in name order, following symlinks
/// (walkdir detects loops), and hand every entry to `emit`. `emit` returns
/// false to stop early (the consumer went away).
pub fn walk(root: &Path, emit: &mut dyn FnMut(Found) -> bool) -> bool {
    {
        let base = if root.is_file() {
            root.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            root.to_path_buf()
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
                return false;
            }
        }
    }
    true
}

fn examine(base: &Path, path: &Path) -> Found {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let Some(format) = Format::from_name(&name) else {
        return Found::Ignored(path.display().to_string());
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Found::Problem(Reject::file(display(base, path), e.to_string())),
    };
    if let Some(kind) = special(&meta.file_type()) {
        return Found::Skipped(Reject::skipped(
            display(base, path),
            format!("skipped: {kind}, not a regular file"),
        ));
    }
    Found::File(FileJob {
        display: display(base, path),
        uri: uri_of(path),
        origin: Origin::Local(path.to_path_buf()),
        etag: None,
        size: meta.len(),
        mtime_ns: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64),
        format,
    })
}

/// What a file that is neither a regular file nor a directory is: a FIFO,
/// a socket or a device (metadata follows symlinks, so also behind one).
pub fn special(t: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_block_device() || t.is_char_device() {
        Some("a device")
    } else {
        None
    }
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

/// A local path's location as `molecule_files.source_uri` records it:
/// `file://` and the canonical absolute path (the path as given when it
/// cannot be resolved).
pub fn uri_of(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}
