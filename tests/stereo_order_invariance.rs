//! Property: the canonical SMILES of a molfile does not depend on the order
//! its atoms and bonds are written in, nor on which end of a bond comes
//! first. The molecules are the 3D conformers of `tests/data/rdkit_diff`
//! (no wedges: stereo from the coordinates alone), each shuffled 20 times
//! with a fixed seed; every shuffle must give RDKit's string for the file
//! as written (`expected.jsonl`, RDKit 2026.09.1).

use std::collections::HashMap;
use std::path::Path;

use molingest::chem::{cleanup, Molecule};
use molingest::formats::{parse_all, Format};
use molingest::identity::canonical_smiles;
use serde_json::Value;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// The molecule with atoms in a random order, bonds in a random order and
/// each bond's ends swapped at random (the file has no wedges).
fn shuffled(mol: &Molecule, rng: &mut Rng) -> Molecule {
    let n = mol.atoms.len();
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut new_index = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new as u32;
    }
    let mut out = mol.clone();
    out.atoms = order.iter().map(|&i| mol.atoms[i]).collect();
    for b in &mut out.bonds {
        b.a = new_index[b.a as usize];
        b.b = new_index[b.b as usize];
        if rng.below(2) == 1 {
            std::mem::swap(&mut b.a, &mut b.b);
        }
    }
    rng.shuffle(&mut out.bonds);
    out
}

#[test]
fn shuffled_3d_molfiles_give_rdkits_string() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rdkit_diff");
    let expected: HashMap<(String, u64), String> =
        std::fs::read_to_string(dir.join("expected.jsonl"))
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let e: Value = serde_json::from_str(l).unwrap();
                let smiles = e["smiles"].as_str()?.to_owned();
                Some((
                    (e["path"].as_str()?.to_owned(), e["record"].as_u64()?),
                    smiles,
                ))
            })
            .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut molecules, mut wrong) = (0, Vec::new());
    for name in ["stereo_3d_shuffled_h.sdf", "stereo_3d_shuffled_noh.sdf"] {
        let data = std::fs::read(dir.join(name)).unwrap();
        for (record, parsed) in parse_all(Format::Sdf, &data).into_iter().enumerate() {
            let mut parsed = parsed.unwrap().unwrap();
            cleanup::clean_up(&mut parsed.mol);
            let want = &expected[&(name.to_owned(), record as u64)];
            molecules += 1;
            for round in 0..20 {
                let mut p = parsed.clone();
                p.mol = shuffled(&parsed.mol, &mut rng);
                match canonical_smiles(Format::Sdf, b"", &p) {
                    Ok(got) if &got == want => {}
                    other => wrong.push(format!(
                        "{name} #{record} shuffle {round}: {other:?}, RDKit {want}"
                    )),
                }
            }
        }
    }
    assert!(molecules >= 70, "{molecules}");
    assert!(wrong.is_empty(), "{}:\n{}", wrong.len(), wrong.join("\n"));
}
