//! The staged pipeline. Each stage owns one job and talks to the next
//! through a bounded channel, so memory stays bounded and a slow stage
//! (usually the database) holds back the ones before it:
//!
//! ```text
//! walk ──files──▶ read ×N ──chunks──▶ parse (rayon) ──events──▶ sink
//! (walkdir)      (hash, skip         (reader + chemistry       (database,
//!                 unchanged, gunzip,  + record hash, in         or JSONL for
//!                 split records)      parallel per chunk)       `scan`)
//! ```
//!
//! Per file, events reach the sink in order: `Begin`, `Records`…, `End`.

pub mod stats;

use crate::chem::{self, Properties};
use crate::decode;
use crate::error::{Error, ParseError, Reject};
use crate::formats::split::{Chunk, Span, Splitter};
use crate::formats::Format;
use crate::source::{self, FileJob, Found, Root};
use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;
use stats::{RejectLog, Stats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A file being read, as the later stages see it.
#[derive(Debug)]
pub struct FileInfo {
    pub job: FileJob,
    /// blake3 of the raw bytes, when the sink asked for it.
    pub hash: Option<[u8; 32]>,
    pub gzip: bool,
    /// The format the content was read as.
    pub format: Format,
}

/// One molecule, parsed and computed.
#[derive(Debug, Clone)]
pub struct Record {
    pub index: u64,
    pub line: u64,
    pub title: String,
    pub smiles: Option<String>,
    pub fields: Vec<(String, String)>,
    pub props: Properties,
    /// blake3 of the record text, line endings and trailing blanks normalised.
    pub hash: [u8; 32],
    /// What the sink's [`Encoder`] made of it (empty without one).
    pub encoded: Vec<u8>,
}

/// Turns a record into the bytes its sink stores (COPY rows for the
/// database). It runs in the parallel parse stage, so the sink thread only
/// concatenates.
pub trait Encoder: Sync {
    fn encode(&self, file: &FileInfo, record: &Record, out: &mut Vec<u8>);
}

#[derive(Debug)]
pub enum Outcome {
    Molecule(Record),
    Rejected(Reject),
    /// A comment or header line: not a molecule, not an error.
    Skipped,
}

/// How a file ended.
#[derive(Debug, Default, Clone)]
pub struct FileEnd {
    pub records: u64,
    pub rejected: u64,
    /// The stream broke (a cut gzip stream, an I/O error): the records before
    /// the break were delivered, the file is not complete.
    pub error: Option<String>,
}

/// What the sink receives.
#[derive(Debug)]
pub enum Event {
    Begin(Arc<FileInfo>),
    Records(Arc<FileInfo>, Vec<Outcome>),
    End(Arc<FileInfo>, FileEnd),
    /// A file refused before any record was read (binary, unreadable, …).
    FileRejected(Reject),
}

/// Where records go: the database, or JSONL for `scan`.
pub trait Sink {
    fn event(&mut self, event: Event) -> Result<(), Error>;
    fn finish(&mut self) -> Result<(), Error>;
}

/// What is already loaded, so unchanged files are not read again.
pub trait Known: Send + Sync {
    /// The file's location, size and mtime match a completed load.
    fn unchanged(&self, job: &FileJob) -> bool;
    /// A file with this content hash was completely loaded.
    fn loaded(&self, hash: &[u8; 32]) -> bool;
    /// Completed locations under `prefix` that are not in `seen`.
    fn vanished(&self, prefix: &str, seen: &std::collections::HashSet<String>) -> Vec<String>;
}

/// Nothing is known: every file is read (`scan`, `load --full`).
pub struct NothingKnown;
impl Known for NothingKnown {
    fn unchanged(&self, _: &FileJob) -> bool {
        false
    }
    fn loaded(&self, _: &[u8; 32]) -> bool {
        false
    }
    fn vanished(&self, _: &str, _: &std::collections::HashSet<String>) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Clone)]
pub struct Options {
    /// Files read at once.
    pub readers: usize,
    /// Parse threads (the rayon pool).
    pub threads: usize,
    /// Compute each file's content hash before reading it (the database sink
    /// needs it; `scan` does not).
    pub hash_files: bool,
    pub chunk_bytes: usize,
    pub chunk_records: usize,
}

