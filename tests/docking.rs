//! Docking results where the design keeps them: a load with
//! `--docking-job` fills docking_jobs, job_executions and job_results with
//! typed scores, one result per pose occurrence, and re-running adds none.

mod common;

use common::*;
use serde_json::Value;
use sqlx::PgPool;

/// smina-style SDF poses: imatinib's two records with scores, the first
/// one again word for word (the same molecule, a second occurrence), and
/// one pose without a score.
fn poses(dir: &std::path::Path) {
    let text =
        std::fs::read_to_string(root().join("sample_data/meeko__example__tutorial1__imatinib.sdf"))
            .unwrap();
    let records: Vec<&str> = text
        .split("$$$$\n")
        .filter(|r| !r.trim().is_empty())
        .collect();
    let mut out = String::new();
    for (i, (rec, score)) in [
        (records[0], Some("-9.12")),
        (records[1], Some("-8.50")),
        (records[0], Some("-9.12")),
        (records[1], None),
    ]
    .iter()
    .enumerate()
    {
        // The third pose is the first one again, word for word.
        let i = if i == 2 { 0 } else { i };
        let mut lines: Vec<String> = rec.lines().map(str::to_owned).collect();
        lines[0] = format!("pose{i}");
        out.push_str(&lines.join("\n"));
        out.push('\n');
        if let Some(s) = score {
            out.push_str(&format!(
                "> <minimizedAffinity>\n{s}\n\n> <CNNscore>\n0.8{i}\n\n"
            ));
        }
        out.push_str("$$$$\n");
    }
    std::fs::write(dir.join("poses.sdf"), out).unwrap();
    // GOLD and Open Babel's Vina, one pose each.
    let first: Vec<&str> = records[0].lines().collect();
    let mut gold = format!("gold1\n{}\n", first[1..].join("\n"));
    gold.push_str("> <Gold.PLP.Fitness>\n71.23\n\n$$$$\n");
    std::fs::write(dir.join("gold.sdf"), gold).unwrap();
    let mut obabel = format!("vina1\n{}\n", first[1..].join("\n"));
    obabel.push_str("> <REMARK>\n VINA RESULT:    -10.4      0.000      0.000\n\n$$$$\n");
    std::fs::write(dir.join("obabel.sdf"), obabel).unwrap();
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn poses_become_typed_results_of_the_docking_job(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    poses(dir.path());
    let receptor = corpus().join("pdb/prolif__vina__rec.pdb.gz");
    let args = [
        "load",
        dir.path().to_str().unwrap(),
        "--org",
        "acme",
        "--create-org",
        "--json",
        "--docking-job",
        "dock1",
        "--receptor",
        receptor.to_str().unwrap(),
    ];
    let out = molingest_async(&url, &args).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["job_results"], 6, "{v}");
    assert_eq!(v["poses_without_score"], 1);
    assert!(v["notices"].to_string().contains("no docking score"), "{v}");

    let results: Vec<(Option<f64>, Value, i64)> = sqlx::query_as(
        "SELECT r.score, r.data, r.record_index FROM job_results r
         JOIN docking_jobs j ON j.id = r.job_id AND j.name = 'dock1'
         ORDER BY r.score NULLS LAST",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let scores: Vec<Option<f64>> = results.iter().map(|r| r.0).collect();
    assert_eq!(
        scores,
        vec![
            Some(-10.4),
            Some(-9.12),
            Some(-9.12),
            Some(-8.5),
            Some(71.23),
            None
        ]
    );
    assert_eq!(results[1].1["CNNscore"], 0.8, "every score typed in data");
    // Two poses of one molecule are two results of one molecule.
    let same: i64 = count(
        &pool,
        "SELECT count(DISTINCT molecule_id) FROM job_results WHERE score = -9.12",
    )
    .await;
    assert_eq!(same, 1);
    // The receptor is a molecule of the organization, linked to the job.
    assert_eq!(
        count(&pool, "SELECT count(*) FROM docking_jobs j JOIN molecules m ON m.id = j.receptor_id AND m.file_path LIKE '%rec.pdb.gz'").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM job_executions WHERE status = 'completed' AND pipeline_execution_id IS NOT NULL").await,
        1
    );
    // Re-running, even with --full, adds no duplicate result; the job is reused.
    let mut again = args.to_vec();
    again.push("--full");
    let out = molingest_async(&url, &again).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(count(&pool, "SELECT count(*) FROM job_results").await, 6);
    assert_eq!(count(&pool, "SELECT count(*) FROM docking_jobs").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM job_executions").await, 2);
    // The README's query: a job's best poses with their molecules.
    let best: Vec<(String, f64)> = sqlx::query_as(
        "SELECT m.name, r.score FROM job_results r
         JOIN docking_jobs j ON j.organization_id = r.organization_id AND j.id = r.job_id
         JOIN molecules m ON m.organization_id = r.organization_id AND m.id = r.molecule_id
         WHERE j.name = 'dock1' AND r.score IS NOT NULL
         ORDER BY r.score LIMIT 100",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(best[0].1, -10.4);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_unreadable_receptor_is_an_error_before_anything_is_written(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    poses(dir.path());
    let bad = dir.path().join("receptor.pdb");
    std::fs::write(&bad, b"\x00\x01\x02 not a structure").unwrap();
    let out = molingest_async(
        &url,
        &[
            "load",
            dir.path().join("poses.sdf").to_str().unwrap(),
            "--org",
            "acme",
            "--create-org",
            "--docking-job",
            "d",
            "--receptor",
            bad.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--receptor"),
        "{}",
        show(&out)
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM organizations").await,
        0,
        "nothing written"
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn vina_pdbqt_poses_carry_their_scores_and_meeko_smiles(pool: PgPool) {
    let url = url_of(&pool);
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "meeko__test__rdkitmol_from_docking_data__vina-result-ethanol.pdbqt",
        "prolif__vina__vina_output_ligand_1.pdbqt",
        "prolif__vina__vina_output_ligand_2.pdbqt",
    ] {
        std::fs::copy(corpus().join("pdbqt").join(f), dir.path().join(f)).unwrap();
    }
    // scan shows the scores as numbers in `properties`.
    let path = dir.path().to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || molingest(None, &["scan", &path, "--jsonl"]))
        .await
        .unwrap();
    let lines = json_lines(&out.stdout);
    let ethanol = lines
        .iter()
        .find(|l| l["path"].as_str().unwrap().contains("ethanol"))
        .unwrap();
    assert_eq!(ethanol["properties"]["vina_affinity"], -2.7, "{ethanol}");
    assert_eq!(
        ethanol["smiles"], "CCO",
        "Meeko's REMARK SMILES gives the identity"
    );
    let out = molingest_async(
        &url,
        &[
            "load",
            dir.path().to_str().unwrap(),
            "--org",
            "acme",
            "--create-org",
            "--json",
            "--docking-job",
            "vina",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["poses_without_score"], 0, "{v}");
    let rows: Vec<(f64, Value)> =
        sqlx::query_as("SELECT score, data FROM job_results ORDER BY score")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len() as u64, v["job_results"].as_u64().unwrap());
    assert_eq!(rows[0].0, -11.8, "ligand 1's best pose");
    assert!(rows[0].1["vina_rmsd_ub"].is_number());
    assert!(rows.iter().any(|r| r.0 == -2.7 && r.1["pose_rank"] == 1.0));
}
