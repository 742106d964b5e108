//! Availability is isolation too. Organization B's tenant login, used as an
//! attacker would use it, takes every table lock PostgreSQL lets it take on
//! every shared table, keeps reading transactions open, and holds every
//! advisory lock it can see or compute. Meanwhile organization A's tenant
//! load, A's reads, an administrator's first load of a new organization C
//! and C's purge must all complete, each within 45 seconds.
//! Also: a crafted export cannot break later loads, one organization's
//! absurd retention setting does not stop retention for the others, and
//! exports are private.

mod common;

use common::*;
use sqlx::{Connection, PgConnection, PgPool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The bound the README states for each of the victim's operations.
const BOUND: Duration = Duration::from_secs(45);

/// Lock modes, strongest first.
const MODES: [&str; 8] = [
    "ACCESS EXCLUSIVE",
    "EXCLUSIVE",
    "SHARE ROW EXCLUSIVE",
    "SHARE",
    "SHARE UPDATE EXCLUSIVE",
    "ROW EXCLUSIVE",
    "ROW SHARE",
    "ACCESS SHARE",
];

/// The modes no tenant may hold on a shared table: each blocks another
/// organization's reads, loads or updates.
const BLOCKING: [&str; 5] = [
    "ACCESS EXCLUSIVE",
    "EXCLUSIVE",
    "SHARE ROW EXCLUSIVE",
    "SHARE",
    "SHARE UPDATE EXCLUSIVE",
];

fn url_as(pool: &PgPool, user: &str) -> String {
    url_of(pool).replacen("://postgres@", &format!("://{user}@"), 1)
}

async fn login(pool: &PgPool, tag: &str) -> String {
    let name = common::test_login_name(&format!("avail_{tag}"));
    sqlx::query(&format!("CREATE ROLE {name} LOGIN"))
        .execute(pool)
        .await
        .unwrap();
    name
}

/// The attacker's sessions, holding what they took until dropped.
struct Attacker {
    _locker: PgConnection,
    _reader: PgConnection,
    /// (table, the strongest mode the attacker got on it)
    locks: Vec<(String, String)>,
    stop: Arc<AtomicBool>,
    advisory: tokio::task::JoinHandle<usize>,
}

impl Attacker {
    /// Stop grabbing advisory locks; how many it held.
    async fn advisory_held(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.advisory.await.unwrap_or(0)
    }
}

/// Open the attack as B's login: every table lock it can take (strongest
/// first, NOWAIT) on every table of the schema in one open transaction;
/// reading transactions over every table it may read, left open; and a
/// session that keeps taking every advisory lock visible in pg_locks or
/// computable from the organization ids in pg_roles.
async fn attack(url: &str) -> Attacker {
    let mut locker = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY 1",
    )
    .fetch_all(&mut locker)
    .await
    .unwrap();
    let mut locks = Vec::new();
    for t in &tables {
        for mode in MODES {
            sqlx::query("SAVEPOINT s")
                .execute(&mut locker)
                .await
                .unwrap();
            let got = sqlx::query(&format!("LOCK TABLE public.\"{t}\" IN {mode} MODE NOWAIT"))
                .execute(&mut locker)
                .await;
            if got.is_ok() {
                sqlx::query("RELEASE SAVEPOINT s")
                    .execute(&mut locker)
                    .await
                    .unwrap();
                locks.push((t.clone(), mode.to_owned()));
                break;
            }
            sqlx::query("ROLLBACK TO SAVEPOINT s")
                .execute(&mut locker)
                .await
                .unwrap();
        }
    }
    let mut reader = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    for t in &tables {
        let readable: bool = sqlx::query_scalar("SELECT has_table_privilege($1, 'SELECT')")
            .bind(format!("public.\"{t}\""))
            .fetch_one(&mut reader)
            .await
            .unwrap();
        if readable {
            let _ = sqlx::query(&format!("SELECT count(*) FROM public.\"{t}\""))
                .execute(&mut reader)
                .await;
        }
    }
    // The advisory locks: one round now (so they are held before the
    // victim starts), then every 100 ms.
    let mut grabber = PgConnection::connect(url).await.unwrap();
    let first = grab_round(&mut grabber).await;
    assert!(first > 0, "the attacker computes organization keys");
    let stop = Arc::new(AtomicBool::new(false));
    let advisory = tokio::spawn(grab_advisory_locks(grabber, stop.clone()));
    Attacker {
        _locker: locker,
        _reader: reader,
        locks,
        stop,
        advisory,
    }
}

