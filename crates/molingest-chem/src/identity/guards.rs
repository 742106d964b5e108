//! Strings not given: where the canonicaliser would write something other
//! than RDKit does, found by tools/rdkit-diff, the record gets no SMILES
//! and an `identity_error` instead (a missing SMILES is acceptable, a
//! wrong one never is). Each check says the class it catches.

/// Whether RDKit reads an atom-atom mapping number from this molfile: a V2000
/// atom line with columns 61-63 that are not `  0` (compared as text, as
/// RDKit does: a line shifted by a column gives a map number 0, which RDKit
/// writes as `[He:0]`), or a V3000 atom with `aamap` not 0.
pub(super) fn has_atom_maps(text: &[u8]) -> bool {
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(counts) = lines.nth(3) else {
        return false;
    };
    if memchr::memmem::find(counts, b"V3000").is_some() {
        let mut in_atoms = false;
        for l in lines {
            if l.starts_with(b"M  V30 BEGIN ATOM") {
                in_atoms = true;
            } else if l.starts_with(b"M  V30 END ATOM") {
                return false;
            } else if in_atoms {
                let mut fields = l.split(|&b| b == b' ').filter(|f| !f.is_empty()).skip(2);
                // index, type, x, y, z, aamap
                if fields.nth(5).is_some_and(|f| f != b"0") {
                    return true;
                }
            }
        }
        return false;
    }
    let atoms = std::str::from_utf8(counts.get(..3).unwrap_or_default())
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    lines
        .take(atoms)
        .any(|l| l.len() >= 63 && &l[60..63] != b"  0")
}

/// Whether a canonical SMILES still holds a ring `X-a=b-c=d-X` of five
/// atoms with X written aliphatic: X a neutral O, S, Se or N with single
/// bonds only, a b c d carbon or nitrogen, `=` a double bond or an aromatic
/// one (the ring between two benzene rings: dibenzofuran). RDKit
/// aromatizes every such ring (six π electrons); chematic leaves it so when
/// a bridge of 6–10 atoms joins its 2- and 5-positions
/// (`C1CCCCc2ccc(s2)C1`, tools/rdkit-diff on MetaLigDB): no string rather
/// than that one.
pub(super) fn kekule_five_ring_heteroaromatic(smiles: &str) -> bool {
    use crate::chem::BondOrder;
    if !may_hold_kekule_five_ring(smiles.as_bytes()) {
        return false;
    }
    let Ok(mol) = crate::formats::smiles::parse_smiles(smiles) else {
        return false;
    };
    let n = mol.atoms.len();
    let mut adj: Vec<Vec<(usize, BondOrder)>> = vec![Vec::new(); n];
    for bd in &mol.bonds {
        adj[bd.a as usize].push((bd.b as usize, bd.order));
        adj[bd.b as usize].push((bd.a as usize, bd.order));
    }
    let neutral = |i: usize, zs: &[u8]| mol.atoms[i].charge == 0 && zs.contains(&mol.atoms[i].z);
    // The ring atom across a double or aromatic bond from `i`.
    let across = |i: usize, not: usize| -> Vec<usize> {
        adj[i]
            .iter()
            .filter(|&&(j, o)| {
                j != not
                    && neutral(j, &[6, 7])
                    && matches!(o, BondOrder::Double | BondOrder::Aromatic)
            })
            .map(|&(j, _)| j)
            .collect()
    };
    let single = |i: usize, j: usize| {
        adj[i]
            .iter()
            .any(|&(k, o)| k == j && o == BondOrder::Single)
    };
    (0..n).any(|x| {
        if mol.atoms[x].aromatic
            || !neutral(x, &[7, 8, 16, 34])
            || adj[x].iter().any(|&(_, o)| o != BondOrder::Single)
        {
            return false;
        }
        let ring: Vec<usize> = adj[x]
            .iter()
            .map(|&(j, _)| j)
            .filter(|&j| neutral(j, &[6, 7]))
            .collect();
        ring.iter().any(|&a| {
            ring.iter().any(|&d| {
                a != d
                    && across(a, x).iter().any(|&bb| {
                        across(d, x)
                            .iter()
                            .any(|&c| bb != c && bb != d && c != a && single(bb, c))
                    })
            })
        })
    })
}

