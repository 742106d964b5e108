//! Helpers shared by the integration tests.
//!
//! Database tests use `#[sqlx::test]`: each test gets a fresh database on
//! the server `DATABASE_URL` names, dropped afterwards. With `DATABASE_URL`
//! unset, the test binary starts a private server first ([`server`]).
#![allow(dead_code)]

pub mod pg;
pub mod server;

use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn corpus() -> PathBuf {
    root().join("tests/data/corpus")
}

/// The URL of the test's own database (the one `pool` is connected to).
pub fn url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for database tests");
    let db = pool
        .connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned();
    url_in(&base, &db)
}

/// `base` (a server's URL) with its database replaced by `db`.
pub fn url_in(base: &str, db: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((a, q)) => (a.to_owned(), format!("?{q}")),
        None => (base.to_owned(), String::new()),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let prefix = match without_query[scheme_end..].find('/') {
        Some(i) => &without_query[..scheme_end + i],
        None => &without_query[..],
    };
    format!("{prefix}/{db}{query}")
}

/// The variables that choose a database: removed from every run of the
/// binary, so that only what a test sets counts.
pub const DATABASE_VARS: &[&str] = &[
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGREQUIREAUTH",
];

/// Run the molingest binary with these arguments against `url`.
pub fn molingest(url: Option<&str>, args: &[&str]) -> Output {
    let env: Vec<(&str, &str)> = url.map(|u| ("DATABASE_URL", u)).into_iter().collect();
    molingest_in(&root(), &env, args)
}

/// Run the molingest binary in `dir` with exactly these database variables.
pub fn molingest_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_molingest"));
    cmd.args(args).current_dir(dir);
    for v in DATABASE_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("molingest runs")
}

/// [`molingest`] from an async test (the binary blocks; the test's runtime
/// must not).
pub async fn molingest_async(url: &str, args: &[&str]) -> Output {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        molingest(Some(&url), &args)
    })
    .await
    .expect("molingest ran")
}

pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every line of a JSONL text, parsed.
pub fn json_lines(text: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Copy files into a fresh temporary directory.
pub fn dir_with(files: &[(&Path, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (src, name) in files {
        let dest = dir.path().join(name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::copy(src, dest).expect("copy");
    }
    dir
}

/// A name for a login role a test creates: [`server`] drops such roles
/// at exit once nothing depends on them.
pub fn test_login_name(tag: &str) -> String {
    format!("molingest_test_{tag}_{}", uuid::Uuid::new_v4().simple())
}

/// Roles belong to the server and outlive a test's database: drop those a
/// test made (login roles, organization roles).
pub async fn drop_roles(pool: &PgPool, roles: &[&str]) {
    for r in roles {
        let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {r}"))
            .execute(pool)
            .await;
    }
}

/// The roles of these organizations ([`drop_roles`]).
pub async fn drop_org_roles<T: Copy + Into<molingest::ids::OrgId>>(pool: &PgPool, orgs: &[T]) {
    let roles: Vec<String> = orgs
        .iter()
        .map(|o| molingest::db::org_role((*o).into()))
        .collect();
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    drop_roles(pool, &roles).await;
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}
