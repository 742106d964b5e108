//! An organization's whole life against a real PostgreSQL: the audit trail
//! the database writes, export → purge → import → export, purge leaving
//! nothing (and other tenants untouched), retention, and the confirmation
//! flags of dangerous commands.

mod common;

use common::*;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use std::path::Path;

async fn run(url: &str, args: &[&str]) -> std::process::Output {
    molingest_async(url, args).await
}

async fn ok(url: &str, args: &[&str]) -> std::process::Output {
    let out = run(url, args).await;
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", show(&out));
    out
}

/// A SMILES set beside sample_data (a second format in the round trip).
fn smiles_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("set.smi"),
        "CCO ethanol\nc1ccccc1 benzene\nCC(=O)O acetic acid\n",
    )
    .unwrap();
    dir
}

/// A digest of every row an organization has in every table (as the
/// superuser, which sees all), to prove another tenant untouched.
async fn digest(pool: &PgPool, org: impl Into<molingest::ids::OrgId>) -> String {
    let org: molingest::ids::OrgId = org.into();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND c.column_name = 'organization_id'
           AND t.table_type = 'BASE TABLE' AND c.table_name !~ '_[0-9a-f]{32}$' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut all = String::new();
    for t in tables {
        let d: Option<String> = sqlx::query_scalar(&format!(
            "SELECT md5(string_agg(row_to_json(x)::text, '|' ORDER BY row_to_json(x)::text))
             FROM {t} x WHERE organization_id = $1 AND {}",
            if t == "audit_log" {
                "action NOT LIKE '%purge%'"
            } else {
                "true"
            }
        ))
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap();
        all.push_str(&format!("{t}:{}\n", d.unwrap_or_default()));
    }
    all
}