impl Default for Options {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Options {
            readers: cpus.clamp(1, 4),
            threads: cpus,
            hash_files: true,
            chunk_bytes: 1 << 20,
            chunk_records: 1024,
        }
    }
}

enum ToParse {
    Begin(Arc<FileInfo>),
    Chunk(Arc<FileInfo>, Chunk),
    End(Arc<FileInfo>, Option<String>),
    FileRejected(Reject),
}

/// Run the pipeline over local roots into `sink`. Rejects never stop it; an
/// error from the sink does (and is returned once every stage has stopped).
pub fn run(
    roots: &[Root],
    options: &Options,
    known: &dyn Known,
    encoder: Option<&dyn Encoder>,
    sink: &mut dyn Sink,
    stats: &Stats,
    rejects: &RejectLog,
) -> Result<(), Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .thread_name(|i| format!("molingest-parse-{i}"))
        .build()
        .map_err(|e| Error::Pipeline(e.to_string()))?;
    let readers = options.readers.max(1);
    let (files_tx, files_rx) = bounded::<FileJob>(1024);
    let (parse_tx, parse_rx) = bounded::<ToParse>(readers * 2);
    let (events_tx, events_rx) = bounded::<Event>(4);

    std::thread::scope(|s| {
        let problems_tx = parse_tx.clone();
        s.spawn(move || walk_stage(roots, files_tx, problems_tx, known, stats, rejects));
        for _ in 0..readers {
            let (rx, tx) = (files_rx.clone(), parse_tx.clone());
            s.spawn(move || read_stage(rx, tx, options, known, stats, rejects));
        }
        drop((files_rx, parse_tx));
        s.spawn(move || pool.install(|| parse_stage(parse_rx, events_tx, encoder, stats, rejects)));
        sink_stage(events_rx, sink, stats)
    })
}

