//! The periodic table as the chemistry needs it: symbols, RDKit's average
//! atomic weights (`atomic_weights_rdkit.tsv`, the table the reference answers
//! use), default valences for the MDL implicit-hydrogen model, and RDKit's
//! isotope masses.

use std::sync::LazyLock;

/// Atomic number; 0 is the dummy atom `*`.
pub type Z = u8;

pub const DUMMY: Z = 0;
pub const H: Z = 1;
pub const C: Z = 6;
pub const MAX_Z: usize = 118;

struct Table {
    symbol: Vec<&'static str>,
    weight: Vec<f64>,
    /// Atomic number by the symbol's two bytes (second 0 for one letter);
    /// 0xff where there is no such element. Readers look symbols up per atom.
    by_symbol: Vec<u8>,
}

const NONE: u8 = 0xff;

fn symbol_key(sym: &[u8]) -> Option<usize> {
    match sym {
        [a] => Some(usize::from(*a) << 8),
        [a, b] => Some(usize::from(*a) << 8 | usize::from(*b)),
        _ => None,
    }
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut symbol = vec![""; MAX_Z + 1];
    let mut weight = vec![0.0; MAX_Z + 1];
    symbol[0] = "*";
    for line in include_str!("atomic_weights_rdkit.tsv").lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(sym), Some(z), Some(w)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        // D and T rows are isotopes of H; `isotope_mass` serves them.
        if sym == "D" || sym == "T" {
            continue;
        }
        let (Ok(z), Ok(w)) = (z.parse::<usize>(), w.parse::<f64>()) else {
            continue;
        };
        if z <= MAX_Z {
            symbol[z] = sym;
            weight[z] = w;
        }
    }
    let mut by_symbol = vec![NONE; 1 << 16];
    for (z, s) in symbol.iter().enumerate().skip(1) {
        if let Some(k) = symbol_key(s.as_bytes()) {
            by_symbol[k] = z as u8;
        }
    }
    Table {
        symbol,
        weight,
        by_symbol,
    }
});

/// The element symbol, `*` for a dummy atom.
pub fn symbol(z: Z) -> &'static str {
    TABLE.symbol.get(z as usize).copied().unwrap_or("*")
}

/// RDKit's average atomic weight; 0 for a dummy atom.
pub fn average_weight(z: Z) -> f64 {
    TABLE.weight.get(z as usize).copied().unwrap_or(0.0)
}

/// Atomic number of an element symbol in its proper case (`Cl`, not `CL`).
pub fn by_symbol(sym: &str) -> Option<Z> {
    by_symbol_bytes(sym.as_bytes())
}

/// [`by_symbol`] on bytes, for readers that have not decoded their text.
pub fn by_symbol_bytes(sym: &[u8]) -> Option<Z> {
    let z = TABLE.by_symbol[symbol_key(sym)?];
    (z != NONE).then_some(z)
}

/// Atomic number of a symbol written in any case (`CL`, `cl`, `Cl`).
pub fn by_symbol_any_case(sym: &str) -> Option<Z> {
    let b = sym.as_bytes();
    match b.len() {
        1 => by_symbol(std::str::from_utf8(&[b[0].to_ascii_uppercase()]).ok()?),
        2 => {
            let proper = [b[0].to_ascii_uppercase(), b[1].to_ascii_lowercase()];
            by_symbol(std::str::from_utf8(&proper).ok()?)
        }
        _ => None,
    }
}

/// The mass of an isotope, from RDKit's own table (`isotope_masses_rdkit.tsv`:
/// every isotope RDKit 2026.09's periodic table knows, 3,111 of them, read
/// out with `GetMassForIsotope`); an isotope it does not know weighs its
/// mass number, as in RDKit.
pub fn isotope_mass(z: Z, mass_number: u16) -> f64 {
    static MASSES: LazyLock<std::collections::HashMap<(Z, u16), f64>> = LazyLock::new(|| {
        include_str!("isotope_masses_rdkit.tsv")
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut cols = line.split('\t');
                let z = cols.next()?.parse().ok()?;
                let a = cols.next()?.parse().ok()?;
                let m = cols.next()?.parse().ok()?;
                Some(((z, a), m))
            })
            .collect()
    });
    MASSES
        .get(&(z, mass_number))
        .copied()
        .unwrap_or(f64::from(mass_number))
}

