//! Chemistry: from the atoms a reader found to the formula (Hill order),
//! average molecular weight and simple counts. Readers fill a [`Molecule`];
//! nothing here knows about file formats.

pub mod elements;

use std::fmt::Write;

use elements::Z;

/// One atom as a reader found it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Atom {
    pub z: Z,
    /// Mass number when the file names an isotope (`M  ISO`, `D`, `[13C]`).
    pub isotope: u16,
    pub charge: i8,
    /// Unpaired electrons (`M  RAD`): each takes the place of one hydrogen.
    pub radical_electrons: u8,
    /// Sum of bond orders to neighbours, times two (aromatic bonds count 1.5).
    pub bond_order_x2: u16,
    /// Hydrogens that belong to the atom without being atoms of their own
    /// (SMILES `[NH4+]`, MDL valence field).
    pub attached_h: u8,
    /// The reader decides whether implicit H are added (SDF and SMILES organic
    /// atoms yes; MOL2, PDB and PDBQT keep the atoms as written).
    pub implicit_h: HydrogenRule,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HydrogenRule {
    /// No hydrogens beyond `attached_h`.
    #[default]
    AsWritten,
    /// MDL valence model (charge-aware), as RDKit applies it to mol files.
    MdlValence,
    /// OpenSMILES organic subset: fill up to the lowest normal valence.
    /// `aromatic` takes one valence unit for the pi system.
    SmilesOrganic { aromatic: bool },
}

/// What the chemistry stage computes for one molecule.
#[derive(Debug, Clone, PartialEq)]
pub struct Properties {
    pub formula: String,
    pub average_mw: f64,
    pub net_charge: i32,
    pub atom_count: u32,
    pub heavy_atom_count: u32,
    pub hydrogen_count: u32,
    pub implicit_h_count: u32,
    pub bond_count: u32,
}

/// Implicit hydrogens by the MDL valence model: the lowest allowed valence of
/// the element, shifted by the charge (N+ is like C, O- like F, B- like C),
/// that holds the explicit bonds.
pub fn mdl_implicit_h(a: &Atom) -> u32 {
    let Some(valences) = elements::valences(a.z) else {
        return 0;
    };
    let mut chg = i32::from(a.charge);
    if elements::is_early(a.z) {
        chg = -chg;
    }
    // C+ and C- both hold three bonds.
    if a.z == elements::C && chg > 0 {
        chg = -chg;
    }
    let explicit = (i32::from(a.bond_order_x2) + 1) / 2
        + i32::from(a.radical_electrons)
        + i32::from(a.attached_h);
    for &v in valences {
        let v = i32::from(v) + chg;
        if v >= explicit {
            return (v - explicit) as u32;
        }
    }
    0
}

/// Implicit hydrogens of an organic-subset SMILES atom (OpenSMILES 3.2.2):
/// the lowest normal valence that holds the bonds, less the bonds. An
/// aromatic atom gives one valence unit to the pi system and takes only its
/// lowest valence (pyridine `n` and thiophene `s` get none).
pub fn smiles_implicit_h(a: &Atom, aromatic: bool) -> u32 {
    let allowed: &[i32] = match a.z {
        5 => &[3],
        6 => &[4],
        7 | 15 => &[3, 5],
        8 => &[2],
        16 => &[2, 4, 6],
        9 | 17 | 35 | 53 => &[1],
        _ => return 0,
    };
    let explicit = i32::from(a.bond_order_x2 / 2) + i32::from(aromatic);
    if aromatic {
        return (allowed[0] - explicit).max(0) as u32;
    }
    allowed
        .iter()
        .find(|&&v| v >= explicit)
        .map_or(0, |&v| (v - explicit) as u32)
}

