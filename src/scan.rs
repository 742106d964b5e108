//! The `scan` sink, and the one record schema: with `--jsonl`, `scan`
//! prints one [`RecordLine`] per record (and per refused file) on stdout.
//! The README's "Record lines" table documents these fields; add a field
//! here and there, nowhere else.

use crate::error::{Error, Reject};
use crate::pipeline::{Event, Outcome, Sink};
use serde::Serialize;
use std::io::Write;

pub struct JsonlSink<W: Write> {
    out: Option<W>,
}

impl<W: Write> JsonlSink<W> {
    /// `None`: parse and count only (what the bench times).
    pub fn new(out: Option<W>) -> Self {
        JsonlSink { out }
    }
}

/// One line of `scan --jsonl`: a record, or a whole file (`record: null`).
#[derive(Debug, Serialize)]
pub struct RecordLine<'a> {
    /// The file, relative to the root the user named.
    pub path: &'a str,
    /// 0-based record index in the file; null for a whole-file line.
    pub record: Option<u64>,
    /// 1-based line the record starts on (decompressed text).
    pub line: Option<u64>,
    /// The format the content was read as.
    pub format: Option<&'a str>,
    pub title: Option<&'a str>,
    /// Hill formula, implicit hydrogens included.
    pub formula: Option<&'a str>,
    /// Average molecular weight, 4 decimals.
    pub mw: Option<f64>,
    /// Net formal charge.
    pub charge: Option<i32>,
    /// blake3 of the normalised record text (hex): record-level dedup key.
    pub hash: Option<String>,
    /// Canonical isomeric SMILES (RDKit's string); null with `identity_error`.
    pub smiles: Option<&'a str>,
    /// blake3 of the canonical SMILES (hex): structure-level dedup key.
    pub structure_key: Option<String>,
    /// Why there is no SMILES (null when there is one, or with `--identity off`).
    pub identity_error: Option<&'a str>,
    /// The data fields, numbers typed (README: "Typed properties").
    pub properties: Option<Box<serde_json::value::RawValue>>,
    /// `ok`, `rejected`, or `skipped` (a whole file left unread on purpose).
    pub status: &'static str,
    /// Why it was rejected or skipped.
    pub error: Option<&'a str>,
}

/// Field names of [`RecordLine`], in output order (for docs and tests).
pub const RECORD_FIELDS: &[&str] = &[
    "path",
    "record",
    "line",
    "format",
    "title",
    "formula",
    "mw",
    "charge",
    "hash",
    "smiles",
    "structure_key",
    "identity_error",
    "properties",
    "status",
    "error",
];

type Line<'a> = RecordLine<'a>;

impl<'a> RecordLine<'a> {
    fn rejected(r: &'a Reject, format: Option<&'a str>) -> Self {
        Line {
            path: &r.path,
            record: r.record,
            line: r.line,
            format,
            title: None,
            formula: None,
            mw: None,
            charge: None,
            hash: None,
            smiles: None,
            structure_key: None,
            identity_error: None,
            properties: None,
            status: if r.skipped { "skipped" } else { "rejected" },
            error: Some(&r.reason),
        }
    }
}

impl<W: Write> Sink for JsonlSink<W> {
    fn event(&mut self, event: Event) -> Result<(), Error> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let write = |out: &mut W, line: &Line| -> Result<(), Error> {
            serde_json::to_writer(&mut *out, line).map_err(|e| match e.io_error_kind() {
                Some(kind) => output_error(std::io::Error::from(kind)),
                None => Error::Pipeline(e.to_string()),
            })?;
            out.write_all(b"\n").map_err(output_error)
        };
        match &event {
            Event::Records(file, outcomes) => {
                let format = Some(file.format.as_str());
                for o in outcomes {
                    let line = match o {
                        Outcome::Molecule(m) => Line {
                            path: &file.job.display,
                            record: Some(m.index),
                            line: Some(m.line),
                            format,
                            title: Some(&m.title),
                            formula: Some(&m.props.formula),
                            mw: Some((m.props.average_mw * 1e4).round() / 1e4),
                            charge: Some(m.props.net_charge),
                            hash: Some(hex(&m.hash)),
                            smiles: m.identity.smiles.as_deref(),
                            structure_key: m.identity.key.as_ref().map(|k| hex(k)),
                            identity_error: m.identity.error.as_deref(),
                            properties: serde_json::value::RawValue::from_string(
                                crate::properties::to_json(&m.fields),
                            )
                            .ok(),
                            status: "ok",
                            error: None,
                        },
                        Outcome::Rejected(r) => Line::rejected(r, format),
                        // `scan` asks for no lookup: none is held.
                        Outcome::Skipped | Outcome::Held(_) => continue,
                    };
                    write(out, &line)?;
                }
            }
            Event::End(file, end) => {
                if let Some(e) = &end.error {
                    let r = Reject::file(file.job.display.clone(), e.clone());
                    write(out, &Line::rejected(&r, Some(file.format.as_str())))?;
                }
            }
            Event::FileRejected(r) => write(out, &Line::rejected(r, None))?,
            Event::Begin(_) => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(output_error)?;
        }
        Ok(())
    }
}

/// A closed pipe means the reader has what it wanted (`| head`): the run
/// stops, and that is not a failure (ripgrep's rule).
fn output_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::OutputClosed
    } else {
        Error::io("stdout", e)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
