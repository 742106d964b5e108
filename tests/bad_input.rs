//! Input that must not break a load: every class is reported with file,
//! record and line, and everything else loads. The `scan` checks need no
//! server; the load check uses DATABASE_URL (see tests/common).

mod common;

use common::*;
use flate2::write::GzEncoder;
use serde_json::Value;
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar archive holding one file, by the POSIX ustar layout.
fn tar(name: &str, body: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[124..135].copy_from_slice(format!("{:011o}", body.len()).as_bytes());
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(body);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

const MOL: &str = "  2  1  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n    0.0000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n  1  2  1  0\nM  END\n";

fn sdf_record(title: &[u8], body: &str) -> Vec<u8> {
    let mut r = title.to_vec();
    r.extend_from_slice(b"\n  test\n\n");
    r.extend_from_slice(body.as_bytes());
    r
}

/// A library with one file of every bad kind, and good records around them.
fn bad_library() -> tempfile::TempDir {
    let c = corpus().join("broken");
    let dir = dir_with(&[
        (
            &c.join("derived__truncated_record.sdf"),
            "truncated_record.sdf",
        ),
        (
            &c.join("derived__truncated_stream.smi.gz"),
            "truncated_stream.smi.gz",
        ),
        (&c.join("derived__binary_garbage.pdb"), "binary_garbage.pdb"),
        (&c.join("derived__empty.smi"), "empty.smi"),
        (
            &c.join("derived__mol2_named_as.pdbqt"),
            "mol2_named_as.pdbqt",
        ),
    ]);
    let p = |name: &str| dir.path().join(name);
    let garbage = std::fs::read(c.join("derived__binary_garbage.pdb")).unwrap();
    std::fs::write(p("binary_inside.sdf.gz"), gz(&garbage)).unwrap();
    let benzene =
        std::fs::read(root().join("tests/data/corpus/mol2/prolif__benzene.mol2")).unwrap();
    std::fs::write(p("archive.pdb.gz"), gz(&tar("benzene.pdb", &benzene))).unwrap();
    // A 10 MB line: as an SDF title (the molecule loads, its name is cut),
    // and as a SMILES (rejected, with a short reason).
    let long = vec![b'x'; 10 << 20];
    let mut one = sdf_record(&long, MOL);
    one.extend_from_slice(b"$$$$\n");
    std::fs::write(p("long_title.sdf"), one).unwrap();
    let mut line = long.clone();
    line.extend_from_slice(b" long\nCCO ethanol\n");
    std::fs::write(p("long_line.smi"), line).unwrap();
    // One file, five records: good, lying atom count, bond to a missing
    // atom, unknown element, good again.
    let mut mixed = Vec::new();
    for (title, body) in [
        ("good-1", MOL.to_owned()),
        ("lies", MOL.replacen("  2  1", "  5  1", 1)),
        ("missing", MOL.replace("  1  2  1  0", "  1  7  1  0")),
        ("unknown", MOL.replace(" O   0", " Qq  0")),
        ("good-2", MOL.replace(" O   0", " N   0")),
    ] {
        mixed.extend(sdf_record(title.as_bytes(), &body));
        mixed.extend_from_slice(b"$$$$\n");
    }
    std::fs::write(p("mixed.sdf"), mixed).unwrap();
    // NUL bytes and invalid UTF-8 in a title and a data field.
    let mut dirty = sdf_record(b"nul\0title \xff\xfe end", MOL);
    dirty.extend_from_slice(b"> <NOTE>\nvalue \0with nul \xc3\x28\n\n$$$$\n");
    std::fs::write(p("dirty_text.sdf"), dirty).unwrap();
    // A symlink loop: reported, the walk goes on.
    std::fs::create_dir(p("loop")).unwrap();
    std::os::unix::fs::symlink(dir.path(), p("loop/back")).unwrap();
    dir
}

fn scan_lines(dir: &Path) -> (Option<i32>, Vec<Value>) {
    let out = molingest(None, &["scan", dir.to_str().unwrap(), "--jsonl"]);
    let lines = json_lines(&out.stdout);
    (out.status.code(), lines)
}

fn of<'a>(lines: &'a [Value], path: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["path"] == path).collect()
}