/// Formula, weight and counts of a molecule given its atoms and bond count.
pub fn properties(atoms: &[Atom], bond_count: u32) -> Properties {
    let mut counts = [0u32; elements::MAX_Z + 1];
    let mut mw = 0.0f64;
    let mut charge = 0i32;
    let mut implicit_total = 0u32;
    for a in atoms {
        let implicit = match a.implicit_h {
            HydrogenRule::AsWritten => 0,
            HydrogenRule::MdlValence => mdl_implicit_h(a),
            HydrogenRule::SmilesOrganic { aromatic } => smiles_implicit_h(a, aromatic),
        };
        let h = implicit + u32::from(a.attached_h);
        implicit_total += h;
        counts[elements::H as usize] += h;
        mw += f64::from(h) * elements::average_weight(elements::H);
        if let Some(slot) = counts.get_mut(a.z as usize) {
            *slot += 1;
        }
        mw += if a.isotope > 0 {
            elements::isotope_mass(a.z, a.isotope)
        } else {
            elements::average_weight(a.z)
        };
        charge += i32::from(a.charge);
    }
    let hydrogens = counts[elements::H as usize];
    let dummies = counts[elements::DUMMY as usize];
    let total: u32 = counts.iter().sum();
    Properties {
        formula: hill_formula(&counts),
        average_mw: mw,
        net_charge: charge,
        atom_count: total,
        heavy_atom_count: total - hydrogens - dummies,
        hydrogen_count: hydrogens,
        implicit_h_count: implicit_total,
        bond_count,
    }
}

/// Hill order: C, H, then alphabetical; without carbon all alphabetical,
/// H included. Dummy atoms last as `*`.
pub fn hill_formula(counts: &[u32; elements::MAX_Z + 1]) -> String {
    let mut out = String::with_capacity(24);
    let push = |out: &mut String, sym: &str, n: u32| {
        out.push_str(sym);
        if n > 1 {
            let _ = write!(out, "{n}");
        }
    };
    let has_carbon = counts[elements::C as usize] > 0;
    let mut rest: Vec<(&str, u32)> = Vec::with_capacity(8);
    for (z, &n) in counts.iter().enumerate().skip(1) {
        if n == 0 || (has_carbon && (z == elements::C as usize || z == elements::H as usize)) {
            continue;
        }
        rest.push((elements::symbol(z as Z), n));
    }
    rest.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if has_carbon {
        push(&mut out, "C", counts[elements::C as usize]);
        let h = counts[elements::H as usize];
        if h > 0 {
            push(&mut out, "H", h);
        }
    }
    for (sym, n) in rest {
        push(&mut out, sym, n);
    }
    if counts[elements::DUMMY as usize] > 0 {
        push(&mut out, "*", counts[elements::DUMMY as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(z: Z, bonds_x2: u16, charge: i8) -> Atom {
        Atom {
            z,
            bond_order_x2: bonds_x2,
            charge,
            implicit_h: HydrogenRule::MdlValence,
            ..Atom::default()
        }
    }

    #[test]
    fn mdl_valence_is_charge_aware() {
        assert_eq!(mdl_implicit_h(&atom(6, 2, 0)), 3); // CH3-
        assert_eq!(mdl_implicit_h(&atom(7, 2, 1)), 3); // -NH3+
        assert_eq!(mdl_implicit_h(&atom(8, 2, -1)), 0); // -O-
        assert_eq!(mdl_implicit_h(&atom(5, 0, -1)), 4); // BH4-
        assert_eq!(mdl_implicit_h(&atom(6, 2, 1)), 2); // CH2+
        assert_eq!(mdl_implicit_h(&atom(11, 0, 1)), 0); // Na+
        assert_eq!(mdl_implicit_h(&atom(16, 6, 0)), 1); // S with three bonds
        assert_eq!(mdl_implicit_h(&atom(26, 0, 0)), 0); // Fe: no implicit H
    }

    #[test]
    fn hill_order_with_and_without_carbon() {
        let mut c = [0u32; elements::MAX_Z + 1];
        c[17] = 1;
        c[1] = 1;
        assert_eq!(hill_formula(&c), "ClH");
        c[6] = 2;
        c[1] = 5;
        c[8] = 1;
        assert_eq!(hill_formula(&c), "C2H5ClO");
        let mut w = [0u32; elements::MAX_Z + 1];
        w[1] = 2;
        w[8] = 1;
        w[0] = 1;
        assert_eq!(hill_formula(&w), "H2O*");
    }

    #[test]
    fn ethanol_weight() {
        let atoms = [atom(6, 2, 0), atom(6, 4, 0), atom(8, 2, 0)];
        let p = properties(&atoms, 2);
        assert_eq!(p.formula, "C2H6O");
        assert!((p.average_mw - 46.069).abs() < 1e-3, "{}", p.average_mw);
        assert_eq!(p.atom_count, 9);
        assert_eq!(p.heavy_atom_count, 3);
    }
}
