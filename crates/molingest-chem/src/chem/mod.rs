//! Chemistry: from the atoms a reader found to the formula (Hill order),
//! average molecular weight and simple counts. Readers fill a [`Molecule`];
//! nothing here knows about file formats.

pub mod cleanup;
pub mod elements;
pub mod valence;

use std::fmt::Write;

use elements::Z;

/// One atom as a reader found it. Plain data (no heap): a record's graph is
/// built and dropped per record, so atoms must be cheap to push.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Atom {
    pub z: Z,
    /// Mass number when the file names an isotope (`M  ISO`, `D`, `[13C]`).
    pub isotope: u16,
    pub charge: i8,
    /// Unpaired electrons (`M  RAD`): each takes the place of one hydrogen.
    pub radical_electrons: u8,
    /// Sum of bond orders to neighbours, times two, as the valence models
    /// count them. Kept up to date by [`Molecule::add_bond`] so the models
    /// need not walk the bond list.
    pub bond_order_x2: u16,
    /// Hydrogens that belong to the atom without being atoms of their own
    /// (SMILES `[NH4+]`, MDL valence field).
    pub attached_h: u8,
    /// The reader decides whether implicit H are added (SDF and SMILES organic
    /// atoms yes; MOL2, PDB and PDBQT keep the atoms as written).
    pub implicit_h: HydrogenRule,
    /// Written as aromatic (SMILES lowercase, MOL2 `.ar` types).
    pub aromatic: bool,
    pub stereo: AtomStereo,
    /// Position in Å when the format has one (SDF, MOL2, PDB, PDBQT, frames).
    pub coords: Option<[f64; 3]>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HydrogenRule {
    /// No hydrogens beyond `attached_h`.
    #[default]
    AsWritten,
    /// MDL valence model (charge-aware), as RDKit applies it to mol files.
    MdlValence,
    /// OpenSMILES organic subset: fill up to the lowest normal valence.
    /// An aromatic atom ([`Atom::aromatic`]) gives one valence unit to the
    /// pi system.
    SmilesOrganic,
}

/// Atom stereo as the file states it; nothing is perceived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AtomStereo {
    #[default]
    None,
    /// MDL parity 1 (odd, clockwise by index order).
    ParityOdd,
    /// MDL parity 2 (even).
    ParityEven,
    /// MDL parity 3: a stereocentre of unknown configuration.
    ParityEither,
    /// SMILES `@` / `@TH1`: anticlockwise seen from the first neighbour.
    Anticlockwise,
    /// SMILES `@@` / `@TH2`.
    Clockwise,
    /// SMILES `@AL`, `@SP`, `@TB`, `@OH` with its number.
    Class(ChiralClass, u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChiralClass {
    /// Tetrahedral `@TH` beyond 1 and 2 (not valid, kept as written).
    Th,
    /// Allene-like `@AL`.
    Al,
    /// Square planar `@SP`.
    Sp,
    /// Trigonal bipyramidal `@TB`.
    Tb,
    /// Octahedral `@OH`.
    Oh,
}

/// A bond between two atoms (indices into [`Molecule::atoms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bond {
    pub a: u32,
    pub b: u32,
    pub order: BondOrder,
    pub stereo: BondStereo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondOrder {
    Single,
    Double,
    Triple,
    /// SMILES `$`.
    Quadruple,
    Aromatic,
    /// Query or unknown type (MDL 5-8, MOL2 `du`/`un`): counts as single.
    Any,
    /// Coordination, hydrogen or "not connected" bonds (MDL 9 and 10, MOL2
    /// `nc`): recorded, but no valence.
    Zero,
    /// A dative bond from its donor (`a`) to its acceptor (`b`): an MDL
    /// coordination bond (type 9, as RDKit reads it), or a bond to a metal
    /// that RDKit's `cleanUpOrganometallics` made dative ([`cleanup`]). It
    /// counts at the acceptor only.
    Dative,
}

impl BondOrder {
    /// Valence units ×2 the bond takes from each end, as the MDL model and
    /// the MOL2 charge rules count it (aromatic 1.5).
    pub fn valence_x2(self) -> u16 {
        match self {
            BondOrder::Single | BondOrder::Any | BondOrder::Dative => 2,
            BondOrder::Double => 4,
            BondOrder::Triple => 6,
            BondOrder::Quadruple => 8,
            BondOrder::Aromatic => 3,
            BondOrder::Zero => 0,
        }
    }
}

/// Bond stereo as the file states it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BondStereo {
    #[default]
    None,
    /// Wedge from `a` (MDL 1, V3000 CFG=1).
    Wedge,
    /// Hash from `a` (MDL 6, V3000 CFG=3).
    Hash,
    /// Wavy: either configuration at `a` (MDL 4, V3000 CFG=2 on a single bond).
    Either,
    /// Double bond of unknown cis/trans geometry (MDL 3, CFG=2 on a double).
    CisTransEither,
    /// SMILES `/` written between `a` and `b` (in that order).
    Up,
    /// SMILES `\` written between `a` and `b`.
    Down,
}

/// The graph of one record: what every reader fills and the chemistry reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Molecule {
    pub atoms: Vec<Atom>,
    pub bonds: Vec<Bond>,
}

/// Why a bond could not be added; the reader turns it into a `ParseError`
/// with its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondError {
    /// An end is not an atom of the molecule (0-based index).
    NoSuchAtom(usize),
    /// The atom's bond order sum does not fit: far more bonds than any
    /// atom can have.
    TooManyBonds(usize),
}

impl std::fmt::Display for BondError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            BondError::NoSuchAtom(i) => write!(f, "bond to atom {}, which does not exist", i + 1),
            BondError::TooManyBonds(i) => {
                write!(f, "atom {} has more bonds than an atom can hold", i + 1)
            }
        }
    }
}

