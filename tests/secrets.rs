//! No secret is ever printed or stored, and `.env` holds configuration,
//! not programs.
//!
//! A secret is planted in each kind of URL — a PostgreSQL password refused
//! by a server of the test's own, `user:pass@` in http:// URLs (a 404 from
//! a file server that wants a signature, a closed port) and an S3-style presigned query
//! string — and looked for in stdout, stderr, the `--rejects` file and the
//! run record and file bookkeeping in the database.

mod common;

use common::pg::{free_port, Cluster};
use common::*;
use sqlx::PgPool;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_SECRET: &str = "PgSecretPw4711";
const HTTP_SECRET: &str = "HttpSecretPw0815";
const SIGNATURE: &str = "SigSecret9a8b7c";
const CREDENTIAL: &str = "AKIASECRETCRED42";

fn assert_no_secret(what: &str, text: &str) {
    for s in [PG_SECRET, HTTP_SECRET, SIGNATURE, CREDENTIAL] {
        assert!(!text.contains(s), "{what} shows a secret:\n{text}");
    }
}

#[test]
fn a_refused_database_password_is_never_shown() {
    let cluster = Cluster::start(
        "host all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n",
        &[],
        |_| {},
    );
    let url = format!(
        "postgres://postgres:{PG_SECRET}@127.0.0.1:{}/postgres",
        cluster.port
    );
    for args in [
        &["migrate"][..],
        &["org", "add", "acme"],
        &["load", "sample_data", "--org", "acme", "--json"],
        &["load", "sample_data", "--org", "acme"],
    ] {
        let out = molingest(Some(&url), args);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let all = show(&out);
        assert!(all.contains("password authentication failed"), "{all}");
        assert_no_secret("a refused connection", &all);
        // As a command-line flag too.
        let mut with_flag = vec!["--database-url", url.as_str()];
        with_flag.extend_from_slice(args);
        let out = molingest(None, &with_flag);
        assert_no_secret("a refused connection (flag)", &show(&out));
    }
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's file server, made to answer like S3 to presigned URLs: a GET is
/// served only if its query string carries the right signature, and every
/// HEAD is refused (the signature is for GET), so a fetch that dropped the
/// query would fail.
const SIGNED_SERVER: &str = r#"
import http.server, sys, urllib.parse
class Signed(http.server.SimpleHTTPRequestHandler):
    def signed(self):
        query = urllib.parse.urlsplit(self.path).query
        return urllib.parse.parse_qs(query).get("X-Amz-Signature") == [sys.argv[2]]
    def do_HEAD(self):
        self.send_error(403, "SignatureDoesNotMatch")
    def do_GET(self):
        if self.signed():
            super().do_GET()
        else:
            self.send_error(403, "SignatureDoesNotMatch")
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Signed).serve_forever()
"#;

