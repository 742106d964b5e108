//! Sources: where molecule files come from. A [`Root`] is what the user
//! named: a local directory or file (walked with walkdir), or an object-store
//! URL (`s3://`, `gs://`, `az://`, `http(s)://`, `file://`, listed through
//! object_store). Each lists [`FileJob`]s and opens them as byte streams;
//! everything downstream is the same whatever the source.

pub mod local;
pub mod object;

use crate::error::{Error, Reject};
use crate::formats::Format;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// A place the user asked to load from.
pub enum Root {
    Local(PathBuf),
    Object(Arc<object::Bucket>),
}

impl Root {
    /// A URL (`scheme://…`) is an object store; anything else a local path.
    pub fn parse(arg: &str, rt: &tokio::runtime::Handle) -> Result<Root, Error> {
        if arg.contains("://") {
            return Ok(Root::Object(Arc::new(object::Bucket::open(arg, rt)?)));
        }
        let path = PathBuf::from(arg);
        let meta = std::fs::metadata(&path)
            .map_err(|_| Error::Input(format!("{arg}: no such file or directory")))?;
        if let Some(kind) = local::special(&meta.file_type()) {
            return Err(Error::Input(format!(
                "{arg}: {kind}, not a file or directory: nothing to read"
            )));
        }
        Ok(Root::Local(path))
    }

    /// The location prefix of everything under this root, as molecule_files
    /// records it (to tell which known files have vanished).
    pub fn uri_prefix(&self) -> String {
        match self {
            Root::Local(p) => local::uri_of(p),
            Root::Object(b) => b.uri_prefix(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Root::Local(p) => std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
            Root::Object(b) => b.uri_prefix(),
        }
    }
}

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub enum Origin {
    Local(PathBuf),
    Object(Arc<object::Bucket>, object_store::path::Path),
}

/// One file to read.
#[derive(Debug, Clone)]
pub struct FileJob {
    /// Path relative to the root the user gave (the file name if the root is
    /// a file): what reports and `scan --jsonl` show.
    pub display: String,
    /// Absolute location, stable across runs: `file:///abs/path`, `s3://b/k`.
    pub uri: String,
    pub origin: Origin,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: Option<i64>,
    /// The store's version tag of the object (S3 ETag), if it has one.
    pub etag: Option<String>,
    /// The format its name promises.
    pub format: Format,
}

impl FileJob {
    /// The raw bytes, streamed (an object is never held whole in memory).
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match &self.origin {
            Origin::Local(p) => Ok(Box::new(std::fs::File::open(p)?)),
            Origin::Object(bucket, path) => Ok(Box::new(object::ObjectReader::new(
                bucket.clone(),
                path.clone(),
                self.size,
                self.etag.clone(),
            ))),
        }
    }

    /// The identity of the file's content, the `molecule_files.content_hash`:
    /// blake3 of the bytes for a local file (hashing is cheaper than reading
    /// it again); for an object, blake3 of the store's own content tag and
    /// size (ETag, else location and modification time), so that recognising
    /// an unchanged object downloads nothing.
    pub fn content_hash(&self) -> std::io::Result<[u8; 32]> {
        let mut h = blake3::Hasher::new();
        match &self.origin {
            Origin::Local(_) => {
                h.update_reader(self.open()?)?;
            }
            Origin::Object(..) => {
                h.update(b"object\0");
                match &self.etag {
                    Some(tag) => h.update(tag.as_bytes()),
                    None => h
                        .update(self.uri.as_bytes())
                        .update(&self.mtime_ns.unwrap_or(0).to_le_bytes()),
                };
                h.update(&self.size.to_le_bytes());
            }
        }
        Ok(*h.finalize().as_bytes())
    }
}

/// What the walk finds.
pub enum Found {
    File(FileJob),
    /// Not a molecule file by its name: counted, not read.
    Ignored(String),
    /// Could not be listed or examined: a symlink loop, no permission, …
    Problem(Reject),
    /// Not a regular file (a FIFO, socket or device, also behind a
    /// symlink): named, never opened (a FIFO would block the read forever).
    Skipped(Reject),
    /// The listing of a root itself failed (no such bucket, no access): the
    /// run cannot know what it should have loaded.
    ListingFailed(Reject),
}

/// List every root in turn, handing each entry to `emit`; `emit` returns
/// false to stop early (the consumer went away).
pub fn walk(roots: &[Root], mut emit: impl FnMut(Found) -> bool) {
    for root in roots {
        let go_on = match root {
            Root::Local(p) => local::walk(p, &mut emit),
            Root::Object(b) => b.list(&mut emit),
        };
        if !go_on {
            return;
        }
    }
}

/// Read a small file or object whole by its location (`file:///…`,
/// `s3://…`), through the root it lies under: a delivery's manifest.
pub fn read_small(roots: &[Root], uri: &str) -> Result<Vec<u8>, crate::error::Error> {
    if let Some(path) = uri.strip_prefix("file://") {
        return std::fs::read(path).map_err(|e| crate::error::Error::io(path, e));
    }
    for root in roots {
        if let Root::Object(b) = root {
            if let Ok(bytes) = b.read_uri(uri) {
                return Ok(bytes);
            }
        }
    }
    Err(crate::error::Error::Input(format!(
        "{}: cannot be read through the sources given",
        crate::redact::url(uri)
    )))
}