#[test]
fn every_kind_of_bad_input_is_reported_and_the_rest_is_read() {
    let dir = bad_library();
    let (code, lines) = scan_lines(dir.path());
    assert_eq!(code, Some(3), "completed with rejects");

    let file_error = |path: &str, needle: &str| {
        let l = of(&lines, path);
        assert!(
            l.iter().any(|v| v["status"] == "rejected"
                && v["record"].is_null()
                && v["error"].as_str().unwrap().contains(needle)),
            "{path}: {l:?}"
        );
    };
    file_error("binary_garbage.pdb", "binary");
    file_error("binary_inside.sdf.gz", "binary");
    file_error("empty.smi", "empty");
    file_error("archive.pdb.gz", "tar archive");
    file_error("truncated_stream.smi.gz", "stream broken");
    file_error("loop/back", "symlink loop");

    // The cut gzip stream keeps the records before the cut.
    let cut = of(&lines, "truncated_stream.smi.gz");
    assert!(
        cut.iter().filter(|v| v["status"] == "ok").count() > 2000,
        "records before the break are kept"
    );

    // The truncated record: its file, record, line and reason.
    let t = of(&lines, "truncated_record.sdf");
    assert_eq!(t.iter().filter(|v| v["status"] == "ok").count(), 3);
    let r = t.iter().find(|v| v["status"] == "rejected").unwrap();
    assert_eq!(
        (r["record"].as_u64(), r["line"].as_u64()),
        (Some(3), Some(105))
    );

    // Wrong extension: read by its content.
    let m = of(&lines, "mol2_named_as.pdbqt");
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0]["format"].as_str(), m[0]["formula"].as_str()),
        (Some("mol2"), Some("C6H6"))
    );

    // Long lines: the SDF molecule is read, the SMILES line is rejected with a short reason.
    let l = of(&lines, "long_title.sdf");
    assert_eq!(
        (l.len(), l[0]["status"].as_str(), l[0]["formula"].as_str()),
        (1, Some("ok"), Some("CH4O"))
    );
    let s = of(&lines, "long_line.smi");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["status"], "rejected");
    assert!(
        s[0]["error"].as_str().unwrap().len() < 300,
        "a reject reason does not repeat 10 MB"
    );
    assert_eq!(
        (s[1]["status"].as_str(), s[1]["formula"].as_str()),
        (Some("ok"), Some("C2H6O"))
    );

    // One file, five records: the bad ones rejected with their line, the good ones read.
    let mixed = of(&lines, "mixed.sdf");
    let status: Vec<&str> = mixed
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["ok", "rejected", "rejected", "rejected", "ok"]);
    assert!(
        mixed[2]["error"].as_str().unwrap().contains("atom 7"),
        "{}",
        mixed[2]
    );
    assert!(
        mixed[3]["error"]
            .as_str()
            .unwrap()
            .contains("unknown element \"Qq\""),
        "{}",
        mixed[3]
    );
    for v in &mixed[1..4] {
        assert!(v["line"].as_u64().unwrap() > 1);
    }

    // NUL bytes dropped, invalid UTF-8 replaced: the molecule is read.
    let d = of(&lines, "dirty_text.sdf");
    assert_eq!(d[0]["status"], "ok");
    assert_eq!(d[0]["title"], "nultitle \u{fffd}\u{fffd} end");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_load_of_bad_input_loads_everything_good_once(pool: PgPool) {
    let url = url_of(&pool);
    let dir = bad_library();
    let report = dir.path().join("../rejects.jsonl");
    let out = molingest(
        Some(&url),
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--create-org",
            "--json",
            "--rejects",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inserted = v["records_inserted"].as_i64().unwrap();
    assert!(inserted > 2000, "{v}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        inserted
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        inserted
    );

    let (name, note): (String, String) = sqlx::query_as(
        "SELECT name, properties->>'NOTE' FROM molecules WHERE file_path = 'dirty_text.sdf'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(name, "nultitle \u{fffd}\u{fffd} end");
    assert_eq!(note, "value with nul \u{fffd}(");
    let long_name: String =
        sqlx::query_scalar("SELECT name FROM molecules WHERE file_path = 'long_title.sdf'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(long_name.len(), 255);

    // Every reject is in the report with file, record (or none for a file), line and reason.
    let rejects: Vec<Value> = json_lines(&std::fs::read(&report).unwrap());
    assert_eq!(
        rejects.len() as u64,
        v["records_rejected"].as_u64().unwrap() + v["files_failed"].as_u64().unwrap()
    );
    assert!(rejects
        .iter()
        .all(|r| r["path"].is_string() && r["reason"].is_string()));
    // The cut stream's file is left failed, its bytes at fault, and so are
    // the files refused for their bytes (an archive, binary content, an
    // empty file): the next run does not read them again and says they
    // are still failing; the rest is complete and not read again either.
    // (The symlink loop is the listing's, not a file's: still exit 3.)
    let failed = count(
        &pool,
        "SELECT count(*) FROM molecule_files WHERE status = 'failed' AND failed_on_content",
    )
    .await;
    assert_eq!(failed, 1);
    let out = molingest(
        Some(&url),
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--json",
        ],
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["records_inserted"], 0, "{again}");
    assert_eq!(again["files_read"], 0, "nothing is read again: {again}");
    assert_eq!(again["files_known_failed"], 5, "{again}");
    assert_eq!(again["files_failed"], 1, "{again}");
    assert!(
        again["failures"].to_string().contains("symlink loop"),
        "{again}"
    );
    assert_eq!(out.status.code(), Some(3), "{again}");
    // --full reads it again, and it fails again as new.
    let out = molingest(
        Some(&url),
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--json",
            "--full",
        ],
    );
    let full: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(full["files_failed"], 6, "{full}");
    assert_eq!(out.status.code(), Some(3), "{full}");
}
