//! Formats beyond the five, through chemfiles (cargo feature `chemfiles`,
//! which needs cmake; `.ci/run` installs it and tests with --all-features).
//! Database: DATABASE_URL, as for every database test (tests/common).
#![cfg(feature = "chemfiles")]

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;

const WATERS: &str = "3\nwater\nO 0.0 0.0 0.0\nH 0.96 0.0 0.0\nH -0.24 0.93 0.0\n\
                      3\nwater, moved\nO 0.1 0.0 0.0\nH 1.06 0.0 0.0\nH -0.14 0.93 0.0\n";

fn library() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("waters.xyz"), WATERS).unwrap();
    std::fs::write(
        dir.path().join("latin1.xyz"),
        b"3\nbad \xff title\nO 0 0 0\nH 1 0 0\nH 0 1 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cut.xyz"),
        "3\nwater\nO 0.0 0.0 0.0\nH 0.96",
    )
    .unwrap();
    dir
}

#[test]
fn frames_are_records_and_bad_files_are_rejected_not_panics() {
    let dir = library();
    let out = molingest(None, &["scan", dir.path().to_str().unwrap(), "--jsonl"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let lines: Vec<Value> = json_lines(&out.stdout);
    let waters: Vec<&Value> = lines.iter().filter(|v| v["path"] == "waters.xyz").collect();
    assert_eq!(waters.len(), 2, "one record per frame");
    for w in &waters {
        assert_eq!(
            (
                w["status"].as_str(),
                w["formula"].as_str(),
                w["format"].as_str()
            ),
            (Some("ok"), Some("H2O"), Some("xyz"))
        );
    }
    assert_ne!(
        waters[0]["hash"], waters[1]["hash"],
        "positions tell frames apart"
    );
    let latin1 = lines.iter().find(|v| v["path"] == "latin1.xyz").unwrap();
    assert!(
        latin1["error"].as_str().unwrap().contains("UTF-8"),
        "{latin1}"
    );
    assert!(
        lines
            .iter()
            .any(|v| v["path"] == "cut.xyz" && v["status"] == "rejected"),
        "{lines:?}"
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn frames_load_with_their_format_named(pool: PgPool) {
    let url = url_of(&pool);
    let dir = library();
    let out = molingest(
        Some(&url),
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--create-org",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let rows: Vec<(Option<String>, String, String)> =
        sqlx::query_as("SELECT format::text, formula, properties->>'chemfiles_format' FROM molecules ORDER BY record_index")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (None, "H2O".into(), "XYZ".into()),
            (None, "H2O".into(), "XYZ".into())
        ]
    );
}