fn http_server(dir: &std::path::Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-c", SIGNED_SERVER, &port.to_string(), SIGNATURE])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let server = Server(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "http.server starts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn object_store_secrets_are_never_shown_or_stored(pool: PgPool) {
    let url = url_of(&pool);
    let served = dir_with(&[(
        &corpus().join("sdf/meeko__test__rdkitmol_from_docking_data__chiral_deutorated_D_gly.sdf"),
        "data/gly.sdf",
    )]);
    let (_server, port) = http_server(served.path());
    let closed = free_port();
    let sources = [
        // user:pass@ and a 404.
        format!("http://reader:{HTTP_SECRET}@127.0.0.1:{port}/data/missing.sdf"),
        // user:pass@ and nothing listening.
        format!("http://reader:{HTTP_SECRET}@127.0.0.1:{closed}/data/gly.sdf"),
        // A presigned URL with a signature the server refuses (403).
        format!(
            "http://127.0.0.1:{port}/data/gly.sdf?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential={CREDENTIAL}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Expires=600&X-Amz-Signature={SIGNATURE}x"
        ),
        // A presigned URL: fetched with its query string, which the server checks.
        format!(
            "http://127.0.0.1:{port}/data/gly.sdf?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential={CREDENTIAL}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Expires=600&X-Amz-Signature={SIGNATURE}"
        ),
    ];
    let rejects_dir = tempfile::tempdir().unwrap();
    for (i, source) in sources.iter().enumerate() {
        let rejects = rejects_dir.path().join(format!("rejects-{i}.jsonl"));
        for json in [true, false] {
            let mut args = vec![
                "load",
                source.as_str(),
                "--org",
                "acme",
                "--create-org",
                "--full",
                "--rejects",
                rejects.to_str().unwrap(),
            ];
            if json {
                args.push("--json");
            }
            let out = molingest(Some(&url), &args);
            let all = show(&out);
            assert_no_secret(source, &all);
            assert_no_secret(
                "--rejects",
                &std::fs::read_to_string(&rejects).unwrap_or_default(),
            );
            if i == 3 {
                assert_eq!(out.status.code(), Some(0), "{all}");
            } else {
                assert_ne!(out.status.code(), Some(0), "{all}");
            }
            if i == 2 {
                assert!(all.contains("403"), "the refusal is said: {all}");
            }
        }
    }
    let molecules = count(&pool, "SELECT count(*) FROM molecules").await;
    assert_eq!(molecules, 1, "the presigned URL was fetched");
    let runs: Vec<(
        Option<String>,
        serde_json::Value,
        serde_json::Value,
        Option<String>,
    )> = sqlx::query_as("SELECT source, rejects, stats, error FROM pipeline_executions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(runs.len() >= 4, "{runs:?}");
    assert_no_secret("pipeline_executions", &format!("{runs:?}"));
    let uris: Vec<String> = sqlx::query_scalar("SELECT source_uri FROM molecule_files")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(!uris.is_empty());
    assert_no_secret("molecule_files.source_uri", &format!("{uris:?}"));
}

/// `.env` may say which database, nothing else; only the one in the
/// current directory is read, and the environment wins over it.
#[test]
fn dotenv_is_configuration_not_programs() {
    let parent = tempfile::tempdir().unwrap();
    let cwd = parent.path().join("work");
    std::fs::create_dir(&cwd).unwrap();
    let marker = parent.path().join("ran");
    let evil = parent.path().join("bin");
    std::fs::create_dir(&evil).unwrap();
    for prog in ["initdb", "pg_ctl", "postgres", "psql"] {
        let p = evil.join(prog);
        std::fs::write(&p, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The embedded cluster will really be made (with the real binaries), so
    // the server user must reach it; it is stopped at the end.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let data = parent.path().join("pgdata");
    let data_s = data.to_str().unwrap().to_owned();
    struct Stop(std::path::PathBuf, String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = molingest_in(&self.0, &[], &["db", "stop", "--data-dir", &self.1]);
        }
    }
    let _stop = Stop(cwd.clone(), data_s.clone());
    std::fs::write(
        cwd.join(".env"),
        format!(
            "MOLINGEST_PG_BIN={}\nMOLINGEST_PG_USER=root\n",
            evil.display()
        ),
    )
    .unwrap();
    // A parent's .env naming a database is not read either.
    std::fs::write(
        parent.path().join(".env"),
        "DATABASE_URL=postgres://nobody@127.0.0.1:1/parent\n",
    )
    .unwrap();
    let out = molingest_in(&cwd, &[], &["db", "start", "--data-dir", &data_s]);
    assert!(
        !marker.exists(),
        "a program named in .env ran: {}",
        show(&out)
    );
    assert!(out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ignoring MOLINGEST_PG_BIN, MOLINGEST_PG_USER"),
        "{err}"
    );
    let out = molingest_in(&cwd, &[], &["migrate", "status", "--data-dir", &data_s]);
    assert!(
        out.status.success(),
        "the parent's .env is not read: {}",
        show(&out)
    );

    // DATABASE_URL from .env is used (a closed port: the error names it) …
    let closed = free_port();
    std::fs::write(
        cwd.join(".env"),
        format!("DATABASE_URL=postgres://postgres@127.0.0.1:{closed}/fromdotenv\n"),
    )
    .unwrap();
    let out = molingest_in(&cwd, &[], &["migrate", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(show(&out).contains("fromdotenv"), "{}", show(&out));
    // … but never with the caller's own password: then .env may not say
    // where to connect (the password would follow it).
    let out = molingest_in(&cwd, &[("PGPASSWORD", "mine")], &["migrate", "status"]);
    assert!(!show(&out).contains("fromdotenv"), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ignoring DATABASE_URL"),
        "{}",
        show(&out)
    );
    // … unless the environment says otherwise.
    let real = std::env::var("DATABASE_URL").unwrap_or_default();
    if !real.is_empty() {
        let out = molingest_in(&cwd, &[("DATABASE_URL", &real)], &["migrate", "status"]);
        assert!(out.status.success(), "{}", show(&out));
    }
}