/// Rows of `org` in every table that has an organization_id.
async fn rows_left(pool: &PgPool, org: impl Into<molingest::ids::OrgId>) -> i64 {
    let org: molingest::ids::OrgId = org.into();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND c.column_name = 'organization_id'
           AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut n = 0;
    for t in tables {
        let extra = if t == "audit_log" {
            " AND action NOT LIKE '%purge%'"
        } else {
            ""
        };
        n += count(
            pool,
            &format!("SELECT count(*) FROM {t} WHERE organization_id = '{org}'{extra}"),
        )
        .await;
    }
    n + count(
        pool,
        &format!("SELECT count(*) FROM organizations WHERE id = '{org}'"),
    )
    .await
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn export_purge_import_export_is_identical_and_others_are_untouched(pool: PgPool) {
    let url = url_of(&pool);
    let smi = smiles_dir();
    ok(
        &url,
        &["load", "sample_data", "--org", "acme", "--create-org", "-q"],
    )
    .await;
    ok(
        &url,
        &["load", smi.path().to_str().unwrap(), "--org", "acme", "-q"],
    )
    .await;
    ok(
        &url,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--org",
            "other",
            "--create-org",
            "-q",
        ],
    )
    .await;
    let acme = molingest::db::org_id(&pool, "acme").await.unwrap();
    let other = molingest::db::org_id(&pool, "other").await.unwrap();
    let before_other = digest(&pool, other).await;

    let work = tempfile::tempdir().unwrap();
    let first = work.path().join("first");
    ok(&url, &["org", "export", "acme", first.to_str().unwrap()]).await;
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(first.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["row_counts"]["molecules"], 1023);
    assert_eq!(manifest["row_counts"]["molecule_files"], 24);
    assert!(
        manifest["sha256"]["molecules.jsonl"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let smiles_file = std::fs::read_to_string(first.join("molecules.smi")).unwrap();
    assert!(
        smiles_file.lines().any(|l| l == "CCO\tethanol"),
        "{smiles_file}"
    );
    // A non-empty directory is refused; an unknown organization is an error.
    let out = run(&url, &["org", "export", "acme", first.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = run(
        &url,
        &[
            "org",
            "export",
            "nope",
            work.path().join("x").to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        show(&out)
    );

    // Purge: without its confirmation it refuses (exit 2, naming the flag).
    let out = run(&url, &["org", "purge", "acme"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--confirm"));
    let out = ok(&url, &["org", "purge", "acme", "--confirm", "acme"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("molecules\t1023"),
        "{}",
        show(&out)
    );
    assert_eq!(rows_left(&pool, acme).await, 0, "nothing of acme is left");
    let tombstones: Vec<(String, Value)> =
        sqlx::query_as("SELECT action, details FROM audit_log WHERE organization_id = $1")
            .bind(acme)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(tombstones.len(), 1, "one tombstone: {tombstones:?}");
    assert!(tombstones[0].0.contains("purge"));
    assert_eq!(tombstones[0].1["rows_deleted"]["molecules"], 1023);
    assert!(
        !tombstones[0].1.to_string().contains("acme"),
        "no names in the tombstone"
    );
    assert_eq!(
        digest(&pool, other).await,
        before_other,
        "another tenant untouched"
    );

    // Import, export again: the same files but for the run-specific field.
    let out = ok(&url, &["org", "import", first.to_str().unwrap()]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&acme.to_string()));
    let second = work.path().join("second");
    ok(&url, &["org", "export", "acme", second.to_str().unwrap()]).await;
    let (a, b) = (files_of(&first), files_of(&second));
    assert_eq!(a.len(), b.len());
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        if na == "manifest.json" {
            let mut ma: Value = serde_json::from_slice(da).unwrap();
            let mut mb: Value = serde_json::from_slice(db).unwrap();
            for f in ma["run_specific"].as_array().unwrap().clone() {
                ma[f.as_str().unwrap()] = Value::Null;
                mb[f.as_str().unwrap()] = Value::Null;
            }
            // The audit rows are compared below, field by field.
            ma["sha256"]["audit_log.jsonl"] = Value::Null;
            mb["sha256"]["audit_log.jsonl"] = Value::Null;
            assert_eq!(ma, mb);
        } else if na == "audit_log.jsonl" {
            // Imported audit rows are the file's claims, not the database's
            // history: new ids, the importing administrator as actor, and
            // the exported actor and id under details.imported. All else
            // is the same, row for row.
            let rows = |d: &[u8]| -> Vec<Value> {
                String::from_utf8_lossy(d)
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            };
            let (ra, rb) = (rows(da), rows(db));
            assert_eq!(ra.len(), rb.len(), "audit rows after the round trip");
            for (x, y) in ra.iter().zip(&rb) {
                let imported = &y["details"]["imported"];
                assert_eq!(imported["actor"], x["actor"], "{y}");
                assert_eq!(imported["id"], x["id"], "{y}");
                let mut details = y["details"].clone();
                details.as_object_mut().unwrap().remove("imported");
                assert_eq!(details, x["details"]);
                for k in ["timestamp", "action", "entity_type", "entity_id"] {
                    assert_eq!(x[k], y[k], "{k}");
                }
            }
        } else {
            assert!(da == db, "{na} differs after the round trip");
        }
    }
    // An organization that holds rows is refused; a damaged export too.
    let out = run(&url, &["org", "import", first.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let mut text = std::fs::read(first.join("molecules.smi")).unwrap();
    text.push(b'\n');
    std::fs::write(first.join("molecules.smi"), text).unwrap();
    let out = run(
        &url,
        &["org", "import", first.to_str().unwrap(), "--as", "copy"],
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        show(&out)
    );
    drop_org_roles(&pool, &[acme, other]).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn the_database_writes_the_audit_trail_and_tenants_cannot_touch_it(pool: PgPool) {
    let url = url_of(&pool);
    ok(
        &url,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--org",
            "acme",
            "--create-org",
            "-q",
        ],
    )
    .await;
    let acme = molingest::db::org_id(&pool, "acme").await.unwrap();
    let login = common::test_login_name("audit");
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    molingest::db::grant_org(&pool, "acme", &login)
        .await
        .unwrap();
    let mut c = PgConnection::connect(&url.replacen("://postgres@", &format!("://{login}@"), 1))
        .await
        .unwrap();
    sqlx::query("UPDATE molecules SET description = 'checked'")
        .execute(&mut c)
        .await
        .unwrap();
    // A tenant deletes nothing (a DELETE grant would let it lock the
    // shared tables: tests/availability.rs); deletes are the administrator's.
    let err = sqlx::query("DELETE FROM molecule_properties")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT actor, action, entity_type, (details->>'rows')::bigint FROM audit_log
         WHERE actor = $1 ORDER BY id",
    )
    .bind(&login)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![(login.clone(), "update".into(), "molecules".into(), 2)]
    );
    // The tenant reads its audit rows, and can neither forge nor erase one.
    let mine: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(mine >= 2);
    for sql in [
        format!("INSERT INTO audit_log (organization_id, action) VALUES ('{acme}', 'forged')"),
        "UPDATE audit_log SET actor = 'someone else'".to_owned(),
        "DELETE FROM audit_log".to_owned(),
    ] {
        let err = sqlx::query(&sql).execute(&mut c).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    // Nor can it skip the trail by claiming to restore.
    sqlx::query("SELECT set_config('molingest.restoring', 'on', false)")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("UPDATE molecules SET description = 'again'")
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        count(
            &pool,
            &format!("SELECT count(*) FROM audit_log WHERE actor = '{login}'")
        )
        .await,
        2
    );
    c.close().await.unwrap();
    drop_roles(&pool, &[&login, &molingest::db::org_role(acme)]).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn retention_deletes_exactly_what_is_older_than_the_policy(pool: PgPool) {
    let url = url_of(&pool);
    for _ in 0..3 {
        ok(
            &url,
            &[
                "load",
                "sample_data/meeko__example__tutorial1__imatinib.sdf",
                "--org",
                "acme",
                "--create-org",
                "--full",
                "-q",
            ],
        )
        .await;
    }
    let acme = molingest::db::org_id(&pool, "acme").await.unwrap();
    // Back-date one run by 40 days, another by 10, and the audit rows of the first.
    sqlx::query(
        "UPDATE pipeline_executions SET started_at = now() - interval '40 days'
         WHERE id = (SELECT id FROM pipeline_executions ORDER BY started_at LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE pipeline_executions SET started_at = now() - interval '10 days'
         WHERE id = (SELECT id FROM pipeline_executions ORDER BY started_at DESC LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE audit_log SET \"timestamp\" = now() - interval '100 days' WHERE id IN (SELECT id FROM audit_log ORDER BY id LIMIT 5)")
        .execute(&pool)
        .await
        .unwrap();
    // Settings are checked.
    for (k, v) in [
        ("retention.forever", "3"),
        ("retention.runs_days", "0"),
        ("retention.runs_days", "1.5"),
    ] {
        let out = run(&url, &["org", "config", "acme", k, v]).await;
        assert_eq!(out.status.code(), Some(1), "{k}={v}: {}", show(&out));
    }
    ok(
        &url,
        &["org", "config", "acme", "retention.runs_days", "30"],
    )
    .await;
    ok(
        &url,
        &["org", "config", "acme", "retention.audit_days", "90"],
    )
    .await;
    let out = ok(&url, &["org", "config", "acme"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("retention.runs_days\t30"));

    let out = ok(&url, &["retention", "apply", "--dry-run", "--json"]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["runs"], 1);
    assert_eq!(v[0]["audit_rows"], 5);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline_executions").await,
        3,
        "dry run"
    );
    let out = ok(&url, &["retention", "apply", "--json"]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v[0]["runs"].as_u64(), v[0]["audit_rows"].as_u64()),
        (Some(1), Some(5))
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pipeline_executions").await,
        2,
        "the 40-day-old run only"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE \"timestamp\" < now() - interval '90 days'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE action = 'retention'"
        )
        .await,
        1,
        "retention audits what it deleted"
    );
    drop_org_roles(&pool, &[acme]).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn migrate_down_on_data_needs_its_flag(pool: PgPool) {
    let url = url_of(&pool);
    ok(
        &url,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--org",
            "acme",
            "--create-org",
            "-q",
        ],
    )
    .await;
    let out = run(&url, &["migrate", "down"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--confirm-data-loss"));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        2,
        "nothing dropped"
    );
    let acme = molingest::db::org_id(&pool, "acme").await.unwrap();
    ok(&url, &["migrate", "down", "--confirm-data-loss"]).await;
    ok(&url, &["migrate"]).await;
    drop_org_roles(&pool, &[acme]).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn export_and_purge_an_organization_with_its_own_database(pool: PgPool) {
    let url = url_of(&pool);
    let own = common::test_login_name("life");
    let server = url.rsplit_once('/').unwrap().0.replacen("postgres@", "", 1);
    ok(
        &url,
        &[
            "org",
            "add",
            "big",
            "--database",
            &format!("{server}/{own}"),
        ],
    )
    .await;
    ok(
        &url,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--org",
            "big",
            "-q",
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("e");
    ok(&url, &["org", "export", "big", out_dir.to_str().unwrap()]).await;
    let m: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["row_counts"]["molecules"], 2);
    let out = ok(
        &url,
        &["org", "purge", "big", "--confirm", "big", "--drop-database"],
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("purged"));
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&own)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!exists, "the organization's database is dropped");
    assert_eq!(count(&pool, "SELECT count(*) FROM organizations").await, 0);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE action LIKE '%purge%'"
        )
        .await,
        1,
        "the tombstone stays in the control database"
    );
}
