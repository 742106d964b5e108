//! Tripos MOL2 reader: one molecule per `@<TRIPOS>MOLECULE` section.
//! Atoms are taken as written (MOL2 writes its hydrogens; none are added).
//! The element comes from the SYBYL type (`C.ar`, `N.4`, `Cl`, `BR`, GAFF's
//! lowercase `ca`, `hn`, …) and formal charges are derived from the types and
//! bonds as RDKit does: `N.4` +1, `C.cat` +1, one negative charge on all but
//! one `O.co2` of a carboxylate/phosphate group, ions by their valence.
//! Atoms keep their coordinates and `.ar` as the aromatic flag; bonds their
//! type (`ar` aromatic, `am` single, `du`/`un` any, `nc` zero). An atom whose
//! derived charge would not fit (hundreds of bonds) rejects the record.

use super::{bond_error, decimal, excerpt, lines, text, Parsed};
use crate::chem::{elements, Atom, BondOrder, BondStereo, HydrogenRule, Molecule};
use crate::error::ParseError;

#[derive(PartialEq, Clone, Copy)]
enum Section {
    Molecule,
    Atom,
    Bond,
    Other,
}

pub fn parse(record: &[u8], first_line: u64) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    let mut section = Section::Other;
    let mut header_line = 0usize;
    let mut declared_atoms: Option<(usize, u64)> = None;
    // Per atom: the type as far as the charge rules care, and its line.
    let mut types: Vec<(Special, u64)> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (no, line) in lines(record, first_line) {
        if line.starts_with(b"@<TRIPOS>") {
            section = match &line[9..] {
                l if l.starts_with(b"MOLECULE") => Section::Molecule,
                l if l.starts_with(b"ATOM") => Section::Atom,
                l if l.starts_with(b"BOND") => Section::Bond,
                _ => Section::Other,
            };
            header_line = 0;
            continue;
        }
        let t = text(line);
        let t = t.trim();
        match section {
            Section::Molecule => {
                header_line += 1;
                match header_line {
                    1 => out.title = t.to_owned(),
                    2 => {
                        let first = t.split_whitespace().next().unwrap_or_default();
                        match first.parse::<usize>() {
                            Ok(n) => {
                                declared_atoms = Some((n, no));
                                out.mol.atoms.reserve(n.min(record.len() / 12));
                            }
                            // Digits that do not fit are a count we cannot check.
                            Err(_)
                                if first.bytes().all(|b| b.is_ascii_digit())
                                    && !first.is_empty() =>
                            {
                                return Err(ParseError::new(
                                    no,
                                    format!("atom count {first} out of range"),
                                ));
                            }
                            Err(_) => {}
                        }
                    }
                    _ => {}
                }
            }
            Section::Atom if !t.is_empty() => {
                let f: Vec<&str> = t.split_whitespace().collect();
                if f.len() < 6 {
                    return Err(ParseError::new(
                        no,
                        format!("atom line has {} fields, needs 6", f.len()),
                    ));
                }
                let z = element_of_type(f[5]).ok_or_else(|| {
                    ParseError::new(
                        no,
                        format!("unknown atom type {}", excerpt(f[5].as_bytes())),
                    )
                })?;
                ids.insert(f[0].to_owned(), out.mol.atoms.len());
                let coords = (|| {
                    Some([
                        decimal(f[2].as_bytes())?,
                        decimal(f[3].as_bytes())?,
                        decimal(f[4].as_bytes())?,
                    ])
                })();
                out.mol.atoms.push(Atom {
                    z,
                    implicit_h: HydrogenRule::AsWritten,
                    aromatic: f[5].ends_with(".ar"),
                    coords,
                    ..Atom::default()
                });
                types.push((Special::of(f[5]), no));
            }
            Section::Bond if !t.is_empty() => {
                let f: Vec<&str> = t.split_whitespace().collect();
                if f.len() < 4 {
                    return Err(ParseError::new(
                        no,
                        format!("bond line has {} fields, needs 4", f.len()),
                    ));
                }
                let atom = |id: &str| {
                    ids.get(id).copied().ok_or_else(|| {
                        ParseError::new(
                            no,
                            format!("bond to atom {id}, which the record does not have"),
                        )
                    })
                };
                let (a, b) = (atom(f[1])?, atom(f[2])?);
                let order = match f[3] {
                    "1" | "am" => BondOrder::Single,
                    "2" => BondOrder::Double,
                    "3" => BondOrder::Triple,
                    "ar" => BondOrder::Aromatic,
                    "du" | "un" => BondOrder::Any,
                    "nc" => BondOrder::Zero,
                    other => {
                        return Err(ParseError::new(no, format!("unknown bond type {other:?}")))
                    }
                };
                out.mol
                    .add_bond(a, b, order, BondStereo::None)
                    .map_err(|e| bond_error(no, e))?;
            }
            _ => {}
        }
    }
    if let Some((n, no)) = declared_atoms {
        if n != out.mol.atoms.len() {
            return Err(ParseError::new(
                no,
                format!(
                    "the header declares {n} atoms, the ATOM section has {}",
                    out.mol.atoms.len()
                ),
            ));
        }
    }
    assign_charges(&mut out.mol, &types)?;
    Ok(out)
}

