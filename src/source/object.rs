//! Object stores (S3 and S3-compatible, GCS, Azure, HTTP, `file://`) through
//! object_store. The URL is parsed by object_store itself, with the usual
//! `AWS_*` / `GOOGLE_*` / `AZURE_*` environment as its options (so
//! `AWS_ENDPOINT` and `AWS_ALLOW_HTTP` reach S3-compatible servers).
//!
//! Listing is a stream (object_store pages through it). Bodies are streamed
//! too, never held whole: [`ObjectReader`] turns a GET into `std::io::Read`
//! for the decode stage, and when a body breaks off mid-stream it resumes
//! with a ranged GET from the byte it reached, pinned to the listed ETag so a
//! changed object is never stitched together. Request-level faults (5xx,
//! resets, timeouts) are also retried by object_store's own retry policy.

use super::{FileJob, Found, Origin};
use crate::error::{Error, Reject};
use crate::formats::Format;
use crate::redact;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt as _};
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Attempts to read one object body before it is reported as failed.
const BODY_ATTEMPTS: u32 = 6;

/// A store and the prefix the user named.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// `s3://bucket` (the URL without its path).
    base: String,
    rt: tokio::runtime::Handle,
    /// Body reads resumed after a fault, for the summary.
    pub resumed: AtomicU64,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.uri_prefix())
    }
}

impl Bucket {
    pub fn open(arg: &str, rt: &tokio::runtime::Handle) -> Result<Bucket, Error> {
        let shown = redact::url(arg);
        let url =
            url::Url::parse(arg).map_err(|e| Error::Input(format!("{shown}: not a URL: {e}")))?;
        let mut options: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                ["AWS_", "GOOGLE_", "AZURE_", "OBJECT_STORE_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        // An http:// URL says plain HTTP is wanted (object_store refuses it by default).
        if url.scheme() == "http" {
            options.push(("allow_http".into(), "true".into()));
        }
        let (store, prefix) = object_store::parse_url_opts(&url, options)
            .map_err(|e| Error::Input(redact::text(&format!("{shown}: {e}"))))?;
        // Scheme, host and port: never the credentials a URL may carry.
        let base = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
            (Some(h), None) => format!("{}://{h}", url.scheme()),
            _ => format!("{}://", url.scheme()),
        };
        Ok(Bucket {
            store: Arc::from(store),
            prefix,
            base,
            rt: rt.clone(),
            resumed: AtomicU64::new(0),
        })
    }

    pub fn uri_prefix(&self) -> String {
        self.uri_of(&self.prefix)
    }

    /// The location of an object as reports and `molecule_files.source_uri`
    /// show it: never a credential.
    fn uri_of(&self, p: &Path) -> String {
        redact::url(&format!("{}/{}", self.base, p.as_ref()))
    }

    /// List every object under the prefix (or the one object it names).
    /// Returns false when `emit` asked to stop.
    pub fn list(self: &Arc<Self>, emit: &mut dyn FnMut(Found) -> bool) -> bool {
        let rt = self.rt.clone();
        rt.block_on(async {
            if !self.prefix.as_ref().is_empty() {
                if let Ok(meta) = self.store.head(&self.prefix).await {
                    return emit(self.examine(meta, true));
                }
            }
            let mut stream = self.store.list(Some(&self.prefix));
            while let Some(item) = stream.next().await {
                let found = match item {
                    Ok(meta) => self.examine(meta, false),
                    Err(e) => {
                        // object_store has retried; the rest of the listing is lost.
                        let r = Reject::file(self.uri_prefix(), format!("listing failed: {e}"));
                        return emit(Found::ListingFailed(r));
                    }
                };
                if !emit(found) {
                    return false;
                }
            }
            true
        })
    }

    fn examine(self: &Arc<Self>, meta: ObjectMeta, single: bool) -> Found {
        let key = meta.location.as_ref();
        let display = if single {
            meta.location.filename().unwrap_or(key).to_owned()
        } else {
            key.strip_prefix(self.prefix.as_ref())
                .unwrap_or(key)
                .trim_start_matches('/')
                .to_owned()
        };
        let Some(format) = Format::from_name(key) else {
            return Found::Ignored(self.uri_of(&meta.location));
        };
        Found::File(FileJob {
            display,
            uri: self.uri_of(&meta.location),
            size: meta.size,
            mtime_ns: meta.last_modified.timestamp_nanos_opt(),
            etag: meta.e_tag.clone(),
            origin: Origin::Object(self.clone(), meta.location),
            format,
        })
    }
}

/// An object body as `std::io::Read`, resumed after faults.
pub struct ObjectReader {
    bucket: Arc<Bucket>,
    path: Path,
    size: u64,
    etag: Option<String>,
    offset: u64,
    stream: Option<futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>>,
    buf: bytes::Bytes,
    failures: u32,
}

impl ObjectReader {
    pub fn new(bucket: Arc<Bucket>, path: Path, size: u64, etag: Option<String>) -> Self {
        ObjectReader {
            bucket,
            path,
            size,
            etag,
            offset: 0,
            stream: None,
            buf: bytes::Bytes::new(),
            failures: 0,
        }
    }

    /// Count a fault; wait before the next attempt, or give up.
    fn fault(&mut self, what: String) -> io::Result<()> {
        self.stream = None;
        self.failures += 1;
        if self.failures >= BODY_ATTEMPTS {
            return Err(io::Error::other(format!(
                "{what} (gave up after {} attempts, at byte {} of {})",
                self.failures, self.offset, self.size
            )));
        }
        self.bucket.resumed.fetch_add(1, Relaxed);
        std::thread::sleep(Duration::from_millis(50 << self.failures.min(6)));
        Ok(())
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.buf.is_empty() {
                let n = self.buf.len().min(out.len());
                out[..n].copy_from_slice(&self.buf[..n]);
                self.buf = self.buf.slice(n..);
                self.offset += n as u64;
                return Ok(n);
            }
            if self.offset >= self.size {
                return Ok(0);
            }
            if self.stream.is_none() {
                let options = GetOptions {
                    range: (self.offset > 0).then_some(GetRange::Offset(self.offset)),
                    if_match: self.etag.clone(),
                    ..GetOptions::default()
                };
                let got = self
                    .bucket
                    .rt
                    .block_on(self.bucket.store.get_opts(&self.path, options));
                match got {
                    Ok(r) => self.stream = Some(r.into_stream()),
                    Err(e @ object_store::Error::Precondition { .. }) => {
                        return Err(io::Error::other(format!(
                            "object changed while it was read: {e}"
                        )));
                    }
                    Err(e @ object_store::Error::NotFound { .. }) => {
                        return Err(io::Error::other(format!(
                            "object vanished while it was read: {e}"
                        )));
                    }
                    Err(e) => {
                        self.fault(format!("GET failed: {e}"))?;
                        continue;
                    }
                }
            }
            let next = match self.stream.as_mut() {
                Some(s) => self.bucket.rt.block_on(s.next()),
                None => continue,
            };
            match next {
                Some(Ok(bytes)) => {
                    self.buf = bytes;
                    self.failures = 0;
                }
                Some(Err(e)) => self.fault(format!("body broke off: {e}"))?,
                // The body ended before the listed size: resume from here.
                None => self.fault("body ended early".to_owned())?,
            }
        }
    }
}
