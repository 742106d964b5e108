//! SDF / MDL molfile reader: V2000 and V3000 connection tables, the
//! `M  CHG`/`M  ISO`/`M  RAD` properties block, and `> <NAME>` data items.
//! Implicit hydrogens follow the MDL valence model (see `chem`).

use super::{excerpt, lines, text, Parsed};
use crate::chem::{elements, Atom, HydrogenRule};
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
        parse_v2000(&mut it, &mut out, counts, counts_no, &mut fixed_valence)?;
    }
    // The MDL valence field fixes an atom's total valence: no implicit H then.
    for (i, v) in fixed_valence {
        let a = &mut out.atoms[i];
        let used = (a.bond_order_x2 / 2) as u8;
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
    fixed_valence: &mut Vec<(usize, u8)>,
) -> Result<(), ParseError> {
    let (n_atoms, n_bonds) = counts_v2000(counts).ok_or_else(|| {
        ParseError::new(
            counts_no,
            format!("unreadable counts line {}", excerpt(counts)),
        )
    })?;
    out.atoms.reserve(n_atoms);
    for i in 0..n_atoms {
        let (no, line) = it.next().ok_or_else(|| {
            ParseError::new(
                counts_no + 1 + i as u64,
                format!("record ends after {i} of {n_atoms} atoms"),
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
            atom.isotope =
                (elements::average_weight(atom.z).round() as i64 + mass_diff).max(1) as u16;
        }
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
        out.atoms.push(atom);
    }
    for i in 0..n_bonds {
        let (no, line) = it.next().ok_or_else(|| {
            ParseError::new(
                counts_no + 1 + (n_atoms + i) as u64,
                format!("record ends after {i} of {n_bonds} bonds"),
            )
        })?;
        let a = int(col(line, 0, 3)).unwrap_or(0);
        let b = int(col(line, 3, 6)).unwrap_or(0);
        let order = int(col(line, 6, 9)).unwrap_or(0);
        add_bond(out, a, b, order, no)?;
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
            out.atoms.iter_mut().for_each(|a| a.charge = 0);
        }
        if key == b"M  RAD" && !rad_seen {
            rad_seen = true;
            out.atoms.iter_mut().for_each(|a| a.radical_electrons = 0);
        }
        let nums: Vec<i64> = text(&line[6.min(line.len())..])
            .split_whitespace()
            .map(|t| t.parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| ParseError::new(no, format!("unreadable {} line", text(key))))?;
        let n = nums.first().copied().unwrap_or(0).max(0) as usize;
        if nums.len() < 1 + 2 * n {
            return Err(ParseError::new(
                no,
                format!("{} line lists fewer pairs than it says", text(key)),
            ));
        }
        for pair in nums[1..1 + 2 * n].chunks_exact(2) {
            let atom = atom_mut(out, pair[0], no)?;
            let v = pair[1];
            match key {
                b"M  CHG" => atom.charge = v.clamp(-15, 15) as i8,
                b"M  ISO" => atom.isotope = v.clamp(0, 400) as u16,
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
                for kv in tok.skip(4) {
                    let Some((k, v)) = kv.split_once('=') else {
                        continue;
                    };
                    let v: i64 = v.parse().unwrap_or(0);
                    match k {
                        "CHG" => atom.charge = v.clamp(-15, 15) as i8,
                        "MASS" => atom.isotope = v.clamp(0, 400) as u16,
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
                index_of.insert(idx.to_owned(), out.atoms.len() as i64 + 1);
                out.atoms.push(atom);
            }
            s if section == Section::Bond => {
                let f: Vec<&str> = s.split_whitespace().collect();
                if f.len() < 4 {
                    return Err(ParseError::new(no, "V3000 bond line too short"));
                }
                let order: i64 = f[1].parse().unwrap_or(0);
                let lookup = |t: &str| index_of.get(t).copied().unwrap_or(-1);
                add_bond(out, lookup(f[2]), lookup(f[3]), order, no)?;
            }
            _ => {}
        }
    }
    if !ended {
        return Err(ParseError::new(last_no, "V3000 record ends before M  END"));
    }
    Ok(())
}

fn add_bond(out: &mut Parsed, a: i64, b: i64, order: i64, no: u64) -> Result<(), ParseError> {
    let x2 = match order {
        1 => 2,
        2 => 4,
        3 => 6,
        4 => 3,
        5..=8 => 2,
        9 | 10 => 0,
        t => return Err(ParseError::new(no, format!("unknown bond type {t}"))),
    };
    atom_mut(out, a, no)?.bond_order_x2 += x2;
    atom_mut(out, b, no)?.bond_order_x2 += x2;
    out.bond_count += 1;
    Ok(())
}

fn atom_mut(out: &mut Parsed, n: i64, no: u64) -> Result<&mut Atom, ParseError> {
    let count = out.atoms.len();
    usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| out.atoms.get_mut(i))
        .ok_or_else(|| {
            ParseError::new(
                no,
                format!("reference to atom {n}, but the record has {count} atoms"),
            )
        })
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
fn col(line: &[u8], a: usize, b: usize) -> &[u8] {
    let b = b.min(line.len());
    if a >= b {
        &[]
    } else {
        &line[a..b]
    }
}

/// A fixed-width integer field: blank is 0, garbage is `None`.
fn int(field: &[u8]) -> Option<i64> {
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
        let props = chem::properties(&p.atoms, p.bond_count);
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
        let props = chem::properties(&p.atoms, p.bond_count);
        assert_eq!(props.formula, "C2H5O");
        assert_eq!(props.net_charge, -1);
    }

    #[test]
    fn v3000() {
        let t = "x\n\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS 2 1 0 0 0\nM  V30 BEGIN ATOM\nM  V30 1 C 0 0 0 0\nM  V30 2 N 0 0 0 0 CHG=1\nM  V30 END ATOM\nM  V30 BEGIN BOND\nM  V30 1 1 1 -\nM  V30 2\nM  V30 END BOND\nM  V30 END CTAB\nM  END\n";
        let p = parse(t.as_bytes(), 1).unwrap();
        let props = chem::properties(&p.atoms, p.bond_count);
        assert_eq!(props.formula, "CH6N");
        assert_eq!(props.net_charge, 1);
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
}
