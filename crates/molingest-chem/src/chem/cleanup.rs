//! RDKit's first sanitization steps, applied to a reader's graph before the
//! valence check and the implicit hydrogens (RDKit 2026.09 `MolOps::cleanUp`
//! and `cleanUpOrganometallics`, in that order):
//!
//! - a neutral N of explicit valence 5 (aromatic bonds 1.5): its first double
//!   bond to a neutral O becomes single, N +1 and O −1 (nitro `N(=O)=O`,
//!   N-oxide `n(=O)`); then, for the N of valence 5 left, its first triple
//!   bond to a neutral N becomes double, N +1 and the other N −1 (azide
//!   `N=N#N`);
//! - a neutral P of explicit valence 5 and degree 3 with a double bond to a
//!   C or N of degree ≥ 2: its double bond to a neutral O becomes single,
//!   P +1 and O −1;
//! - a neutral Cl, Br or I of explicit valence 3, 5 or 7 whose neighbours
//!   are all O: every double bond becomes single, each such O −1, the
//!   halogen +1 per bond (`O=Cl(=O)[O-]` is `[O-][Cl+2]([O-])[O-]`);
//! - a non-metal other than H, He, F and Ne above the largest valence of
//!   its charge-shifted element (or at it, aromatic with four neighbours):
//!   one single bond from it to a metal becomes a dative bond to the metal,
//!   which no longer counts in its valence. Which metal, when there are
//!   several, depends on RDKit's canonical ranks; the formula does not, and
//!   no SMILES is written for such a molecule (see `identity`).
//!
//! Every atom these steps change ends with its valence full, so it gets no
//! implicit hydrogen (RDKit gives it none either): it is marked as written.

use super::{Atom, BondOrder, HydrogenRule, Molecule};

/// What the clean-up changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    /// Atoms whose charge and bonds were rewritten (nitro, N-oxide, azide,
    /// halogen oxides, P ylides).
    pub charge_separated: u32,
    /// Bonds to metals made dative.
    pub dative: u32,
}

/// RDKit's "M" atom query: every element but the non-metals and noble gases
/// (and not a dummy atom).
pub fn is_metal(z: u8) -> bool {
    !matches!(
        z,
        0 | 1
            | 2
            | 5
            | 6
            | 7
            | 8
            | 9
            | 10
            | 14
            | 15
            | 16
            | 17
            | 18
            | 33
            | 34
            | 35
            | 36
            | 52
            | 53
            | 54
            | 85
            | 86
    )
}

/// Explicit valence as RDKit's `calcExplicitValence` counts it before
/// implicit H: bonds (aromatic 1.5, a sum of x.5 rounded up), the H the
/// atom carries, no dative bond it donates. From the bonds themselves: a
/// SMILES reader counts an aromatic bond 1 in `bond_order_x2`.
fn explicit_valence(mol: &Molecule, incident: &[Vec<usize>], i: usize) -> i32 {
    let x2: i32 = incident[i]
        .iter()
        .map(|&k| {
            let b = mol.bonds[k];
            match b.order {
                BondOrder::Dative if b.a as usize == i => 0,
                o => i32::from(o.valence_x2()),
            }
        })
        .sum();
    (x2 + 1) / 2 + i32::from(mol.atoms[i].attached_h)
}

fn set_order(mol: &mut Molecule, bond: usize, order: BondOrder) {
    let Some(b) = mol.bonds.get(bond).copied() else {
        return;
    };
    let old = b.order.valence_x2();
    let new = order.valence_x2();
    for i in [b.a as usize, b.b as usize] {
        if let Some(a) = mol.atoms.get_mut(i) {
            a.bond_order_x2 = (a.bond_order_x2 + new).saturating_sub(old);
        }
    }
    mol.bonds[bond].order = order;
}

