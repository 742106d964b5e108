//! SDF / MDL molfile reader: V2000 and V3000 connection tables, the
//! `M  CHG`/`M  ISO`/`M  RAD` properties block, and `> <NAME>` data items.
//! Implicit hydrogens follow the MDL valence model (see `chem`).
//!
//! Atoms keep their coordinates (left out when unreadable, as before they
//! were read at all) and parity; bonds their order and stereo. Charges,
//! isotopes and counts that do not fit the atom (`M  CHG  1   1 200`) reject
//! the record: they are never clamped.

use super::{bond_error, decimal, excerpt, lines, text, Parsed};
use crate::chem::{elements, Atom, AtomStereo, BondOrder, BondStereo, HydrogenRule};
use crate::error::ParseError;

type Lines<'a> = std::iter::Peekable<super::Lines<'a>>;

pub fn parse(record: &[u8], first_line: u64) -> Result<Parsed, ParseError> {
    let mut it: Lines = lines(record, first_line).peekable();
    let (_, title) = it
        .next()
        .ok_or_else(|| ParseError::new(first_line, "empty record"))?;
    let mut out = Parsed {
        title: text(title).trim().to_owned(),
        ..Parsed::default()
    };
    for _ in 0..2 {
        it.next()
            .ok_or_else(|| ParseError::new(first_line, "record ends in its header block"))?;
    }
    let (counts_no, counts) = it
        .next()
        .ok_or_else(|| ParseError::new(first_line + 3, "record ends before its counts line"))?;
    let mut fixed_valence = Vec::new();
    if find(counts, b"V3000").is_some() {
        parse_v3000(&mut it, &mut out, counts_no)?;
    } else {
        parse_v2000(
            &mut it,
            &mut out,
            counts,
            counts_no,
            record.len(),
            &mut fixed_valence,
        )?;
    }
    // The MDL valence field fixes an atom's total valence: no implicit H then.
    for (i, v) in fixed_valence {
        let a = &mut out.mol.atoms[i];
        // More bonds than a u8 holds: certainly more than the valence.
        let used = u8::try_from(a.bond_order_x2 / 2).unwrap_or(u8::MAX);
        a.attached_h = v.saturating_sub(used);
        a.implicit_h = HydrogenRule::AsWritten;
    }
    parse_data_items(&mut it, &mut out);
    out.smiles = out
        .fields
        .iter()
        .find(|(k, _)| {
            k.eq_ignore_ascii_case("smiles") || k.eq_ignore_ascii_case("canonical_smiles")
        })
        .map(|(_, v)| v.trim().to_owned())
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace));
    Ok(out)
}

