//! Tenant partitions: molecules and molecule_properties are partitioned by
//! organization; every organization gets its partitions when it is added;
//! the migration converts a database holding data, both ways.

mod common;

use common::*;
use sqlx::PgPool;

async fn relkind(pool: &PgPool, table: &str) -> String {
    sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = $1::regclass")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn every_organization_has_its_partitions_and_the_migration_keeps_data(pool: PgPool) {
    let url = url_of(&pool);
    let run = |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            molingest(Some(&url), &args)
        })
    };
    let out = run(vec![
        "load".into(),
        "sample_data".into(),
        "--org".into(),
        "acme".into(),
        "--create-org".into(),
    ])
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let acme = molingest::db::org_id(&pool, "acme").await.unwrap();
    let hex = acme.simple();
    assert_eq!(relkind(&pool, "molecules").await, "p");
    assert_eq!(relkind(&pool, "molecule_properties").await, "p");
    assert_eq!(
        count(&pool, &format!("SELECT count(*) FROM molecules_{hex}")).await,
        1020,
        "acme's rows are in acme's partition"
    );
    // No DEFAULT partition; one partition per organization per table.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM pg_partitioned_table WHERE partdefid <> 0"
        )
        .await,
        0
    );
    // Down to plain tables and up again, with the data.
    molingest::db::MIGRATOR
        .undo(&pool, 20261126000005)
        .await
        .unwrap();
    assert_eq!(relkind(&pool, "molecules").await, "r");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM molecule_properties").await,
        1020
    );
    molingest::db::MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(relkind(&pool, "molecules").await, "p");
    assert_eq!(
        count(
            &pool,
            &format!("SELECT count(*) FROM molecule_properties_{hex}")
        )
        .await,
        1020
    );
    let out = run(vec![
        "load".into(),
        "sample_data".into(),
        "--org".into(),
        "acme".into(),
        "--json".into(),
        "--full".into(),
    ])
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records_inserted"], 0, "{v}");
    assert_eq!(v["records_duplicate"], 1020);
    // A new organization has empty partitions at once, so any write path works.
    let b = molingest::db::add_org(&pool, "b").await.unwrap();
    let bhex = b.simple();
    assert_eq!(
        count(&pool, &format!("SELECT count(*) FROM molecules_{bhex}")).await,
        0
    );
    let mut tx = molingest::db::tenant(&pool, b).await.unwrap();
    sqlx::query("INSERT INTO molecules (organization_id, name, content_hash) VALUES ($1, 'by hand', decode(repeat('cd', 32), 'hex'))")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        count(&pool, &format!("SELECT count(*) FROM molecules_{bhex}")).await,
        1
    );
    drop_org_roles(&pool, &[acme, b]).await;
}
