//! The `scan` sink: the pipeline without the database. With `--jsonl` it
//! prints one JSON line per record (and per refused file) on stdout.

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

#[derive(Serialize)]
struct Line<'a> {
    path: &'a str,
    record: Option<u64>,
    line: Option<u64>,
    format: Option<&'a str>,
    title: Option<&'a str>,
    formula: Option<&'a str>,
    mw: Option<f64>,
    charge: Option<i32>,
    hash: Option<String>,
    status: &'static str,
    error: Option<&'a str>,
}

impl<'a> Line<'a> {
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
            status: "rejected",
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
            serde_json::to_writer(&mut *out, line).map_err(|e| Error::Pipeline(e.to_string()))?;
            out.write_all(b"\n").map_err(|e| Error::io("stdout", e))
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
                            status: "ok",
                            error: None,
                        },
                        Outcome::Rejected(r) => Line::rejected(r, format),
                        Outcome::Skipped => continue,
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
            out.flush().map_err(|e| Error::io("stdout", e))?;
        }
        Ok(())
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