fn parse_v2000(
    it: &mut Lines,
    out: &mut Parsed,
    counts: &[u8],
    counts_no: u64,
    record_len: usize,
    fixed_valence: &mut Vec<(usize, u8)>,
) -> Result<(), ParseError> {
    let (n_atoms, n_bonds) = counts_v2000(counts).ok_or_else(|| {
        ParseError::new(
            counts_no,
            format!("unreadable counts line {}", excerpt(counts)),
        )
    })?;
    // The counts may lie: reserve no more than the record's lines can hold.
    out.mol.atoms.reserve(n_atoms.min(record_len / 34));
    out.mol.bonds.reserve(n_bonds.min(record_len / 9));
    for i in 0..n_atoms {
        let (no, line) = it.next().ok_or_else(|| {
            // Reported where the record begins (the header is 3 lines), not
            // at a line past the end of the file.
            ParseError::new(
                counts_no.saturating_sub(3),
                format!(
                    "record ends at line {} after {i} of {n_atoms} atoms",
                    counts_no + i as u64
                ),
            )
        })?;
        if line.len() < 34 {
            return Err(ParseError::new(
                no,
                format!("atom line too short: {}", excerpt(line)),
            ));
        }
        let sym = col(line, 31, 34).trim_ascii();
        let mut atom = atom_from_symbol(sym)
            .ok_or_else(|| ParseError::new(no, format!("unknown element {}", excerpt(sym))))?;
        let bad = |what: &str| ParseError::new(no, format!("bad {what} field in atom line"));
        let mass_diff = int(col(line, 34, 36)).ok_or_else(|| bad("mass difference"))?;
        if mass_diff != 0 && atom.z != elements::DUMMY {
            let mass = elements::average_weight(atom.z).round() as i64 + mass_diff;
            atom.isotope = u16::try_from(mass).ok().filter(|&m| m > 0).ok_or_else(|| {
                ParseError::new(no, format!("mass difference {mass_diff} gives mass {mass}"))
            })?;
        }
        atom.coords = (|| Some([coord(line, 0)?, coord(line, 10)?, coord(line, 20)?]))();
        atom.stereo = match int(col(line, 39, 42)) {
            Some(1) => AtomStereo::ParityOdd,
            Some(2) => AtomStereo::ParityEven,
            Some(3) => AtomStereo::ParityEither,
            _ => AtomStereo::None,
        };
        match int(col(line, 36, 39)).ok_or_else(|| bad("charge"))? {
            1 => atom.charge = 3,
            2 => atom.charge = 2,
            3 => atom.charge = 1,
            4 => atom.radical_electrons = 1,
            5 => atom.charge = -1,
            6 => atom.charge = -2,
            7 => atom.charge = -3,
            _ => {}
        }
        match int(col(line, 48, 51)).unwrap_or(0) {
            15 => fixed_valence.push((i, 0)),
            v @ 1..=14 => fixed_valence.push((i, v as u8)),
            _ => {}
        }
        out.mol.atoms.push(atom);
    }
    for i in 0..n_bonds {
        let (no, line) = it.next().ok_or_else(|| {
            ParseError::new(
                counts_no.saturating_sub(3),
                format!(
                    "record ends at line {} after {i} of {n_bonds} bonds",
                    counts_no + (n_atoms + i) as u64
                ),
            )
        })?;
        let a = int(col(line, 0, 3)).unwrap_or(0);
        let b = int(col(line, 3, 6)).unwrap_or(0);
        let order = int(col(line, 6, 9)).unwrap_or(0);
        let stereo = match int(col(line, 9, 12)).unwrap_or(0) {
            1 => BondStereo::Wedge,
            6 => BondStereo::Hash,
            4 => BondStereo::Either,
            3 if order == 2 => BondStereo::CisTransEither,
            _ => BondStereo::None,
        };
        add_bond(out, a, b, order, stereo, no)?;
    }
    // Properties block. Charges and radicals in `M  CHG`/`M  RAD` replace
    // every value of the atom block (MDL rule).
    let (mut chg_seen, mut rad_seen) = (false, false);
    while let Some(&(no, line)) = it.peek() {
        if line.starts_with(b"$$$$") || line.starts_with(b">") {
            break;
        }
        it.next();
        if line.starts_with(b"M  END") {
            break;
        }
        if line.starts_with(b"A  ") || line.starts_with(b"V  ") || line.starts_with(b"G  ") {
            if !line.starts_with(b"V  ") {
                it.next(); // alias / group text is on the next line
            }
            continue;
        }
        if line.starts_with(b"S  SKP") {
            for _ in 0..int(col(line, 6, 9)).unwrap_or(0) {
                it.next();
            }
            continue;
        }
        let key = col(line, 0, 6);
        if key != b"M  CHG" && key != b"M  ISO" && key != b"M  RAD" {
            continue;
        }
        if key == b"M  CHG" && !chg_seen {
            chg_seen = true;
            out.mol.atoms.iter_mut().for_each(|a| a.charge = 0);
        }
        if key == b"M  RAD" && !rad_seen {
            rad_seen = true;
            out.mol
                .atoms
                .iter_mut()
                .for_each(|a| a.radical_electrons = 0);
        }
        let nums: Vec<i64> = text(&line[6.min(line.len())..])
            .split_whitespace()
            .map(|t| t.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| ParseError::new(no, format!("unreadable {} line", text(key))))?;
        let n = usize::try_from(nums.first().copied().unwrap_or(0)).unwrap_or(0);
        if n.checked_mul(2).is_none_or(|m| nums.len() <= m) {
            return Err(ParseError::new(
                no,
                format!("{} line lists fewer pairs than it says", text(key)),
            ));
        }
        for pair in nums[1..1 + 2 * n].chunks_exact(2) {
            let atom = atom_mut(out, pair[0], no)?;
            let v = pair[1];
            match key {
                b"M  CHG" => atom.charge = charge(v, no)?,
                b"M  ISO" => atom.isotope = isotope(v, no)?,
                _ => {
                    atom.radical_electrons = match v {
                        2 => 1,
                        1 | 3 => 2,
                        _ => 0,
                    }
                }
            }
        }
    }
    Ok(())
}

