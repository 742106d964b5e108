//! Format readers. Each format has two halves:
//! - a *splitter* rule that cuts a text stream into records line by line
//!   (sequential, streaming, bounded memory: see [`split`]);
//! - a *parser* that turns one record's bytes into atoms, bonds and data
//!   fields (pure, runs in parallel).
//!
//! The format comes from the file name and is confirmed by the content
//! ([`Format::sniff`]); content wins.

pub mod mol2;
pub mod other;
pub mod pdb;
pub mod sdf;
pub mod smiles;
pub mod split;

use crate::chem::{BondError, Molecule};
use crate::error::ParseError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Sdf,
    Mol2,
    Pdb,
    Pdbqt,
    Smiles,
    /// Read with chemfiles (feature `chemfiles`), as frame records.
    Other(other::Kind),
}

impl Format {
    /// The format a file name promises, ignoring a trailing compression
    /// suffix (`.gz`, `.bz2`, `.zst`; the content's magic bytes decide how it
    /// is decoded).
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let stem = [".gz", ".bz2", ".zst", ".zstd"]
            .iter()
            .find_map(|z| lower.strip_suffix(z))
            .unwrap_or(&lower);
        let ext = stem.rsplit_once('.').map(|(_, e)| e)?;
        Some(match ext {
            "sdf" | "sd" | "mol" => Format::Sdf,
            "mol2" | "ml2" => Format::Mol2,
            "pdb" | "ent" => Format::Pdb,
            "pdbqt" => Format::Pdbqt,
            "smi" | "smiles" | "ism" | "can" | "csv" => Format::Smiles,
            e if cfg!(feature = "chemfiles") => Format::Other(other::Kind::from_extension(e)?),
            _ => return None,
        })
    }

    /// What the first bytes of the (decoded) content say it is, when they
    /// say it clearly. SMILES has no signature: `None` keeps the name's word.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        let has = |s: &[u8]| memchr::memmem::find(head, s).is_some();
        if has(b"@<TRIPOS>MOLECULE") {
            return Some(Format::Mol2);
        }
        if has(b"\nM  END") || has(b"V2000") || has(b"V3000") {
            return Some(Format::Sdf);
        }
        let mut atoms = head
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"ATOM  ") || l.starts_with(b"HETATM"))
            .peekable();
        atoms.peek()?;
        // PDBQT puts a partial charge in columns 71-76, where PDB has blanks.
        let pdbqt = atoms.take(20).any(|l| {
            l.get(70..76)
                .and_then(|c| std::str::from_utf8(c).ok())
                .is_some_and(|c| c.contains('.') && c.trim().parse::<f64>().is_ok())
        }) || has(b"\nTORSDOF")
            || has(b"\nROOT")
            || has(b"REMARK VINA");
        Some(if pdbqt { Format::Pdbqt } else { Format::Pdb })
    }

    /// Whether a head with no format signature holds SMILES lines: every
    /// whole non-blank, non-comment line among the first 20 starts with a
    /// SMILES the reader takes (the header `SMILES` aside), and one does.
    pub fn is_smiles(head: &[u8]) -> bool {
        // The last line may be cut where the head ends: only whole lines.
        let whole = match memchr::memrchr(b'\n', head) {
            Some(i) => &head[..i],
            None => head,
        };
        let mut found = false;
        for line in whole.split(|&b| b == b'\n').take(20) {
            match smiles::parse(line, 1) {
                Ok(Some(_)) => found = true,
                Ok(None) => {}
                Err(_) => return false,
            }
        }
        found
    }

    /// The `molecule_format` enum value in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sdf => "sdf",
            Format::Mol2 => "mol2",
            Format::Pdb => "pdb",
            Format::Pdbqt => "pdbqt",
            Format::Smiles => "smiles",
            Format::Other(k) => k.as_str(),
        }
    }

    /// The `molecule_format` value in the database: none for formats beyond
    /// the design's five (their name goes to the record's properties).
    pub fn db_value(self) -> Option<&'static str> {
        match self {
            Format::Other(_) => None,
            f => Some(f.as_str()),
        }
    }

    /// The splitter rules of the format.
    pub fn rules(self) -> split::Rules {
        match self {
            Format::Sdf => split::Rules::Sdf,
            Format::Mol2 => split::Rules::Mol2,
            Format::Pdb | Format::Pdbqt => split::Rules::Pdb,
            Format::Smiles | Format::Other(_) => split::Rules::Lines,
        }
    }

    /// Parse one record. `line` is the 1-based line the record starts on.
    /// `Ok(None)`: not a molecule (a comment or header line).
    pub fn parse(self, text: &[u8], line: u64) -> Result<Option<Parsed>, ParseError> {
        match self {
            Format::Sdf => sdf::parse(text, line).map(Some),
            Format::Mol2 => mol2::parse(text, line).map(Some),
            Format::Pdb => pdb::parse(text, line, pdb::Flavour::Pdb).map(Some),
            Format::Pdbqt => pdb::parse(text, line, pdb::Flavour::Pdbqt).map(Some),
            Format::Smiles => smiles::parse(text, line),
            Format::Other(_) => other::parse(text, line).map(Some),
        }
    }
}

