//! The read stage: skip unchanged files, hash what the sink needs hashed,
//! decompress, refuse what is not text, confirm the format by content and
//! cut the text into chunks of records for the parse stage.

use super::stats::{RejectLog, Stats};
use super::{FileInfo, Needs, Options, ToParse};
use crate::decode::{self, Compression};
use crate::error::Reject;
use crate::formats::split::Splitter;
#[cfg(feature = "chemfiles")]
use crate::formats::split::{Chunk, Span};
use crate::formats::Format;
use crate::source::FileJob;
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

pub(super) fn read_stage(
    rx: Receiver<FileJob>,
    tx: Sender<ToParse>,
    options: &Options,
    needs: &Needs,
    stats: &Stats,
    rejects: &RejectLog,
) {
    for job in rx {
        if !read_file(job, &tx, options, needs, stats, rejects) {
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
    needs: &Needs,
    stats: &Stats,
    rejects: &RejectLog,
) -> bool {
    let known = needs.known.as_ref();
    if options.cancel.is_set() {
        return false;
    }
    let mut busy = Instant::now();
    let refuse_with = |reason: String, content: Option<[u8; 32]>| {
        let mut r = Reject::file(job.display.clone(), reason);
        r.refused_content = content.map(|h| (h, job.uri.clone()));
        rejects.add(stats, r.clone());
        tx.send(ToParse::FileRejected(r)).is_ok()
    };
    // A failure to read: tried again next time.
    let refuse = |reason: String| refuse_with(reason, None);
    if known.unchanged(&job) {
        Stats::add(&stats.files_unchanged, 1);
        Stats::add(&stats.bytes_skipped, job.size);
        return true;
    }
    let hash = if needs.file_hashes {
        let hashed = job.content_hash();
        if let Ok(h) = &hashed {
            known.located(&job.uri, h);
        }
        match hashed {
            Ok(h) if known.loaded(&h) => {
                Stats::add(&stats.files_unchanged, 1);
                Stats::add(&stats.bytes_skipped, job.size);
                return true;
            }
            Ok(h) => {
                // Known to fail, unchanged: named and counted apart, not news.
                if let Some(why) = known.failed_before(&h) {
                    Stats::add(&stats.files_known_failed, 1);
                    Stats::add(&stats.bytes_skipped, job.size);
                    rejects.notice(format!(
                        "{}: still failing (unchanged since it failed: {why}); not read again (--full reads it)",
                        job.display
                    ));
                    return true;
                }
                Some(h)
            }
            Err(e) => return refuse(format!("cannot read: {e}")),
        }
    } else {
        None
    };
    // The bytes' own fault: known next time while they are unchanged.
    let refuse_content = |reason: String| refuse_with(reason, hash);
    let of_content = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
        )
    };
    let raw = match job.open() {
        Ok(r) => r,
        Err(e) => return refuse(format!("cannot open: {e}")),
    };
    let counted = CountingReader { inner: raw, stats };
    let mut decoded = match decode::decode(counted) {
        Ok(d) => d,
        Err(e) if of_content(&e) => return refuse_content(format!("cannot read: {e}")),
        Err(e) => return refuse(format!("cannot read: {e}")),
    };
    let head = match decode::peek(&mut decoded.reader, 8192) {
        Ok(h) => h,
        Err(e) if of_content(&e) => return refuse_content(format!("cannot decode: {e}")),
        Err(e) => return refuse(format!("cannot decode: {e}")),
    };
    if head.is_empty() {
        return refuse_content("empty file: no records".to_owned());
    }
    if let Some(why) = decode::refuse_binary(&head) {
        return refuse_content(why.to_owned());
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
        // Named as a format with a signature it lacks, but SMILES lines.
        None if matches!(job.format, Format::Mol2 | Format::Sdf) && Format::is_smiles(&head) => {
            rejects.notice(format!(
                "{}: named as {} but holds SMILES lines; read as smiles",
                job.display,
                job.format.as_str()
            ));
            Format::Smiles
        }
        None => job.format,
    };
    if format == Format::Smiles && is_csv(&job.display) && !csv_with_smiles_header(&head) {
        return refuse_content(
            "CSV file without a SMILES column header: not a molecule file".to_owned(),
        );
    }
    Stats::add(&stats.files_read, 1);
    let file = Arc::new(FileInfo {
        job,
        hash,
        compression: decoded.compression,
        format,
    });
    if tx.send(ToParse::Begin(file.clone())).is_err() {
        return false;
    }
    #[cfg(feature = "chemfiles")]
    if let Format::Other(kind) = format {
        return read_with_chemfiles(&file, decoded.reader, kind, tx, stats, rejects);
    }
    // A file an earlier run left part-committed: go on after its last
    // committed record. A plain local file is read from that byte on; any
    // other (compressed streams cannot seek) is read from its start, but
    // the committed records are not parsed again.
    let progress = file.hash.and_then(|h| known.progress(&h));
    let mut skip_below = 0;
    let mut splitter = match progress {
        Some(p) if file.compression == Compression::None && p.resumable(format) => {
            match seek_local(&file.job, p.offset + decoded.skipped) {
                Some(reader) => {
                    Stats::add(&stats.bytes_skipped, p.offset);
                    Stats::add(&stats.records_resumed, p.records);
                    drop(decoded);
                    Splitter::new(reader, format.rules()).resume_at(p.offset, p.records, p.line)
                }
                None => {
                    skip_below = p.records;
                    Splitter::new(decoded.reader, format.rules())
                }
            }
        }
        Some(p) => {
            skip_below = p.records;
            Splitter::new(decoded.reader, format.rules())
        }
        None => Splitter::new(decoded.reader, format.rules()),
    }
    .with_chunk_size(options.chunk_bytes, options.chunk_records);
    let mut error = None;
    loop {
        if options.cancel.is_set() {
            // Not ended: the file stays incomplete and is read again.
            return false;
        }
        match splitter.next_chunk() {
            Ok(Some(mut chunk)) => {
                Stats::add(&stats.bytes_decoded, chunk.data.len() as u64);
                if skip_below > 0 {
                    let before = chunk.spans.len();
                    chunk.spans.retain(|s| s.index >= skip_below);
                    Stats::add(&stats.records_resumed, (before - chunk.spans.len()) as u64);
                    if chunk.spans.is_empty() {
                        continue;
                    }
                }
                Stats::add_time(&stats.busy_read_ns, busy.elapsed());
                if tx.send(ToParse::Chunk(file.clone(), chunk, None)).is_err() {
                    return false;
                }
                busy = Instant::now();
            }
            Ok(None) => {
                // No silent zero: a file without a single record is named.
                if splitter.records_seen() == 0 {
                    let reason = no_records(format);
                    rejects.add(
                        stats,
                        Reject::file(file.job.display.clone(), reason.clone()),
                    );
                    error = Some((reason, true));
                }
                break;
            }
            Err(e) => {
                let reason = format!("stream broken after line {}: {e}", splitter.lines_read());
                rejects.add(
                    stats,
                    Reject::file(file.job.display.clone(), reason.clone()),
                );
                // Corrupt or cut data, as opposed to a failing read.
                let lasting = matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                );
                error = Some((reason, lasting));
                break;
            }
        }
    }
    Stats::add_time(&stats.busy_read_ns, busy.elapsed());
    tx.send(ToParse::End(file, error)).is_ok()
}