fn parse_v3000(it: &mut Lines, out: &mut Parsed, counts_no: u64) -> Result<(), ParseError> {
    #[derive(PartialEq)]
    enum Section {
        None,
        Atom,
        Bond,
    }
    let mut section = Section::None;
    let mut index_of = std::collections::HashMap::new();
    let mut last_no = counts_no;
    let mut ended = false;
    while let Some((no, first)) = it.next() {
        last_no = no;
        if first.starts_with(b"M  END") {
            ended = true;
            break;
        }
        if !first.starts_with(b"M  V30") {
            continue;
        }
        // A line ending in '-' continues on the next.
        let mut logical = text(&first[6..]);
        while logical.ends_with('-') {
            logical.pop();
            match it.next() {
                Some((_, more)) if more.starts_with(b"M  V30") => {
                    logical.push_str(&text(&more[6..]))
                }
                _ => return Err(ParseError::new(no, "V3000 continuation line missing")),
            }
        }
        let logical = logical.trim();
        match logical {
            "BEGIN ATOM" => section = Section::Atom,
            "BEGIN BOND" => section = Section::Bond,
            s if s.starts_with("END ") => section = Section::None,
            s if section == Section::Atom => {
                let mut tok = s.split_whitespace();
                let (Some(idx), Some(sym)) = (tok.next(), tok.next()) else {
                    return Err(ParseError::new(no, "V3000 atom line too short"));
                };
                let mut atom = atom_from_symbol(sym.as_bytes()).ok_or_else(|| {
                    ParseError::new(no, format!("unknown element {}", excerpt(sym.as_bytes())))
                })?;
                let (x, y, z) = (tok.next(), tok.next(), tok.next());
                if let (Some(x), Some(y), Some(z)) = (x, y, z) {
                    atom.coords = coords(x.as_bytes(), y.as_bytes(), z.as_bytes());
                }
                for kv in tok.skip(1) {
                    let Some((k, v)) = kv.split_once('=') else {
                        continue;
                    };
                    if !matches!(k, "CHG" | "MASS" | "RAD" | "VAL" | "CFG") {
                        continue;
                    }
                    let v: i64 = v.parse().map_err(|_| {
                        ParseError::new(no, format!("unreadable {}", excerpt(kv.as_bytes())))
                    })?;
                    match k {
                        "CHG" => atom.charge = charge(v, no)?,
                        "MASS" => atom.isotope = isotope(v, no)?,
                        "CFG" => {
                            atom.stereo = match v {
                                1 => AtomStereo::ParityOdd,
                                2 => AtomStereo::ParityEven,
                                3 => AtomStereo::ParityEither,
                                _ => AtomStereo::None,
                            }
                        }
                        "RAD" => {
                            atom.radical_electrons = match v {
                                2 => 1,
                                1 | 3 => 2,
                                _ => 0,
                            }
                        }
                        "VAL" if v != 0 => {
                            atom.attached_h = 0;
                            atom.implicit_h = HydrogenRule::AsWritten;
                        }
                        _ => {}
                    }
                }
                index_of.insert(idx.to_owned(), out.mol.atoms.len() as i64 + 1);
                out.mol.atoms.push(atom);
            }
            s if section == Section::Bond => {
                let f: Vec<&str> = s.split_whitespace().collect();
                if f.len() < 4 {
                    return Err(ParseError::new(no, "V3000 bond line too short"));
                }
                let order: i64 = f[1].parse().unwrap_or(0);
                let lookup = |t: &str| index_of.get(t).copied().unwrap_or(-1);
                let cfg = f[4..].iter().find_map(|kv| kv.strip_prefix("CFG="));
                let stereo = match cfg.map(str::parse::<i64>) {
                    None => BondStereo::None,
                    Some(Ok(1)) => BondStereo::Wedge,
                    Some(Ok(3)) => BondStereo::Hash,
                    Some(Ok(2)) if order == 2 => BondStereo::CisTransEither,
                    Some(Ok(2)) => BondStereo::Either,
                    Some(Ok(_)) => BondStereo::None,
                    Some(Err(_)) => return Err(ParseError::new(no, "unreadable bond CFG=")),
                };
                add_bond(out, lookup(f[2]), lookup(f[3]), order, stereo, no)?;
            }
            _ => {}
        }
    }
    if !ended {
        return Err(ParseError::new(last_no, "V3000 record ends before M  END"));
    }
    Ok(())
}

