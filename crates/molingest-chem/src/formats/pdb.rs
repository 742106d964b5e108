//! PDB and PDBQT readers: one molecule per MODEL (a file without MODEL lines
//! is one), ATOM and HETATM records, atoms as written (no hydrogens added).
//!
//! - PDB: element and charge exactly as RDKit's `PDBAtomLine` reads them
//!   ([`pdb_atom`]): columns 77-78 when column 77 is an uppercase letter (or
//!   77 blank and 78 uppercase), else the atom name (columns 13-16) by the
//!   PDB column rule — a two-letter element starts in column 13, so ` CA `
//!   is carbon, `CA  ` calcium, `CL  ` chlorine, ` Cl ` chlorine; the
//!   residue name plays no part, and a name RDKit reads no element from
//!   (`Cl  `, `C1  `) refuses the record as RDKit refuses it. Formal charge
//!   from columns 79-80 by RDKit's rule. Only altlocs blank, `A` or `1` are
//!   kept; pseudo atoms RDKit leaves out (` Q…`, `DUM`, XPLOR 9999.000) are
//!   left out.
//!
//! A tab in an ATOM/HETATM record rejects it: its columns cannot be known.
//! - PDBQT: element from the AutoDock type (columns 78-79): `A`→C, `OA`→O,
//!   `NA`/`NS`→N, `SA`→S, `HD`/`HS`→H, `CG0`-`CG9`→C; pseudo atoms `G0`-`G9`
//!   (macrocycle glue) and `W` (hydrated docking) are not counted. ROOT,
//!   BRANCH and TORSDOF records are structure, not ends.
//!
//! Both keep coordinates (columns 31-54) and take bonds from CONECT records:
//! a pair listed on several lines is one bond, a partner repeated on one
//! line gives its order (RDKit's rule). Partners that are not atoms of the
//! model (filtered altlocs, other models) are left out.

use super::{bond_error, decimal, excerpt, lines, text, Parsed};
use crate::chem::{elements, Atom, BondOrder, BondStereo, HydrogenRule};
use crate::error::ParseError;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Pdb,
    Pdbqt,
}

