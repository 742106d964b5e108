//! No plan cliffs: an organization whose partition was analysed while it
//! held one molecule (a small first load, a common first step) takes a
//! large load at the speed of a fresh organization. Before the partitions
//! declared their organization column's true statistic, such a load's cost
//! grew with the square of its size (20,000 records: ~10x slower).

mod common;

use common::*;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// `n` distinct, valid SMILES records (ethers of two alkyl chains).
fn smiles(n: usize) -> String {
    (0..n)
        .map(|k| {
            let (i, j) = (k / 100 + 1, k % 100 + 1);
            format!("{}O{}\tm{k}\n", "C".repeat(i), "C".repeat(j))
        })
        .collect()
}

async fn load_time(url: &str, file: &str, org: &str) -> Duration {
    let t = Instant::now();
    let out = molingest_async(
        url,
        &[
            "load",
            file,
            "--org",
            org,
            "--create-org",
            "--no-bulk",
            "--identity",
            "off",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    t.elapsed()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_large_load_after_a_tiny_one_has_no_cliff(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.smi");
    std::fs::write(&big, smiles(20_000)).unwrap();
    let one = dir.path().join("one.smi");
    std::fs::write(&one, "CCO\tethanol\n").unwrap();
    let (big, one) = (big.to_str().unwrap(), one.to_str().unwrap());

    // The reference: the same file into a fresh organization.
    let fresh = load_time(&url, big, "fresh").await;
    // One record first (its partition analysed at one row), then the file.
    load_time(&url, one, "tiny").await;
    let analysed: f32 = sqlx::query_scalar(
        "SELECT c.reltuples FROM pg_class c JOIN organizations o
           ON c.relname = 'molecules_' || replace(o.id::text, '-', '')
         WHERE o.name = 'tiny'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        analysed <= 1.0,
        "the tiny organization was analysed small: {analysed}"
    );
    let after_tiny = load_time(&url, big, "tiny").await;
    // Generous for a loaded CI machine; the cliff was ~10x.
    assert!(
        after_tiny < fresh * 3 + Duration::from_secs(5),
        "after a tiny load {after_tiny:?}, into a fresh organization {fresh:?}"
    );
    let orgs: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM organizations")
        .fetch_all(&pool)
        .await
        .unwrap();
    drop_org_roles(&pool, &orgs).await;
}

/// Per-file costs are paid in bulk: a first load of many one-record files
/// on the bulk path costs about what the staging path costs (registering
/// files one by one made it ~5 ms a file: 20,000 files, 110 s against 3 s).
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn many_small_files_are_no_slower_on_the_bulk_path(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    for (k, line) in smiles(2_000).lines().enumerate() {
        std::fs::write(dir.path().join(format!("f{k:05}.smi")), format!("{line}\n")).unwrap();
    }
    let src = dir.path().to_str().unwrap();
    let timed = |org: &'static str, extra: &'static [&'static str]| {
        let url = url.clone();
        let src = src.to_owned();
        async move {
            let mut args = vec![
                "load",
                &src,
                "--org",
                org,
                "--create-org",
                "--identity",
                "off",
                "--json",
            ];
            args.extend_from_slice(extra);
            let t = Instant::now();
            let out = molingest_async(&url, &args).await;
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["records_inserted"], 2_000, "{v}");
            (
                t.elapsed(),
                v["path"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (staging, path) = timed("staged", &["--no-bulk"]).await;
    assert_eq!(path, "staging");
    let (bulk, path) = timed("bulked", &[]).await;
    assert_eq!(path, "bulk");
    assert!(
        bulk < staging * 2 + Duration::from_secs(3),
        "bulk {bulk:?} against staging {staging:?}"
    );
    let orgs: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM organizations")
        .fetch_all(&pool)
        .await
        .unwrap();
    drop_org_roles(&pool, &orgs).await;
}