fn add_bond(
    out: &mut Parsed,
    a: i64,
    b: i64,
    order: i64,
    stereo: BondStereo,
    no: u64,
) -> Result<(), ParseError> {
    let order = match order {
        1 => BondOrder::Single,
        2 => BondOrder::Double,
        3 => BondOrder::Triple,
        4 => BondOrder::Aromatic,
        5..=8 => BondOrder::Any,
        // RDKit reads a coordination bond as dative from the first atom to
        // the second: it counts at the acceptor only (`B<-NC` is CH7BN).
        9 => BondOrder::Dative,
        10 => BondOrder::Zero,
        t => return Err(ParseError::new(no, format!("unknown bond type {t}"))),
    };
    let (a, b) = (atom_index(out, a, no)?, atom_index(out, b, no)?);
    if order == BondOrder::Aromatic {
        // MDL aromatic bonds make their atoms aromatic (RDKit's reading):
        // such an atom takes only its first valence.
        out.mol.atoms[a].aromatic = true;
        out.mol.atoms[b].aromatic = true;
    }
    if order == BondOrder::Dative {
        out.mol
            .add_bond_counting(a, b, order, stereo, 0)
            .map_err(|e| bond_error(no, e))?;
        let acceptor = &mut out.mol.atoms[b];
        acceptor.bond_order_x2 = acceptor
            .bond_order_x2
            .checked_add(BondOrder::Dative.valence_x2())
            .ok_or_else(|| bond_error(no, crate::chem::BondError::TooManyBonds(b)))?;
        return Ok(());
    }
    out.mol
        .add_bond(a, b, order, stereo)
        .map_err(|e| bond_error(no, e))
}

/// 0-based index of the 1-based atom number `n`.
fn atom_index(out: &Parsed, n: i64, no: u64) -> Result<usize, ParseError> {
    let count = out.mol.atoms.len();
    usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| i < count)
        .ok_or_else(|| {
            ParseError::new(
                no,
                format!("reference to atom {n}, but the record has {count} atoms"),
            )
        })
}

fn atom_mut(out: &mut Parsed, n: i64, no: u64) -> Result<&mut Atom, ParseError> {
    let i = atom_index(out, n, no)?;
    Ok(&mut out.mol.atoms[i])
}

/// A formal charge must fit the atom (i8): a larger one rejects the record.
fn charge(v: i64, no: u64) -> Result<i8, ParseError> {
    i8::try_from(v).map_err(|_| ParseError::new(no, format!("charge {v} out of range")))
}

/// A mass number must fit the atom (u16, 0 = natural abundance).
fn isotope(v: i64, no: u64) -> Result<u16, ParseError> {
    u16::try_from(v).map_err(|_| ParseError::new(no, format!("mass number {v} out of range")))
}

