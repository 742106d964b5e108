//! A reader's [`chem::Molecule`] as the molecule RDKit's mol-file reader
//! builds (`MolFromMolBlock` with its defaults), in chematic's model: atoms
//! with their hydrogen counts fixed by the same valence model that gives
//! the formula, bonds with their orders, and stereo perceived the way RDKit
//! perceives it from a mol block — tetrahedral centres from wedges and
//! hashes (2D) or from the coordinates (3D), double bonds from the
//! coordinates.

use super::IdentityError;
use crate::chem::{self, BondOrder, BondStereo, HydrogenRule, Molecule};
use chematic_core::{
    Atom, AtomIdx, BondIdx, BondOrder as COrder, Chirality, Element, MoleculeBuilder,
    STEREO_H_SENTINEL,
};
use std::collections::HashSet;

/// RDKit's `ZERO_VOLUME_TOL` of `assignChiralTypesFrom3D`.
const ZERO_VOLUME_TOL: f64 = 0.1;

/// Build the chematic molecule, stereo included.
pub(super) fn to_chematic(mol: &Molecule) -> Result<chematic_core::Molecule, IdentityError> {
    // 3D with explicit hydrogens: perceive on the heavy-atom graph, the
    // molecule RDKit writes once it has removed them. Perceiving with the H
    // atoms in place and removing them afterwards inverted E/Z whenever the
    // direction landed on a bond to an H (tools/rdkit-diff generated cases).
    if is_3d(mol) {
        if let Some(heavy) = fold_hydrogens(mol) {
            return build(&heavy);
        }
    }
    build(mol)
}

/// Every atom has coordinates and some z is off zero (RDKit's 3D test).
fn is_3d(mol: &Molecule) -> bool {
    mol.atoms.iter().all(|a| a.coords.is_some())
        && mol
            .atoms
            .iter()
            .any(|a| a.coords.is_some_and(|c| c[2].abs() > 1e-4))
}

/// The molecule with its plain hydrogens (no isotope, charge or radical,
/// one single bond without stereo to an atom that is neither H nor a dummy)
/// folded into the atom they are bound to as carried H. `None` when there
/// is none.
fn fold_hydrogens(mol: &Molecule) -> Option<Molecule> {
    let n = mol.atoms.len();
    let mut degree = vec![0u32; n];
    for b in &mol.bonds {
        degree[b.a as usize] += 1;
        degree[b.b as usize] += 1;
    }
    let plain = |i: usize| {
        let a = &mol.atoms[i];
        a.z == chem::elements::H
            && a.isotope == 0
            && a.charge == 0
            && a.radical_electrons == 0
            && a.attached_h == 0
            && degree[i] == 1
    };
    // An H that is the only substituent on its side of a double bond
    // (`[H]/N=C`) can carry its stereo: RDKit keeps it, and so do we.
    let mut double = vec![false; n];
    for b in &mol.bonds {
        if b.order == BondOrder::Double {
            double[b.a as usize] = true;
            double[b.b as usize] = true;
        }
    }
    let mut fold = vec![false; n];
    for b in &mol.bonds {
        for (h, heavy) in [(b.a as usize, b.b as usize), (b.b as usize, b.a as usize)] {
            let other = &mol.atoms[heavy];
            if plain(h)
                && b.order == BondOrder::Single
                && b.stereo == BondStereo::None
                && other.z != chem::elements::H
                && other.z != chem::elements::DUMMY
                && !(double[heavy] && degree[heavy] == 2)
            {
                fold[h] = true;
            }
        }
    }
    if !fold.iter().any(|&f| f) {
        return None;
    }
    let mut index = vec![u32::MAX; n];
    let mut out = Molecule::with_capacity(n, mol.bonds.len());
    for (i, a) in mol.atoms.iter().enumerate() {
        if !fold[i] {
            index[i] = out.atoms.len() as u32;
            out.atoms.push(*a);
        }
    }
    for b in &mol.bonds {
        let (a, c) = (b.a as usize, b.b as usize);
        let (kept, h) = match (fold[a], fold[c]) {
            (false, false) => {
                let mut nb = *b;
                nb.a = index[a];
                nb.b = index[c];
                out.bonds.push(nb);
                continue;
            }
            (true, false) => (c, a),
            (false, true) => (a, c),
            (true, true) => return None, // H2: nothing to fold into
        };
        let _ = h;
        let atom = &mut out.atoms[index[kept] as usize];
        // The bond's valence moves into the carried H: same H count.
        atom.bond_order_x2 = atom.bond_order_x2.saturating_sub(2);
        atom.attached_h = atom.attached_h.checked_add(1)?;
    }
    Some(out)
}

