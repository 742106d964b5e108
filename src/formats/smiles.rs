//! SMILES lines: `SMILES [title]`, or `SMILES,title` in a CSV with a
//! `SMILES` header. Comment lines (`#`, `//`) and the header are skipped.
//! Implicit hydrogens follow the OpenSMILES organic-subset rules, aromatic
//! atoms included; bracket atoms carry exactly the hydrogens they name.

use super::{excerpt, text, Parsed};
use crate::chem::{elements, Atom, HydrogenRule};
use crate::error::ParseError;

/// `None` for a comment or header line.
pub fn parse(record: &[u8], line: u64) -> Result<Option<Parsed>, ParseError> {
    let t = text(record);
    let t = t.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
        return Ok(None);
    }
    let (smiles, title) = match separator(t) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    if smiles.eq_ignore_ascii_case("smiles") {
        return Ok(None);
    }
    let (atoms, bond_count) = parse_smiles(smiles).map_err(|(pos, why)| {
        ParseError::new(
            line,
            format!(
                "SMILES {}, at character {}: {why}",
                excerpt(smiles.as_bytes()),
                pos + 1
            ),
        )
    })?;
    Ok(Some(Parsed {
        title: title.to_owned(),
        atoms,
        bond_count,
        fields: Vec::new(),
        smiles: Some(smiles.to_owned()),
    }))
}

/// Where the SMILES ends: the first blank, or a comma outside brackets
/// (CSV); a comma inside brackets belongs to a SMARTS-like list.
fn separator(line: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in line.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' | '\t' => return Some(i),
            ',' if depth <= 0 => return Some(i),
            _ => {}
        }
    }
    None
}

type Fail = (usize, String);