/// Split and parse a whole in-memory text the way the pipeline reads a file
/// (minus the threads): every record's result, in order. The fuzz targets
/// drive the readers through this.
pub fn parse_all(format: Format, data: &[u8]) -> Vec<Result<Option<Parsed>, ParseError>> {
    let mut splitter = split::Splitter::new(data, format.rules());
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = splitter.next_chunk() {
        for span in &chunk.spans {
            out.push(match &span.error {
                Some(e) => Err(ParseError::new(span.line, e.clone())),
                None => format.parse(chunk.record(span), span.text_line),
            });
        }
    }
    out
}

/// What a reader found in one record, before any chemistry.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub title: String,
    /// Atoms and bonds; lives for one record.
    pub mol: Molecule,
    /// Data fields in file order (SDF `> <NAME>` items, …).
    pub fields: Vec<(String, String)>,
    pub smiles: Option<String>,
}

/// A bond the graph refused, as the reader reports it.
pub(crate) fn bond_error(line: u64, e: BondError) -> ParseError {
    ParseError::new(line, e.to_string())
}

/// A decimal number field (`-12.3456`, blank-padded) as f64. The common
/// plain form is read by hand (per-atom coordinates are the hot path):
/// up to 15 digits and a division by an exact power of ten give the correctly
/// rounded value. Anything else goes to the standard parser.
#[inline]
pub(crate) fn decimal(field: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let n = field.len();
    let mut i = 0;
    while i < n && field[i] == b' ' {
        i += 1;
    }
    let negative = i < n && field[i] == b'-';
    if i < n && (field[i] == b'-' || field[i] == b'+') {
        i += 1;
    }
    let (mut mantissa, mut digits, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    while i < n {
        let c = field[i];
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            digits += 1;
            frac += usize::from(dot);
        } else if c == b'.' && !dot {
            dot = true;
        } else {
            break;
        }
        i += 1;
    }
    while i < n && field[i].is_ascii_whitespace() {
        i += 1;
    }
    // More than 15 digits could wrap the mantissa: those take the slow path.
    if i != n || digits == 0 || digits > 15 {
        return decimal_slow(field);
    }
    let v = mantissa as f64 / POW10[frac];
    Some(if negative { -v } else { v })
}

#[cold]
#[inline(never)]
fn decimal_slow(field: &[u8]) -> Option<f64> {
    std::str::from_utf8(field.trim_ascii())
        .ok()?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
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

/// Input quoted in an error message: at most 60 characters of it.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let t = text(&bytes[..bytes.len().min(256)]);
    match t.char_indices().nth(60) {
        Some((i, _)) => format!("{:?}…", &t[..i]),
        None => format!("{t:?}"),
    }
}

/// Lines of a record with their 1-based line numbers, CR stripped.
pub(crate) fn lines(text: &[u8], first_line: u64) -> Lines<'_> {
    Lines {
        rest: text.strip_suffix(b"\n").unwrap_or(text),
        done: false,
        next_no: first_line,
    }
}

/// The iterator behind [`lines`]: memchr over the record, no allocation.
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    done: bool,
    next_no: u64,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let line = match memchr::memchr(b'\n', self.rest) {
            Some(i) => {
                let l = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                l
            }
            None => {
                self.done = true;
                self.rest
            }
        };
        let no = self.next_no;
        self.next_no += 1;
        Some((no, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_content() {
        assert_eq!(Format::from_name("a/b/x.SDF.gz"), Some(Format::Sdf));
        assert_eq!(Format::from_name("x.pdbqt"), Some(Format::Pdbqt));
        assert_eq!(Format::from_name("x.sdf.bz2"), Some(Format::Sdf));
        assert_eq!(Format::from_name("x.SMI.zst"), Some(Format::Smiles));
        assert_eq!(Format::from_name("x.mol2.zstd"), Some(Format::Mol2));
        assert_eq!(Format::from_name("x.bz2"), None);
        assert_eq!(Format::from_name("x.smi"), Some(Format::Smiles));
        assert_eq!(Format::from_name("README.md"), None);
        assert_eq!(
            Format::sniff(b"@<TRIPOS>MOLECULE\nbenzene\n"),
            Some(Format::Mol2)
        );
        assert_eq!(
            Format::sniff(b"x\n\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n"),
            Some(Format::Sdf)
        );
        let pdb =
            b"ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\n";
        assert_eq!(Format::sniff(pdb), Some(Format::Pdb));
        let qt =
            b"ATOM      1  C   LIG A   1      11.104   6.134  -6.504  1.00  0.00     0.123 A \n";
        assert_eq!(Format::sniff(qt), Some(Format::Pdbqt));
        assert_eq!(Format::sniff(b"CCO ethanol\n"), None);
        assert!(Format::is_smiles(
            b"SMILES name\nCCO ethanol\nc1ccccc1 benzene\n"
        ));
        assert!(!Format::is_smiles(b"\n  \n"));
        assert!(!Format::is_smiles(b"@<TRIPOS>SUBSTRUCTURE\n1 LIG 1\n"));
        assert!(!Format::is_smiles(b"hello world\n"));
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal(b"   -1.2345"), Some(-1.2345));
        assert_eq!(decimal(b"11.104"), Some(11.104));
        assert_eq!(decimal(b"+7"), Some(7.0));
        assert_eq!(decimal(b"1e3"), Some(1000.0));
        assert_eq!(decimal(b"12345678901234567.5"), Some(12345678901234567.5));
        assert_eq!(decimal(b"   "), None);
        assert_eq!(decimal(b"-"), None);
        assert_eq!(decimal(b"1.2.3"), None);
        assert_eq!(decimal(b"inf"), None);
        assert_eq!(decimal(b"x"), None);
    }
}