fn build(mol: &Molecule) -> Result<chematic_core::Molecule, IdentityError> {
    let n = mol.atoms.len();
    let mut b = MoleculeBuilder::with_capacity(n, mol.bonds.len());
    // Atoms on an aromatic bond are aromatic (MDL bond type 4).
    let mut aromatic = vec![false; n];
    for bond in &mol.bonds {
        if bond.order == BondOrder::Aromatic {
            aromatic[bond.a as usize] = true;
            aromatic[bond.b as usize] = true;
        }
    }
    for (i, a) in mol.atoms.iter().enumerate() {
        let mut atom = if a.z == chem::elements::DUMMY {
            Atom::wildcard()
        } else {
            let element = Element::from_atomic_number(a.z)
                .ok_or_else(|| IdentityError::Unsupported(format!("element {}", a.z)))?;
            Atom::new(element)
        };
        atom.isotope = (a.isotope > 0).then_some(a.isotope);
        atom.charge = a.charge;
        atom.aromatic = a.aromatic || aromatic[i];
        let implicit = match a.implicit_h {
            HydrogenRule::AsWritten => 0,
            HydrogenRule::MdlValence => chem::mdl_implicit_h(a),
            HydrogenRule::SmilesOrganic => chem::smiles_implicit_h(a, a.aromatic),
        };
        let h = u8::try_from(implicit + u32::from(a.attached_h))
            .map_err(|_| IdentityError::Unsupported("more than 255 hydrogens on an atom".into()))?;
        atom.hydrogen_count = Some(h);
        b.add_atom(atom);
    }
    let mut wedged = Vec::new();
    let mut either_double = HashSet::new();
    for bond in &mol.bonds {
        let order = match (bond.order, bond.stereo) {
            (BondOrder::Single, BondStereo::Wedge) => COrder::Up,
            (BondOrder::Single, BondStereo::Hash) => COrder::Down,
            (BondOrder::Single, _) => COrder::Single,
            (BondOrder::Double, _) => COrder::Double,
            (BondOrder::Triple, _) => COrder::Triple,
            (BondOrder::Quadruple, _) => COrder::Quadruple,
            (BondOrder::Aromatic, _) => COrder::Aromatic,
            (BondOrder::Any, _) => {
                return Err(IdentityError::Unsupported(
                    "query bond (any order): no SMILES bond".into(),
                ))
            }
            // Given back as the single bond the file wrote: chematic's
            // sanitization makes it dative again, as RDKit's does, and
            // writes it `->` (the donor's H count is already fixed).
            (BondOrder::Dative, _) => COrder::Single,
            (BondOrder::Zero, _) => {
                return Err(IdentityError::Unsupported(
                    "zero-order (coordination or hydrogen) bond".into(),
                ))
            }
        };
        let idx = b
            .add_bond(AtomIdx(bond.a), AtomIdx(bond.b), order)
            .map_err(|e| IdentityError::Unsupported(format!("bond: {e:?}")))?;
        if matches!(order, COrder::Up | COrder::Down) {
            wedged.push(idx);
        }
        if bond.order == BondOrder::Double && bond.stereo == BondStereo::CisTransEither {
            either_double.insert(idx);
        }
    }
    let mut out = b.build();
    let coords: Option<Vec<[f64; 3]>> = mol.atoms.iter().map(|a| a.coords).collect();
    let Some(coords) = coords else {
        unwedge(&mut out, &wedged);
        return Ok(out);
    };
    double_bond_between_tautomer_twins(mol)?;
    // RDKit: a conformer with any z off zero is 3D; its wedges are ignored.
    if coords.iter().any(|c| c[2].abs() > 1e-4) {
        stereo_beyond_the_port_3d(mol)?;
        unwedge(&mut out, &wedged);
        chirality_from_3d(&mut out, &coords);
        let xyz: Vec<(f64, f64, f64)> = coords.iter().map(|c| (c[0], c[1], c[2])).collect();
        // The 3D entry point takes no "either" set: such double bonds sit
        // out the perception as aromatic for its duration.
        for &b in &either_double {
            out.set_bond_order(b, COrder::Aromatic);
        }
        chematic_perception::apply_ez_directions_from_3d(&mut out, &xyz);
        for &b in &either_double {
            out.set_bond_order(b, COrder::Double);
        }
    } else {
        stereo_beyond_the_port_2d(mol)?;
        let xy: Vec<(f64, f64)> = coords.iter().map(|c| (c[0], c[1])).collect();
        chematic_perception::apply_ctab_local_parity_from_wedges_with_diagnostics(&mut out, &xy);
        // RDKit clears the wedges once atom stereo is perceived, then
        // perceives double bonds from the coordinates.
        unwedge(&mut out, &wedged);
        chematic_perception::apply_ez_directions_from_2d_ex(&mut out, &xy, &either_double);
    }
    Ok(out)
}

