//! Format readers. Each format has two halves:
//! - a *splitter* rule that cuts a text stream into records line by line
//!   (sequential, streaming, bounded memory: see [`split`]);
//! - a *parser* that turns one record's bytes into atoms, bonds and data
//!   fields (pure, runs in parallel).

pub mod sdf;
pub mod split;

use crate::chem::Atom;
use crate::error::ParseError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Sdf,
}

impl Format {
    /// The format a file name promises, ignoring a trailing `.gz`.
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
        let ext = stem.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "sdf" | "sd" | "mol" => Some(Format::Sdf),
            _ => None,
        }
    }

    /// The `molecule_format` enum value in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sdf => "sdf",
        }
    }

    pub(crate) fn rules(self) -> split::Rules {
        match self {
            Format::Sdf => split::Rules::Sdf,
        }
    }

    /// Parse one record. `line` is the 1-based line the record starts on.
    pub fn parse(self, text: &[u8], line: u64) -> Result<Parsed, ParseError> {
        match self {
            Format::Sdf => sdf::parse(text, line),
        }
    }
}

/// What a reader found in one record, before any chemistry.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub title: String,
    pub atoms: Vec<Atom>,
    pub bond_count: u32,
    /// Data fields in file order (SDF `> <NAME>` items, …).
    pub fields: Vec<(String, String)>,
    pub smiles: Option<String>,
}

/// Decode text lossily: invalid UTF-8 becomes U+FFFD and NUL bytes are
/// dropped (PostgreSQL text cannot hold NUL). Never panics.
pub fn text(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim_end_matches(['\r', '\n']);
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_owned()
    }
}

/// Lines of a record with their 1-based line numbers, CR stripped.
pub(crate) fn lines(text: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(move |(i, l)| (first_line + i as u64, l.strip_suffix(b"\r").unwrap_or(l)))
}
