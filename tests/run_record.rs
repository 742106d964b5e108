//! The run record tells the truth on every way out, and the ways out are
//! prompt: a bad option is refused before any run exists; a writer that
//! fails stops the run with its cause; SIGTERM stops a slow batch within
//! seconds; `verify` accounts for structure dedup; an import killed at any
//! point leaves nothing half-done and runs again to an exact end.

mod common;

use common::*;
use sqlx::PgPool;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn runs(pool: &PgPool) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT status::text, error FROM pipeline_executions ORDER BY started_at")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn all_org_roles(pool: &PgPool) {
    let orgs: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM organizations")
        .fetch_all(pool)
        .await
        .unwrap();
    drop_org_roles(pool, &orgs).await;
}

/// `n` distinct SMILES records, one named `poison` at `poison_at`.
fn smiles_file(dir: &std::path::Path, n: usize, poison_at: usize) -> String {
    let text: String = (0..n)
        .map(|k| {
            let name = if k == poison_at {
                "poison".to_owned()
            } else {
                format!("m{k}")
            };
            format!(
                "{}O{}\t{name}\n",
                "C".repeat(k / 50 + 1),
                "C".repeat(k % 50 + 1)
            )
        })
        .collect();
    let path = dir.join("lib.smi");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Organization `a`, and a trigger `name` that runs `action` when the row
/// named `poison` is inserted into `molecules`.
async fn poison(pool: &PgPool, url: &str, name: &str, action: &str) {
    let out = molingest_async(url, &["org", "add", "a"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.name = 'poison' THEN {action}; END IF; RETURN NEW; END $$;
         CREATE TRIGGER {name} BEFORE INSERT ON molecules
             FOR EACH ROW EXECUTE FUNCTION {name}();"
    ))
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_bad_option_is_refused_before_any_run_exists(pool: PgPool) {
    let url = url_of(&pool);
    for args in [
        vec!["--rejects", "/nonexistent/dir/r.jsonl"],
        vec!["--rejects-dir", "/proc/no/such/dir"],
    ] {
        let mut all = vec![
            "load",
            "sample_data",
            "--org",
            "a",
            "--create-org",
            "--json",
        ];
        all.extend(args.iter().copied());
        let out = molingest_async(&url, &all).await;
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(args[0]) && stderr.contains(args[1]),
            "{stderr}"
        );
    }
    // A rejects file planted as a symbolic link is not written through.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    let link = dir.path().join("r.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = molingest_async(
        &url,
        &[
            "load",
            "sample_data",
            "--org",
            "a",
            "--create-org",
            "--rejects",
            link.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(show(&out).contains("symbolic link"), "{}", show(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(runs(&pool).await.is_empty(), "no run was recorded");
    all_org_roles(&pool).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_failing_writer_stops_the_run_with_its_cause(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    let file = smiles_file(dir.path(), 3000, 1500);
    poison(
        &pool,
        &url,
        "refuse_poison",
        "RAISE EXCEPTION 'poisoned batch'",
    )
    .await;
    let out = molingest_async(
        &url,
        &[
            "load",
            &file,
            "--org",
            "a",
            "--no-bulk",
            "--identity",
            "off",
            "--batch-rows",
            "100",
            "--writers",
            "3",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("writing a batch") && error.contains("poisoned batch"),
        "{v}"
    );
    let recorded = runs(&pool).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "failed");
    assert!(recorded[0]
        .1
        .as_deref()
        .unwrap_or_default()
        .contains("poisoned batch"));
    all_org_roles(&pool).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn sigterm_stops_a_slow_batch_within_seconds(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    let file = smiles_file(dir.path(), 2000, 1000);
    // One row makes its batch take two minutes.
    poison(&pool, &url, "slow_poison", "PERFORM pg_sleep(120)").await;
    let child = Command::new(env!("CARGO_BIN_EXE_molingest"))
        .args([
            "load",
            &file,
            "--org",
            "a",
            "--no-bulk",
            "--identity",
            "off",
            "--batch-rows",
            "100",
            "--json",
        ])
        .env("DATABASE_URL", &url)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the slow batch is running.
    let t = Instant::now();
    loop {
        let sleeping: i64 = count(
            &pool,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
        )
        .await;
        if sleeping > 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the slow batch never began"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let signalled = Instant::now();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let took = signalled.elapsed();
    assert_eq!(out.status.code(), Some(143), "{}", show(&out));
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    assert_eq!(runs(&pool).await[0].0, "cancelled");
    // The server stopped the abandoned statement too.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sleeping: i64 = count(
        &pool,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
    )
    .await;
    assert_eq!(sleeping, 0, "the abandoned batch still runs on the server");
    // Run again without the slow row: every record exactly once.
    sqlx::query("DROP TRIGGER slow_poison ON molecules")
        .execute(&pool)
        .await
        .unwrap();
    let out = molingest_async(
        &url,
        &["load", &file, "--org", "a", "--identity", "off", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 2000);
    all_org_roles(&pool).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn verify_accounts_for_structure_dedup(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    // The same structure under two titles, in two files.
    std::fs::write(dir.path().join("a.smi"), "CCO\tethanol\n").unwrap();
    std::fs::write(dir.path().join("b.smi"), "OCC\talcohol\n").unwrap();
    let src = dir.path().to_str().unwrap();
    let out = molingest_async(
        &url,
        &[
            "load",
            src,
            "--org",
            "a",
            "--create-org",
            "--dedup",
            "structure",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1);
    let out = molingest_async(&url, &["verify", src, "--org", "a", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["missing_total"], 0, "{v}");
    all_org_roles(&pool).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_import_killed_at_any_point_ends_equal_to_the_export(pool: PgPool) {
    let url = url_of(&pool);
    let out = molingest_async(
        &url,
        &[
            "load",
            "sample_data",
            "--org",
            "src",
            "--create-org",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let export = export.to_str().unwrap();
    let out = molingest_async(&url, &["org", "export", "src", export]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("export/manifest.json")).unwrap())
            .unwrap();
    let expected = manifest["row_counts"]["molecules"].as_i64().unwrap();
    let held = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            count(
                &pool,
                "SELECT count(*) FROM molecules m JOIN organizations o ON o.id = m.organization_id
                 WHERE o.name = 'copy'",
            )
            .await
        }
    };
    for delay_ms in [100, 300, 600, 1000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_molingest"))
            .args(["org", "import", export, "--as", "copy"])
            .env("DATABASE_URL", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill();
        let _ = child.wait();
        // All or nothing.
        let n = held(&pool).await;
        assert!(
            n == 0 || n == expected,
            "after a kill at {delay_ms} ms: {n} of {expected}"
        );
        if n == expected {
            break;
        }
    }
    // Run again: it ends equal to the export (or finds it already done).
    let out = molingest_async(&url, &["org", "import", export, "--as", "copy"]).await;
    let done = held(&pool).await;
    assert_eq!(done, expected, "{}", show(&out));
    all_org_roles(&pool).await;
}

/// What a new user met: a truncated record named at a line of its file,
/// `db status` failing when the server is not running, and the reasons of
/// rejected records in `--json` without `--rejects`.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn what_a_new_user_meets_is_said_plainly(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(root().join("sample_data/meeko__example__tutorial1__imatinib.sdf"))
            .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().position(|l| *l == "M  END").unwrap();
    // Cut inside the first record's bond block.
    let cut = lines[..end - 20].join("\n") + "\n";
    let file = dir.path().join("cut.sdf");
    std::fs::write(&file, &cut).unwrap();
    let total = cut.lines().count() as u64;
    let url = url_of(&pool);
    let out = molingest_async(
        &url,
        &[
            "load",
            file.to_str().unwrap(),
            "--org",
            "a",
            "--create-org",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reject = &v["rejects"][0];
    assert_eq!(reject["record"], 0, "{v}");
    let line = reject["line"].as_u64().unwrap();
    assert!(
        (1..=total).contains(&line),
        "line {line} of a {total}-line file"
    );
    assert!(reject["reason"].as_str().unwrap().contains("bonds"), "{v}");
    let data = tempfile::tempdir().unwrap();
    let out = molingest(
        None,
        &["db", "status", "--data-dir", data.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    all_org_roles(&pool).await;
}
