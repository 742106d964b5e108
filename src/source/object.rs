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
//!
//! A presigned URL (`https://…?X-Amz-Signature=…`, a GCS signed URL, an
//! Azure SAS) names one object and its query string is the credential:
//! object_store's URL parsing keeps only scheme, host and path, and a HEAD
//! is refused by a signature made for GET. Such a URL is fetched as it was
//! given with a plain HTTP GET of our own ([`Access::Presigned`]).

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

/// How the objects are reached.
enum Access {
    Store(Arc<dyn ObjectStore>),
    /// One object, by the exact URL given (its query string signs it).
    Presigned {
        client: reqwest::Client,
        url: url::Url,
    },
}

type Body = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, String>>;

/// Why a body could not be opened.
enum OpenError {
    /// Not worth another attempt (changed, vanished, refused).
    Final(String),
    /// A fault worth retrying.
    Transient(String),
}

/// A store and the prefix the user named.
pub struct Bucket {
    access: Access,
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
        let presigned = matches!(url.scheme(), "http" | "https") && url.query().is_some();
        // An http:// URL says plain HTTP is wanted (object_store refuses it by default).
        if url.scheme() == "http" {
            options.push(("allow_http".into(), "true".into()));
        }
        let (store, prefix) = object_store::parse_url_opts(&url, options)
            .map_err(|e| Error::Input(redact::text(&format!("{shown}: {e}"))))?;
        let access = if presigned {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| Error::Input(format!("{shown}: HTTP client: {e}")))?;
            Access::Presigned {
                client,
                url: url.clone(),
            }
        } else {
            Access::Store(Arc::from(store))
        };
        // Scheme, host and port: never the credentials a URL may carry.
        let base = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
            (Some(h), None) => format!("{}://{h}", url.scheme()),
            _ => format!("{}://", url.scheme()),
        };
        Ok(Bucket {
            access,
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

    /// Read a small object whole (a delivery's manifest), by its location
    /// as [`Bucket::uri_prefix`] and listings show it.
    pub fn read_uri(&self, uri: &str) -> Result<Vec<u8>, Error> {
        let Access::Store(store) = &self.access else {
            return Err(Error::Input(format!(
                "{uri}: not readable through a presigned URL"
            )));
        };
        let key = uri
            .strip_prefix(&format!("{}/", self.base))
            .ok_or_else(|| Error::Input(format!("{uri}: not in {}", self.base)))?;
        let path = Path::from(key);
        self.rt
            .block_on(async {
                let got = store.get(&path).await?;
                got.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| Error::Input(redact::text(&format!("{uri}: {e}"))))
    }

    /// Write `bytes` as the object `name` under the prefix (a load's rejects,
    /// next to its inputs). Returns where it went.
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> Result<String, Error> {
        let Access::Store(store) = &self.access else {
            return Err(Error::Input(format!(
                "{}: a presigned URL cannot be written to",
                self.uri_prefix()
            )));
        };
        let path = if self.prefix.as_ref().is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.prefix.as_ref()))
        };
        let shown = self.uri_of(&path);
        self.rt
            .block_on(store.put(&path, object_store::PutPayload::from(bytes)))
            .map_err(|e| Error::Input(redact::text(&format!("{shown}: {e}"))))?;
        Ok(shown)
    }

    /// List every object under the prefix (or the one object it names).
    /// Returns false when `emit` asked to stop.
    pub fn list(self: &Arc<Self>, emit: &mut dyn FnMut(Found) -> bool) -> bool {
        let rt = self.rt.clone();
        rt.block_on(async {
            let store = match &self.access {
                Access::Store(store) => store,
                Access::Presigned { client, url } => {
                    return match self.probe(client, url).await {
                        Ok(meta) => emit(self.examine(meta, true)),
                        Err(e) => {
                            let r = Reject::file(self.uri_prefix(), e);
                            emit(Found::ListingFailed(r))
                        }
                    };
                }
            };
            if !self.prefix.as_ref().is_empty() {
                if let Ok(meta) = store.head(&self.prefix).await {
                    return emit(self.examine(meta, true));
                }
            }
            let mut stream = store.list(Some(&self.prefix));
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

    /// What a presigned URL serves: size, ETag and date from the headers of
    /// a GET whose body is dropped unread (a HEAD would not match a GET
    /// signature).
    async fn probe(&self, client: &reqwest::Client, url: &url::Url) -> Result<ObjectMeta, String> {
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| redact::text(&format!("GET failed: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!(
                "GET answered HTTP {status}{}",
                refused_hint(status)
            ));
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let size = resp
            .content_length()
            .ok_or("the server sent no Content-Length: the size is unknown")?;
        let last_modified = header(reqwest::header::LAST_MODIFIED)
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(&d).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        Ok(ObjectMeta {
            location: self.prefix.clone(),
            last_modified,
            size,
            e_tag: header(reqwest::header::ETAG),
            version: None,
        })
    }

    /// The body of an object from byte `offset` on, pinned to `etag`.
    async fn open_body(
        &self,
        path: &Path,
        offset: u64,
        etag: Option<String>,
    ) -> Result<Body, OpenError> {
        match &self.access {
            Access::Store(store) => {
                let options = GetOptions {
                    range: (offset > 0).then_some(GetRange::Offset(offset)),
                    if_match: etag,
                    ..GetOptions::default()
                };
                match store.get_opts(path, options).await {
                    Ok(r) => Ok(r
                        .into_stream()
                        .map(|b| b.map_err(|e| e.to_string()))
                        .boxed()),
                    Err(e @ object_store::Error::Precondition { .. }) => Err(OpenError::Final(
                        format!("object changed while it was read: {e}"),
                    )),
                    Err(e @ object_store::Error::NotFound { .. }) => Err(OpenError::Final(
                        format!("object vanished while it was read: {e}"),
                    )),
                    Err(e) => Err(OpenError::Transient(format!("GET failed: {e}"))),
                }
            }
            Access::Presigned { client, url } => {
                let mut get = client.get(url.clone());
                if offset > 0 {
                    get = get.header(reqwest::header::RANGE, format!("bytes={offset}-"));
                }
                if let Some(tag) = etag {
                    get = get.header(reqwest::header::IF_MATCH, tag);
                }
                let resp = get
                    .send()
                    .await
                    .map_err(|e| OpenError::Transient(redact::text(&format!("GET failed: {e}"))))?;
                let status = resp.status();
                match status.as_u16() {
                    200 if offset == 0 => {}
                    206 => {}
                    200 => {
                        return Err(OpenError::Final(format!(
                            "the server cannot resume at byte {offset} (it ignores Range)"
                        )))
                    }
                    412 => return Err(OpenError::Final("object changed while it was read".into())),
                    500..=599 | 408 | 429 => {
                        return Err(OpenError::Transient(format!("GET answered HTTP {status}")))
                    }
                    _ => {
                        return Err(OpenError::Final(format!(
                            "GET answered HTTP {status}{}",
                            refused_hint(status)
                        )))
                    }
                }
                Ok(resp
                    .bytes_stream()
                    .map(|b| b.map_err(|e| redact::text(&e.to_string())))
                    .boxed())
            }
        }
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
    stream: Option<Body>,
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
                let bucket = self.bucket.clone();
                let opened = bucket.rt.block_on(bucket.open_body(
                    &self.path,
                    self.offset,
                    self.etag.clone(),
                ));
                match opened {
                    Ok(body) => self.stream = Some(body),
                    Err(OpenError::Final(e)) => return Err(io::Error::other(e)),
                    Err(OpenError::Transient(e)) => {
                        self.fault(e)?;
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

/// What a refusal of a signed URL usually means.
fn refused_hint(status: reqwest::StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => " (a signed URL may have expired, or be signed for another method)",
        _ => "",
    }
}
