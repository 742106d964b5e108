//! Per-organization databases: `org add --database` keeps an organization's
//! data in a database of its own (on this server, or on a second server the
//! test starts), and every command routes there.

mod common;

use common::pg::Cluster;
use common::*;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

async fn run(url: &str, args: &[&str]) -> std::process::Output {
    molingest_async(url, args).await
}

async fn molecules_in(url: &str, org: Uuid) -> i64 {
    let mut c = PgConnection::connect(url).await.unwrap();
    let mut tx = molingest::db::tenant(&mut c, org.into()).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM molecules")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    c.close().await.unwrap();
    n
}

/// The server part of the test database's URL, without user.
fn server_of(pool: &PgPool) -> String {
    let url = url_of(pool);
    let (base, _) = url.rsplit_once('/').unwrap();
    base.replacen("postgres@", "", 1)
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_organization_in_its_own_database_on_this_server(pool: PgPool) {
    let control = url_of(&pool);
    let own = common::test_login_name("routed");
    let location = format!("{}/{own}", server_of(&pool));

    // A password in the location is refused, with where it belongs.
    let with_password = location.replacen("://", "://postgres:hunter2@", 1);
    let out = run(
        &control,
        &["org", "add", "acme", "--database", &with_password],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PGPASSWORD"),
        "{}",
        show(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hunter2"),
        "{}",
        show(&out)
    );

    let out = run(&control, &["org", "add", "acme", "--database", &location]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let org: Uuid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // Only the organization's role may connect to its database.
    let (public, own_role): (bool, bool) = sqlx::query_as(
        "SELECT has_database_privilege('public', $1, 'CONNECT'),
                has_database_privilege($2, $1, 'CONNECT')",
    )
    .bind(&own)
    .bind(molingest::db::org_role(org.into()))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        !public && own_role,
        "CONNECT: PUBLIC {public}, the organization {own_role}"
    );
    let out = run(&control, &["org", "add", "local"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let out = run(
        &control,
        &["load", "sample_data", "--org", "acme", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let own_url = format!(
        "postgres://postgres@{}/{own}",
        server_of(&pool).trim_start_matches("postgres://")
    );
    assert_eq!(
        molecules_in(&own_url, org).await,
        1020,
        "the data is in its own database"
    );
    assert_eq!(
        molecules_in(&control, org).await,
        0,
        "none in the control database"
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT database_location FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored.as_deref(), Some(location.as_str()));
    // Re-running routes there too: nothing new.
    let out = run(
        &control,
        &["load", "sample_data", "--org", "acme", "--json"],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records_inserted"], 0, "{}", show(&out));

    let out = run(&control, &["org", "list"]).await;
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("acme\t1020 molecules\t"), "{listing}");
    assert!(
        listing.contains(&format!("/{own}")),
        "location shown: {listing}"
    );
    assert!(listing.contains("local\t0 molecules\there"), "{listing}");
    // `migrate` migrates the organization's database as well.
    let out = run(&control, &["migrate"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    sqlx::query(&format!("DROP DATABASE {own} WITH (FORCE)"))
        .execute(&pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_organization_on_a_second_server(pool: PgPool) {
    let second = Cluster::start(
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        &[],
        |_| {},
    );
    let url2 = |db: &str| format!("postgres://postgres@127.0.0.1:{}/{db}", second.port);
    let control = url_of(&pool);
    let location = format!("postgres://127.0.0.1:{}/bigco", second.port);
    let out = run(&control, &["org", "add", "BigCo", "--database", &location]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let org: Uuid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();

    // A least-privilege login, existing on both servers, granted once.
    let login = common::test_login_name("route");
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    let mut c2 = PgConnection::connect(&url2("postgres")).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&mut c2)
        .await
        .unwrap();
    c2.close().await.unwrap();
    let out = run(&control, &["org", "grant", "bigco", &login]).await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let as_login = control.replacen("://postgres@", &format!("://{login}@"), 1);
    let out = run(
        &as_login,
        &[
            "load",
            "sample_data/meeko__example__tutorial1__imatinib.sdf",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(molecules_in(&url2("bigco"), org).await, 2);
    assert_eq!(molecules_in(&control, org).await, 0);
    // The run record is where the data is.
    let mut c2 = PgConnection::connect(&url2("bigco")).await.unwrap();
    let mut tx = molingest::db::tenant(&mut c2, org.into()).await.unwrap();
    let runs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pipeline_executions WHERE status = 'completed'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(runs, 1, "the run record is in the organization's database");
    tx.commit().await.unwrap();
    c2.close().await.unwrap();

    let out = run(&control, &["org", "list"]).await;
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&format!(
            "BigCo\t2 molecules\t127.0.0.1:{}/bigco",
            second.port
        )),
        "{listing}"
    );
    drop_roles(&pool, &[&login, &molingest::db::org_role(org.into())]).await;
}
