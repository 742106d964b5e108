//! Formats beyond the five native ones, read with chemfiles (cargo feature
//! `chemfiles`; without it these files are not recognised).
//!
//! chemfiles cannot carry the hot path (no implicit hydrogens, global locks,
//! panics on non-UTF-8 text, a whole file lost to one bad record), so it is
//! used only to turn such a file into *frame records*: a small canonical text
//! per frame (title, counts, then the atomic number and position of each
//! atom), which the ordinary parse stage reads with [`parse`] like any other
//! record: hashed, deduplicated, loaded. Atoms are as written.

use super::{lines, text, Parsed};
use crate::chem::{Atom, HydrogenRule};
use crate::error::ParseError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Xyz,
    MmCif,
    Cif,
    Gro,
    Cml,
    Molden,
}

impl Kind {
    pub fn from_extension(ext: &str) -> Option<Kind> {
        Some(match ext {
            "xyz" => Kind::Xyz,
            "mmcif" => Kind::MmCif,
            "cif" => Kind::Cif,
            "gro" => Kind::Gro,
            "cml" => Kind::Cml,
            "molden" => Kind::Molden,
            _ => return None,
        })
    }

    /// chemfiles' name of the format.
    pub fn chemfiles_name(self) -> &'static str {
        match self {
            Kind::Xyz => "XYZ",
            Kind::MmCif => "mmCIF",
            Kind::Cif => "CIF",
            Kind::Gro => "GRO",
            Kind::Cml => "CML",
            Kind::Molden => "Molden",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Xyz => "xyz",
            Kind::MmCif => "mmcif",
            Kind::Cif => "cif",
            Kind::Gro => "gro",
            Kind::Cml => "cml",
            Kind::Molden => "molden",
        }
    }
}

/// Write one frame record: `title`, `<atoms> <bonds> <format>`, then one
/// `Z x y z` line per atom (positions to 1e-4 Å: they tell conformers apart).
pub fn write_frame(
    out: &mut Vec<u8>,
    title: &str,
    format: Kind,
    bonds: u64,
    atoms: &[(u64, [f64; 3])],
) {
    use std::io::Write;
    let title: String = title.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "{} {} {}", atoms.len(), bonds, format.chemfiles_name());
    for (z, p) in atoms {
        let _ = writeln!(out, "{z} {:.4} {:.4} {:.4}", p[0], p[1], p[2]);
    }
}

/// Read a frame record back.
pub fn parse(record: &[u8], first_line: u64) -> Result<Parsed, ParseError> {
    let mut it = lines(record, first_line);
    let (_, title) = it
        .next()
        .ok_or_else(|| ParseError::new(first_line, "empty frame"))?;
    let (no, counts) = it
        .next()
        .ok_or_else(|| ParseError::new(first_line, "frame without counts"))?;
    let counts = text(counts);
    let mut c = counts.split_whitespace();
    let bad = || ParseError::new(no, "frame counts unreadable");
    let n: usize = c.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let bonds: u32 = c.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let format = c.next().unwrap_or("").to_owned();
    let mut out = Parsed {
        title: text(title).trim().to_owned(),
        bond_count: bonds,
        fields: vec![("chemfiles_format".to_owned(), format)],
        ..Parsed::default()
    };
    for (no, line) in it.take(n) {
        let z: u8 = text(line)
            .split_whitespace()
            .next()
            .and_then(|z| z.parse().ok())
            .filter(|z| *z <= 118)
            .ok_or_else(|| ParseError::new(no, "frame atom unreadable"))?;
        out.atoms.push(Atom {
            z,
            implicit_h: HydrogenRule::AsWritten,
            ..Atom::default()
        });
    }
    if out.atoms.len() != n {
        return Err(ParseError::new(
            first_line,
            "frame shorter than its atom count",
        ));
    }
    Ok(out)
}

/// Read a whole file with chemfiles into frame records. Errors of single
/// frames are returned in place; a panic anywhere in chemfiles fails the
/// file, nothing else.
#[cfg(feature = "chemfiles")]
pub fn frames(data: &[u8], kind: Kind, name: &str) -> Result<Vec<Result<Vec<u8>, String>>, String> {
    static WARNINGS: std::sync::Once = std::sync::Once::new();
    // One callback, set once: chemfiles warnings go to our log, not stdout.
    WARNINGS
        .call_once(|| chemfiles::set_warning_callback(|message| eprintln!("chemfiles: {message}")));
    // The Rust binding panics on non-UTF-8 text: refuse it before handing over.
    std::str::from_utf8(data)
        .map_err(|e| format!("not UTF-8 text ({e}); chemfiles formats must be"))?;
    std::panic::catch_unwind(|| {
        let mut trajectory = chemfiles::MemoryTrajectoryReader::new(data, kind.chemfiles_name())
            .map_err(|e| format!("chemfiles cannot open it: {e}"))?;
        let steps = trajectory.nsteps();
        let mut frames = Vec::with_capacity(steps);
        let mut frame = chemfiles::Frame::new();
        for step in 0..steps {
            frames.push(match trajectory.read_step(step, &mut frame) {
                Ok(()) => {
                    let positions = frame.positions();
                    let atoms: Vec<(u64, [f64; 3])> = (0..frame.size())
                        .map(|i| (frame.atom(i).atomic_number(), positions[i]))
                        .collect();
                    let bonds = frame.topology().bonds_count() as u64;
                    let mut out = Vec::new();
                    write_frame(&mut out, &format!("{name}#{step}"), kind, bonds, &atoms);
                    Ok(out)
                }
                Err(e) => Err(format!("chemfiles: {e}")),
            });
        }
        Ok(frames)
    })
    .map_err(|_| "chemfiles panicked reading this file".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chem;

    #[test]
    fn frame_records_round_trip() {
        let mut out = Vec::new();
        write_frame(
            &mut out,
            "water",
            Kind::Xyz,
            2,
            &[(8, [0.0; 3]), (1, [1.0, 0.0, 0.0]), (1, [0.0, 1.0, 0.0])],
        );
        let p = parse(&out, 1).unwrap();
        assert_eq!(p.title, "water");
        assert_eq!(chem::properties(&p.atoms, p.bond_count).formula, "H2O");
        assert!(parse(b"x\n5 0 XYZ\n8 0 0 0\n", 1).is_err());
    }
}