/// Every 100 ms: take every advisory lock another session holds (as seen
/// in pg_locks), and every key computable from the organization ids any
/// login can read in pg_roles (the old organization-lock key space).
async fn grab_advisory_locks(mut c: PgConnection, stop: Arc<AtomicBool>) -> usize {
    let mut held = 0;
    while !stop.load(Ordering::SeqCst) {
        held += grab_round(&mut c).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    held
}

/// One round of [`grab_advisory_locks`]: how many it took.
async fn grab_round(c: &mut PgConnection) -> usize {
    let taken: Option<i64> = sqlx::query_scalar(
        "WITH seen AS (
             SELECT l.classid::bigint AS a, l.objid::bigint AS b, l.objsubid AS sub
             FROM pg_locks l WHERE l.locktype = 'advisory' AND l.pid <> pg_backend_pid()
             UNION
             SELECT 1836018793,
                    ('x' || substr(r.rolname, 21, 2) || substr(r.rolname, 19, 2)
                         || substr(r.rolname, 17, 2) || substr(r.rolname, 15, 2))::bit(32)::int::bigint, 2
             FROM pg_roles r WHERE r.rolname ~ '^molingest_org_[0-9a-f]{32}$')
         SELECT count(*) FILTER (WHERE CASE WHEN sub = 2
             THEN pg_try_advisory_lock(a::int, b::int) OR pg_try_advisory_lock_shared(a::int, b::int)
             ELSE pg_try_advisory_lock((a << 32) | b) OR pg_try_advisory_lock_shared((a << 32) | b) END)
         FROM seen",
    )
    .fetch_one(c)
    .await
    .ok();
    taken.unwrap_or(0) as usize
}

