//! Formats beyond the five native ones, read with chemfiles (cargo feature
//! `chemfiles`; without it these files are not recognised).
//!
//! chemfiles cannot carry the hot path (no implicit hydrogens, global locks,
//! panics on non-UTF-8 text, a whole file lost to one bad record), so it is
//! used only to turn such a file into *frame records*: a small canonical text
//! per frame (title, counts, then the atomic number and position of each
//! atom, then each bond), which the ordinary parse stage reads with [`parse`]
//! like any other record: hashed, deduplicated, loaded. Atoms are as written.

use super::{bond_error, decimal, lines, text, Parsed};
use crate::chem::{Atom, BondOrder, BondStereo, HydrogenRule};
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

/// Write one frame record: `title`, `<atoms> <bonds> <format>`, one
/// `Z x y z` line per atom (positions to 1e-4 Å: they tell conformers apart),
/// then one `i j order` line per bond (0-based atoms; order `S`, `D`, `T`,
/// `Q`, `A`romatic or `?`).
pub fn write_frame(
    out: &mut Vec<u8>,
    title: &str,
    format: Kind,
    atoms: &[(u64, [f64; 3])],
    bonds: &[(usize, usize, BondOrder)],
) {
    use std::io::Write;
    let title: String = title.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "{} {} {}",
        atoms.len(),
        bonds.len(),
        format.chemfiles_name()
    );
    for (z, p) in atoms {
        let _ = writeln!(out, "{z} {:.4} {:.4} {:.4}", p[0], p[1], p[2]);
    }
    for &(i, j, order) in bonds {
        let o = match order {
            BondOrder::Single => 'S',
            BondOrder::Double => 'D',
            BondOrder::Triple => 'T',
            BondOrder::Quadruple => 'Q',
            BondOrder::Aromatic => 'A',
            BondOrder::Any | BondOrder::Zero | BondOrder::Dative => '?',
        };
        let _ = writeln!(out, "{i} {j} {o}");
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
    let n_bonds: usize = c.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let format = c.next().unwrap_or("").to_owned();
    let mut out = Parsed {
        title: text(title).trim().to_owned(),
        fields: vec![("chemfiles_format".to_owned(), format)],
        ..Parsed::default()
    };
    // Counts may lie: reserve only what the record's lines can hold.
    out.mol.atoms.reserve(n.min(record.len() / 8));
    out.mol.bonds.reserve(n_bonds.min(record.len() / 6));
    for _ in 0..n {
        let Some((no, line)) = it.next() else { break };
        let mut f = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let z: u8 = f
            .next()
            .and_then(|z| std::str::from_utf8(z).ok()?.parse().ok())
            .filter(|z| *z <= 118)
            .ok_or_else(|| ParseError::new(no, "frame atom unreadable"))?;
        let (x, y, zc) = (f.next(), f.next(), f.next());
        let coords = (|| Some([decimal(x?)?, decimal(y?)?, decimal(zc?)?]))();
        out.mol.atoms.push(Atom {
            z,
            implicit_h: HydrogenRule::AsWritten,
            coords,
            ..Atom::default()
        });
    }
    if out.mol.atoms.len() != n {
        return Err(ParseError::new(
            first_line,
            "frame shorter than its atom count",
        ));
    }
    for _ in 0..n_bonds {
        let (no, line) = it
            .next()
            .ok_or_else(|| ParseError::new(first_line, "frame shorter than its bond count"))?;
        let t = text(line);
        let mut f = t.split_whitespace();
        let unreadable = || ParseError::new(no, "frame bond unreadable");
        let i: usize = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(unreadable)?;
        let j: usize = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(unreadable)?;
        let order = match f.next() {
            Some("S") => BondOrder::Single,
            Some("D") => BondOrder::Double,
            Some("T") => BondOrder::Triple,
            Some("Q") => BondOrder::Quadruple,
            Some("A") => BondOrder::Aromatic,
            Some("?") => BondOrder::Any,
            _ => return Err(unreadable()),
        };
        out.mol
            .add_bond(i, j, order, BondStereo::None)
            .map_err(|e| bond_error(no, e))?;
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
                    let topology = frame.topology();
                    let bonds: Vec<(usize, usize, BondOrder)> = topology
                        .bonds()
                        .into_iter()
                        .zip(topology.bond_orders())
                        .map(|([i, j], o)| {
                            use chemfiles::BondOrder as C;
                            let o = match o {
                                C::Single | C::Amide => BondOrder::Single,
                                C::Double => BondOrder::Double,
                                C::Triple => BondOrder::Triple,
                                C::Quadruple => BondOrder::Quadruple,
                                C::Aromatic => BondOrder::Aromatic,
                                _ => BondOrder::Any,
                            };
                            (i, j, o)
                        })
                        .collect();
                    let mut out = Vec::new();
                    write_frame(&mut out, &format!("{name}#{step}"), kind, &atoms, &bonds);
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
            &[(8, [0.0; 3]), (1, [1.0, 0.0, 0.0]), (1, [0.0, 1.0, 0.0])],
            &[(0, 1, BondOrder::Single), (0, 2, BondOrder::Single)],
        );
        let p = parse(&out, 1).unwrap();
        assert_eq!(p.title, "water");
        let props = chem::properties(&p.mol);
        assert_eq!((props.formula.as_str(), props.bond_count), ("H2O", 2));
        assert_eq!(p.mol.atoms[1].coords, Some([1.0, 0.0, 0.0]));
        assert_eq!((p.mol.bonds[1].a, p.mol.bonds[1].b), (0, 2));
        assert!(parse(b"x\n5 0 XYZ\n8 0 0 0\n", 1).is_err());
        assert!(parse(b"x\n1 1 XYZ\n8 0 0 0\n", 1).is_err());
        assert!(parse(b"x\n1 1 XYZ\n8 0 0 0\n0 5 S\n", 1).is_err());
    }
}