/// A V2000 coordinate: ten columns, `xxxxx.xxxx` as the format fixes them
/// (read by hand: three per atom is the reader's hottest work), anything
/// else through the general reader.
#[inline]
fn coord(line: &[u8], at: usize) -> Option<f64> {
    let field = col(line, at, at + 10);
    if let [.., b'.', f0, f1, f2, f3] = *field {
        if field.len() == 10 {
            // Blanks, an optional '-', then digits up to the point.
            let mut i = 0;
            while i < 4 && field[i] == b' ' {
                i += 1;
            }
            let negative = field[i] == b'-';
            i += usize::from(negative);
            let mut value = 0u32;
            let mut ok = i < 5;
            while i < 5 {
                let d = field[i].wrapping_sub(b'0');
                ok &= d < 10;
                value = value.wrapping_mul(10).wrapping_add(u32::from(d));
                i += 1;
            }
            for c in [f0, f1, f2, f3] {
                let d = c.wrapping_sub(b'0');
                ok &= d < 10;
                value = value.wrapping_mul(10).wrapping_add(u32::from(d));
            }
            if ok {
                let v = f64::from(value) / 1e4;
                return Some(if negative { -v } else { v });
            }
        }
    }
    decimal(field)
}

/// A position from three fields; `None` unless all three read.
fn coords(x: &[u8], y: &[u8], z: &[u8]) -> Option<[f64; 3]> {
    Some([decimal(x)?, decimal(y)?, decimal(z)?])
}

fn atom_from_symbol(sym: &[u8]) -> Option<Atom> {
    let mut atom = Atom {
        implicit_h: HydrogenRule::MdlValence,
        ..Atom::default()
    };
    match sym {
        b"D" => {
            atom.z = elements::H;
            atom.isotope = 2;
        }
        b"T" => {
            atom.z = elements::H;
            atom.isotope = 3;
        }
        b"*" | b"A" | b"Q" | b"R" | b"R#" | b"X" | b"M" | b"L" | b"LP" => atom.z = elements::DUMMY,
        s => {
            atom.z = elements::by_symbol_bytes(s)
                .or_else(|| elements::by_symbol_any_case(std::str::from_utf8(s).ok()?))?
        }
    }
    Some(atom)
}

/// Atom and bond counts from a V2000 counts line: fixed columns, or
/// whitespace-separated as some writers emit them.
fn counts_v2000(line: &[u8]) -> Option<(usize, usize)> {
    let fixed = (int(col(line, 0, 3)), int(col(line, 3, 6)));
    if let (Some(a), Some(b)) = fixed {
        if a >= 0 && b >= 0 && !col(line, 0, 3).iter().all(u8::is_ascii_whitespace) {
            return Some((a as usize, b as usize));
        }
    }
    let t = text(line);
    let mut w = t.split_whitespace();
    Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
}

fn parse_data_items(it: &mut Lines, out: &mut Parsed) {
    while let Some((_, line)) = it.next() {
        if !line.starts_with(b">") {
            continue;
        }
        let header = text(line);
        let name = match (header.find('<'), header.rfind('>')) {
            (Some(a), Some(b)) if b > a => header[a + 1..b].to_owned(),
            _ => header[1..].trim().to_owned(),
        };
        let mut value = String::new();
        while let Some(&(_, l)) = it.peek() {
            if l.iter().all(u8::is_ascii_whitespace) {
                it.next();
                break;
            }
            if l.starts_with(b"> ") && (l.contains(&b'<')) && value.is_empty() {
                break;
            }
            it.next();
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(text(l).trim_end());
        }
        if !out.fields.iter().any(|(k, _)| *k == name) {
            out.fields.push((name, value));
        }
    }
}

/// Bytes `a..b` of a line, clipped to its length.
#[inline]
fn col(line: &[u8], a: usize, b: usize) -> &[u8] {
    let b = b.min(line.len());
    if a >= b {
        &[]
    } else {
        &line[a..b]
    }
}