pub fn parse(record: &[u8], first_line: u64, flavour: Flavour) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    let mut serials = Vec::new();
    let mut conect: Vec<(u32, Vec<u32>, u64)> = Vec::new();
    let (mut header, mut compnd) = (String::new(), String::new());
    let mut name = String::new();
    for (no, line) in lines(record, first_line) {
        if line.starts_with(b"REMARK") || line.starts_with(b"MODEL") {
            docking_remark(line, &mut out, &mut name);
            continue;
        }
        if line.starts_with(b"HEADER") && header.is_empty() {
            header = text(line.get(10..).unwrap_or_default()).trim().to_owned();
            continue;
        }
        if line.starts_with(b"COMPND") && compnd.is_empty() {
            compnd = text(line.get(10..).unwrap_or_default()).trim().to_owned();
            continue;
        }
        if line.starts_with(b"CONECT") {
            let field = |a: usize| -> Option<u32> {
                std::str::from_utf8(line.get(a..(a + 5).min(line.len()))?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            if let Some(from) = field(6) {
                conect.push((
                    from,
                    [11, 16, 21, 26].iter().filter_map(|&a| field(a)).collect(),
                    no,
                ));
            }
            continue;
        }
        if !(line.starts_with(b"ATOM") || line.starts_with(b"HETATM")) {
            continue;
        }
        if let Some(at) = memchr::memchr(b'\t', line) {
            return Err(ParseError::new(
                no,
                format!(
                    "tab in a fixed-column atom record (column {}): its fields cannot be read",
                    at + 1
                ),
            ));
        }
        if line.len() < 16 {
            return Err(ParseError::new(
                no,
                format!("atom record too short: {}", excerpt(line)),
            ));
        }
        let altloc = line.get(16).copied().unwrap_or(b' ');
        if !matches!(altloc, b' ' | b'A' | b'1') {
            continue;
        }
        let mut atom = match flavour {
            Flavour::Pdb => {
                if rdkit_skips(line) {
                    continue;
                }
                rdkit_numbers(line).map_err(|e| ParseError::new(no, e))?;
                pdb_atom(line).map_err(|e| ParseError::new(no, e))?
            }
            Flavour::Pdbqt => match pdbqt_atom(line) {
                Some(Pseudo::Skip) => continue,
                Some(Pseudo::Atom(a)) => a,
                None => {
                    return Err(ParseError::new(
                        no,
                        format!("cannot tell the element of atom {}", excerpt(&line[12..16])),
                    ))
                }
            },
        };
        let xyz = |a: usize| decimal(line.get(a..(a + 8).min(line.len()))?);
        atom.coords = (|| Some([xyz(30)?, xyz(38)?, xyz(46)?]))();
        out.mol.atoms.push(atom);
        let serial = std::str::from_utf8(&line[6..11])
            .ok()
            .and_then(|t| t.trim().parse().ok());
        serials.push(serial.unwrap_or(0));
    }
    out.title = [header, compnd, name]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    if !conect.is_empty() {
        let index: HashMap<u32, usize> = serials.iter().enumerate().map(|(i, &s)| (s, i)).collect();
        if flavour == Flavour::Pdb {
            nitrogen_cations(&mut out.mol.atoms, &index, &conect);
        }
        conect_bonds(&mut out, &index, &conect)?;
    }
    Ok(out)
}

/// What docking programs leave in REMARK lines, as data fields: AutoDock
/// Vina / QVina scores per MODEL (`VINA RESULT: affinity rmsd_lb rmsd_ub`,
/// `INTER + INTRA`, `INTER`, `INTRA`, `UNBOUND`), the pose rank (the MODEL
/// number), Meeko's `SMILES`, `SMILES IDX` and `H PARENT` (which give a
/// PDBQT ligand its bond orders: its SMILES becomes the record's SMILES),
/// and the ligand's `Name =`.
fn docking_remark(line: &[u8], out: &mut Parsed, name: &mut String) {
    let t = text(line);
    let field =
        |out: &mut Parsed, k: &str, v: &str| out.fields.push((k.to_owned(), v.trim().to_owned()));
    if let Some(n) = t.strip_prefix("MODEL") {
        if !n.trim().is_empty() {
            field(out, "pose_rank", n);
        }
        return;
    }
    let Some(rest) = t.strip_prefix("REMARK") else {
        return;
    };
    let rest = rest.trim_start();
    if let Some(v) = rest.strip_prefix("VINA RESULT:") {
        for (k, x) in ["vina_affinity", "vina_rmsd_lb", "vina_rmsd_ub"]
            .iter()
            .zip(v.split_whitespace())
        {
            field(out, k, x);
        }
    } else if let Some(v) = rest.strip_prefix("INTER + INTRA:") {
        field(out, "vina_inter_intra", v);
    } else if let Some(v) = rest.strip_prefix("INTER:") {
        field(out, "vina_inter", v);
    } else if let Some(v) = rest.strip_prefix("INTRA:") {
        field(out, "vina_intra", v);
    } else if let Some(v) = rest.strip_prefix("UNBOUND:") {
        field(out, "vina_unbound", v);
    } else if let Some(v) = rest.strip_prefix("SMILES IDX") {
        field(out, "smiles_idx", v);
    } else if let Some(v) = rest.strip_prefix("SMILES ") {
        field(out, "SMILES", v);
        out.smiles = Some(v.trim().to_owned()).filter(|s| !s.is_empty());
    } else if let Some(v) = rest.strip_prefix("H PARENT") {
        field(out, "h_parent", v);
    } else if let Some(v) = rest.strip_prefix("Name =") {
        *name = v.trim().to_owned();
    }
}

/// Bonds from CONECT records: one per atom pair, its order the most times
/// the partner is repeated on one line (1-3; more is `Any`).
fn conect_bonds(
    out: &mut Parsed,
    index: &HashMap<u32, usize>,
    conect: &[(u32, Vec<u32>, u64)],
) -> Result<(), ParseError> {
    // (low, high) atom index → (order, first line naming the pair).
    let mut pairs: HashMap<(usize, usize), (u32, u64)> = HashMap::new();
    let mut order_seen: Vec<(usize, usize)> = Vec::new();
    for (from, to, no) in conect {
        let Some(&i) = index.get(from) else { continue };
        for (k, t) in to.iter().enumerate() {
            let Some(&j) = index.get(t) else { continue };
            if i == j || to[..k].contains(t) {
                continue; // a self reference, or a repeat counted below
            }
            let n = to.iter().filter(|&&x| x == *t).count() as u32;
            let key = (i.min(j), i.max(j));
            let e = pairs.entry(key).or_insert_with(|| {
                order_seen.push(key);
                (0, *no)
            });
            e.0 = e.0.max(n);
        }
    }
    out.mol.bonds.reserve(order_seen.len());
    for key in order_seen {
        let (n, no) = pairs[&key];
        let order = match n {
            1 => BondOrder::Single,
            2 => BondOrder::Double,
            3 => BondOrder::Triple,
            _ => BondOrder::Any,
        };
        out.mol
            .add_bond(key.0, key.1, order, BondStereo::None)
            .map_err(|e| bond_error(no, e))?;
    }
    Ok(())
}

/// RDKit refuses an atom record whose serial (columns 7-11) is not an
/// integer (`*****` past 99,999 atoms, hexadecimal serials) or whose
/// coordinates, occupancy or temperature factor are written but are not a
/// finite number (`inf`, `nan`); blank fields it takes. So does this reader.
fn rdkit_numbers(line: &[u8]) -> Result<(), String> {
    let field = |a: usize, b: usize| line.get(a..b.min(line.len())).unwrap_or_default();
    let serial = field(6, 11).trim_ascii();
    if !serial.is_empty()
        && std::str::from_utf8(serial)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .is_none()
    {
        return Err(format!("atom serial {} is not a number", excerpt(serial)));
    }
    for (name, a, b) in [
        ("x", 30, 38),
        ("y", 38, 46),
        ("z", 46, 54),
        ("occupancy", 54, 60),
        ("temperature factor", 60, 66),
    ] {
        let f = field(a, b);
        if !f.trim_ascii().is_empty() && decimal(f).is_none() {
            return Err(format!(
                "{name} {} is not a number",
                excerpt(f.trim_ascii())
            ));
        }
    }
    Ok(())
}

/// Give +1 to every neutral N that the file's CONECT records give four
/// bonds (a partner listed twice on one CONECT line is a double bond).
fn nitrogen_cations(
    atoms: &mut [Atom],
    index: &HashMap<u32, usize>,
    conect: &[(u32, Vec<u32>, u64)],
) {
    // A bond counts at both ends, whichever atom's line lists it (RDKit
    // makes the bond from either line).
    let neutral_n = |i: usize| atoms[i].z == 7 && atoms[i].charge == 0;
    let mut partners: HashMap<usize, HashMap<u32, u32>> = HashMap::new();
    for (from, to, _) in conect {
        let Some(&i) = index.get(from) else { continue };
        let mut on_line: HashMap<u32, u32> = HashMap::new();
        for t in to {
            *on_line.entry(*t).or_default() += 1;
        }
        for (t, n) in on_line {
            let mut note = |atom: usize, partner: u32| {
                let order = partners
                    .entry(atom)
                    .or_default()
                    .entry(partner)
                    .or_default();
                *order = (*order).max(n);
            };
            if neutral_n(i) {
                note(i, t);
            }
            if let Some(&j) = index.get(&t) {
                if j != i && neutral_n(j) {
                    note(j, *from);
                }
            }
        }
    }
    for (i, p) in partners {
        if p.values().sum::<u32>() == 4 {
            atoms[i].charge = 1;
        }
    }
}

fn as_written(z: elements::Z) -> Atom {
    Atom {
        z,
        implicit_h: HydrogenRule::AsWritten,
        ..Atom::default()
    }
}

/// Records RDKit's PDB reader leaves out: XPLOR pseudo atoms (coordinates
/// 9999.000 ×3), NMR pseudo atoms (name ` Q…`) and dummy residues (`DUM`).
fn rdkit_skips(line: &[u8]) -> bool {
    line.get(30..54) == Some(b"9999.0009999.0009999.000".as_slice())
        || line.get(12..14) == Some(b" Q".as_slice())
        || line.get(18..21) == Some(b"DUM".as_slice())
}

/// The atom of a PDB ATOM/HETATM record, as RDKit's `PDBAtomLine` reads
/// it (checked against RDKit 2026.09.1, `tests/data/rdkit_pdb_elements.tsv`):
/// - the element from columns 77-78 when column 77 is an uppercase letter
///   (a second letter in any case) or column 77 is blank and 78 uppercase;
///   a symbol there that is no element refuses the record;
/// - else from the atom name (columns 13-16), only when column 14 is an
///   uppercase letter: column 13 blank, a one-letter element (column 15
///   added when it is lowercase: ` Cl `); column 13 a digit, the letter of
///   column 14; column 13 uppercase, the two letters (`CL  ` chlorine,
///   `CA  ` calcium), except `H…` in an ATOM record, which is hydrogen. The
///   residue name plays no part: ` NA ` is nitrogen, `Cl  ` and `C1  `
///   are refused, as RDKit refuses them;
/// - the charge from columns 79-80 by RDKit's rule (`1+`, `2-`, `+`, `++`,
///   ` 1`; RDKit reads `-1` as +1, and so does this reader).
fn pdb_atom(line: &[u8]) -> Result<Atom, String> {
    // RDKit reads by pointer: past the line's end comes its newline.
    let p = |i: usize| line.get(i).copied().unwrap_or(b'\n');
    let len = line.len();
    let mut symb: Vec<u8> = Vec::with_capacity(2);
    if len >= 78 {
        if p(76).is_ascii_uppercase() {
            symb.push(p(76));
            if p(77).is_ascii_alphabetic() {
                symb.push(p(77).to_ascii_lowercase());
            }
        } else if p(76) == b' ' && p(77).is_ascii_uppercase() {
            symb.push(p(77));
        }
    } else if len == 77 && p(76).is_ascii_uppercase() {
        symb.push(p(76));
    }
    let mut atom = None;
    if !symb.is_empty() {
        atom = Some(rdkit_pdb_symbol(&symb)?);
    }
    if atom.is_none() {
        symb.clear();
        if p(13).is_ascii_uppercase() {
            if p(12) == b' ' {
                symb.push(p(13));
                if p(14).is_ascii_lowercase() {
                    symb.push(p(14));
                }
            } else if p(12).is_ascii_uppercase() {
                if p(12) == b'H' && p(0) == b'A' {
                    symb.push(b'H'); // no He, Hf, Hg, Ho or Hs in ATOM records
                } else {
                    symb.extend([p(12), p(13).to_ascii_lowercase()]);
                }
            } else if p(12).is_ascii_digit() {
                symb.push(p(13));
            }
        }
        if !symb.is_empty() {
            atom = Some(rdkit_pdb_symbol(&symb)?);
        }
    }
    let Some(mut atom) = atom else {
        return Err(format!(
            "cannot tell the element of atom {} (no element in columns 77-78, and RDKit \
             reads none from the name)",
            excerpt(&line[12..16])
        ));
    };
    if len >= 79 {
        atom.charge = rdkit_pdb_charge(p(78), p(79));
    }
    Ok(atom)
}

/// An element symbol as RDKit's periodic table knows it (`D`, `T`:
/// hydrogen isotopes); any other text refuses the record, as in RDKit.
fn rdkit_pdb_symbol(symb: &[u8]) -> Result<Atom, String> {
    match symb {
        b"D" => Ok(Atom {
            isotope: 2,
            ..as_written(elements::H)
        }),
        b"T" => Ok(Atom {
            isotope: 3,
            ..as_written(elements::H)
        }),
        _ => elements::by_symbol_bytes(symb)
            .filter(|&z| z != elements::DUMMY)
            .map(as_written)
            .ok_or_else(|| format!("element {} not found", excerpt(symb))),
    }
}

/// Columns 79-80 as RDKit reads a charge.
fn rdkit_pdb_charge(c78: u8, c79: u8) -> i8 {
    let digit = |c: u8| (b'1'..=b'9').contains(&c).then(|| (c - b'0') as i8);
    match c78 {
        b'1'..=b'9' => match c79 {
            b'-' => -((c78 - b'0') as i8),
            b'+' | b' ' | 0 => (c78 - b'0') as i8,
            _ => 0,
        },
        b'+' => digit(c79).unwrap_or(match c79 {
            b'+' => 2,
            b'0' => 0,
            _ => 1,
        }),
        // RDKit's own reading: `-1` is +1.
        b'-' => digit(c79).unwrap_or(match c79 {
            b'-' => -2,
            b'0' => 0,
            _ => -1,
        }),
        b' ' => digit(c79).unwrap_or(match c79 {
            b'+' => 1,
            b'-' => -1,
            _ => 0,
        }),
        _ => 0,
    }
}

enum Pseudo {
    Atom(Atom),
    Skip,
}

fn pdbqt_atom(line: &[u8]) -> Option<Pseudo> {
    let t = text(line);
    let ty = if line.len() > 77 {
        t.get(77..).unwrap_or_default().trim().to_owned()
    } else {
        t.split_whitespace().last().unwrap_or_default().to_owned()
    };
    let z = match ty.as_str() {
        "A" | "C" => 6,
        "OA" | "OS" | "O" => 8,
        "NA" | "NS" | "N" => 7,
        "SA" | "S" => 16,
        "HD" | "HS" | "H" => 1,
        "W" => return Some(Pseudo::Skip),
        t if t.len() == 2 && t.starts_with('G') && t.as_bytes()[1].is_ascii_digit() => {
            return Some(Pseudo::Skip)
        }
        t if t.len() == 3 && t.starts_with("CG") && t.as_bytes()[2].is_ascii_digit() => 6,
        t => elements::by_symbol(t).or_else(|| elements::by_symbol_any_case(t))?,
    };
    Some(Pseudo::Atom(as_written(z)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vina_and_meeko_remarks_are_data_fields() {
        let t = "MODEL 2\nREMARK VINA RESULT:      -2.7      1.100      2.300\n\
                 REMARK INTER + INTRA:          -3.1\nREMARK INTER:  -2.9\nREMARK INTRA: -0.2\n\
                 REMARK UNBOUND: -0.3\nREMARK SMILES CCO\nREMARK SMILES IDX 1 1 2 2 3 3\n\
                 REMARK H PARENT 3 4\nREMARK Name = ethanol\n\
                 HETATM    1  C1  UNL     1       0.000   0.000   0.000  1.00  0.00     0.1 C \n\
                 ENDMDL\n";
        let p = parse(t.as_bytes(), 1, Flavour::Pdbqt).unwrap();
        let get = |k: &str| {
            p.fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("pose_rank"), Some("2"));
        assert_eq!(get("vina_affinity"), Some("-2.7"));
        assert_eq!(get("vina_rmsd_ub"), Some("2.300"));
        assert_eq!(get("vina_inter_intra"), Some("-3.1"));
        assert_eq!(get("vina_inter"), Some("-2.9"));
        assert_eq!(get("vina_intra"), Some("-0.2"));
        assert_eq!(get("vina_unbound"), Some("-0.3"));
        assert_eq!(get("smiles_idx"), Some("1 1 2 2 3 3"));
        assert_eq!(p.smiles.as_deref(), Some("CCO"));
        assert_eq!(p.title, "ethanol");
    }
    use crate::chem;

    fn formula(t: &str, f: Flavour) -> String {
        let p = parse(t.as_bytes(), 1, f).unwrap();
        chem::properties(&p.mol).formula
    }

    #[test]
    fn element_columns_names_and_altlocs() {
        let t = "ATOM      1  CA  ALA A   1      11.104   6.134  -6.504  1.00  0.00           C\n\
                 HETATM    2 CA    CA A   2      11.104   6.134  -6.504  1.00  0.00          CA2+\n\
                 ATOM      3  CB BALA A   1      11.104   6.134  -6.504  0.50  0.00           C\n\
                 ATOM      4  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00\n\
                 ATOM      5 CA   ALA A   1      11.104   6.134  -6.504  1.00  0.00\n";
        let p = parse(t.as_bytes(), 1, Flavour::Pdb).unwrap();
        let props = chem::properties(&p.mol);
        assert_eq!(props.formula, "CCa2N");
        assert_eq!(props.net_charge, 2);
    }

    #[test]
    fn conect_four_bonds_make_an_ammonium_n() {
        let atom = |n: u32, el: &str| {
            format!("HETATM{n:>5}  X   LIG A   1      11.104   6.134  -6.504  1.00  0.00          {el:>2}\n")
        };
        let atoms: String = [(1, "N"), (2, "C"), (3, "H"), (4, "H"), (5, "H")]
            .map(|(n, e)| atom(n, e))
            .concat();
        let with = format!("{atoms}CONECT    1    2    3    4    5\nEND\n");
        let p = parse(with.as_bytes(), 1, Flavour::Pdb).unwrap();
        assert_eq!(chem::properties(&p.mol).net_charge, 1);
        // Without CONECT records nothing is inferred: the charge is as written.
        let p = parse(atoms.as_bytes(), 1, Flavour::Pdb).unwrap();
        assert_eq!(chem::properties(&p.mol).net_charge, 0);
    }

    #[test]
    fn numbers_rdkit_cannot_read_refuse_the_record() {
        // Answers from RDKit 2026.09's MolFromPDBBlock (MDAnalysisTests'
        // fullerene.pdb and xl_serial.pdb, through tools/rdkit-diff).
        let base =
            "ATOM      1  C   MOL     1       3.451   0.685   0.000  1.00  0.00           C  \n";
        let read = |l: String| parse(format!("{l}END\n").as_bytes(), 1, Flavour::Pdb).is_ok();
        assert!(read(base.to_owned()));
        assert!(read(base.replace("  1.00  0.00", "            ")));
        assert!(read(base.replace("ATOM      1", "ATOM       ")));
        for bad in [
            base.replace("  1.00  0.00", "   inf   inf"),
            base.replace("  1.00  0.00", "   nan  0.00"),
            base.replace("  1.00  0.00", "  1.00   inf"),
            base.replace("ATOM      1", "ATOM  *****"),
            base.replace("ATOM      1", "ATOM   1a2b"),
            base.replace("   3.451", "   3.4x1"),
        ] {
            assert!(!read(bad.clone()), "{bad}");
        }
    }

    #[test]
    fn conect_bonds_listed_by_their_partners_count_too() {
        // MDAnalysisTests' gromos11 frames list an N's bonds on its
        // partners' lines only; RDKit makes the bonds from either line and
        // gives the four-bonded N its +1 (tools/rdkit-diff).
        let pdb = "MODEL\n\
ATOM      1  H1  VAL A   1      30.136  23.574   4.008  1.00  0.00           H\n\
ATOM      2  H2  VAL A   1      31.407  22.558   4.514  1.00  0.00           H\n\
ATOM      3  N   VAL A   1      31.083  23.273   3.895  1.00  0.00           N\n\
ATOM      4  H3  VAL A   1      31.212  22.951   2.957  1.00  0.00           H\n\
ATOM      5  CA  VAL A   1      31.975  24.440   3.973  1.00  0.00           C\n\
CONECT    1    3\nCONECT    2    3\nCONECT    4    3\nCONECT    5    3\nENDMDL\nEND\n";
        let p = parse(pdb.as_bytes(), 1, Flavour::Pdb).unwrap();
        assert_eq!(p.mol.atoms[2].charge, 1);
        assert_eq!(crate::chem::properties(&p.mol).net_charge, 1);
    }

    #[test]
    fn conect_records_become_bonds() {
        let atom = |n: u32, el: &str| {
            format!("HETATM{n:>5}  X   LIG A   1      11.104   6.134  -6.504  1.00  0.00          {el:>2}\n")
        };
        let atoms: String = [(1, "C"), (2, "O"), (3, "C"), (4, "O")]
            .map(|(n, e)| atom(n, e))
            .concat();
        // 1=2 double (2 repeated), 1-3 single listed from both ends, 3-4 and
        // a partner 99 that is not an atom.
        let t = format!(
            "{atoms}CONECT    1    2    2    3\nCONECT    2    1    1\nCONECT    3    1    4   99\nCONECT    4    3\nEND\n"
        );
        for f in [Flavour::Pdb, Flavour::Pdbqt] {
            let t = if f == Flavour::Pdbqt {
                t.replace("          ", "    +0.000")
            } else {
                t.clone()
            };
            let p = parse(t.as_bytes(), 1, f).unwrap();
            let m = &p.mol;
            let bonds: Vec<_> = m.bonds.iter().map(|b| (b.a, b.b, b.order)).collect();
            assert_eq!(
                bonds,
                [
                    (0, 1, BondOrder::Double),
                    (0, 2, BondOrder::Single),
                    (2, 3, BondOrder::Single)
                ]
            );
            assert_eq!(m.atoms[0].coords, Some([11.104, 6.134, -6.504]));
            assert_eq!(chem::properties(m).bond_count, 3);
        }
    }

    #[test]
    fn pdbqt_types_and_pseudo_atoms() {
        let line = |ty: &str| {
            format!("ATOM      1  C1  LIG A   1      11.104   6.134  -6.504  1.00  0.00     0.123 {ty:<2}\n")
        };
        let t = ["A", "OA", "HD", "G0", "CG0", "W", "Cl", "NA"]
            .map(line)
            .concat();
        assert_eq!(
            formula(&format!("ROOT\n{t}ENDROOT\nTORSDOF 1\n"), Flavour::Pdbqt),
            "C2HClNO"
        );
    }

    #[test]
    fn legacy_columns_73_to_80_are_not_an_element() {
        // Old files: ID code and line number in columns 73-80.
        let t = "ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00      9XYZ 105\n\
                 ATOM      2  CA  ALA A   1      11.104   6.134  -6.504  1.00  0.00      01234A56\n\
                 ATOM      3  O   ALA A   1      11.104   6.134  -6.504  1.00  0.00      1ABC  12\n\
                 HETATM    4 FE   HEM A   2      11.104   6.134  -6.504  1.00  0.00      HEMO 107\n";
        let p = parse(t.as_bytes(), 1, Flavour::Pdb).unwrap();
        let props = chem::properties(&p.mol);
        assert_eq!((props.formula.as_str(), props.net_charge), ("CFeNO", 0));
        // Element columns with a charge, or a lone 0, are still read.
        let t = "HETATM    1 ZN    ZN A   1      11.104   6.134  -6.504  1.00  0.00          ZN2+\n\
                 HETATM    2  X   UNL A   1      11.104   6.134  -6.504  1.00  0.00           S 0\n";
        let p = parse(t.as_bytes(), 1, Flavour::Pdb).unwrap();
        let props = chem::properties(&p.mol);
        assert_eq!((props.formula.as_str(), props.net_charge), ("SZn", 2));
    }

    /// Every row of RDKit's answers (`tools/rdkit-diff/gen_pdb_elements.py`,
    /// RDKit 2026.09.1): element, isotope and charge of one atom line, its
    /// refusal, or its omission (pseudo atoms, `DUM` residues).
    #[test]
    fn elements_and_charges_as_rdkit_reads_them() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/rdkit_pdb_elements.tsv"
        );
        let table = std::fs::read_to_string(path).unwrap();
        let (mut rows, mut wrong) = (0, Vec::new());
        for row in table.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = row.split('\t').collect();
            let (rec, name, res, el, ch, want) = (f[0], f[1], f[2], f[3], f[4], f[5]);
            let mut line = format!(
                "{rec:<6}{:>5} {name} {res:>3} A   1      10.000  10.000  10.000  1.00  0.00          {el}{ch}",
                1
            );
            if el.is_empty() {
                line.truncate(line.trim_end().len());
            }
            rows += 1;
            let got = match parse(format!("{line}\nEND\n").as_bytes(), 1, Flavour::Pdb) {
                Err(_) => "ERR".to_owned(),
                Ok(p) if p.mol.atoms.is_empty() => "SKIP".to_owned(),
                Ok(p) => {
                    let a = p.mol.atoms[0];
                    let iso = if a.isotope > 0 {
                        a.isotope.to_string()
                    } else {
                        String::new()
                    };
                    format!("{}{iso} {}", elements::symbol(a.z), a.charge)
                }
            };
            if got != want {
                wrong.push(format!("{line:?}: RDKit {want}, here {got}"));
            }
        }
        assert!(rows > 4000, "{rows}");
        assert!(
            wrong.is_empty(),
            "{} rows differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn a_tab_in_an_atom_record_rejects_it() {
        let t = "HEADER    x\nATOM\t  2  C  UNK\t1\t0.0\t0.0\t0.0\n";
        for f in [Flavour::Pdb, Flavour::Pdbqt] {
            let e = parse(t.as_bytes(), 1, f).unwrap_err();
            assert!(e.reason.contains("tab"), "{e}");
            assert_eq!(e.line, 2);
        }
    }
}