/// Stereo RDKit perceives from 3D coordinates that this perception does
/// not reproduce (found by tools/rdkit-diff on generated conformers): an
/// `identity_error` rather than a different string.
/// - a metal with three or more neighbours: RDKit gives it non-tetrahedral
///   stereo (`@TB`, `@SP`, `@OH`) from the coordinates;
/// - a neutral three-coordinate P or As without H (phosphites,
///   phosphines): RDKit's verdict on its chirality differs.
fn stereo_beyond_the_port_3d(mol: &Molecule) -> Result<(), IdentityError> {
    let mut degree = vec![0u32; mol.atoms.len()];
    let mut all_single = vec![true; mol.atoms.len()];
    for b in &mol.bonds {
        for i in [b.a as usize, b.b as usize] {
            degree[i] += 1;
            all_single[i] &= matches!(b.order, BondOrder::Single | BondOrder::Dative);
        }
    }
    for (i, a) in mol.atoms.iter().enumerate() {
        let h = a.attached_h as u32 + implicit_h(a);
        if chem::cleanup::is_metal(a.z) && degree[i] + h >= 3 {
            return Err(IdentityError::Unsupported(format!(
                "stereo at a metal centre from 3D coordinates ({} with {} neighbours: \
                 RDKit assigns non-tetrahedral stereo)",
                chem::elements::symbol(a.z),
                degree[i] + h
            )));
        }
        if matches!(a.z, 15 | 33) && a.charge == 0 && degree[i] == 3 && h == 0 && all_single[i] {
            return Err(IdentityError::Unsupported(format!(
                "chirality of a three-coordinate {} from 3D coordinates",
                chem::elements::symbol(a.z)
            )));
        }
    }
    Ok(())
}