/// A fixed-width integer field: blank is 0, garbage is `None`.
#[inline]
fn int(field: &[u8]) -> Option<i64> {
    // Most atom and bond fields are one right-aligned digit (`  0`).
    if let [b' ', b' ', d @ b'0'..=b'9'] | [b' ', d @ b'0'..=b'9'] = *field {
        return Some(i64::from(d - b'0'));
    }
    let s = field.trim_ascii();
    let (negative, digits) = match s {
        [] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n = 0i64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if negative { -n } else { n })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chem;

    const ETHANOL: &str = "ethanol\n  test\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n    0.0000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n  1  2  1  0\n  2  3  1  0\nM  END\n> <ID>\nE-1\n\n>  <NOTE>  (1)\nline one\nline two\n\n";

    #[test]
    fn v2000_with_data_items() {
        let p = parse(ETHANOL.as_bytes(), 1).unwrap();
        assert_eq!(p.title, "ethanol");
        let props = chem::properties(&p.mol);
        assert_eq!(props.formula, "C2H6O");
        assert_eq!(
            p.fields,
            vec![
                ("ID".into(), "E-1".into()),
                ("NOTE".into(), "line one\nline two".into())
            ]
        );
    }

    #[test]
    fn charges_and_isotopes_from_properties_block() {
        let t = ETHANOL.replace("M  END", "M  CHG  1   3  -1\nM  ISO  1   1  13\nM  END");
        let p = parse(t.as_bytes(), 1).unwrap();
        let props = chem::properties(&p.mol);
        assert_eq!(props.formula, "C2H5O");
        assert_eq!(props.net_charge, -1);
    }

    #[test]
    fn v3000() {
        let t = "x\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS 2 1 0 0 0\nM  V30 BEGIN ATOM\nM  V30 1 C 0 0 0 0\nM  V30 2 N 0 0 0 0 CHG=1\nM  V30 END ATOM\nM  V30 BEGIN BOND\nM  V30 1 1 1 -\nM  V30 2\nM  V30 END BOND\nM  V30 END CTAB\nM  END\n";
        let p = parse(t.as_bytes(), 1).unwrap();
        let props = chem::properties(&p.mol);
        assert_eq!(props.formula, "CH6N");
        assert_eq!(props.net_charge, 1);
    }

    #[test]
    fn v2000_graph_coordinates_and_stereo() {
        // 1-2 wedge, 2=3 double with cis/trans unknown, 2-4 hash; atom 2 parity 1.
        let t = "x\n\n\n  4  3  0  0  0  0  0  0  0  0999 V2000\n\
                 \x20   1.5000   -0.2500    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n\
                 \x20   0.0000    0.0000    0.0000 C   0  0  1  0  0  0  0  0  0  0  0  0\n\
                 \x20  -1.0000    1.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n\
                 \x20   0.0000   -1.5000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n\
                 \x20 2  1  1  1\n  2  3  2  3\n  2  4  1  6\nM  END\n";
        let p = parse(t.as_bytes(), 1).unwrap();
        let m = &p.mol;
        assert_eq!(m.atoms[0].coords, Some([1.5, -0.25, 0.0]));
        assert_eq!(m.atoms[1].stereo, AtomStereo::ParityOdd);
        assert_eq!(m.atoms[0].stereo, AtomStereo::None);
        let bonds: Vec<_> = m
            .bonds
            .iter()
            .map(|b| (b.a, b.b, b.order, b.stereo))
            .collect();
        assert_eq!(
            bonds,
            [
                (1, 0, BondOrder::Single, BondStereo::Wedge),
                (1, 2, BondOrder::Double, BondStereo::CisTransEither),
                (1, 3, BondOrder::Single, BondStereo::Hash),
            ]
        );
        let props = chem::properties(m);
        assert_eq!(props.formula, "C3H6O");
        assert_eq!(props.bond_count, 3);
    }

    #[test]
    fn fixed_coordinates_read_like_any_decimal() {
        for f in [
            "    0.0000",
            "   -1.2345",
            "99999.9999",
            "-9999.9999",
            "   12.0001",
            "  1.5     ",
            "  -0.5e1  ",
            "   1.-2345",
            "  - 1.0000",
            "  --1.0000",
            " 1 2.0000 ",
            "     .0000",
            "          ",
            "    x.0000",
            "~~~~~.~~~~",
        ] {
            let line = f.repeat(3);
            assert_eq!(coord(line.as_bytes(), 10), decimal(f.as_bytes()), "{f:?}");
        }
        assert_eq!(coord(b"   -1.2345", 0), Some(-1.2345));
    }

    #[test]
    fn v3000_graph() {
        let t = "x\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS 3 2 0 0 0\nM  V30 BEGIN ATOM\nM  V30 1 C 1.25 -2.5 0 0 CFG=2\nM  V30 2 C 0 0 0 0\nM  V30 3 C 0 0 0 0\nM  V30 END ATOM\nM  V30 BEGIN BOND\nM  V30 1 1 1 2 CFG=1\nM  V30 2 2 2 3 CFG=2\nM  V30 END BOND\nM  V30 END CTAB\nM  END\n";
        let p = parse(t.as_bytes(), 1).unwrap();
        let m = &p.mol;
        assert_eq!(m.atoms[0].coords, Some([1.25, -2.5, 0.0]));
        assert_eq!(m.atoms[0].stereo, AtomStereo::ParityEven);
        assert_eq!(m.bonds.len(), 2);
        assert_eq!(
            (m.bonds[0].order, m.bonds[0].stereo),
            (BondOrder::Single, BondStereo::Wedge)
        );
        assert_eq!(
            (
                m.bonds[1].a,
                m.bonds[1].b,
                m.bonds[1].order,
                m.bonds[1].stereo
            ),
            (1, 2, BondOrder::Double, BondStereo::CisTransEither)
        );
        assert_eq!(chem::properties(m).formula, "C3H6");
    }

    #[test]
    fn out_of_range_values_reject_the_record() {
        for (from, to, why) in [
            ("M  END", "M  CHG  1   3 200\nM  END", "charge 200"),
            ("M  END", "M  CHG  1   3 -129\nM  END", "charge -129"),
            ("M  END", "M  ISO  1   1 70000\nM  END", "mass number 70000"),
            ("M  END", "M  ISO  1   1 -2\nM  END", "mass number -2"),
            (
                "M  END",
                "M  CHG 9223372036854775807   3  -1\nM  END",
                "fewer pairs",
            ),
            (" C   0  0", " H  -5  0", "mass difference -5"),
        ] {
            let t = ETHANOL.replacen(from, to, 1);
            let e = parse(t.as_bytes(), 1).unwrap_err();
            assert!(e.reason.contains(why), "{e}");
        }
        // In range: kept exactly, not clamped to ±15.
        let t = ETHANOL.replace("M  END", "M  CHG  1   3 -20\nM  END");
        assert_eq!(
            chem::properties(&parse(t.as_bytes(), 1).unwrap().mol).net_charge,
            -20
        );
        let v3 = "x\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 BEGIN ATOM\nM  V30 1 C 0 0 0 0 CHG=99999999999999999999\nM  V30 END ATOM\nM  V30 END CTAB\nM  END\n";
        assert!(parse(v3.as_bytes(), 1).unwrap_err().reason.contains("CHG="));
        let v3 = v3.replace("CHG=99999999999999999999", "CHG=300");
        assert!(parse(v3.as_bytes(), 1)
            .unwrap_err()
            .reason
            .contains("charge 300"));
        // A lying counts line reserves nothing it cannot hold.
        let t = "x\n\n\n1 999999999999\n    0.0000    0.0000    0.0000 C   0  0\n";
        let e = parse(t.as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("of 999999999999 bonds"), "{e}");
    }

    #[test]
    fn many_bonds_to_one_atom_are_rejected_not_wrapped() {
        // 10,923 triple bonds to atom 1: a bond order sum ×2 of 65,538.
        let n = 10_924;
        let mut t = String::from("x\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 BEGIN ATOM\n");
        for i in 1..=n {
            t.push_str(&format!("M  V30 {i} C 0 0 0 0\n"));
        }
        t.push_str("M  V30 END ATOM\nM  V30 BEGIN BOND\n");
        for i in 2..=n {
            t.push_str(&format!("M  V30 {i} 3 1 {i}\n"));
        }
        t.push_str("M  V30 END BOND\nM  V30 END CTAB\nM  END\n");
        let e = parse(t.as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("more bonds than an atom can hold"), "{e}");
        assert_eq!(e.line, 8 + n as u64 + 10_923);
    }

    #[test]
    fn broken_records_name_the_line() {
        let cut = &ETHANOL[..ETHANOL.find("O   0").unwrap()];
        let e = parse(cut.as_bytes(), 10).unwrap_err();
        assert_eq!(e.line, 16, "{e}");
        let missing = ETHANOL.replace("  2  3  1  0", "  2  9  1  0");
        let e = parse(missing.as_bytes(), 1).unwrap_err();
        assert!(e.reason.contains("atom 9"), "{e}");
        assert_eq!(e.line, 9);
        let unknown = ETHANOL.replace(" O   0", " Xx  0");
        assert!(parse(unknown.as_bytes(), 1)
            .unwrap_err()
            .reason
            .contains("unknown element"));
    }

    /// A V2000 block of atoms (no coordinates), bonds and `M  CHG` pairs.
    fn block(atoms: &[&str], bonds: &[(usize, usize, u8)], chg: &[(usize, i8)]) -> String {
        let mut t = format!(
            "t\n\n\n{:>3}{:>3}  0  0  0  0  0  0  0  0999 V2000\n",
            atoms.len(),
            bonds.len()
        );
        for a in atoms {
            t += &format!(
                "    0.0000    0.0000    0.0000 {a:<3} 0  0  0  0  0  0  0  0  0  0  0  0\n"
            );
        }
        for (a, b, o) in bonds {
            t += &format!("{a:>3}{b:>3}{o:>3}  0\n");
        }
        if !chg.is_empty() {
            t += &format!("M  CHG{:>3}", chg.len());
            for (a, c) in chg {
                t += &format!("{a:>4}{c:>4}");
            }
            t += "\n";
        }
        t + "M  END\n"
    }

    /// The MDL valence model for charged and aromatic atoms, each case
    /// checked against RDKit 2026.09 (`Chem.MolFromMolBlock`, same blocks).
    #[test]
    fn charged_and_aromatic_atoms_take_the_hydrogens_rdkit_gives() {
        let ring = |o| [(1, 2, o), (2, 3, o), (3, 4, o), (4, 5, o), (5, 1, o)];
        for (atoms, bonds, chg, want) in [
            // Thiophene with MDL aromatic bonds: C4H4S (not C4H5S).
            (
                &["S", "C", "C", "C", "C"][..],
                &ring(4)[..],
                &[][..],
                "C4H4S",
            ),
            (&["H"], &[], &[(1, 1)], "H"), // a bare proton
            (&["C", "N"], &[(1, 2, 1)], &[(2, 2)], "CH5N"), // N2+ like B
            (&["C", "Si"], &[(1, 2, 1)], &[(2, 1)], "CH5Si"), // Si+ like Al
            (
                &["C", "N", "O", "O"],
                &[(1, 2, 1), (2, 3, 2), (2, 4, 2)],
                &[],
                "CH3NO2",
            ),
        ] {
            let t = block(atoms, bonds, chg);
            let mut p = parse(t.as_bytes(), 1).unwrap();
            // As the pipeline does: RDKit's clean-up (nitro), then the check.
            chem::cleanup::clean_up(&mut p.mol);
            assert_eq!(chem::properties(&p.mol).formula, want, "{t}");
            assert!(chem::valence::check(&p.mol).is_ok());
        }
        let benzene = [
            (1, 2, 4),
            (2, 3, 4),
            (3, 4, 4),
            (4, 5, 4),
            (5, 6, 4),
            (6, 1, 4),
        ];
        let p = parse(block(&["C"; 6], &benzene, &[]).as_bytes(), 1).unwrap();
        assert_eq!(chem::properties(&p.mol).formula, "C6H6");
    }

    /// RDKit refuses both; so does the valence check the pipeline runs.
    #[test]
    fn impossible_valences_are_found() {
        let star: Vec<(usize, usize, u8)> = (2..=26).map(|i| (1, i, 1)).collect();
        let p = parse(block(&["C"; 26], &star, &[]).as_bytes(), 1).unwrap();
        let e = chem::valence::check(&p.mol).unwrap_err();
        assert!(e.contains("atom 1 (C) has valence 25"), "{e}");
        let seven = [(1, 2, 2), (1, 3, 2), (1, 4, 2), (1, 5, 1)];
        let p = parse(block(&["C"; 5], &seven, &[]).as_bytes(), 1).unwrap();
        assert!(chem::valence::check(&p.mol).is_err());
    }
}