/// Why a file that holds no record of its format is refused.
fn no_records(format: Format) -> String {
    let what = match format {
        Format::Sdf => "no SDF record (only blank lines or $$$$)",
        Format::Mol2 => "no @<TRIPOS>MOLECULE section: no MOL2 record",
        Format::Pdb | Format::Pdbqt => "no ATOM or HETATM record",
        Format::Smiles => "no SMILES line (only blank lines)",
        Format::Other(_) => "no record",
    };
    format!("no records: {what}")
}

/// A local file opened at `offset` (for resuming), counted like any read.
fn seek_local(job: &FileJob, offset: u64) -> Option<Box<dyn std::io::BufRead + Send>> {
    use std::io::{Seek, SeekFrom};
    let crate::source::Origin::Local(path) = &job.origin else {
        return None;
    };
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    Some(decode::line_ends(Box::new(
        std::io::BufReader::with_capacity(1 << 20, f),
    )))
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
                        text_line: 1,
                        error,
                        // Frames are not resumable: the whole file is read.
                        end_offset: 0,
                        next_line: 1,
                    });
                }
                if tx.send(ToParse::Chunk(file.clone(), chunk, None)).is_err() {
                    return false;
                }
            }
            Err(e) => error = Some(e),
        }
    }
    if let Some(e) = &error {
        rejects.add(stats, Reject::file(file.job.display.clone(), e.clone()));
    }
    // A library's complaint: not known to be the bytes' own.
    tx.send(ToParse::End(file.clone(), error.map(|e| (e, false))))
        .is_ok()
}

fn is_csv(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.zstd"]
        .iter()
        .any(|e| lower.ends_with(e))
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
