//! SMILES lines: `SMILES [title]`, or `SMILES,title` in a CSV with a
//! `SMILES` header. Comment lines (`#`, `//`) and the header are skipped.
//! Implicit hydrogens follow the OpenSMILES organic-subset rules, aromatic
//! atoms included; bracket atoms carry exactly the hydrogens they name.
//!
//! Limits (a record beyond them is rejected with the reason, never loaded
//! with a clamped or wrapped value): branches nest at most
//! [`MAX_BRANCH_DEPTH`] deep; a bracket atom's isotope fits u16, its H count
//! u8, its charge i8; an atom's bond order sum fits the graph's u16.

use super::{excerpt, text, Parsed};
use crate::chem::{
    elements, Atom, AtomStereo, BondOrder, BondStereo, ChiralClass, HydrogenRule, Molecule,
};
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
    let (mol, as_aromatic) = parse_graph(smiles).map_err(|(pos, why)| {
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
        mol,
        fields: Vec::new(),
        // What the canonicaliser reads: the SMILES as RDKit understands it.
        smiles: Some(as_aromatic.unwrap_or_else(|| smiles.to_owned())),
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

/// Deepest branch nesting read; deeper input is rejected, not followed
/// (no real molecule comes close, and the stack of open branches stays small).
pub const MAX_BRANCH_DEPTH: usize = 10_000;

/// A bond symbol waiting for the atom after it: order, stereo mark, position.
type Pending = (BondOrder, BondStereo, usize);

/// The graph of a SMILES string. Unmarked bonds between two aromatic atoms
/// are aromatic, others single; `/` and `\` are kept as stereo on the
/// bond, from the atom written before the mark to the one after it.
/// Every bond counts 1 valence unit unless it is `=`, `#` or `$`: the
/// organic-subset rule takes an aromatic atom's pi unit off separately.
pub fn parse_smiles(s: &str) -> Result<Molecule, Fail> {
    parse_graph(s).map(|(mol, _)| mol)
}

/// [`parse_smiles`], and the SMILES rewritten when aromatic bonds (`:`) in
/// a ring join atoms written aliphatic (see [`aromatic_bonds_of_aliphatic_atoms`]).
fn parse_graph(s: &str) -> Result<(Molecule, Option<String>), Fail> {
    let mut at = Positions::default();
    let mut mol = graph(s, &mut at)?;
    let rewritten = aromatic_bonds_of_aliphatic_atoms(&mut mol, s, &at);
    Ok((mol, rewritten))
}

/// Where things are in the SMILES text: each atom's start (after `[` for a
/// bracket atom), and each single bond written without a symbol, with where
/// a `-` would go (before the second atom or the closing ring number).
#[derive(Default)]
struct Positions {
    atoms: Vec<usize>,
    unwritten_singles: Vec<(usize, usize)>,
}

/// An aromatic bond written `:` between atoms written aliphatic (`C:1:C:C:C:C:C1`,
/// as some exports write aromatic rings) is read as RDKit reads it: in a
/// ring, RDKit kekulizes it and perceives the ring again, which gives what
/// the same ring written with aromatic atoms gives (`c1ccccc1`), so its
/// atoms are made aromatic, and the SMILES handed to the canonicaliser is
/// rewritten so (lower-case symbols). Outside a ring RDKit keeps the bond
/// aromatic and counts it 1.5 at each end, rounding the atom's valence
/// (`CC:CC` is C4H8): such a bond counts 3 half-units here.
fn aromatic_bonds_of_aliphatic_atoms(
    mol: &mut Molecule,
    s: &str,
    at: &Positions,
) -> Option<String> {
    let starts = &at.atoms;
    let odd = |mol: &Molecule, bd: &crate::chem::Bond| {
        bd.order == BondOrder::Aromatic
            && !(mol.atoms[bd.a as usize].aromatic && mol.atoms[bd.b as usize].aromatic)
    };
    if !mol.bonds.iter().any(|bd| odd(mol, bd)) {
        return None;
    }
    let ring = ring_bonds(mol);
    let mut aromatize = Vec::new();
    for (k, bd) in mol.bonds.iter().enumerate() {
        if !odd(mol, bd) {
            continue;
        }
        if ring[k] {
            aromatize.extend([bd.a as usize, bd.b as usize]);
        } else {
            for end in [bd.a, bd.b] {
                let a = &mut mol.atoms[end as usize];
                a.bond_order_x2 = a.bond_order_x2.saturating_add(1);
            }
        }
    }
    if aromatize.is_empty() {
        return None;
    }
    let mut text = s.as_bytes().to_vec();
    for &a in &aromatize {
        mol.atoms[a].aromatic = true;
        let mut at = starts[a];
        while text.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        // Only the symbols that have an aromatic form (`c n o p s b`,
        // `se as te`); a metal stays as written.
        let sym: &[u8] = match text.get(at..at + 2) {
            Some(two) if matches!(two, b"Se" | b"As" | b"Te") => two,
            _ => text.get(at..at + 1).unwrap_or_default(),
        };
        let lower_ok = match sym {
            [c] => {
                matches!(c, b'B' | b'C' | b'N' | b'O' | b'P' | b'S')
                    && !text.get(at + 1).is_some_and(u8::is_ascii_lowercase)
            }
            _ => true,
        };
        if lower_ok && !sym.is_empty() {
            text[at] = text[at].to_ascii_lowercase();
        }
    }
    // Between two aromatic atoms an unwritten bond reads as aromatic: the
    // single bonds written so between atoms now lower-case get their `-`.
    let mut dashes: Vec<usize> = at
        .unwritten_singles
        .iter()
        .filter(|&&(k, _)| {
            let bd = &mol.bonds[k];
            mol.atoms[bd.a as usize].aromatic && mol.atoms[bd.b as usize].aromatic
        })
        .map(|&(_, pos)| pos)
        .collect();
    dashes.sort_unstable_by(|x, y| y.cmp(x));
    for pos in dashes {
        text.insert(pos, b'-');
    }
    String::from_utf8(text).ok()
}

/// Which bonds lie on a ring (are not bridges of the graph): Tarjan's
/// low-link, iteratively.
fn ring_bonds(mol: &Molecule) -> Vec<bool> {
    let n = mol.atoms.len();
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (k, bd) in mol.bonds.iter().enumerate() {
        adj[bd.a as usize].push((bd.b as usize, k));
        adj[bd.b as usize].push((bd.a as usize, k));
    }
    let mut ring = vec![true; mol.bonds.len()];
    let mut order = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut next = 0;
    for root in 0..n {
        if order[root] != usize::MAX {
            continue;
        }
        // (atom, bond it was reached by, next neighbour to look at)
        let mut stack = vec![(root, usize::MAX, 0usize)];
        order[root] = next;
        low[root] = next;
        next += 1;
        while let Some(&mut (v, via, ref mut i)) = stack.last_mut() {
            if let Some(&(w, k)) = adj[v].get(*i) {
                *i += 1;
                if k == via {
                    continue;
                }
                if order[w] == usize::MAX {
                    order[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push((w, k, 0));
                } else {
                    low[v] = low[v].min(order[w]);
                }
            } else {
                stack.pop();
                if let Some(&(p, _, _)) = stack.last() {
                    low[p] = low[p].min(low[v]);
                    if low[v] > order[p] {
                        ring[via] = false;
                    }
                }
            }
        }
    }
    ring
}

/// The graph, and where its atoms and unwritten single bonds are.
fn graph(s: &str, positions: &mut Positions) -> Result<Molecule, Fail> {
    let b = s.as_bytes();
    // A SMILES atom is at least one byte, a bond usually too.
    let mut mol = Molecule::with_capacity(b.len() / 2 + 1, b.len() / 2 + 1);
    let mut prev: Option<usize> = None;
    let mut branches: Vec<Option<usize>> = Vec::new();
    let mut bond: Option<Pending> = None;
    let mut rings: [Option<(usize, Option<Pending>)>; 100] = [None; 100];
    // Ring bond numbers from 100 on (`%(123)`), rare: kept apart.
    let mut big_rings: std::collections::BTreeMap<u32, (usize, Option<Pending>)> =
        Default::default();
    let mut i = 0;

    let add_bond = |mol: &mut Molecule,
                    singles: &mut Vec<(usize, usize)>,
                    a: usize,
                    c: usize,
                    spec: Option<Pending>,
                    at: usize| {
        if spec.is_none() && !(mol.atoms[a].aromatic && mol.atoms[c].aromatic) {
            singles.push((mol.bonds.len(), at));
        }
        let (order, stereo) = match spec {
            // A dative bond counts at its acceptor only (RDKit's reading,
            // as for MDL coordination bonds); `Down` marks one written `<-`.
            Some((BondOrder::Dative, st, _)) => {
                let (donor, acceptor) = if st == BondStereo::Down {
                    (c, a)
                } else {
                    (a, c)
                };
                mol.add_bond_counting(donor, acceptor, BondOrder::Dative, BondStereo::None, 0)
                    .map_err(|e| (at, e.to_string()))?;
                let acc = &mut mol.atoms[acceptor];
                acc.bond_order_x2 = acc.bond_order_x2.checked_add(2).ok_or((
                    at,
                    crate::chem::BondError::TooManyBonds(acceptor).to_string(),
                ))?;
                return Ok(());
            }
            Some((o, st, _)) => (o, st),
            None if mol.atoms[a].aromatic && mol.atoms[c].aromatic => {
                (BondOrder::Aromatic, BondStereo::None)
            }
            None => (BondOrder::Single, BondStereo::None),
        };
        let x2 = match order {
            BondOrder::Single | BondOrder::Aromatic => 2,
            o => o.valence_x2(),
        };
        mol.add_bond_counting(a, c, order, stereo, x2)
            .map_err(|e| (at, e.to_string()))
    };

    while i < b.len() {
        let c = b[i];
        match c {
            b'(' => {
                if prev.is_none() {
                    return Err((i, "branch without an atom before it".into()));
                }
                if branches.len() >= MAX_BRANCH_DEPTH {
                    return Err((i, format!("branches nested deeper than {MAX_BRANCH_DEPTH}")));
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
            // Dative bonds, as RDKit writes them: `N->[Pt]`, `[Pt]<-N`.
            b'-' if b.get(i + 1) == Some(&b'>') => {
                bond = Some((BondOrder::Dative, BondStereo::None, i));
                i += 2;
            }
            b'<' if b.get(i + 1) == Some(&b'-') => {
                bond = Some((BondOrder::Dative, BondStereo::Down, i));
                i += 2;
            }
            b'-' | b'/' | b'\\' | b':' | b'=' | b'#' | b'$' => {
                let (order, stereo) = match c {
                    b'-' => (BondOrder::Single, BondStereo::None),
                    b'/' => (BondOrder::Single, BondStereo::Up),
                    b'\\' => (BondOrder::Single, BondStereo::Down),
                    b':' => (BondOrder::Aromatic, BondStereo::None),
                    b'=' => (BondOrder::Double, BondStereo::None),
                    b'#' => (BondOrder::Triple, BondStereo::None),
                    _ => (BondOrder::Quadruple, BondStereo::None),
                };
                bond = Some((order, stereo, i));
                i += 1;
            }
            b'0'..=b'9' | b'%' => {
                let (num, len) = ring_number(&b[i..]).map_err(|why| (i, why))?;
                let at = prev.ok_or((i, "ring bond without an atom".to_string()))?;
                let here = bond.take();
                let slot = match usize::try_from(num) {
                    Ok(n) if n < 100 => rings[n].take(),
                    _ => big_rings.remove(&num),
                };
                match slot {
                    Some((other, open)) => {
                        if other == at {
                            return Err((i, "ring bond to itself".into()));
                        }
                        // The closing symbol wins; each is read from the
                        // atom written before it.
                        match (here, open) {
                            (Some(h), _) => add_bond(
                                &mut mol,
                                &mut positions.unwritten_singles,
                                at,
                                other,
                                Some(h),
                                i,
                            )?,
                            (None, o) => add_bond(
                                &mut mol,
                                &mut positions.unwritten_singles,
                                other,
                                at,
                                o,
                                i,
                            )?,
                        }
                    }
                    None if num < 100 => rings[num as usize] = Some((at, here)),
                    None => {
                        big_rings.insert(num, (at, here));
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
                let atom = bracket_atom(&s[i + 1..end]).map_err(|why| (i, why))?;
                mol.atoms.push(atom);
                positions.atoms.push(i + 1);
                let n = mol.atoms.len() - 1;
                if let Some(p) = prev {
                    add_bond(
                        &mut mol,
                        &mut positions.unwritten_singles,
                        p,
                        n,
                        bond.take(),
                        i,
                    )?;
                }
                bond = None;
                prev = Some(n);
                i = end + 1;
            }
            _ => {
                let (z, arom, len) = organic_atom(&b[i..])
                    .ok_or_else(|| (i, format!("unexpected {:?}", char::from(c))))?;
                positions.atoms.push(i);
                mol.atoms.push(Atom {
                    z,
                    implicit_h: if z == elements::DUMMY {
                        HydrogenRule::AsWritten
                    } else {
                        HydrogenRule::SmilesOrganic
                    },
                    aromatic: arom,
                    ..Atom::default()
                });
                let n = mol.atoms.len() - 1;
                if let Some(p) = prev {
                    add_bond(
                        &mut mol,
                        &mut positions.unwritten_singles,
                        p,
                        n,
                        bond.take(),
                        i,
                    )?;
                }
                bond = None;
                prev = Some(n);
                i += len;
            }
        }
    }
    if let Some((_, _, pos)) = bond {
        return Err((pos, "bond symbol without an atom after it".into()));
    }
    if !branches.is_empty() {
        return Err((b.len(), "unclosed '('".into()));
    }
    if let Some(num) = rings.iter().position(Option::is_some) {
        return Err((b.len(), format!("ring bond {num} is never closed")));
    }
    if let Some(num) = big_rings.keys().next() {
        return Err((b.len(), format!("ring bond {num} is never closed")));
    }
    if mol.atoms.is_empty() {
        return Err((0, "no atoms".into()));
    }
    Ok(mol)
}

/// A ring bond number at the start of `b`: a digit, `%nn`, or `%(n…)` with
/// one to five digits (ring bonds from 100 on, as RDKit writes them).
/// Returns the number and how many bytes it took.
fn ring_number(b: &[u8]) -> Result<(u32, usize), String> {
    match b {
        [d @ b'0'..=b'9', ..] => Ok((u32::from(d - b'0'), 1)),
        [b'%', b'(', rest @ ..] => {
            let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 5 || rest.get(n) != Some(&b')') {
                return Err("'%(' needs one to five digits and ')'".into());
            }
            let num = rest[..n]
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
            Ok((num, n + 3))
        }
        [b'%', a @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
            Ok((u32::from(a - b'0') * 10 + u32::from(c - b'0'), 3))
        }
        _ => Err("'%' needs two digits".into()),
    }
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

/// `[isotope? symbol chirality? hcount? charge? class?]`. Numbers that do
/// not fit the atom (isotope > 65535, more than 255 H, a charge beyond
/// ±127, a chirality number above 255) are errors, never clamped.
fn bracket_atom(inner: &str) -> Result<Atom, String> {
    let b = inner.as_bytes();
    let mut i = 0;
    // A run of digits: `None` if there is none, `Err` if it does not fit.
    let digits = |i: &mut usize| -> Option<Result<u32, String>> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        let run = &inner[start..*i];
        (!run.is_empty()).then(|| {
            run.parse::<u32>().map_err(|_| {
                format!(
                    "number {} out of range in [{inner}]",
                    excerpt(run.as_bytes())
                )
            })
        })
    };
    let fits = |what: &str, n: u32, max: u32| -> Result<u32, String> {
        if n <= max {
            Ok(n)
        } else {
            Err(format!("{what} {n} out of range in [{inner}]"))
        }
    };
    let isotope = fits(
        "isotope",
        digits(&mut i).transpose()?.unwrap_or(0),
        u32::from(u16::MAX),
    )?;
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
    let mut stereo = AtomStereo::None;
    if i < b.len() && b[i] == b'@' {
        i += 1;
        stereo = AtomStereo::Anticlockwise;
        if i < b.len() && b[i] == b'@' {
            i += 1;
            stereo = AtomStereo::Clockwise;
        } else if let Some(class) = b.get(i..i + 2).and_then(|c| match c {
            b"TH" => Some(ChiralClass::Th),
            b"AL" => Some(ChiralClass::Al),
            b"SP" => Some(ChiralClass::Sp),
            b"TB" => Some(ChiralClass::Tb),
            b"OH" => Some(ChiralClass::Oh),
            _ => None,
        }) {
            i += 2;
            let n = fits("chirality", digits(&mut i).transpose()?.unwrap_or(0), 255)?;
            stereo = match (class, n) {
                (ChiralClass::Th, 1) => AtomStereo::Anticlockwise,
                (ChiralClass::Th, 2) => AtomStereo::Clockwise,
                (c, n) => AtomStereo::Class(c, n as u8),
            };
        }
    }
    let mut h = 0u32;
    if i < b.len() && b[i] == b'H' {
        i += 1;
        h = fits(
            "hydrogen count",
            digits(&mut i).transpose()?.unwrap_or(1),
            255,
        )?;
    }
    // `+`, `++`, `+2`, `-3`, …: summed exactly, then it must fit an i8.
    let mut charge = 0i64;
    while i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        let sign = if b[i] == b'+' { 1 } else { -1 };
        i += 1;
        let n = digits(&mut i).transpose()?.unwrap_or(1);
        charge += sign * i64::from(n);
        if charge.abs() > 128 {
            break; // already out of range; no need to sum further
        }
    }
    let charge = i8::try_from(charge).map_err(|_| format!("charge out of range in [{inner}]"))?;
    if i < b.len() && b[i] == b':' {
        i += 1;
        // The atom class is not kept: its size does not matter.
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i != b.len() {
        return Err(format!("cannot read [{inner}]"));
    }
    Ok(Atom {
        z,
        isotope: isotope as u16,
        charge,
        attached_h: h as u8,
        implicit_h: HydrogenRule::AsWritten,
        aromatic: arom,
        stereo,
        ..Atom::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chem;

    fn formula(s: &str) -> (String, i32) {
        let p = chem::properties(&parse_smiles(s).unwrap());
        (p.formula, p.net_charge)
    }

    /// Dative bonds as RDKit writes them (DrugBank's platinum drugs, found
    /// by tools/rdkit-diff); answers from RDKit 2026.09's `MolFromSmiles`.
    #[test]
    fn dative_bonds_count_at_their_acceptor() {
        for (smiles, rdkit) in [
            ("N->[Cu]", "CuH3N"),
            ("[Cu]<-N", "CuH3N"),
            ("N->[Pt](<-N)(Cl)Cl", "Cl2H6N2Pt"),
            ("[51Cr]", "Cr"),
        ] {
            assert_eq!(formula(smiles).0, rdkit, "{smiles}");
        }
        let mw = chem::properties(&parse_smiles("[51Cr]").unwrap()).average_mw;
        assert!((mw - 50.9447674).abs() < 1e-6, "{mw}");
    }

    /// Aromatic bonds between atoms written aliphatic, as CSD exports
    /// write them (MetaLigDB of the `dartassembler` package, through
    /// tools/rdkit-diff): formulas and the text handed to the
    /// canonicaliser, answers from RDKit 2026.09's `MolFromSmiles`.
    #[test]
    fn aromatic_bonds_between_aliphatic_atoms_as_rdkit_reads_them() {
        for (smiles, rdkit) in [
            ("[Hg]SCC:1:C:C:C:C:C1", "C7H7HgS"),
            ("C1:C:C:C:C:C:1", "C6H6"),
            ("C1:C:N:C:C:C1", "C5H5N"),
            ("[NH]1:C:C:C:C1", "C4H5N"),
            ("O:1:C:C:C:C1", "C4H4O"),
            ("C1:C:C:C:C:C1CC:C", "C9H10"),
            ("C:C", "C2H4"),
            ("CC:CC", "C4H8"),
            ("c1cc:C:cc1", "C6H6"),
        ] {
            assert_eq!(formula(smiles).0, rdkit, "{smiles}");
        }
        let read = |s: &str| parse(s.as_bytes(), 1).unwrap().unwrap().smiles.unwrap();
        assert_eq!(read("C1:C:N:C:C:C1 x"), "c1:c:n:c:c:c-1");
        assert_eq!(
            read("C:1:C(C:2:C:C:C:C2):C:C:C1"),
            "c:1:c(-c:2:c:c:c:c2):c:c:c1"
        );
        assert_eq!(read("[Hg]SCC:1:C:C:C:C:C1"), "[Hg]SCc:1:c:c:c:c:c1");
        assert_eq!(read("Cl[13C]1:C:C:C:C:C:1"), "Cl[13c]1:c:c:c:c:c:1");
        assert_eq!(read("CC:CC"), "CC:CC");
        assert_eq!(read("CCO"), "CCO");
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
        // Ring bond numbers from 100 on, and the same ring in both spellings.
        assert_eq!(formula("C%(100)CCCCC%(100)").0, "C6H12");
        assert_eq!(formula("c%(12345)ccccc%(12345)").0, "C6H6");
        assert_eq!(formula("C%(12)CC%12").0, "C3H6");
        assert_eq!(formula("C%(100)C.C%(101)CC%(101)C%(100)").0, "C6H12");
        assert_eq!(formula("[NH4+].[Cl-]"), ("ClH4N".into(), 0));
        assert_eq!(formula("[13CH4]").0, "CH4");
        assert_eq!(formula("C[C@@H](N)C(=O)O").0, "C3H7NO2");
        assert_eq!(formula("[O-][n+]1ccccc1"), ("C5H5NO".into(), 0));
    }

    #[test]
    fn bad_smiles_are_errors_not_panics() {
        for bad in [
            "C1CC",
            "C(C",
            "C)C",
            "[Cl,Br]",
            "C=",
            "Xx",
            "[C",
            "%1",
            "(C)",
            "C%(100)CC",
            "C%()C",
            "C%(123456)CC%(123456)",
            "C%(12C",
            "C%(1a)C",
        ] {
            assert!(parse_smiles(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn graph_with_directional_bonds_and_chirality() {
        // F/C=C\F (cis), a @@ centre, an aromatic ring closed with a mark.
        let m = parse_smiles("F/C=C\\F.N[C@@H](C)O.c1ccccc1").unwrap();
        let b: Vec<_> = m
            .bonds
            .iter()
            .map(|b| (b.a, b.b, b.order, b.stereo))
            .collect();
        assert_eq!(b[0], (0, 1, BondOrder::Single, BondStereo::Up));
        assert_eq!(b[1], (1, 2, BondOrder::Double, BondStereo::None));
        assert_eq!(b[2], (2, 3, BondOrder::Single, BondStereo::Down));
        assert_eq!(m.atoms[5].stereo, AtomStereo::Clockwise);
        assert_eq!(m.atoms[5].attached_h, 1);
        assert!(m.atoms[8].aromatic && !m.atoms[7].aromatic);
        // Ring closure c1…c1: from the opening atom to the closing one.
        assert_eq!(b[11], (8, 13, BondOrder::Aromatic, BondStereo::None));
        assert_eq!(m.bonds.len(), 3 + 3 + 6);
        let p = chem::properties(&m);
        assert_eq!(p.formula, "C10H15F2NO");
        assert_eq!(p.bond_count, 12);
        // A mark on the closing digit reads from the closing atom.
        let m = parse_smiles("C/1CCCC\\1").unwrap();
        let last = m.bonds.last().unwrap();
        assert_eq!((last.a, last.b, last.stereo), (4, 0, BondStereo::Down));
        let m = parse_smiles("[C@TH1]([C@TB7])[13CH3:12345678901234567890]").unwrap();
        assert_eq!(m.atoms[0].stereo, AtomStereo::Anticlockwise);
        assert_eq!(m.atoms[1].stereo, AtomStereo::Class(ChiralClass::Tb, 7));
        assert_eq!(m.atoms[2].isotope, 13);
    }

    #[test]
    fn numbers_that_do_not_fit_are_errors() {
        for (bad, why) in [
            ("[C+2147483647+2147483647]", "charge out of range"),
            ("[C+99999999999999999999]", "out of range"),
            ("[C+128]", "charge out of range"),
            ("[C-129]", "charge out of range"),
            ("[C+++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++]", "charge out of range"),
            ("[CH256]", "hydrogen count 256"),
            ("[70000C]", "isotope 70000"),
            ("[99999999999C]", "out of range"),
            ("[C@TB300]", "chirality 300"),
        ] {
            let e = parse_smiles(bad).unwrap_err();
            assert!(e.1.contains(why), "{bad}: {e:?}");
        }
        // The extremes that fit are kept exactly.
        let m = parse_smiles("[65535CH255+127].[C-128]").unwrap();
        assert_eq!(
            (m.atoms[0].isotope, m.atoms[0].attached_h, m.atoms[0].charge),
            (65535, 255, 127)
        );
        assert_eq!(chem::properties(&m).net_charge, -1);
    }

    #[test]
    fn deep_branches_and_crowded_atoms_are_errors() {
        let n = 11_000;
        let nested = format!("C{}{}", "(#C".repeat(n), ")".repeat(n));
        let e = parse(nested.as_bytes(), 4).unwrap_err();
        assert!(e.reason.contains("nested deeper than 10000"), "{e}");
        assert_eq!(e.line, 4);
        // 11,000 triple bonds on one atom: its bond order sum does not fit.
        let star = format!("C{}", "(#C)".repeat(n));
        let e = parse(star.as_bytes(), 4).unwrap_err();
        assert!(e.reason.contains("more bonds than an atom can hold"), "{e}");
        // At the limit it still reads.
        let ok = format!(
            "C{}{}",
            "(C".repeat(MAX_BRANCH_DEPTH),
            ")".repeat(MAX_BRANCH_DEPTH)
        );
        assert_eq!(parse_smiles(&ok).unwrap().atoms.len(), MAX_BRANCH_DEPTH + 1);
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