fn fix(a: &mut Atom, charge: i8) {
    a.charge = charge;
    if a.implicit_h != HydrogenRule::AsWritten {
        a.implicit_h = HydrogenRule::AsWritten;
    }
}

/// Apply the clean-up in place. Cheap when there is nothing to do: one
/// pass over the atoms.
pub fn clean_up(mol: &mut Molecule) -> Cleaned {
    let mut out = Cleaned::default();
    // A quick bound before any allocation: valence 5 for N and P (an
    // aromatic bond counts at least 1 in `bond_order_x2`, so n(=O) in a
    // SMILES is 4 there), 3 for the halogens.
    let candidate = |a: &Atom| {
        let x2 = u32::from(a.bond_order_x2) + 2 * u32::from(a.attached_h);
        a.charge == 0
            && match a.z {
                7 | 15 => x2 >= 8,
                17 | 35 | 53 => x2 >= 6,
                _ => false,
            }
    };
    let any_metal = mol.atoms.iter().any(|a| is_metal(a.z));
    if !any_metal && !mol.atoms.iter().any(candidate) {
        return out;
    }
    // Bonds per atom, in the order the file gives them (RDKit's order).
    let mut incident: Vec<Vec<usize>> = vec![Vec::new(); mol.atoms.len()];
    for (k, b) in mol.bonds.iter().enumerate() {
        if let Some(v) = incident.get_mut(b.a as usize) {
            v.push(k);
        }
        if b.b != b.a {
            if let Some(v) = incident.get_mut(b.b as usize) {
                v.push(k);
            }
        }
    }
    let other = |mol: &Molecule, bond: usize, me: usize| {
        let b = mol.bonds[bond];
        if b.a as usize == me {
            b.b as usize
        } else {
            b.a as usize
        }
    };
    // Nitrogen: double bond to O first, for every N; then triple to N.
    let mut five = Vec::new();
    for i in 0..mol.atoms.len() {
        let a = mol.atoms[i];
        if a.z != 7 || a.charge != 0 || explicit_valence(mol, &incident, i) != 5 {
            continue;
        }
        five.push(i);
        for &k in &incident[i] {
            let j = other(mol, k, i);
            let nb = mol.atoms[j];
            if nb.z == 8 && nb.charge == 0 && mol.bonds[k].order == BondOrder::Double {
                set_order(mol, k, BondOrder::Single);
                fix(&mut mol.atoms[i], 1);
                fix(&mut mol.atoms[j], -1);
                out.charge_separated += 2;
                break;
            }
        }
    }
    for i in five {
        for &k in &incident[i] {
            let j = other(mol, k, i);
            let nb = mol.atoms[j];
            if nb.z == 7 && nb.charge == 0 && mol.bonds[k].order == BondOrder::Triple {
                set_order(mol, k, BondOrder::Double);
                fix(&mut mol.atoms[i], 1);
                fix(&mut mol.atoms[j], -1);
                out.charge_separated += 2;
                break;
            }
        }
    }
    for i in 0..mol.atoms.len() {
        let a = mol.atoms[i];
        if a.charge != 0 {
            continue;
        }
        match a.z {
            15 if incident[i].len() == 3 && explicit_valence(mol, &incident, i) == 5 => {
                let mut dbl_o = None;
                let mut double_to_c_or_n = false;
                for &k in &incident[i] {
                    let j = other(mol, k, i);
                    let nb = mol.atoms[j];
                    if mol.bonds[k].order != BondOrder::Double {
                        continue;
                    }
                    if nb.z == 8 && nb.charge == 0 {
                        dbl_o = Some((k, j));
                    } else if matches!(nb.z, 6 | 7) && incident[j].len() >= 2 {
                        double_to_c_or_n = true;
                    }
                }
                if let (true, Some((k, j))) = (double_to_c_or_n, dbl_o) {
                    set_order(mol, k, BondOrder::Single);
                    fix(&mut mol.atoms[i], 1);
                    fix(&mut mol.atoms[j], -1);
                    out.charge_separated += 2;
                }
            }
            17 | 35 | 53 if matches!(explicit_valence(mol, &incident, i), 3 | 5 | 7) => {
                if !incident[i]
                    .iter()
                    .all(|&k| mol.atoms[other(mol, k, i)].z == 8)
                {
                    continue;
                }
                let mut charge = 0i8;
                for &k in &incident[i] {
                    if mol.bonds[k].order == BondOrder::Double {
                        set_order(mol, k, BondOrder::Single);
                        let j = other(mol, k, i);
                        fix(&mut mol.atoms[j], -1);
                        charge += 1;
                    }
                }
                if charge > 0 {
                    fix(&mut mol.atoms[i], charge);
                    out.charge_separated += 1 + charge as u32;
                }
            }
            _ => {}
        }
    }
    if any_metal {
        out.dative = organometallics(mol, &incident);
    }
    out
}