/// The text test before [`kekule_five_ring_heteroaromatic`] parses (it runs
/// on every canonical SMILES): two double bonds between C or N atoms, or an
/// upper-case O, S or N between aromatic atoms or ring numbers.
fn may_hold_kekule_five_ring(b: &[u8]) -> bool {
    let cn = |c: u8| matches!(c, b'C' | b'N' | b']');
    let cn_after = |c: u8| matches!(c, b'C' | b'N' | b'[');
    let mut doubles = 0;
    for i in 1..b.len().saturating_sub(1) {
        match b[i] {
            b'=' => {
                let mut j = i;
                while j > 0 && (b[j - 1].is_ascii_digit() || b[j - 1] == b'(') {
                    j -= 1;
                }
                if j > 0 && cn(b[j - 1]) && cn_after(b[i + 1]) {
                    doubles += 1;
                    if doubles >= 2 {
                        return true;
                    }
                }
            }
            b'O' | b'S' | b'N' => {
                let aromatic_or_ring = |c: u8| matches!(c, b'c' | b'n') || c.is_ascii_digit();
                if aromatic_or_ring(b[i - 1]) && aromatic_or_ring(b[i + 1]) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether a dative bond (`->`, `<-`) in a SMILES has an aromatic atom
/// (lower-case symbol) at either end, as written next to it.
pub(super) fn dative_at_aromatic_atom(smiles: &str) -> bool {
    let b = smiles.as_bytes();
    let aromatic_bracket = |inner: &[u8]| {
        inner
            .iter()
            .find(|c| !c.is_ascii_digit())
            .is_some_and(u8::is_ascii_lowercase)
    };
    let organic = |c: u8| matches!(c, b'b' | b'c' | b'n' | b'o' | b'p' | b's');
    let mut i = 0;
    while i + 1 < b.len() {
        let arrow = (b[i] == b'-' && b[i + 1] == b'>') || (b[i] == b'<' && b[i + 1] == b'-');
        if !arrow {
            i += 1;
            continue;
        }
        // The atom before: back over its ring-closure numbers.
        let mut j = i;
        while j > 0 && (b[j - 1].is_ascii_digit() || b[j - 1] == b'%') {
            j -= 1;
        }
        let before = match j.checked_sub(1).map(|k| b[k]) {
            Some(b']') => b[..j - 1]
                .iter()
                .rposition(|&c| c == b'[')
                .is_some_and(|open| aromatic_bracket(&b[open + 1..j - 1])),
            Some(c) => organic(c),
            None => false,
        };
        // The atom after (a ring-closure number names one written elsewhere).
        let after = match b.get(i + 2) {
            Some(b'[') => aromatic_bracket(&b[i + 3..]),
            Some(&c) => organic(c),
            None => false,
        };
        if before || after {
            return true;
        }
        i += 2;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::{identify, IdentityMode};
    use super::*;
    use crate::formats::Format;

    #[test]
    fn dative_bonds_at_aromatic_atoms_are_found() {
        assert!(dative_at_aromatic_atom("Cc1cc[cH]2->[Hg]<-[cH]2c1"));
        assert!(dative_at_aromatic_atom("c1ccc2[n]3->[Hg]"));
        assert!(dative_at_aromatic_atom("[Hg]<-n1ccccc1"));
        assert!(!dative_at_aromatic_atom("[NH3]->[Pt](<-[NH3])([Cl])[Cl]"));
        assert!(!dative_at_aromatic_atom("CC(C)[P]1->[Hg]"));
        assert!(!dative_at_aromatic_atom("Cl[Hg]<-Nc1ccccc1"));
    }

    /// Found by tools/rdkit-diff on MetaLigDB; RDKit 2026.09 writes
    /// `c1cc2sc1CCCCCC2` for the first.
    #[test]
    fn kekule_five_ring_heteroaromatics_are_found() {
        assert!(kekule_five_ring_heteroaromatic("C1=C2CCCCCCC(=C1)S2"));
        assert!(kekule_five_ring_heteroaromatic("c1ccccc1C1=NN=C(O1)C"));
        assert!(kekule_five_ring_heteroaromatic("C1=CC=CN1"));
        // Dibenzofuran's ring left aliphatic between its benzene rings.
        assert!(kekule_five_ring_heteroaromatic("c1ccc2c(c1)-c1ccccc1O2"));
        assert!(!kekule_five_ring_heteroaromatic("c1ccc2occc2c1"));
        assert!(!kekule_five_ring_heteroaromatic("c1ccc2c(c1)CCO2"));
        assert!(!kekule_five_ring_heteroaromatic("O=C1COc2ccccc21"));
        assert!(!kekule_five_ring_heteroaromatic("c1ccsc1"));
        assert!(!kekule_five_ring_heteroaromatic("O=C1C=CC(=O)C=C1"));
        assert!(!kekule_five_ring_heteroaromatic("C1=CCC=C1"));
        assert!(!kekule_five_ring_heteroaromatic("C1=CC=C[S+]1C"));
        assert!(!kekule_five_ring_heteroaromatic("O=S1(=O)C=CC=C1"));
        // A six-membered ring with O is no such ring.
        assert!(!kekule_five_ring_heteroaromatic("C1=CC=COC1"));
        let parsed = crate::formats::smiles::parse(b"C1CCCCc2ccc(s2)C1", 1)
            .unwrap()
            .unwrap();
        let id = identify(IdentityMode::Smiles, Format::Smiles, b"", &parsed);
        assert!(id.smiles.is_none() && id.error.is_some(), "{id:?}");
    }

    /// molSimplify's ligand files write atom lines a column wide of the
    /// standard; RDKit then reads a map number 0 and writes `[He:0]`.
    #[test]
    fn atom_maps_give_no_smiles() {
        let shifted = b"Helium\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 He   0  0  0  0  0  0  0  0  0  0  0  0\nM  END\n";
        let standard = b"Helium\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 He  0  0  0  0  0  0  0  0  0  0  0  0\nM  END\n";
        let mapped = b"m\n\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  3  0  0\nM  END\n";
        assert!(has_atom_maps(shifted));
        assert!(has_atom_maps(mapped));
        assert!(!has_atom_maps(standard));
        let parsed = crate::formats::sdf::parse(shifted, 1).unwrap();
        let id = identify(IdentityMode::Smiles, Format::Sdf, shifted, &parsed);
        assert!(id.smiles.is_none() && id.error.is_some(), "{id:?}");
    }
}
