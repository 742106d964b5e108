//! Tripos MOL2 reader: one molecule per `@<TRIPOS>MOLECULE` section.
//! Atoms are taken as written (MOL2 writes its hydrogens; none are added).
//! The element comes from the SYBYL type (`C.ar`, `N.4`, `Cl`, `BR`, GAFF's
//! lowercase `ca`, `hn`, …) and formal charges are derived from the types and
//! bonds as RDKit does: `N.4` +1, `C.cat` +1, one negative charge on all but
//! one `O.co2` of a carboxylate/phosphate group, ions by their valence.

use super::{excerpt, lines, text, Parsed};
use crate::chem::{elements, Atom, HydrogenRule};
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
    let mut types: Vec<String> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    let mut bonds: Vec<(usize, usize, u16)> = Vec::new();
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
                        let n = t.split_whitespace().next().and_then(|n| n.parse().ok());
                        declared_atoms = n.map(|n| (n, no));
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
                ids.insert(f[0].to_owned(), out.atoms.len());
                out.atoms.push(Atom {
                    z,
                    implicit_h: HydrogenRule::AsWritten,
                    ..Atom::default()
                });
                types.push(f[5].to_owned());
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
                let x2 = match f[3] {
                    "1" | "am" | "du" | "un" => 2,
                    "2" => 4,
                    "3" => 6,
                    "ar" => 3,
                    "nc" => 0,
                    other => {
                        return Err(ParseError::new(no, format!("unknown bond type {other:?}")))
                    }
                };
                bonds.push((a, b, x2));
            }
            _ => {}
        }
    }
    if let Some((n, no)) = declared_atoms {
        if n != out.atoms.len() {
            return Err(ParseError::new(
                no,
                format!(
                    "the header declares {n} atoms, the ATOM section has {}",
                    out.atoms.len()
                ),
            ));
        }
    }
    for &(a, b, x2) in &bonds {
        out.atoms[a].bond_order_x2 += x2;
        out.atoms[b].bond_order_x2 += x2;
    }
    out.bond_count = bonds.len() as u32;
    assign_charges(&mut out.atoms, &types, &bonds);
    Ok(out)
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

fn assign_charges(atoms: &mut [Atom], types: &[String], bonds: &[(usize, usize, u16)]) {
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); atoms.len()];
    for &(a, b, _) in bonds {
        neighbours[a].push(b);
        neighbours[b].push(a);
    }
    // Carboxylate / phosphate: k terminal O.co2 on one centre carry k-1 negative charges.
    for centre in 0..atoms.len() {
        let co2: Vec<usize> = neighbours[centre]
            .iter()
            .copied()
            .filter(|&o| types[o] == "O.co2" && neighbours[o].len() == 1)
            .collect();
        for &o in co2.iter().skip(1) {
            atoms[o].charge = -1;
        }
    }
    for (i, a) in atoms.iter_mut().enumerate() {
        let ty = types[i].as_str();
        if ty == "O.co2" {
            continue;
        }
        if ty == "N.4" || ty == "C.cat" {
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
        if elements::is_early(a.z) {
            if valence < lowest {
                a.charge = (lowest - valence) as i8;
            }
        } else if valence < lowest {
            a.charge = (valence - lowest) as i8;
        } else if !allowed.iter().any(|&v| i32::from(v) == valence) {
            let below = allowed
                .iter()
                .map(|&v| i32::from(v))
                .filter(|&v| v < valence)
                .max()
                .unwrap_or(lowest);
            a.charge = (valence - below) as i8;
        }
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
        let props = chem::properties(&p.atoms, p.bond_count);
        assert_eq!(p.title, "acetate");
        assert_eq!(props.formula, "C2O2");
        assert_eq!(props.net_charge, -1);
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