/// Walk problems (loops, permissions) are rejects, told to the sink like any
/// refused file. Once the listing is complete, files loaded before that are
/// gone are reported.
fn walk_stage(
    roots: &[Root],
    tx: Sender<FileJob>,
    problems: Sender<ToParse>,
    known: &dyn Known,
    stats: &Stats,
    rejects: &RejectLog,
) {
    let mut seen = std::collections::HashSet::new();
    let mut complete = true;
    source::walk(roots, |found| match found {
        Found::File(job) => {
            Stats::add(&stats.files_seen, 1);
            Stats::add(&stats.bytes_listed, job.size);
            seen.insert(job.uri.clone());
            tx.send(job).is_ok()
        }
        Found::Ignored(_) => {
            Stats::add(&stats.files_ignored, 1);
            true
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
    // A listing that failed part-way says nothing about what vanished.
    if !complete {
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

fn read_stage(
    rx: Receiver<FileJob>,
    tx: Sender<ToParse>,
    options: &Options,
    known: &dyn Known,
    stats: &Stats,
    rejects: &RejectLog,
) {
    for job in rx {
        if !read_file(job, &tx, options, known, stats, rejects) {
            return;
        }
    }
}

/// Read one file into chunks of records. Returns false when the next stage
/// has gone away.
fn read_file(
    job: FileJob,
    tx: &Sender<ToParse>,
    options: &Options,
    known: &dyn Known,
    stats: &Stats,
    rejects: &RejectLog,
) -> bool {
    let mut busy = Instant::now();
    let refuse = |reason: String| {
        let r = Reject::file(job.display.clone(), reason);
        rejects.add(stats, r.clone());
        tx.send(ToParse::FileRejected(r)).is_ok()
    };
    if known.unchanged(&job) {
        Stats::add(&stats.files_unchanged, 1);
        Stats::add(&stats.bytes_skipped, job.size);
        return true;
    }
    let hash = if options.hash_files {
        match job.content_hash() {
            Ok(h) if known.loaded(&h) => {
                Stats::add(&stats.files_unchanged, 1);
                Stats::add(&stats.bytes_skipped, job.size);
                return true;
            }
            Ok(h) => Some(h),
            Err(e) => return refuse(format!("cannot read: {e}")),
        }
    } else {
        None
    };
    let raw = match job.open() {
        Ok(r) => r,
        Err(e) => return refuse(format!("cannot open: {e}")),
    };
    let counted = CountingReader { inner: raw, stats };
    let mut decoded = match decode::decode(counted) {
        Ok(d) => d,
        Err(e) => return refuse(format!("cannot read: {e}")),
    };
    let head = match decode::peek(&mut decoded.reader, 8192) {
        Ok(h) => h,
        Err(e) => return refuse(format!("cannot decode: {e}")),
    };
    if head.is_empty() {
        return refuse("empty file: no records".to_owned());
    }
    if let Some(why) = decode::refuse_binary(&head) {
        return refuse(why.to_owned());
    }
    let format = match Format::sniff(&head).filter(|_| !matches!(job.format, Format::Other(_))) {
        Some(found) if found != job.format => {
            rejects.notice(format!(
                "{}: named as {} but holds {}; read as {}",
                job.display,
                job.format.as_str(),
                found.as_str(),
                found.as_str()
            ));
            found
        }
        Some(found) => found,
        None => job.format,
    };
    if format == Format::Smiles && is_csv(&job.display) && !csv_with_smiles_header(&head) {
        return refuse("CSV file without a SMILES column header: not a molecule file".to_owned());
    }
    Stats::add(&stats.files_read, 1);
    let file = Arc::new(FileInfo {
        job,
        hash,
        gzip: decoded.gzip,
        format,
    });
    if tx.send(ToParse::Begin(file.clone())).is_err() {
        return false;
    }
    #[cfg(feature = "chemfiles")]
    if let Format::Other(kind) = format {
        return read_with_chemfiles(&file, decoded.reader, kind, tx, stats, rejects);
    }
    let mut splitter = Splitter::new(decoded.reader, format.rules())
        .with_chunk_size(options.chunk_bytes, options.chunk_records);
    let mut error = None;
    loop {
        match splitter.next_chunk() {
            Ok(Some(chunk)) => {
                Stats::add(&stats.bytes_decoded, chunk.data.len() as u64);
                Stats::add_time(&stats.busy_read_ns, busy.elapsed());
                if tx.send(ToParse::Chunk(file.clone(), chunk)).is_err() {
                    return false;
                }
                busy = Instant::now();
            }
            Ok(None) => break,
            Err(e) => {
                let reason = format!("stream broken after line {}: {e}", splitter.lines_read());
                rejects.add(
                    stats,
                    Reject::file(file.job.display.clone(), reason.clone()),
                );
                error = Some(reason);
                break;
            }
        }
    }
    Stats::add_time(&stats.busy_read_ns, busy.elapsed());
    tx.send(ToParse::End(file, error)).is_ok()
}

/// Formats chemfiles reads: the whole file at once (its limit), turned into
/// frame records for the parse stage.
#[cfg(feature = "chemfiles")]
fn read_with_chemfiles(
    file: &Arc<FileInfo>,
    reader: Box<dyn std::io::BufRead + Send + '_>,
    kind: crate::formats::other::Kind,
    tx: &Sender<ToParse>,
    stats: &Stats,
    rejects: &RejectLog,
) -> bool {
    use std::io::Read;
    const LIMIT: u64 = 1 << 30;
    let mut data = Vec::new();
    let mut error = match reader.take(LIMIT + 1).read_to_end(&mut data) {
        Err(e) => Some(format!("cannot read: {e}")),
        Ok(_) if data.len() as u64 > LIMIT => {
            Some("larger than 1 GiB, the chemfiles limit".to_owned())
        }
        Ok(_) => None,
    };
    Stats::add(&stats.bytes_decoded, data.len() as u64);
    if error.is_none() {
        match crate::formats::other::frames(&data, kind, &file.job.display) {
            Ok(frames) => {
                let mut chunk = Chunk::default();
                for (index, frame) in frames.into_iter().enumerate() {
                    let start = chunk.data.len();
                    let error = match frame {
                        Ok(text) => {
                            chunk.data.extend_from_slice(&text);
                            None
                        }
                        Err(e) => Some(e),
                    };
                    chunk.spans.push(Span {
                        start,
                        end: chunk.data.len(),
                        index: index as u64,
                        line: 1,
                        error,
                    });
                }
                if tx.send(ToParse::Chunk(file.clone(), chunk)).is_err() {
                    return false;
                }
            }
            Err(e) => error = Some(e),
        }
    }
    if let Some(e) = &error {
        rejects.add(stats, Reject::file(file.job.display.clone(), e.clone()));
    }
    tx.send(ToParse::End(file.clone(), error)).is_ok()
}

fn is_csv(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".csv") || lower.ends_with(".csv.gz")
}

fn csv_with_smiles_header(head: &[u8]) -> bool {
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let field = first
        .split(|&b| b == b',' || b == b'\t')
        .next()
        .unwrap_or_default();
    field.trim_ascii().eq_ignore_ascii_case(b"smiles")
}

/// Counts raw bytes as they are read (for MB/s and progress).
struct CountingReader<'a, R> {
    inner: R,
    stats: &'a Stats,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        Stats::add(&self.stats.bytes_read, n as u64);
        Ok(n)
    }
}

fn parse_stage(
    rx: Receiver<ToParse>,
    tx: Sender<Event>,
    encoder: Option<&dyn Encoder>,
    stats: &Stats,
    rejects: &RejectLog,
) {
    // Records and rejects per file, for its End event.
    let mut per_file: std::collections::HashMap<*const FileInfo, (u64, u64)> = Default::default();
    for msg in rx {
        let event = match msg {
            ToParse::Begin(f) => {
                per_file.insert(Arc::as_ptr(&f), (0, 0));
                Event::Begin(f)
            }
            ToParse::FileRejected(r) => Event::FileRejected(r),
            ToParse::Chunk(f, chunk) => {
                let t = Instant::now();
                let outcomes: Vec<Outcome> = chunk
                    .spans
                    .par_iter()
                    .map(|span| process(&f, &chunk, span, encoder))
                    .collect();
                let counts = per_file.entry(Arc::as_ptr(&f)).or_default();
                for o in &outcomes {
                    match o {
                        Outcome::Molecule(_) => {
                            counts.0 += 1;
                            Stats::add(&stats.records_parsed, 1);
                        }
                        Outcome::Rejected(r) => {
                            counts.1 += 1;
                            rejects.add(stats, r.clone());
                        }
                        Outcome::Skipped => Stats::add(&stats.records_skipped, 1),
                    }
                }
                Stats::add_time(&stats.busy_parse_ns, t.elapsed());
                Event::Records(f, outcomes)
            }
            ToParse::End(f, error) => {
                let (records, rejected) = per_file.remove(&Arc::as_ptr(&f)).unwrap_or_default();
                Event::End(
                    f,
                    FileEnd {
                        records,
                        rejected,
                        error,
                    },
                )
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Parse one record, compute its chemistry and hash. Never panics: a reader
/// bug rejects the record, not the run.
pub fn process(
    file: &FileInfo,
    chunk: &Chunk,
    span: &Span,
    encoder: Option<&dyn Encoder>,
) -> Outcome {
    let reject =
        |e: ParseError| Outcome::Rejected(Reject::record(file.job.display.clone(), span.index, &e));
    if let Some(reason) = &span.error {
        return reject(ParseError::new(span.line, reason.clone()));
    }
    let bytes = chunk.record(span);
    let format = file.format;
    let parsed = std::panic::catch_unwind(|| format.parse(bytes, span.line));
    let parsed = match parsed {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return Outcome::Skipped,
        Ok(Err(e)) => return reject(e),
        Err(_) => {
            return reject(ParseError::new(
                span.line,
                "internal error: the reader panicked on this record",
            ))
        }
    };
    if parsed.mol.atoms.is_empty() {
        return reject(ParseError::new(span.line, "record has no atoms"));
    }
    let props = chem::properties(&parsed.mol);
    let mut record = Record {
        index: span.index,
        line: span.line,
        title: parsed.title,
        smiles: parsed.smiles,
        fields: parsed.fields,
        props,
        hash: record_hash(bytes),
        encoded: Vec::new(),
    };
    if let Some(e) = encoder {
        let mut out = Vec::with_capacity(256 + bytes.len() / 8);
        e.encode(file, &record, &mut out);
        record.encoded = out;
    }
    Outcome::Molecule(record)
}

/// blake3 of a record's text with CRLF read as LF, trailing white space on
/// each line and trailing blank lines ignored: the same molecule saved on
/// Windows or Unix is one molecule. The text is normalised into a
/// per-thread buffer and hashed in one call (blake3 is fastest on whole
/// kilobytes; line-sized updates cost it three times as much).
pub fn record_hash(bytes: &[u8]) -> [u8; 32] {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // Most records are already normal: no CR, no white space before a line
    // end. Then normalising is only dropping the trailing blank lines.
    let body = bytes.trim_ascii_end();
    let finder = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    if memchr::memchr(b'\r', body).is_none()
        && !finder(b" \n")
        && !finder(b"\t\n")
        && !body.is_empty()
    {
        let mut h = blake3::Hasher::new();
        h.update(body);
        h.update(b"\n");
        return *h.finalize().as_bytes();
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        let mut blank_run = 0usize;
        for line in bytes.split(|&b| b == b'\n') {
            let end = line
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |i| i + 1);
            if end == 0 {
                blank_run += 1;
                continue;
            }
            buf.extend(std::iter::repeat_n(b'\n', blank_run));
            blank_run = 0;
            buf.extend_from_slice(&line[..end]);
            buf.push(b'\n');
        }
        *blake3::hash(buf).as_bytes()
    })
}

fn sink_stage(rx: Receiver<Event>, sink: &mut dyn Sink, stats: &Stats) -> Result<(), Error> {
    for event in rx {
        let t = Instant::now();
        // On error, returning drops the receiver: every stage before stops.
        sink.event(event)?;
        Stats::add_time(&stats.busy_sink_ns, t.elapsed());
    }
    let t = Instant::now();
    sink.finish()?;
    Stats::add_time(&stats.busy_sink_ns, t.elapsed());
    Ok(())
}

/// Show progress on stderr while `work` runs (callers decide whether a
/// person is watching): bytes done of bytes listed so far, with rate and
/// ETA, and the file and record counts.
pub fn with_progress<T>(stats: &Stats, show: bool, work: impl FnOnce() -> T) -> T {
    use std::sync::atomic::Ordering::Relaxed;
    if !show {
        return work();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:25}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Relaxed) {
                let sum = stats.snapshot(start.elapsed());
                bar.set_length(stats.bytes_listed.load(Relaxed));
                bar.set_position(
                    stats.bytes_read.load(Relaxed) + stats.bytes_skipped.load(Relaxed),
                );
                bar.set_message(format!(
                    "files {}/{} · records {} ({:.0}/s) · inserted {} · rejected {}",
                    sum.files_read + sum.files_unchanged + sum.files_failed,
                    sum.files_seen,
                    sum.records_parsed,
                    sum.molecules_per_second,
                    sum.records_inserted,
                    sum.records_rejected,
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        let out = work();
        done.store(true, Relaxed);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::record_hash;

    #[test]
    fn line_endings_and_trailing_blanks_do_not_change_the_hash() {
        let unix = record_hash(b"title\n  1  2\nM  END\n> <A>\n1\n\n");
        assert_eq!(
            unix,
            record_hash(b"title\r\n  1  2\r\nM  END\r\n> <A>\r\n1\r\n\r\n")
        );
        assert_eq!(unix, record_hash(b"title  \n  1  2\t\nM  END\n> <A>\n1\n"));
        assert_ne!(unix, record_hash(b"title\n  1  3\nM  END\n> <A>\n1\n"));
        // Blank lines inside a record count.
        assert_ne!(unix, record_hash(b"title\n\n  1  2\nM  END\n> <A>\n1\n"));
    }
}