async fn timed_molingest(url: &str, args: &[&str]) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let out = molingest_async(url, args).await;
    (out, t.elapsed())
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_tenant_cannot_stall_another_organization(pool: PgPool) {
    let admin = url_of(&pool);
    let a = molingest::db::add_org(&pool, "a").await.unwrap();
    let b = molingest::db::add_org(&pool, "b").await.unwrap();
    let (la, lb) = (login(&pool, "a").await, login(&pool, "b").await);
    molingest::db::grant_org(&pool, "a", &la).await.unwrap();
    molingest::db::grant_org(&pool, "b", &lb).await.unwrap();
    let (victim, attacker) = (url_as(&pool, &la), url_as(&pool, &lb));
    // Both organizations hold rows before the attack.
    for (url, file) in [
        (
            &victim,
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
        ),
        (
            &attacker,
            "sample_data/meeko__test__macrocycle_data__vancomycin.sdf",
        ),
    ] {
        let out = molingest_async(url, &["load", file, "--json"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }

    let siege = attack(&attacker).await;
    // The strongest lock a tenant can hold on any shared table blocks no
    // other organization's reads, loads or updates.
    let blocking: Vec<_> = siege
        .locks
        .iter()
        .filter(|(_, m)| BLOCKING.contains(&m.as_str()))
        .collect();
    assert!(
        blocking.is_empty(),
        "tenant took blocking locks: {blocking:?}"
    );
    assert!(
        siege.locks.iter().any(|(t, _)| t == "molecules"),
        "the attacker holds a lock on molecules: {:?}",
        siege.locks
    );

    // The victim reads, with a statement timeout that would show a wait.
    let mut reader = PgConnection::connect(&victim).await.unwrap();
    sqlx::query("SET statement_timeout = '5s'")
        .execute(&mut reader)
        .await
        .unwrap();
    let t = Instant::now();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM molecules")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert!(n >= 1, "the victim sees its own molecules");
    assert!(t.elapsed() < Duration::from_secs(5));
    // The victim's tenant load.
    let (out, took) = timed_molingest(
        &victim,
        &[
            "load",
            "sample_data/meeko__test__macrocycle_data__vancomycin.sdf",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(took < BOUND, "victim's load took {took:?}");
    // An administrator's first load of a new organization (bulk path: its
    // attach needs the parents' strongest lock for milliseconds).
    let (out, took) = timed_molingest(
        &admin,
        &[
            "load",
            "sample_data",
            "--org",
            "c",
            "--create-org",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], "bulk", "{}", show(&out));
    assert!(took < BOUND, "first load took {took:?}");
    let _ = siege.advisory_held().await;

    // The purge of C, under a fresh siege.
    let c = org_id(&pool, "c").await;
    let siege = attack(&attacker).await;
    let (out, took) = timed_molingest(&admin, &["org", "purge", "c", "--confirm", "c"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(took < BOUND, "purge took {took:?}");
    let left: i64 = count(
        &pool,
        "SELECT count(*) FROM pg_class WHERE relname LIKE '%bulk%' AND relkind = 'r'",
    )
    .await;
    assert_eq!(left, 0, "nothing of the first load is left behind");
    // A's load once more, still under siege.
    let (out, took) = timed_molingest(
        &victim,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__mols.sdf.gz",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(took < BOUND, "victim's second load took {took:?}");
    let _ = siege.advisory_held().await;
    drop_roles(&pool, &[&la, &lb]).await;
    drop_org_roles(&pool, &[a, b, c.into()]).await;
}

async fn org_id(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_crafted_export_cannot_break_later_loads(pool: PgPool) {
    let admin = url_of(&pool);
    let out = molingest_async(
        &admin,
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
    let out = molingest_async(&admin, &["org", "export", "src", export.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Exports hold a whole organization: private.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&export), 0o700);
    for entry in std::fs::read_dir(&export).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    // Edit the audit rows to the top of the id range and another actor,
    // and make the manifest agree (as an attacker who can edit files can).
    let audit = export.join("audit_log.jsonl");
    let text = std::fs::read_to_string(&audit).unwrap();
    let mut edited = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["id"] = serde_json::json!(9_223_372_036_854_775_000i64 + i as i64);
        v["actor"] = serde_json::json!("someone_else");
        edited.push_str(&v.to_string());
        edited.push('\n');
    }
    std::fs::write(&audit, &edited).unwrap();
    let manifest_path = export.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    use sha2::Digest;
    let sum = sha2::Sha256::digest(edited.as_bytes());
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    manifest["sha256"]["audit_log.jsonl"] = serde_json::json!(hex);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    let out = molingest_async(
        &admin,
        &["org", "import", export.to_str().unwrap(), "--as", "copy"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // The shared sequence did not move past what the database generated,
    // and the claimed actor is data, not the actor.
    let top: i64 = count(&pool, "SELECT max(id) FROM audit_log").await;
    assert!(top < 1_000_000, "audit ids stay the database's own: {top}");
    let claimed: i64 = count(
        &pool,
        "SELECT count(*) FROM audit_log WHERE details->'imported'->>'actor' = 'someone_else'
           AND actor <> 'someone_else'",
    )
    .await;
    assert_eq!(claimed as usize, text.lines().count());
    // Every organization's audited writes still work.
    let out = molingest_async(
        &admin,
        &[
            "load",
            "sample_data",
            "--org",
            "later",
            "--create-org",
            "--no-bulk",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let orgs: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM organizations")
        .fetch_all(&pool)
        .await
        .unwrap();
    drop_org_roles(&pool, &orgs).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn one_absurd_retention_setting_does_not_stop_the_others(pool: PgPool) {
    let admin = url_of(&pool);
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(molingest::db::add_org(&pool, name).await.unwrap());
    }
    // Refused through the command…
    let out = molingest_async(
        &admin,
        &["org", "config", "b", "retention.runs_days", "100000000"],
    )
    .await;
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    // …but a tenant can write its own configuration row directly.
    sqlx::query(
        "INSERT INTO organization_config (organization_id, key, value)
         VALUES ($1, 'retention.runs_days', '100000000')",
    )
    .bind(ids[1])
    .execute(&pool)
    .await
    .unwrap();
    for org in ["a", "c"] {
        let out =
            molingest_async(&admin, &["org", "config", org, "retention.runs_days", "1"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    // Old runs of a and c, due for deletion.
    for org in [ids[0], ids[2]] {
        sqlx::query(
            "INSERT INTO pipelines (organization_id, name, definition) VALUES ($1, 'p', '{}');
             ",
        )
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO pipeline_executions (organization_id, pipeline_id, status, started_at)
             SELECT $1, id, 'completed', now() - interval '10 days' FROM pipelines WHERE organization_id = $1",
        )
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
    }
    let out = molingest_async(&admin, &["retention", "apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["organization"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("a")["runs"], 1, "{report}");
    assert_eq!(by_name("c")["runs"], 1, "{report}");
    assert!(
        by_name("b")["error"].as_str().unwrap().contains("36500"),
        "{report}"
    );
    drop_org_roles(&pool, &ids).await;
}

#[test]
fn a_password_with_url_delimiters_never_prints() {
    for pw in ["se/cretPW", "se#cretPW", "se?cretPW"] {
        let url = format!("postgres://bob:{pw}@127.0.0.1:1/db");
        let out = molingest(
            Some(&url),
            &[
                "load",
                "sample_data",
                "--org",
                "x",
                "--json",
                "--connect-timeout",
                "2",
            ],
        );
        assert_ne!(out.status.code(), Some(0));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("cretPW"), "{all}");
    }
}

/// What a tenant login can still learn of another organization, as
/// docs/security.md states it: planner estimates through EXPLAIN, and each
/// partition's row count and size in pg_class. Not the statistics
/// themselves (pg_stats hides them), and not a single row.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn what_a_tenant_can_still_see_is_what_the_docs_say(pool: PgPool) {
    let admin = url_of(&pool);
    let a = molingest::db::add_org(&pool, "a").await.unwrap();
    let b = molingest::db::add_org(&pool, "b").await.unwrap();
    let out = molingest_async(&admin, &["load", "sample_data", "--org", "a", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let partition = format!("molecules_{}", a.simple());
    sqlx::query(&format!("ANALYZE {partition}"))
        .execute(&pool)
        .await
        .unwrap();
    // A formula frequent in A.
    let formula: String = sqlx::query_scalar(&format!(
        "SELECT formula FROM {partition} GROUP BY formula ORDER BY count(*) DESC LIMIT 1"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    let lb = login(&pool, "b").await;
    molingest::db::grant_org(&pool, "b", &lb).await.unwrap();
    let mut c = PgConnection::connect(&url_as(&pool, &lb)).await.unwrap();
    // No row, no statistic.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM molecules")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    let stats: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stats WHERE tablename LIKE 'molecules\\_%'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(stats, 0, "partition statistics are hidden");
    // The estimate: a formula A holds often is estimated at more rows than
    // one nobody holds (the documented leak).
    let mut plan_rows = Vec::new();
    for f in [formula.clone(), "C1Xx99".to_owned()] {
        let sql = format!("EXPLAIN (FORMAT JSON) SELECT * FROM molecules WHERE formula = '{f}'");
        let plan: serde_json::Value = sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap();
        plan_rows.push(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap());
    }
    assert!(
        plan_rows[0] > plan_rows[1],
        "EXPLAIN estimates reveal A's frequent formula: {plan_rows:?}"
    );
    // The partition's row count, as of its last ANALYZE.
    let reltuples: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = $1")
        .bind(&partition)
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(reltuples > 1000.0, "pg_class shows A's size: {reltuples}");
    c.close().await.unwrap();
    drop_roles(&pool, &[&lb]).await;
    drop_org_roles(&pool, &[a, b]).await;
}