impl Molecule {
    pub fn with_capacity(atoms: usize, bonds: usize) -> Molecule {
        Molecule {
            atoms: Vec::with_capacity(atoms),
            bonds: Vec::with_capacity(bonds),
        }
    }

    /// Record a bond and add its [`BondOrder::valence_x2`] to both ends.
    pub fn add_bond(
        &mut self,
        a: usize,
        b: usize,
        order: BondOrder,
        stereo: BondStereo,
    ) -> Result<(), BondError> {
        self.add_bond_counting(a, b, order, stereo, order.valence_x2())
    }

    /// [`Molecule::add_bond`] for a reader whose valence model counts the
    /// bond differently from its order (a SMILES aromatic bond counts 1:
    /// the organic-subset rule takes the pi unit off the atom instead).
    /// Checked: a wrapped sum would silently change the formula.
    pub fn add_bond_counting(
        &mut self,
        a: usize,
        b: usize,
        order: BondOrder,
        stereo: BondStereo,
        valence_x2: u16,
    ) -> Result<(), BondError> {
        let n = self.atoms.len();
        for i in [a, b] {
            if i >= n {
                return Err(BondError::NoSuchAtom(i));
            }
        }
        // Indices fit: a record holds at most 64 MiB, far below 2^32 atoms.
        let (Ok(ia), Ok(ib)) = (u32::try_from(a), u32::try_from(b)) else {
            return Err(BondError::NoSuchAtom(a.max(b)));
        };
        // One end at a time: a bond from an atom to itself (kept as the
        // file writes it) counts at that atom twice.
        let sum_a = self.atoms[a]
            .bond_order_x2
            .checked_add(valence_x2)
            .ok_or(BondError::TooManyBonds(a))?;
        let old_a = std::mem::replace(&mut self.atoms[a].bond_order_x2, sum_a);
        match self.atoms[b].bond_order_x2.checked_add(valence_x2) {
            Some(sum_b) => self.atoms[b].bond_order_x2 = sum_b,
            None => {
                self.atoms[a].bond_order_x2 = old_a;
                return Err(BondError::TooManyBonds(b));
            }
        }
        self.bonds.push(Bond {
            a: ia,
            b: ib,
            order,
            stereo,
        });
        Ok(())
    }
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

/// Implicit hydrogens by the MDL valence model, as RDKit applies it (see
/// [`valence`]: a charged atom takes the valences of its isoelectronic
/// element, an aromatic one only its first).
pub fn mdl_implicit_h(a: &Atom) -> u32 {
    valence::mdl_implicit_h(a)
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
    // Half units round up: an aromatic bond outside a ring between atoms
    // written aliphatic counts 1.5 (RDKit rounds the valence it makes).
    let explicit = i32::from(a.bond_order_x2.div_ceil(2)) + i32::from(aromatic);
    if aromatic {
        return (allowed[0] - explicit).max(0) as u32;
    }
    allowed
        .iter()
        .find(|&&v| v >= explicit)
        .map_or(0, |&v| (v - explicit) as u32)
}

/// Formula, weight and counts of a molecule.
pub fn properties(mol: &Molecule) -> Properties {
    let atoms = &mol.atoms;
    // u32/i32 sums cannot wrap: a record is at most 64 MiB, so at most ~10M
    // atoms with 255 H or a charge of ±128 each (a bracket atom is 7+ bytes).
    let mut counts = [0u32; elements::MAX_Z + 1];
    let mut mw = 0.0f64;
    let mut charge = 0i32;
    let mut implicit_total = 0u32;
    for a in atoms {
        let implicit = match a.implicit_h {
            HydrogenRule::AsWritten => 0,
            HydrogenRule::MdlValence => mdl_implicit_h(a),
            HydrogenRule::SmilesOrganic => smiles_implicit_h(a, a.aromatic),
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
        bond_count: u32::try_from(mol.bonds.len()).unwrap_or(u32::MAX),
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
        let mut mol = Molecule::default();
        mol.atoms
            .extend([atom(6, 0, 0), atom(6, 0, 0), atom(8, 0, 0)]);
        mol.add_bond(0, 1, BondOrder::Single, BondStereo::None)
            .unwrap();
        mol.add_bond(1, 2, BondOrder::Single, BondStereo::None)
            .unwrap();
        let p = properties(&mol);
        assert_eq!(p.formula, "C2H6O");
        assert!((p.average_mw - 46.069).abs() < 1e-3, "{}", p.average_mw);
        assert_eq!(p.atom_count, 9);
        assert_eq!(p.heavy_atom_count, 3);
        assert_eq!(p.bond_count, 2);
        assert_eq!(mol.atoms[1].bond_order_x2, 4);
    }

    #[test]
    fn bond_order_sum_overflow_is_an_error_not_a_wrap() {
        let mut mol = Molecule::default();
        mol.atoms.push(atom(6, 0, 0));
        for i in 1..=10_923 {
            mol.atoms.push(atom(6, 0, 0));
            let r = mol.add_bond(0, i, BondOrder::Triple, BondStereo::None);
            if i < 10_923 {
                r.unwrap();
            } else {
                assert_eq!(r, Err(BondError::TooManyBonds(0)));
            }
        }
        assert_eq!(mol.bonds.len(), 10_922);
        assert_eq!(mol.atoms[0].bond_order_x2, 65_532);
        mol.add_bond(1, 1, BondOrder::Single, BondStereo::None)
            .unwrap();
        assert_eq!(mol.atoms[1].bond_order_x2, 6 + 4);
        assert_eq!(
            mol.add_bond(1, 99_999, BondOrder::Single, BondStereo::None),
            Err(BondError::NoSuchAtom(99_999))
        );
    }
}
