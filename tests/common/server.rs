//! The PostgreSQL server the database tests use.
//!
//! - **`DATABASE_URL` unset** (the README's test command): every test
//!   binary that uses `tests/common` starts a private cluster of its own
//!   before its first test runs ([`pg::Cluster`]: initdb in a temporary
//!   directory, a free loopback port, trust for local TCP), points
//!   `DATABASE_URL` at it, and stops and deletes it when the binary exits.
//!   Nothing is left on the machine, and no server need be set up first.
//! - **`DATABASE_URL` set**: that server is used, and at exit the roles the
//!   tests left on it are dropped ([`drop_leftover_roles`]): roles belong to
//!   the server and outlive the per-test databases `#[sqlx::test]` drops.
//!
//! It runs before `main` (`ctor`) because `#[sqlx::test]` reads
//! `DATABASE_URL` before any test code runs.

use super::pg;
use std::sync::Mutex;

static SERVER: Mutex<Option<pg::Cluster>> = Mutex::new(None);

#[ctor::ctor]
fn server_for_tests() {
    if std::env::var_os("DATABASE_URL").is_some() {
        return;
    }
    let started = std::panic::catch_unwind(|| {
        pg::Cluster::start(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            // A throwaway server: durability buys nothing here.
            &[
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ],
            |_| {},
        )
    });
    match started {
        Ok(cluster) => {
            std::env::set_var(
                "DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port),
            );
            if let Ok(mut server) = SERVER.lock() {
                *server = Some(cluster);
            }
        }
        Err(_) => eprintln!(
            "tests: DATABASE_URL is unset and a private PostgreSQL could not be started \
             (needs Debian's `postgresql` package; see README § Quick start). \
             Database tests will fail."
        ),
    }
}

#[ctor::dtor]
fn after_tests() {
    let ours = SERVER.lock().ok().and_then(|mut s| s.take());
    match ours {
        // Dropping the cluster stops the server and deletes its directory.
        Some(cluster) => drop(cluster),
        None => {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                let _ = drop_leftover_roles(&url);
            }
        }
    }
}

/// Drop the roles the tests made that nothing on the server uses any more:
/// an organization role whose organization no database holds (its test
/// database is gone), then a login that holds nothing (no object, no
/// privilege in any database) and is a member of no organization role.
/// Runs `psql`, which works at process exit where an async runtime might
/// not. Returns how many roles it dropped.
pub fn drop_leftover_roles(url: &str) -> std::io::Result<u32> {
    let databases = psql(
        url,
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate",
    )?;
    let mut keep = Vec::new();
    for db in databases.lines().filter(|l| !l.is_empty()) {
        // A database without molingest's schema has no organizations.
        if let Ok(roles) = psql(
            &super::url_in(url, db),
            "SELECT 'molingest_org_' || replace(id::text, '-', '') FROM organizations",
        ) {
            keep.extend(roles.lines().map(|r| format!("'{r}'")));
        }
    }
    let keep = if keep.is_empty() {
        "''".to_owned()
    } else {
        keep.join(",")
    };
    let sql = format!(
        "DO $$
         DECLARE r text; n int := 0;
         BEGIN
           FOR r IN SELECT rolname FROM pg_roles
                    WHERE rolname ~ '^molingest_org_[0-9a-f]{{32}}$' AND rolname NOT IN ({keep})
           LOOP
             BEGIN
               EXECUTE format('DROP ROLE %I', r);
               n := n + 1;
             EXCEPTION WHEN OTHERS THEN NULL;
             END;
           END LOOP;
           FOR r IN SELECT a.rolname FROM pg_roles a
                    WHERE a.rolname ~ '^molingest_test_[a-z0-9_]+$'
                      AND NOT EXISTS (SELECT 1 FROM pg_shdepend d
                                      WHERE d.refclassid = 'pg_authid'::regclass
                                        AND d.refobjid = a.oid)
                      AND NOT EXISTS (SELECT 1 FROM pg_auth_members m
                                      JOIN pg_roles o ON o.oid = m.roleid
                                      WHERE m.member = a.oid
                                        AND o.rolname ~ '^molingest_org_')
           LOOP
             BEGIN
               EXECUTE format('DROP ROLE %I', r);
               n := n + 1;
             EXCEPTION WHEN OTHERS THEN NULL;
             END;
           END LOOP;
           RAISE NOTICE 'dropped %', n;
         END $$"
    );
    let out = run_psql(url, &sql)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    Ok(stderr
        .split("dropped ")
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0))
}

fn run_psql(url: &str, sql: &str) -> std::io::Result<std::process::Output> {
    let out = std::process::Command::new(pg::pg_bin().join("psql"))
        .args([url, "-qXAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(out)
}

fn psql(url: &str, sql: &str) -> std::io::Result<String> {
    Ok(String::from_utf8_lossy(&run_psql(url, sql)?.stdout).into_owned())
}