/// The atom types the charge rules single out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    /// Carboxylate / phosphate oxygen.
    OCo2,
    /// Ammonium N and carbocation C: +1.
    Cation,
    Other,
}

impl Special {
    fn of(ty: &str) -> Special {
        match ty {
            "O.co2" => Special::OCo2,
            "N.4" | "C.cat" => Special::Cation,
            _ => Special::Other,
        }
    }
}

/// Element of a SYBYL (or GAFF) atom type.
pub fn element_of_type(ty: &str) -> Option<elements::Z> {
    let base = ty.split('.').next().unwrap_or(ty);
    match base {
        "Du" | "Any" | "Hal" | "Het" | "Hev" | "LP" | "Lp" => return Some(elements::DUMMY),
        "D" => return Some(elements::H),
        _ => {}
    }
    if base.is_empty() {
        return None;
    }
    // GAFF types are lowercase: `ca` is aromatic carbon, not calcium.
    if base
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        if base.starts_with("cl") {
            return Some(17);
        }
        if base.starts_with("br") {
            return Some(35);
        }
        return elements::by_symbol_any_case(&base[..1]);
    }
    elements::by_symbol(base).or_else(|| elements::by_symbol_any_case(base))
}

fn assign_charges(mol: &mut Molecule, types: &[(Special, u64)]) -> Result<(), ParseError> {
    let atoms = &mut mol.atoms;
    let mut degree = vec![0u32; atoms.len()];
    for bond in &mol.bonds {
        degree[bond.a as usize] += 1;
        degree[bond.b as usize] += 1;
    }
    // Carboxylate / phosphate: k terminal O.co2 on one centre carry k-1
    // negative charges (all but the first, in bond order).
    let mut first_taken = vec![false; atoms.len()];
    for bond in &mol.bonds {
        let (a, b) = (bond.a as usize, bond.b as usize);
        for (centre, o) in [(a, b), (b, a)] {
            if types[o].0 == Special::OCo2 && degree[o] == 1 {
                if first_taken[centre] {
                    atoms[o].charge = -1;
                }
                first_taken[centre] = true;
            }
        }
    }
    for (i, a) in atoms.iter_mut().enumerate() {
        let (ty, line) = types[i];
        if ty == Special::OCo2 {
            continue;
        }
        if ty == Special::Cation {
            a.charge = 1;
            continue;
        }
        // Aromatic atoms keep charge 0: their valence is not an integer here.
        if a.bond_order_x2 % 2 == 1 {
            continue;
        }
        // Carbon short of bonds is a file without its hydrogens, not an ion.
        if a.z == elements::C {
            continue;
        }
        let valence = i32::from(a.bond_order_x2 / 2);
        let Some(allowed) = elements::valences(a.z) else {
            continue;
        };
        let lowest = i32::from(allowed[0]);
        let charge = if elements::is_early(a.z) {
            (valence < lowest).then(|| lowest - valence)
        } else if valence < lowest {
            Some(valence - lowest)
        } else if !allowed.iter().any(|&v| i32::from(v) == valence) {
            let below = allowed
                .iter()
                .map(|&v| i32::from(v))
                .filter(|&v| v < valence)
                .max()
                .unwrap_or(lowest);
            Some(valence - below)
        } else {
            None
        };
        if let Some(c) = charge {
            a.charge = i8::try_from(c).map_err(|_| {
                ParseError::new(
                    line,
                    format!(
                        "atom {} has valence {valence}: its charge {c} does not fit",
                        i + 1
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// What RDKit's own MOL2 reader makes of the record (the port in
/// `chematic-smiles`: `MolFromMol2Block(text, sanitize=True, removeHs=False,
/// cleanupSubstructures=True)`): its formal charges, which come from the
/// Tripos types through RDKit's substructure clean-up (carboxylates and
/// phosphates of `O.co2`, `N.4`, `C.cat` with its guanidinium or amidinium
/// N, nitro groups) and its charge guessing, replace the reader's, atom by
/// atom. `Some(Err)` when RDKit refuses the record; `None` when the port
/// does not model it (query types, `du` bonds): the reader's own rules
/// stand then.
pub fn rdkit_charges(text: &[u8], mol: &mut Molecule) -> Option<Result<(), String>> {
    let text = std::str::from_utf8(text).ok()?;
    let rd = std::panic::catch_unwind(|| {
        chematic_smiles::rdkit_mol_from_mol2_block(text, true, false, true)
    })
    .ok()?;
    match rd {
        Ok(m) => {
            if m.molecule.atom_count() != mol.atoms.len() {
                return None;
            }
            for ((_, rd_atom), atom) in m.molecule.atoms().zip(mol.atoms.iter_mut()) {
                atom.charge = rd_atom.charge;
            }
            Some(Ok(()))
        }
        Err(chematic_smiles::RdkitSmilesError::Sanitization(why)) => {
            Some(Err(format!("RDKit refuses the molecule: {why}")))
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chem;

    #[test]
    fn types_to_elements() {
        assert_eq!(element_of_type("C.ar"), Some(6));
        assert_eq!(element_of_type("N.4"), Some(7));
        assert_eq!(element_of_type("Cl"), Some(17));
        assert_eq!(element_of_type("BR"), Some(35));
        assert_eq!(element_of_type("ca"), Some(6));
        assert_eq!(element_of_type("cl"), Some(17));
        assert_eq!(element_of_type("Ca"), Some(20));
        assert_eq!(element_of_type("Du"), Some(0));
        assert_eq!(element_of_type("Xx"), None);
    }

    #[test]
    fn acetate_carries_one_negative_charge() {
        let t = "@<TRIPOS>MOLECULE\nacetate\n 4 3 0 0 0\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n\
                 1 C1 0 0 0 C.3 1 ACT 0\n2 C2 0 0 0 C.2 1 ACT 0\n3 O1 0 0 0 O.co2 1 ACT 0\n4 O2 0 0 0 O.co2 1 ACT 0\n\
                 @<TRIPOS>BOND\n1 1 2 1\n2 2 3 ar\n3 2 4 ar\n";
        let p = parse(t.as_bytes(), 1).unwrap();
        let props = chem::properties(&p.mol);
        assert_eq!(p.title, "acetate");
        assert_eq!(props.formula, "C2O2");
        assert_eq!(props.net_charge, -1);
    }

    #[test]
    fn aromatic_bonds_types_and_coordinates() {
        let t = "@<TRIPOS>MOLECULE\npyrrole-ish\n 3 3 0 0 0\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n\
                 1 C1 1.2500 -0.5000 2.0000 C.ar 1 LIG 0\n2 N1 0 0 0 N.ar 1 LIG 0\n3 C2 0 0 0 C.3 1 LIG 0\n\
                 @<TRIPOS>BOND\n1 1 2 ar\n2 2 3 1\n3 1 3 du\n";
        let p = parse(t.as_bytes(), 1).unwrap();
        let m = &p.mol;
        assert_eq!(m.atoms[0].coords, Some([1.25, -0.5, 2.0]));
        assert!(m.atoms[0].aromatic && m.atoms[1].aromatic && !m.atoms[2].aromatic);
        let bonds: Vec<_> = m.bonds.iter().map(|b| (b.a, b.b, b.order)).collect();
        assert_eq!(
            bonds,
            [
                (0, 1, BondOrder::Aromatic),
                (1, 2, BondOrder::Single),
                (0, 2, BondOrder::Any)
            ]
        );
        assert_eq!(m.atoms[1].bond_order_x2, 5);
        assert_eq!(chem::properties(m).bond_count, 3);
    }

    #[test]
    fn overflowing_counts_and_charges_are_errors() {
        let t = "@<TRIPOS>MOLECULE\nx\n 99999999999999999999999 0\nSMALL\n\n@<TRIPOS>ATOM\n1 C1 0 0 0 C.3\n";
        let e = parse(t.as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("out of range"), "{e}");
        assert_eq!(e.line, 3);
        // An O with 300 single bonds: charge 298 does not fit an atom.
        let mut t = String::from(
            "@<TRIPOS>MOLECULE\nx\n 301 300\nSMALL\n\n@<TRIPOS>ATOM\n1 O1 0 0 0 O.3\n",
        );
        for i in 2..=301 {
            t.push_str(&format!("{i} H 0 0 0 H\n"));
        }
        t.push_str("@<TRIPOS>BOND\n");
        for i in 2..=301 {
            t.push_str(&format!("{i} 1 {i} 1\n"));
        }
        let e = parse(t.as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("does not fit"), "{e}");
        assert_eq!(e.line, 7);
    }

    #[test]
    fn lying_atom_count_and_missing_atom_are_errors() {
        let t = "@<TRIPOS>MOLECULE\nx\n 3 1\nSMALL\n\n@<TRIPOS>ATOM\n1 C1 0 0 0 C.3\n2 C2 0 0 0 C.3\n@<TRIPOS>BOND\n1 1 2 1\n";
        assert!(parse(t.as_bytes(), 1)
            .unwrap_err()
            .reason
            .contains("declares 3 atoms"));
        let t = t.replace(" 3 1", " 2 1").replace("1 1 2 1", "1 1 5 1");
        let e = parse(t.as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("atom 5"), "{e}");
        assert_eq!(e.line, 10);
    }
}