/// Covalent radius (Å) as RDKit uses it for proximity bonding.
pub fn covalent_radius(z: Z) -> f32 {
    const R: [f32; 87] = [
        0.0, 0.23, 0.93, 0.68, 0.35, 0.83, 0.68, 0.68, 0.68, 0.64, 1.12, // 0-10
        0.97, 1.1, 1.35, 1.2, 0.75, 1.02, 0.99, 1.57, 1.33, 0.99, // 11-20
        1.44, 1.47, 1.33, 1.35, 1.35, 1.34, 1.33, 1.5, 1.52, 1.45, // 21-30
        1.22, 1.17, 1.21, 1.22, 1.21, 1.91, 1.47, 1.12, 1.78, 1.56, // 31-40
        1.48, 1.47, 1.35, 1.4, 1.45, 1.5, 1.59, 1.69, 1.63, 1.46, // 41-50
        1.46, 1.47, 1.4, 1.98, 1.67, 1.34, 1.87, 1.83, 1.82, 1.81, // 51-60
        1.8, 1.8, 1.99, 1.79, 1.76, 1.75, 1.74, 1.73, 1.72, 1.94, // 61-70
        1.72, 1.57, 1.43, 1.37, 1.35, 1.37, 1.32, 1.5, 1.5, 1.7, // 71-80
        1.55, 1.54, 1.54, 1.68, 1.7, 2.4, // 81-86
    ];
    R.get(z as usize).copied().unwrap_or(1.5)
}

/// Allowed valences, lowest first, as RDKit's periodic table lists them for
/// the MDL implicit-hydrogen model. `None`: any valence, no implicit H
/// (metals, noble gases and the rest).
pub fn valences(z: Z) -> Option<&'static [u8]> {
    Some(match z {
        1 => &[1],
        3 | 11 | 19 | 37 | 55 | 87 => &[1],
        4 | 12 | 20 | 38 | 56 | 88 => &[2],
        5 | 13 | 31 | 49 => &[3],
        6 | 14 | 32 => &[4],
        50 | 82 => &[2, 4],
        7 => &[3],
        15 | 33 | 51 | 83 => &[3, 5, 7],
        8 => &[2],
        16 | 34 | 52 | 84 => &[2, 4, 6],
        9 | 17 | 35 => &[1],
        53 | 85 => &[1, 3, 5],
        81 => &[1, 3],
        2 | 10 | 18 | 36 | 54 | 86 => &[0],
        _ => return None,
    })
}

/// Elements left of carbon in their row: hydrogen adds to them as H-, so a
/// positive charge lowers their valence where it raises that of N or O.
pub fn is_early(z: Z) -> bool {
    matches!(
        z,
        3 | 4 | 5 | 11 | 12 | 13 | 19 | 20 | 31 | 37 | 38 | 49 | 55 | 56 | 81 | 87 | 88
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_and_weights_come_from_the_reference_table() {
        assert_eq!(by_symbol("C"), Some(6));
        assert_eq!(by_symbol("Cl"), Some(17));
        assert_eq!(by_symbol("CL"), None);
        assert_eq!(by_symbol_any_case("CL"), Some(17));
        assert_eq!(by_symbol("Og"), Some(118));
        assert_eq!(symbol(8), "O");
        assert!((average_weight(6) - 12.011).abs() < 1e-9);
        assert!((average_weight(16) - 32.067).abs() < 1e-9);
        assert!((isotope_mass(1, 2) - 2.014101778).abs() < 1e-6);
    }
}
