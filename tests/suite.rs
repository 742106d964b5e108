//! The test suite's own set-up (tests/common/server.rs): with no
//! `DATABASE_URL` a test binary starts a private PostgreSQL and leaves
//! nothing behind; with one, the roles tests leave on that server are
//! dropped once nothing depends on them.

mod common;

use common::server;
use sqlx::{Connection, PgConnection};
use std::process::Command;

/// Run by [`a_binary_without_database_url_starts_and_removes_its_own_server`]
/// in a child process; in the suite's own run it checks the server it has.
#[tokio::test]
async fn probe_the_server_of_this_binary() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL: set by the suite or by you");
    let mut conn = PgConnection::connect(&url)
        .await
        .expect("the server answers");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    println!("PROBE_URL={url}");
}

#[test]
fn a_binary_without_database_url_starts_and_removes_its_own_server() {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "probe_the_server_of_this_binary", "--nocapture"]);
    for v in common::DATABASE_VARS {
        cmd.env_remove(v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", common::show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PROBE_URL="))
        .unwrap_or_else(|| panic!("no URL printed:\n{stdout}"));
    let port: u16 = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a port in {url}"));
    assert_ne!(port, 5432, "a private server, not the machine's");
    // Gone with the process: nothing listens there any more.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server on {port} outlived its test binary"
    );
}

#[tokio::test]
async fn roles_left_by_dropped_test_databases_are_dropped() {
    let url = std::env::var("DATABASE_URL").unwrap();
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let db = format!("molingest_suite_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let db_url = common::url_in(&url, &db);
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    molingest::db::MIGRATOR.run(&pool).await.unwrap();
    let org = molingest::db::add_org(&pool, "suite").await.unwrap();
    let login = common::test_login_name("suite");
    sqlx::query(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    molingest::db::grant_org(&pool, "suite", &login)
        .await
        .unwrap();
    // A login of nobody's (no database holds anything of it) goes at once.
    let idle = common::test_login_name("suite_idle");
    sqlx::query(&format!("CREATE ROLE {idle} LOGIN"))
        .execute(&pool)
        .await
        .unwrap();
    let exists = |role: String| {
        let url = url.clone();
        async move {
            let mut c = PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
            )
            .bind(role)
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
    };
    let org_role = molingest::db::org_role(org);

    server::drop_leftover_roles(&url).unwrap();
    assert!(
        !exists(idle.clone()).await,
        "a role nothing uses is dropped"
    );
    assert!(
        exists(org_role.clone()).await,
        "a role its database uses stays"
    );

    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    server::drop_leftover_roles(&url).unwrap();
    assert!(
        !exists(org_role).await,
        "the organization's role is gone with its database"
    );
    assert!(
        !exists(login).await,
        "the test's login is gone with its database"
    );
}

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(common::root().join(".ci/run")).unwrap();
    let command = readme
        .lines()
        .skip_while(|l| *l != "# Run the whole test suite")
        .nth(1)
        .expect("README § Quick start names the test command");
    assert!(command.starts_with("cargo test"), "{command}");
    assert_eq!(
        ci.lines().filter(|l| l.trim() == command).count(),
        1,
        ".ci/run runs {command:?} once"
    );
}
