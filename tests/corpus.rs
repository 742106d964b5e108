//! Regression over the reference corpus (tests/data/corpus): every record the
//! reference answers with `status: ok` must agree — formula exactly, average
//! MW within 0.01 + 1e-4·MW, net charge where given. Records without a
//! trustworthy answer must be loaded or rejected, never crash the run.
//! No server needed: this runs the `scan` pipeline.

mod common;

use molingest::formats::Format;
use molingest::pipeline::stats::{RejectLog, Stats};
use molingest::pipeline::{self, Options};
use molingest::scan::JsonlSink;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[test]
fn every_reference_record_agrees() {
    let corpus = common::corpus();
    let stats = Stats::default();
    let rejects = RejectLog::new(None, true).unwrap();
    let mut out = Vec::new();
    {
        let mut sink = JsonlSink::new(Some(&mut out));
        pipeline::run(
            &[molingest::source::Root::Local(corpus.clone())],
            &Options::default(),
            &mut sink,
            &stats,
            &rejects,
        )
        .unwrap();
    }
    let got: HashMap<(String, u64), Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["line"].is_u64())
        .map(|v| {
            (
                (
                    v["path"].as_str().unwrap().to_owned(),
                    v["line"].as_u64().unwrap(),
                ),
                v,
            )
        })
        .collect();

    let expected = std::fs::read_to_string(corpus.join("expected.jsonl")).unwrap();
    // format → (agree, disagree, rejected, no reference: loaded, no reference: rejected)
    let mut table: BTreeMap<String, [u32; 5]> = BTreeMap::new();
    let mut problems = Vec::new();
    for line in expected.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let path = e["path"].as_str().unwrap();
        if Format::from_name(path).is_none() || e["record"].is_null() {
            continue; // not a format this build reads, or a file-level line
        }
        let row = table
            .entry(e["format"].as_str().unwrap().to_owned())
            .or_default();
        let key = (path.to_owned(), e["line"].as_u64().unwrap());
        let g = got.get(&key);
        if e["status"] != "ok" {
            match g.map(|g| g["status"].as_str()) {
                Some(Some("ok")) => row[3] += 1,
                _ => row[4] += 1,
            }
            continue;
        }
        let Some(g) = g.filter(|g| g["status"] == "ok") else {
            row[2] += 1;
            problems.push(format!(
                "{path} line {}: not loaded: {:?}",
                key.1,
                g.map(|g| &g["error"])
            ));
            continue;
        };
        let (ef, emw) = (
            e["expected_formula"].as_str().unwrap(),
            e["expected_mw"].as_f64().unwrap(),
        );
        let (gf, gmw) = (
            g["formula"].as_str().unwrap_or(""),
            g["mw"].as_f64().unwrap_or(-1.0),
        );
        let charge_ok = e["expected_charge"].is_null() || e["expected_charge"] == g["charge"];
        if gf == ef && (gmw - emw).abs() <= 0.01 + 1e-4 * emw && charge_ok {
            row[0] += 1;
        } else {
            row[1] += 1;
            problems.push(format!(
                "{path} line {}: got {gf} {gmw} charge {}, expected {ef} {emw} charge {}",
                key.1, g["charge"], e["expected_charge"]
            ));
        }
    }
    println!(
        "{:<7} {:>6} {:>9} {:>9} {:>14} {:>16}",
        "format", "agree", "disagree", "rejected", "no-ref loaded", "no-ref rejected"
    );
    for (f, r) in &table {
        println!(
            "{f:<7} {:>6} {:>9} {:>9} {:>14} {:>16}",
            r[0], r[1], r[2], r[3], r[4]
        );
    }
    // Every reference record of every format was compared.
    for (format, n) in [
        ("sdf", 2083),
        ("smi", 3177),
        ("mol2", 28),
        ("pdb", 26),
        ("pdbqt", 41),
    ] {
        assert_eq!(table.get(format).map(|r| r[0]), Some(n), "{format}");
    }
    assert!(
        problems.is_empty(),
        "{} records disagree:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