/// Atoms (with bond orders summed) and bond count of a SMILES string.
pub fn parse_smiles(s: &str) -> Result<(Vec<Atom>, u32), Fail> {
    let b = s.as_bytes();
    let mut atoms: Vec<Atom> = Vec::new();
    let mut aromatic: Vec<bool> = Vec::new();
    let mut prev: Option<usize> = None;
    let mut branches: Vec<Option<usize>> = Vec::new();
    let mut bond: Option<(u16, usize)> = None; // (order ×2, position)
    let mut rings: std::collections::HashMap<u32, (usize, Option<u16>)> = Default::default();
    let mut bonds = 0u32;
    let mut i = 0;

    // Bond orders ×2; an unmarked or ':' bond counts 1, aromatic or not (the
    // organic-subset rule takes the aromatic atom's pi bond off separately).
    let add_bond = |atoms: &mut Vec<Atom>, a: usize, c: usize, order: Option<u16>| -> u32 {
        let x2 = order.unwrap_or(2);
        atoms[a].bond_order_x2 += x2;
        atoms[c].bond_order_x2 += x2;
        1
    };

    while i < b.len() {
        let c = b[i];
        match c {
            b'(' => {
                if prev.is_none() {
                    return Err((i, "branch without an atom before it".into()));
                }
                branches.push(prev);
                i += 1;
            }
            b')' => {
                prev = branches.pop().ok_or((i, "unmatched ')'".to_string()))?;
                i += 1;
            }
            b'.' => {
                prev = None;
                i += 1;
            }
            b'-' | b'/' | b'\\' | b':' => {
                bond = Some((2, i));
                i += 1;
            }
            b'=' => {
                bond = Some((4, i));
                i += 1;
            }
            b'#' => {
                bond = Some((6, i));
                i += 1;
            }
            b'$' => {
                bond = Some((8, i));
                i += 1;
            }
            b'0'..=b'9' | b'%' => {
                let (num, len) = if c == b'%' {
                    let d = b
                        .get(i + 1..i + 3)
                        .filter(|d| d.iter().all(u8::is_ascii_digit));
                    let d = d.ok_or((i, "'%' needs two digits".to_string()))?;
                    (u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'), 3)
                } else {
                    (u32::from(c - b'0'), 1)
                };
                let at = prev.ok_or((i, "ring bond without an atom".to_string()))?;
                let order = bond.take().map(|(o, _)| o);
                match rings.remove(&num) {
                    Some((other, open_order)) => {
                        if other == at {
                            return Err((i, "ring bond to itself".into()));
                        }
                        bonds += add_bond(&mut atoms, other, at, order.or(open_order));
                    }
                    None => {
                        rings.insert(num, (at, order));
                    }
                }
                i += len;
            }
            b'[' => {
                let end = b[i..]
                    .iter()
                    .position(|&x| x == b']')
                    .ok_or((i, "unclosed '['".to_string()))?
                    + i;
                let (atom, arom) = bracket_atom(&s[i + 1..end]).map_err(|why| (i, why))?;
                let n = push_atom(&mut atoms, &mut aromatic, atom, arom);
                if let Some(p) = prev {
                    bonds += add_bond(&mut atoms, p, n, bond.take().map(|(o, _)| o));
                }
                bond = None;
                prev = Some(n);
                i = end + 1;
            }
            _ => {
                let (z, arom, len) = organic_atom(&b[i..])
                    .ok_or_else(|| (i, format!("unexpected {:?}", char::from(c))))?;
                let atom = Atom {
                    z,
                    implicit_h: if z == elements::DUMMY {
                        HydrogenRule::AsWritten
                    } else {
                        HydrogenRule::SmilesOrganic { aromatic: arom }
                    },
                    ..Atom::default()
                };
                let n = push_atom(&mut atoms, &mut aromatic, atom, arom);
                if let Some(p) = prev {
                    bonds += add_bond(&mut atoms, p, n, bond.take().map(|(o, _)| o));
                }
                bond = None;
                prev = Some(n);
                i += len;
            }
        }
    }
    if let Some((_, pos)) = bond {
        return Err((pos, "bond symbol without an atom after it".into()));
    }
    if !branches.is_empty() {
        return Err((b.len(), "unclosed '('".into()));
    }
    if let Some((num, _)) = rings.iter().next() {
        return Err((b.len(), format!("ring bond {num} is never closed")));
    }
    if atoms.is_empty() {
        return Err((0, "no atoms".into()));
    }
    Ok((atoms, bonds))
}

fn push_atom(atoms: &mut Vec<Atom>, aromatic: &mut Vec<bool>, atom: Atom, arom: bool) -> usize {
    atoms.push(atom);
    aromatic.push(arom);
    atoms.len() - 1
}

/// An organic-subset atom at the start of `b`: (element, aromatic, length).
fn organic_atom(b: &[u8]) -> Option<(elements::Z, bool, usize)> {
    Some(match b {
        [b'C', b'l', ..] => (17, false, 2),
        [b'B', b'r', ..] => (35, false, 2),
        [b'B', ..] => (5, false, 1),
        [b'C', ..] => (6, false, 1),
        [b'N', ..] => (7, false, 1),
        [b'O', ..] => (8, false, 1),
        [b'P', ..] => (15, false, 1),
        [b'S', ..] => (16, false, 1),
        [b'F', ..] => (9, false, 1),
        [b'I', ..] => (53, false, 1),
        [b'b', ..] => (5, true, 1),
        [b'c', ..] => (6, true, 1),
        [b'n', ..] => (7, true, 1),
        [b'o', ..] => (8, true, 1),
        [b'p', ..] => (15, true, 1),
        [b's', ..] => (16, true, 1),
        [b'*', ..] => (elements::DUMMY, false, 1),
        _ => return None,
    })
}

/// `[isotope? symbol chirality? hcount? charge? class?]`
fn bracket_atom(inner: &str) -> Result<(Atom, bool), String> {
    let b = inner.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        (std::str::from_utf8(&b[start..*i]).ok()?).parse().ok()
    };
    let isotope = digits(&mut i).unwrap_or(0);
    let rest = &inner[i..];
    let (z, arom, len) = if rest.starts_with('*') {
        (elements::DUMMY, false, 1)
    } else if let Some(z) = ["se", "as", "te"]
        .iter()
        .find(|a| rest.starts_with(**a))
        .and_then(|a| elements::by_symbol_any_case(a))
    {
        (z, true, 2)
    } else if rest.starts_with(|c: char| c.is_ascii_lowercase()) {
        let (z, _, len) =
            organic_atom(rest.as_bytes()).ok_or(format!("unknown aromatic atom in [{inner}]"))?;
        (z, true, len)
    } else {
        let two = rest.get(..2).and_then(|t| {
            t.as_bytes()[1]
                .is_ascii_lowercase()
                .then(|| elements::by_symbol(t))
                .flatten()
        });
        match two {
            Some(z) => (z, false, 2),
            None => {
                let one = rest
                    .get(..1)
                    .and_then(elements::by_symbol)
                    .ok_or(format!("unknown element in [{inner}]"))?;
                (one, false, 1)
            }
        }
    };
    i += len;
    // Chirality: @, @@, @TH1, @AL2, @SP3, @TB12, @OH30.
    while i < b.len() && b[i] == b'@' {
        i += 1;
        if i + 1 < b.len() && [&b"TH"[..], b"AL", b"SP", b"TB", b"OH"].contains(&&b[i..i + 2]) {
            i += 2;
            digits(&mut i);
        }
    }
    let mut h = 0u32;
    if i < b.len() && b[i] == b'H' {
        i += 1;
        h = digits(&mut i).unwrap_or(1);
    }
    let mut charge = 0i32;
    while i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        let sign = if b[i] == b'+' { 1 } else { -1 };
        i += 1;
        match digits(&mut i) {
            Some(n) => charge += sign * n as i32,
            None => charge += sign,
        }
    }
    if i < b.len() && b[i] == b':' {
        i += 1;
        digits(&mut i);
    }
    if i != b.len() {
        return Err(format!("cannot read [{inner}]"));
    }
    Ok((
        Atom {
            z,
            isotope: isotope.min(400) as u16,
            charge: charge.clamp(-15, 15) as i8,
            attached_h: h.min(16) as u8,
            implicit_h: HydrogenRule::AsWritten,
            ..Atom::default()
        },
        arom,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chem;

    fn formula(s: &str) -> (String, i32) {
        let (atoms, bonds) = parse_smiles(s).unwrap();
        let p = chem::properties(&atoms, bonds);
        (p.formula, p.net_charge)
    }

    #[test]
    fn organic_subset_and_aromatic_hydrogens() {
        assert_eq!(formula("CCO").0, "C2H6O");
        assert_eq!(formula("c1ccccc1").0, "C6H6");
        assert_eq!(formula("c1ccncc1").0, "C5H5N");
        assert_eq!(formula("c1cc[nH]c1").0, "C4H5N");
        assert_eq!(formula("c1ccsc1").0, "C4H4S");
        assert_eq!(formula("CS(=O)(=O)C").0, "C2H6O2S");
        assert_eq!(formula("C1CC2CCC1C2").0, "C7H12");
        assert_eq!(formula("OC(=O)C%12CC%12").0, "C4H6O2");
        assert_eq!(formula("[NH4+].[Cl-]"), ("ClH4N".into(), 0));
        assert_eq!(formula("[13CH4]").0, "CH4");
        assert_eq!(formula("C[C@@H](N)C(=O)O").0, "C3H7NO2");
        assert_eq!(formula("[O-][n+]1ccccc1"), ("C5H5NO".into(), 0));
    }

    #[test]
    fn bad_smiles_are_errors_not_panics() {
        for bad in [
            "C1CC", "C(C", "C)C", "[Cl,Br]", "C=", "Xx", "[C", "%1", "(C)",
        ] {
            assert!(parse_smiles(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_titles_comments_headers() {
        assert!(parse(b"SMILES\n", 1).unwrap().is_none());
        assert!(parse(b"// comment\n", 1).unwrap().is_none());
        let p = parse(b"CCO\tethanol 95%\n", 3).unwrap().unwrap();
        assert_eq!(p.title, "ethanol 95%");
        assert_eq!(p.smiles.as_deref(), Some("CCO"));
        let p = parse(b"CCO,ethanol\n", 3).unwrap().unwrap();
        assert_eq!(p.title, "ethanol");
        let e = parse(b"[Cl,Br,I]\n", 3).unwrap_err();
        assert!(e.reason.contains("[Cl,Br,I]"), "{e}");
        let e = parse(b"C1CC broken\n", 7).unwrap_err();
        assert_eq!(e.line, 7);
    }
}