/// `isHypervalentNonMetal`: above the largest valence of the element with
/// as many electrons, or at it when aromatic with four neighbours.
fn hypervalent_non_metal(mol: &Molecule, incident: &[Vec<usize>], i: usize) -> bool {
    let a = &mol.atoms[i];
    if is_metal(a.z) || matches!(a.z, 1 | 2 | 9 | 10) {
        return false;
    }
    let Some(max) = super::valence::max_valence(a.z, a.charge) else {
        return false;
    };
    let ev = explicit_valence(mol, incident, i);
    let aromatic = incident[i]
        .iter()
        .any(|&k| mol.bonds[k].order == BondOrder::Aromatic);
    let degree = incident[i].len() as i32 + i32::from(a.attached_h);
    max > 0 && (ev > max || (ev == max && aromatic && degree == 4))
}

/// `cleanUpOrganometallics`: one single bond to a metal of each hypervalent
/// non-metal becomes dative (the donor's valence loses it).
fn organometallics(mol: &mut Molecule, incident: &[Vec<usize>]) -> u32 {
    let mut made = 0;
    for i in 0..mol.atoms.len() {
        if !hypervalent_non_metal(mol, incident, i) {
            continue;
        }
        let to_metal = incident[i].iter().copied().find(|&k| {
            let b = mol.bonds[k];
            let j = if b.a as usize == i { b.b } else { b.a } as usize;
            b.order == BondOrder::Single && is_metal(mol.atoms[j].z)
        });
        if let Some(k) = to_metal {
            let b = mol.bonds[k];
            // Donor first, as RDKit turns the bond.
            if b.a as usize != i {
                mol.bonds[k].a = b.b;
                mol.bonds[k].b = b.a;
            }
            mol.bonds[k].order = BondOrder::Dative;
            let donor = &mut mol.atoms[i];
            donor.bond_order_x2 = donor.bond_order_x2.saturating_sub(2);
            made += 1;
        }
    }
    made
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chem::{self, BondStereo};

    /// A molecule from (element, charge) atoms and (a, b, order) bonds, MDL
    /// hydrogens.
    fn mol(atoms: &[(u8, i8)], bonds: &[(usize, usize, BondOrder)]) -> Molecule {
        let mut m = Molecule::default();
        for &(z, charge) in atoms {
            m.atoms.push(Atom {
                z,
                charge,
                implicit_h: HydrogenRule::MdlValence,
                ..Atom::default()
            });
        }
        for &(a, b, o) in bonds {
            m.add_bond(a, b, o, BondStereo::None).unwrap();
        }
        m
    }

    use BondOrder::{Double as D, Single as S};

    /// Formula, net charge and per-atom charges as RDKit 2026.09.1 gives
    /// them for `Chem.MolFromSmiles` of the SMILES in each comment.
    #[test]
    fn halogen_oxides_become_charge_separated() {
        // O=Cl(=O)[O-] -> [O-][Cl+2]([O-])[O-]: ClO3-, charge -1
        let mut m = mol(
            &[(8, 0), (17, 0), (8, 0), (8, -1)],
            &[(0, 1, D), (1, 2, D), (1, 3, S)],
        );
        assert_eq!(clean_up(&mut m).charge_separated, 3);
        assert!(chem::valence::check(&m).is_ok());
        let p = chem::properties(&m);
        assert_eq!((p.formula.as_str(), p.net_charge), ("ClO3", -1));
        assert_eq!(m.atoms[1].charge, 2);
        // O=Br(=O)O -> HBrO3, charge 0
        let mut m = mol(
            &[(8, 0), (35, 0), (8, 0), (8, 0)],
            &[(0, 1, D), (1, 2, D), (1, 3, S)],
        );
        clean_up(&mut m);
        let p = chem::properties(&m);
        assert_eq!((p.formula.as_str(), p.net_charge), ("BrHO3", 0));
        // OCl=O: valence 3 -> [O-][Cl+]O, HClO2
        let mut m = mol(&[(8, 0), (17, 0), (8, 0)], &[(0, 1, S), (1, 2, D)]);
        clean_up(&mut m);
        assert_eq!(chem::properties(&m).formula, "ClHO2");
        assert!(chem::valence::check(&m).is_ok());
        // A halogen with a C neighbour is left alone (and refused later).
        let mut m = mol(&[(6, 0), (17, 0), (8, 0)], &[(0, 1, S), (1, 2, D)]);
        assert_eq!(clean_up(&mut m), Cleaned::default());
        assert!(chem::valence::check(&m).is_err());
    }

    #[test]
    fn n_oxide_and_azide() {
        // c1ccn(=O)cc1 in Kekulé form: C1=CC=CN(=O)=C1 -> C5H5NO, charge 0
        let mut m = mol(
            &[(6, 0), (6, 0), (6, 0), (6, 0), (7, 0), (8, 0), (6, 0)],
            &[
                (0, 1, D),
                (1, 2, S),
                (2, 3, D),
                (3, 4, S),
                (4, 5, D),
                (4, 6, D),
                (6, 0, S),
            ],
        );
        clean_up(&mut m);
        assert!(chem::valence::check(&m).is_ok());
        assert_eq!((m.atoms[4].charge, m.atoms[5].charge), (1, -1));
        assert_eq!(chem::properties(&m).formula, "C5H5NO");
        // CN=N#N -> CN=[N+]=[N-]: CH3N3
        let mut m = mol(
            &[(6, 0), (7, 0), (7, 0), (7, 0)],
            &[(0, 1, S), (1, 2, D), (2, 3, BondOrder::Triple)],
        );
        clean_up(&mut m);
        assert_eq!((m.atoms[2].charge, m.atoms[3].charge), (1, -1));
        assert_eq!(chem::properties(&m).formula, "CH3N3");
    }

    #[test]
    fn bonds_to_metals_become_dative() {
        // [Cl] bridging two Pd: Cl has valence 2 > 1, one bond dative.
        let mut m = mol(&[(46, 0), (17, 0), (46, 0)], &[(0, 1, S), (1, 2, S)]);
        assert_eq!(clean_up(&mut m).dative, 1);
        assert!(chem::valence::check(&m).is_ok());
        assert_eq!(chem::properties(&m).formula, "ClPd2");
        // A carbonyl O bound to a metal: C=O-[Cu]
        let mut m = mol(&[(6, 0), (8, 0), (29, 0)], &[(0, 1, D), (1, 2, S)]);
        assert_eq!(clean_up(&mut m).dative, 1);
        assert_eq!(chem::properties(&m).formula, "CH2CuO");
        // H and F never donate.
        let mut m = mol(&[(26, 0), (1, -1), (28, 2)], &[(0, 1, S), (1, 2, S)]);
        assert_eq!(clean_up(&mut m).dative, 0);
    }
}