/// A double bond one of whose ends holds two substituents that are the
/// same graph but for bond orders and hydrogens (`C=C(O)/C(=C/C)C(C)=O`:
/// an enol and an acetyl): the perception from coordinates takes them for
/// equivalent and drops the E/Z that RDKit gives (tools/rdkit-diff), so
/// no string. Refined atom classes, 8 rounds, with and without orders.
fn double_bond_between_tautomer_twins(mol: &Molecule) -> Result<(), IdentityError> {
    if !mol.bonds.iter().any(|b| b.order == BondOrder::Double) {
        return Ok(());
    }
    use std::hash::{Hash, Hasher};
    let n = mol.atoms.len();
    let mut nbrs: Vec<Vec<(usize, u8)>> = vec![Vec::new(); n];
    for b in &mol.bonds {
        let o = b.order as u8;
        nbrs[b.a as usize].push((b.b as usize, o));
        nbrs[b.b as usize].push((b.a as usize, o));
    }
    let heavy = |i: usize| mol.atoms[i].z != chem::elements::H;
    let classes = |with_orders: bool| -> Vec<u64> {
        let hash = |x: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            x(&mut h);
            h.finish()
        };
        let mut c: Vec<u64> = (0..n)
            .map(|i| {
                let a = &mol.atoms[i];
                let deg = nbrs[i].iter().filter(|&&(j, _)| heavy(j)).count();
                hash(&|h| {
                    (a.z, deg).hash(h);
                    if with_orders {
                        (a.charge, a.isotope, a.attached_h as u32 + implicit_h(a)).hash(h);
                    }
                })
            })
            .collect();
        for _ in 0..8 {
            let next: Vec<u64> = (0..n)
                .map(|i| {
                    let mut around: Vec<(u64, u8)> = nbrs[i]
                        .iter()
                        .filter(|&&(j, _)| heavy(j))
                        .map(|&(j, o)| (c[j], if with_orders { o } else { 0 }))
                        .collect();
                    around.sort_unstable();
                    hash(&|h| (c[i], &around).hash(h))
                })
                .collect();
            c = next;
        }
        c
    };
    let subs = |end: usize, other: usize| -> Vec<usize> {
        nbrs[end]
            .iter()
            .map(|&(j, _)| j)
            .filter(|&j| j != other && heavy(j))
            .collect()
    };
    // A path from `a` to `b` other than their bond: the bond is in a ring.
    let in_ring = |a: usize, b: usize| {
        let mut seen = vec![false; n];
        let mut stack = vec![a];
        seen[a] = true;
        while let Some(i) = stack.pop() {
            for &(j, _) in &nbrs[i] {
                if (i == a && j == b) || seen[j] {
                    continue;
                }
                if j == b {
                    return true;
                }
                seen[j] = true;
                stack.push(j);
            }
        }
        false
    };
    let mut classes_of = None;
    for b in mol.bonds.iter().filter(|b| b.order == BondOrder::Double) {
        let (a, c) = (b.a as usize, b.b as usize);
        // Only a double bond that can carry E/Z: substituents at both ends,
        // not in a ring.
        if b.stereo == BondStereo::CisTransEither
            || subs(a, c).is_empty()
            || subs(c, a).is_empty()
            || in_ring(a, c)
        {
            continue;
        }
        for (end, other) in [(a, c), (c, a)] {
            if let [x, y] = subs(end, other)[..] {
                let (plain, full) =
                    classes_of.get_or_insert_with(|| (classes(false), classes(true)));
                // No E/Z at all when the other end's two are the same.
                if let [u, v] = subs(other, end)[..] {
                    if full[u] == full[v] {
                        continue;
                    }
                }
                if plain[x] == plain[y] && full[x] != full[y] {
                    return Err(IdentityError::Unsupported(
                        "double-bond stereo between substituents that differ only in bond \
                         orders (not perceived as RDKit does)"
                            .into(),
                    ));
                }
                // Two ring branches of the same constitution, told apart by
                // RDKit through the stereocentres they hold (a hydrazone of
                // an inositol-like ring): not here.
                if full[x] == full[y] && in_ring(end, x) && in_ring(end, y) {
                    let stereocentre = (0..n).any(|i| {
                        let mut around: Vec<u64> = nbrs[i]
                            .iter()
                            .filter(|&&(j, _)| heavy(j))
                            .map(|&(j, _)| full[j])
                            .collect();
                        let k = around.len();
                        let h = mol.atoms[i].attached_h as usize
                            + implicit_h(&mol.atoms[i]) as usize
                            + (nbrs[i].len() - k);
                        around.sort_unstable();
                        around.dedup();
                        h <= 1 && k + h == 4 && around.len() == k
                    });
                    if stereocentre {
                        return Err(IdentityError::Unsupported(
                            "double-bond stereo between ring branches that differ only in \
                             their stereocentres (not perceived as RDKit does)"
                                .into(),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// As [`stereo_beyond_the_port_3d`] for 2D drawings: a wedge or hash that
/// starts where this perception and RDKit's part ways (generated cases of
/// tools/rdkit-diff): at a three-coordinate P (phosphines, phosphites: the
/// chirality is lost), at an S of degree 3 whose double bonds go to no O
/// (sulfimides: lost), or at any element but H, B, C, N, Si, P, S (As, Se
/// got a chirality RDKit does not give; metals). Sulfoxides, sulfonium,
/// sulfoximines, P(=O), Si and B⁻ centres agree and keep their SMILES.
fn stereo_beyond_the_port_2d(mol: &Molecule) -> Result<(), IdentityError> {
    for b in &mol.bonds {
        if !(matches!(b.stereo, BondStereo::Wedge | BondStereo::Hash)
            && b.order == BondOrder::Single)
        {
            continue;
        }
        let centre = b.a as usize;
        let z = mol.atoms[centre].z;
        let around: Vec<(BondOrder, u8)> = mol
            .bonds
            .iter()
            .filter_map(|x| {
                let other = if x.a as usize == centre {
                    x.b
                } else if x.b as usize == centre {
                    x.a
                } else {
                    return None;
                };
                Some((x.order, mol.atoms[other as usize].z))
            })
            .collect();
        let unsupported = match z {
            1 | 5 | 6 | 7 | 14 => false,
            15 => around.len() == 3,
            16 => {
                let doubles: Vec<u8> = around
                    .iter()
                    .filter(|(o, _)| *o == BondOrder::Double)
                    .map(|&(_, nz)| nz)
                    .collect();
                around.len() == 3 && !doubles.is_empty() && !doubles.contains(&8)
            }
            _ => true,
        };
        if unsupported {
            return Err(IdentityError::Unsupported(format!(
                "chirality from wedges at {}: not perceived as RDKit does",
                chem::elements::symbol(z)
            )));
        }
    }
    Ok(())
}

fn implicit_h(a: &chem::Atom) -> u32 {
    match a.implicit_h {
        HydrogenRule::AsWritten => 0,
        HydrogenRule::MdlValence => chem::mdl_implicit_h(a),
        HydrogenRule::SmilesOrganic => chem::smiles_implicit_h(a, a.aromatic),
    }
}

fn unwedge(mol: &mut chematic_core::Molecule, wedged: &[BondIdx]) {
    for &b in wedged {
        mol.set_bond_order(b, COrder::Single);
    }
}

/// RDKit's `assignChiralTypesFrom3D`: every atom with three or four
/// neighbours (S, Se, P, As: three; others: four in all, hydrogens
/// counted) gets the tag of the signed volume of its first three
/// neighbours; legacy stereo perception later keeps only true centres.
fn chirality_from_3d(mol: &mut chematic_core::Molecule, coords: &[[f64; 3]]) {
    let atoms: Vec<AtomIdx> = mol.atoms().map(|(i, _)| i).collect();
    for idx in atoms {
        let nbs: Vec<u32> = mol.neighbors(idx).map(|(nb, _)| nb.0).collect();
        let atom = mol.atom(idx);
        let h = u32::from(atom.hydrogen_count.unwrap_or(0));
        let total = nbs.len() as u32 + h;
        if nbs.len() < 3 || total > 4 || atom.wildcard {
            continue;
        }
        let z = atom.element.atomic_number();
        if !matches!(z, 15 | 16 | 33 | 34) && total != 4 {
            continue;
        }
        let p0 = coords[idx.0 as usize];
        let v = |k: usize| {
            let p = coords[nbs[k] as usize];
            [p[0] - p0[0], p[1] - p0[1], p[2] - p0[2]]
        };
        let (v1, v2, v3) = (v(0), v(1), v(2));
        let cross = [
            v2[1] * v3[2] - v2[2] * v3[1],
            v2[2] * v3[0] - v2[0] * v3[2],
            v2[0] * v3[1] - v2[1] * v3[0],
        ];
        let vol = v1[0] * cross[0] + v1[1] * cross[1] + v1[2] * cross[2];
        let chirality = if vol < -ZERO_VOLUME_TOL {
            Chirality::Clockwise
        } else if vol > ZERO_VOLUME_TOL {
            Chirality::CounterClockwise
        } else {
            continue;
        };
        let mut order = nbs;
        if h == 1 {
            order.push(STEREO_H_SENTINEL);
        }
        mol.set_chirality(idx, chirality);
        mol.set_stereo_neighbor_order(idx, order);
    }
}
