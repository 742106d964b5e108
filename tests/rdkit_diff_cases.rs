//! Regression cases found with the differential harness (tools/rdkit-diff),
//! each with RDKit's own answer: `tests/data/rdkit_diff/expected.jsonl` is
//! `rdkit_diff.py compare tests/data/rdkit_diff --expect-out ...` output
//! (RDKit 2026.09.1, named on its first line). `molingest scan --jsonl`
//! must read what RDKit reads and refuse what it refuses, with the same
//! formula, weight and charge, and a canonical SMILES that is RDKit's or
//! empty with an `identity_error` — never a different string.
//!
//! The cases, one class each:
//! - `stereo_3d_shuffled_h.sdf`, `stereo_3d_shuffled_noh.sdf`: 3D
//!   conformers (RDKit `EmbedMolecule`) written with atoms and bonds in a
//!   random order, bond ends swapped at random, no wedges; with explicit H
//!   these gave inverted E/Z, and imines kept their `[H]/N=` stereo H. Here
//!   the SMILES must be RDKit's exactly.
//! - `cleanup_and_metals.{smi,sdf}`: RDKit's cleanUp (halogen oxides with
//!   double bonds, `n(=O)`, azide) and bonds to metals made dative.
//! - `mdl_coordination_bonds.sdf`: MDL bond type 9, which RDKit reads as a
//!   dative bond counting at its second atom only (`B<-NC` is CH7BN).
//! - `tripos_charges.mol2`: carboxylates of `O.co2` written with two double
//!   or two aromatic bonds, `N.4`, guanidinium `C.cat`, a phosphate.
//! - `guarded_stereo.sdf`: stereo RDKit perceives that is not reproduced,
//!   so an `identity_error` (metal centres in 3D, a three-coordinate P in
//!   3D, wedges at S and P in 2D): these gave different strings before.
//! - `heteroatom_centres.sdf`: P, S, As, Se, Si, B⁻, N⁺ centres in 2D
//!   (wedges) and 3D: RDKit's string, or an `identity_error` where the
//!   perception parts ways with RDKit's (three-coordinate P, sulfimide S,
//!   As, Se).
//! - `element_from_atom_name.pdb`: no element columns; the element from the
//!   atom name as RDKit reads it (`CL  ` chlorine, ` NA ` nitrogen, `Cl  `
//!   refused, ` Q` pseudo atoms left out).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn molingest_reads_what_rdkit_reads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rdkit_diff");
    let checked = check(&dir, &dir.join("expected.jsonl"));
    assert!(checked >= 200, "{checked} records checked");
}

/// The corpus PDB files with their element columns cut off (every ATOM and
/// HETATM line cut to 66 columns, trailing blanks removed): the element
/// comes from the atom name, as RDKit reads it. RDKit's answers:
/// `tests/data/rdkit_pdb_no_element_columns.jsonl` (RDKit 2026.09.1).
#[test]
fn pdb_without_element_columns_as_rdkit_reads_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(root.join("tests/data/corpus/pdb")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut raw = std::fs::read(&path).unwrap();
        let name = match name.strip_suffix(".gz") {
            Some(n) => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
                    .unwrap();
                raw = out;
                n.to_owned()
            }
            None => name,
        };
        let mut text = Vec::with_capacity(raw.len());
        for line in raw.split_inclusive(|&b| b == b'\n') {
            let (body, nl) = match line.strip_suffix(b"\n") {
                Some(b) => (b, &b"\n"[..]),
                None => (line, &b""[..]),
            };
            if body.starts_with(b"ATOM  ") || body.starts_with(b"HETATM") {
                let cut = &body[..body.len().min(66)];
                let end = cut.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
                text.extend_from_slice(&cut[..end]);
            } else {
                text.extend_from_slice(body);
            }
            text.extend_from_slice(nl);
        }
        std::fs::write(tmp.path().join(name), text).unwrap();
        files += 1;
    }
    assert!(files >= 20, "{files} PDB files");
    let checked = check(
        tmp.path(),
        &root.join("tests/data/rdkit_pdb_no_element_columns.jsonl"),
    );
    assert!(checked >= 26, "{checked} records checked");
}

/// Scan `dir` and compare every record with RDKit's answer in `expected`;
/// the number of records checked.
fn check(dir: &Path, expected: &Path) -> usize {
    let expected = std::fs::read_to_string(expected).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_molingest"))
        .args(["scan", "--jsonl"])
        .arg(dir)
        .output()
        .unwrap();
    let is_smi = |p: &str| p.ends_with(".smi");
    let mut got: HashMap<(String, u64), Value> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let Some(record) = r["record"].as_u64() else {
            continue;
        };
        let path = r["path"].as_str().unwrap().to_owned();
        let key = if is_smi(&path) {
            r["line"].as_u64().unwrap()
        } else {
            record
        };
        got.insert((path, key), r);
    }
    let (mut checked, mut wrong) = (0, Vec::new());
    for line in expected.lines().skip(1) {
        let e: Value = serde_json::from_str(line).unwrap();
        let path = e["path"].as_str().unwrap();
        let key = if is_smi(path) {
            &e["line"]
        } else {
            &e["record"]
        };
        let key = (path.to_owned(), key.as_u64().unwrap());
        let Some(m) = got.get(&key) else {
            wrong.push(format!("{key:?}: no record line"));
            continue;
        };
        checked += 1;
        let ok = m["status"] == "ok";
        if e["rdkit"] == "refused" {
            if ok {
                wrong.push(format!("{key:?}: RDKit refuses it ({}), read", e["reason"]));
            }
            continue;
        }
        if !ok {
            wrong.push(format!("{key:?}: RDKit reads it, refused: {}", m["error"]));
            continue;
        }
        if m["formula"] != e["formula"] || m["charge"] != e["charge"] {
            wrong.push(format!(
                "{key:?}: RDKit {} {}, molingest {} {}",
                e["formula"], e["charge"], m["formula"], m["charge"]
            ));
        }
        let (mw, want) = (m["mw"].as_f64().unwrap(), e["mw"].as_f64().unwrap());
        if (mw - want).abs() > 0.01 + 1e-4 * want {
            wrong.push(format!("{key:?}: MW RDKit {want}, molingest {mw}"));
        }
        let stereo = path.starts_with("stereo_");
        match (e["smiles"].as_str(), m["smiles"].as_str()) {
            (Some(w), Some(g)) if w != g => wrong.push(format!(
                "{key:?}: SMILES RDKit {w}, molingest {g} (DIFFERENT)"
            )),
            (Some(w), None) if stereo || m["identity_error"].is_null() => wrong.push(format!(
                "{key:?}: SMILES RDKit {w}, molingest none ({})",
                m["identity_error"]
            )),
            (None, Some(g)) => wrong.push(format!("{key:?}: RDKit no SMILES, molingest {g}")),
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} differ from RDKit:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    checked
}
