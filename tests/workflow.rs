//! The library's workflows, called as a program embedding molingest would:
//! a request in, a report out, no binary involved.

mod common;

use common::*;
use molingest::workflow::{self, LoadRequest, ScanRequest};
use sqlx::{PgPool, Row};

/// `workflow::load` blocks on its own runtime: run it off the test's.
fn load(req: LoadRequest) -> molingest::workflow::LoadReport {
    std::thread::spawn(move || workflow::load(&req))
        .join()
        .expect("load thread")
        .expect("load runs")
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn each_file_of_a_load_gets_its_own_content_hash(pool: PgPool) {
    let files = [
        "meeko__example__tutorial1__imatinib.sdf",
        "meeko__test__macrocycle_data__vancomycin.sdf",
        "meeko__example__tutorial1__mols.sdf.gz",
    ];
    let paths: Vec<_> = files
        .iter()
        .map(|f| root().join("sample_data").join(f))
        .collect();
    let pairs: Vec<_> = paths
        .iter()
        .zip(files)
        .map(|(p, f)| (p.as_path(), f))
        .collect();
    let dir = dir_with(&pairs);
    let report = load(LoadRequest {
        database_url: url_of(&pool),
        sources: vec![dir.path().display().to_string()],
        org: Some("acme".into()),
        create_org: true,
        ..LoadRequest::default()
    });
    assert_eq!(report.error, None);
    assert_eq!(report.exit(), molingest::exit::Exit::Success);
    assert_eq!(report.summary.files_read, 3);
    let rows = sqlx::query(
        "SELECT f.source_uri, f.content_hash, f.status::text,
                (SELECT count(*) FROM molecules m WHERE m.file_id = f.id)
         FROM molecule_files f",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "one molecule_files row per file");
    let mut total = 0;
    for r in &rows {
        let uri: String = r.get(0);
        let hash: Vec<u8> = r.get(1);
        let status: String = r.get(2);
        let molecules: i64 = r.get(3);
        let path = uri.strip_prefix("file://").expect("a file URI");
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            hash,
            blake3::hash(&bytes).as_bytes().to_vec(),
            "{uri}: content_hash is the blake3 of its own bytes"
        );
        assert_eq!(status, "completed");
        assert!(molecules > 0, "{uri} owns its molecules");
        total += molecules;
    }
    assert_eq!(total as u64, report.summary.records_inserted);
    let json = report.to_json();
    assert_eq!(json["status"], "completed");
    // The per-file reconciliation: records read per file, as each ended.
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let read: u64 = files
        .iter()
        .map(|f| f["records"].as_u64().unwrap() + f["rejected"].as_u64().unwrap())
        .sum();
    assert_eq!(
        read,
        report.summary.records_parsed + report.summary.records_rejected
    );
    assert!(files.iter().all(|f| f["status"] == "completed"));
    assert_eq!(json["organization"], "acme");
}

#[test]
fn scan_reports_counts_and_writes_one_record_line_per_record() {
    let mut out = Vec::new();
    let report = workflow::scan(
        &ScanRequest {
            sources: vec![root()
                .join("sample_data/meeko__example__tutorial1__imatinib.sdf")
                .display()
                .to_string()],
            ..ScanRequest::default()
        },
        Some(&mut out),
    )
    .unwrap();
    let lines = json_lines(&out);
    assert_eq!(lines.len() as u64, report.summary.records_parsed);
    assert!(report.summary.records_parsed > 0);
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = molingest::scan::RECORD_FIELDS.to_vec();
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want, "the record schema is RECORD_FIELDS");
    }
}
