//! Behind a connection pooler in transaction mode, as platforms run
//! PostgreSQL: a PostgreSQL of the test's own and Debian's PgBouncer in
//! front of it (`pool_mode = transaction`, a small pool so that clients
//! share server connections). The same loads are made into two databases
//! of that server, one directly and one through the pooler
//! (`--pooler transaction`), and their rows compared.
//!
//! Through the pooler: an administrator's first load (the bulk path), an
//! unchanged re-run, a tenant login's load,
//! three concurrent shard workers, a load killed with SIGKILL and run
//! again, and `verify`. Also: what a user who forgets `--pooler` is told,
//! and that `migrate` asks for a direct connection.
//!
//! Skipped (with a message) only when `pgbouncer` is not installed;
//! `.ci/run` installs it.

mod common;

use common::pg::{as_server_user, chown_postgres, free_port, is_root, Cluster};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn pgbouncer_bin() -> Option<PathBuf> {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let out = Command::new("sh")
                .args(["-c", "command -v pgbouncer"])
                .output()
                .ok()?;
            let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (!p.is_empty()).then(|| PathBuf::from(p))
        })
}

/// A PgBouncer in transaction mode in front of `127.0.0.1:server_port`,
/// stopped when dropped.
struct Bouncer {
    dir: tempfile::TempDir,
    port: u16,
}

impl Bouncer {
    /// `extra`: more `[pgbouncer]` settings.
    fn start(bin: &Path, server_port: u16, extra: &str) -> Bouncer {
        let dir = tempfile::Builder::new()
            .prefix("molingest-pgbouncer")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let port = free_port();
        let d = dir.path().display();
        // trust still wants every user named in the auth file.
        let users: String = ["postgres", "tenant_direct", "tenant_pooled"]
            .iter()
            .map(|u| format!("\"{u}\" \"\"\n"))
            .collect();
        std::fs::write(dir.path().join("userlist.txt"), users).expect("userlist");
        std::fs::write(
            dir.path().join("pgbouncer.ini"),
            format!(
                "[databases]\n\
                 * = host=127.0.0.1 port={server_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir = {d}\n\
                 auth_type = trust\n\
                 auth_file = {d}/userlist.txt\n\
                 pool_mode = transaction\n\
                 max_client_conn = 200\n\
                 logfile = {d}/pgbouncer.log\n\
                 pidfile = {d}/pgbouncer.pid\n\
                 {extra}\n"
            ),
        )
        .expect("pgbouncer.ini");
        if is_root() {
            chown_postgres(dir.path());
        }
        let ini = dir.path().join("pgbouncer.ini");
        let out = as_server_user(bin, &["-d", ini.to_str().expect("utf-8")]);
        let bouncer = Bouncer { dir, port };
        assert!(
            out.status.success(),
            "pgbouncer: {out:?}\n{}",
            bouncer.log()
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "pgbouncer does not listen\n{}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        bouncer
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("pgbouncer.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            // SAFETY: kill(2) on the pgbouncer this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
}

/// Run molingest; `pooled` says `--pooler transaction` (by its variable).
fn run(url: &str, pooled: bool, args: &[&str]) -> Output {
    let mut env = vec![("DATABASE_URL", url)];
    if pooled {
        env.push(("MOLINGEST_POOLER", "transaction"));
    }
    molingest_in(&root(), &env, args)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn spawn_load(url: &str, pooled: bool, args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_molingest"));
    cmd.args(args).current_dir(root());
    for v in DATABASE_VARS {
        cmd.env_remove(v);
    }
    cmd.env("DATABASE_URL", url);
    if pooled {
        cmd.env("MOLINGEST_POOLER", "transaction");
    } else {
        cmd.env_remove("MOLINGEST_POOLER");
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("molingest starts")
}

fn psql(port: u16, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", db, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn count(port: u16, db: &str, sql: &str) -> i64 {
    psql(port, db, sql).parse().unwrap_or(-1)
}

/// What an organization holds, without the ids a load draws (uuid v7).
/// `record_counts`: compare the files' record counts too (a file resumed
/// after a kill counts the records of the run that finished it only, so it
/// depends on where the kill fell, pooler or not).
fn digest(port: u16, db: &str, org: &str, record_counts: bool) -> String {
    let org = format!("(SELECT id FROM organizations WHERE name = '{org}')");
    let molecules = psql(
        port,
        db,
        &format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(concat_ws('|',
                 encode(m.content_hash, 'hex'), m.name, m.smiles, m.formula, m.molecular_weight,
                 m.file_path, m.format, m.record_index, m.record_line, encode(f.content_hash, 'hex')),
                 ',' ORDER BY m.content_hash), ''))
             FROM molecules m JOIN molecule_files f ON f.id = m.file_id
             WHERE m.organization_id = {org}"
        ),
    );
    let properties = psql(
        port,
        db,
        &format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(
                 (to_jsonb(p) - 'molecule_id' - 'organization_id' - 'computed_at')::text
                 || encode(m.content_hash, 'hex'), ',' ORDER BY m.content_hash), ''))
             FROM molecule_properties p JOIN molecules m ON m.id = p.molecule_id
             WHERE p.organization_id = {org}"
        ),
    );
    let files = psql(
        port,
        db,
        &format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(concat_ws('|',
                 encode(content_hash, 'hex'), status, {counts} rejected_count),
                 ',' ORDER BY content_hash), ''))
             FROM molecule_files WHERE organization_id = {org}",
            counts = if record_counts { "record_count," } else { "" }
        ),
    );
    format!("molecules {molecules}\nproperties {properties}\nfiles {files}")
}

#[test]
fn loads_through_pgbouncer_in_transaction_mode_equal_direct_ones() {
    let Some(bin) = pgbouncer_bin() else {
        eprintln!(
            "SKIPPED: pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)"
        );
        return;
    };
    let server = Cluster::start(
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        &["max_connections=100"],
        |_| {},
    );
    let bouncer = Bouncer::start(&bin, server.port, "default_pool_size = 4");
    let pg = server.port;
    let direct_url = |db: &str, user: &str| format!("postgres://{user}@127.0.0.1:{pg}/{db}");
    let pooled_url = |db: &str, user: &str| {
        format!(
            "postgres://{user}@127.0.0.1:{}/{db}?sslmode=disable",
            bouncer.port
        )
    };
    let login = |db: &str| format!("tenant_{db}");

    // Two databases on one server: "direct" loaded directly, "pooled"
    // through PgBouncer. The schema is made directly (migrate needs a
    // session: see below); organizations and grants through the pooler.
    for db in ["direct", "pooled"] {
        psql(pg, "postgres", &format!("CREATE DATABASE {db}"));
        psql(pg, "postgres", &format!("CREATE ROLE {} LOGIN", login(db)));
        let out = run(&direct_url(db, "postgres"), false, &["migrate"]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let pooled = db == "pooled";
        let url = if pooled {
            pooled_url(db, "postgres")
        } else {
            direct_url(db, "postgres")
        };
        for org in ["acme", "tenantco", "shards", "killed", "bulkkill"] {
            let out = run(&url, pooled, &["org", "add", org]);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        }
        let out = run(&url, pooled, &["org", "grant", "tenantco", &login(db)]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    let url_of = |db: &str, user: &str| {
        if db == "pooled" {
            pooled_url(db, user)
        } else {
            direct_url(db, user)
        }
    };

    // Forgetting --pooler: a plain message saying what to pass, never a
    // prepared-statement error.
    let out = run(
        &pooled_url("pooled", "postgres"),
        false,
        &["load", "sample_data", "--org", "acme"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--pooler transaction"), "{err}");
    assert!(!err.contains("sqlx_s_"), "{err}");
    assert_eq!(
        count(pg, "pooled", "SELECT count(*) FROM molecules"),
        0,
        "nothing loaded"
    );
    // The same through a PgBouncer told to ignore those startup parameters
    // (one server connection, so that two clients meet on it): sqlx's named
    // statements collide there, and the user is told what to pass.
    {
        let lax = Bouncer::start(
            &bin,
            server.port,
            "default_pool_size = 1\nignore_startup_parameters = extra_float_digits, options",
        );
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/pooled?sslmode=disable",
            lax.port
        );
        let out = run(&url, false, &["load", "sample_data", "--org", "acme"]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--pooler transaction"), "{err}");
        assert_eq!(count(pg, "pooled", "SELECT count(*) FROM molecules"), 0);
    }
    // migrate through the pooler: told to connect directly.
    let out = run(&pooled_url("pooled", "postgres"), true, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a direct connection"),
        "{}",
        show(&out)
    );

    for db in ["direct", "pooled"] {
        let pooled = db == "pooled";
        let admin = url_of(db, "postgres");

        // An administrator's first load.
        let out = run(
            &admin,
            pooled,
            &["load", "sample_data", "--org", "acme", "--json"],
        );
        let v = json_of(&out);
        assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));
        assert_eq!(v["records_inserted"], 1020, "{db}: {v}");
        // The bulk path, through the pooler too (every statement of it runs
        // in a transaction).
        assert_eq!(v["path"], "bulk", "{db}: {v}");

        // An unchanged re-run.
        let out = run(
            &admin,
            pooled,
            &["load", "sample_data", "--org", "acme", "--json"],
        );
        let v = json_of(&out);
        assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));
        assert_eq!(v["records_inserted"], 0, "{db}: {v}");
        assert_eq!(v["records_parsed"], 0, "{db}: nothing read again: {v}");

        // A tenant login's load (no --org: the one it acts for).
        let tenant = url_of(db, &login(db));
        let out = run(&tenant, pooled, &["load", "sample_data", "--json"]);
        let v = json_of(&out);
        assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));
        assert_eq!(v["organization"], "tenantco", "{v}");
        assert_eq!(v["records_inserted"], 1020, "{db}: {v}");
        let out = run(&tenant, pooled, &["verify", "sample_data", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));

        // Three concurrent shard workers.
        let workers: Vec<Child> = (0..3)
            .map(|i| {
                let shard = format!("{i}/3");
                spawn_load(
                    &admin,
                    pooled,
                    &[
                        "load",
                        "sample_data",
                        "--org",
                        "shards",
                        "--json",
                        "--shard",
                        &shard,
                    ],
                )
            })
            .collect();
        let mut seen = 0;
        for w in workers {
            let out = w.wait_with_output().expect("worker ends");
            let v = json_of(&out);
            assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));
            seen += v["files_seen"].as_u64().unwrap_or(0);
        }
        assert_eq!(seen, 23, "{db}: every file in exactly one shard");

        // A bulk first load killed (SIGKILL, by itself) once its COPYs are
        // done, and run again: the leftover is discarded, the load redone.
        let mut env = vec![
            ("DATABASE_URL", admin.as_str()),
            ("MOLINGEST_TEST_KILL_AT", "bulk-copied"),
        ];
        if pooled {
            env.push(("MOLINGEST_POOLER", "transaction"));
        }
        let out = molingest_in(
            &root(),
            &env,
            &["load", "sample_data", "--org", "bulkkill", "--json"],
        );
        assert_eq!(out.status.code(), None, "{db}: killed: {}", show(&out));
        let out = run(
            &admin,
            pooled,
            &["load", "sample_data", "--org", "bulkkill", "--json"],
        );
        let v = json_of(&out);
        assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));
        assert_eq!(
            (&v["path"], &v["records_inserted"]),
            (&"bulk".into(), &1020.into()),
            "{db}: {v}"
        );

        // A load killed with SIGKILL, and run again.
        let killed_org = "(SELECT id FROM organizations WHERE name = 'killed')";
        let child = spawn_load(
            &admin,
            pooled,
            &[
                "load",
                "benches/data",
                "--org",
                "killed",
                "--json",
                "--no-bulk",
                "--batch-rows",
                "200",
                "--writers",
                "1",
            ],
        );
        let start = Instant::now();
        while count(
            pg,
            db,
            &format!("SELECT count(*) FROM molecules WHERE organization_id = {killed_org}"),
        ) < 1000
        {
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "{db}: no rows committed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait_with_output();
        assert_eq!(
            count(
                pg,
                db,
                &format!(
                    "SELECT count(*) FROM pipeline_executions
                     WHERE organization_id = {killed_org} AND status = 'running'"
                )
            ),
            1,
            "{db}: SIGKILL leaves the run open"
        );
        let out = run(
            &admin,
            pooled,
            &["load", "benches/data", "--org", "killed", "--json"],
        );
        let v = json_of(&out);
        assert_eq!(out.status.code(), Some(0), "{db}: {}", show(&out));
        assert!(
            v["notices"].to_string().contains("ended without closing"),
            "{db}: {v}"
        );
        assert_eq!(
            count(
                pg,
                db,
                &format!("SELECT count(*) FROM molecules WHERE organization_id = {killed_org}")
            ),
            50_000,
            "{db}"
        );

        // verify, as the administrator.
        for org in ["acme", "shards"] {
            let out = run(
                &admin,
                pooled,
                &["verify", "sample_data", "--org", org, "--json"],
            );
            assert_eq!(out.status.code(), Some(0), "{db} {org}: {}", show(&out));
        }

        // Every lease was given back; no run is left open.
        assert_eq!(
            count(
                pg,
                db,
                "SELECT count(*) FROM load_leases WHERE holder IS NOT NULL"
            ),
            0,
            "{db}"
        );
        assert_eq!(
            count(
                pg,
                db,
                "SELECT count(*) FROM pipeline_executions WHERE status = 'running'"
            ),
            0,
            "{db}"
        );
    }

    // The same loads, the same rows.
    for org in ["acme", "tenantco", "shards", "killed", "bulkkill"] {
        assert_eq!(
            digest(pg, "direct", org, org != "killed"),
            digest(pg, "pooled", org, org != "killed"),
            "{org}: rows through the pooler differ from direct ones"
        );
    }
    assert_eq!(
        count(pg, "pooled", "SELECT count(*) FROM molecules"),
        1020 * 4 + 50_000
    );
    // Nothing of a session leaked onto the server connections: no temporary
    // staging table, no advisory lock left.
    assert_eq!(
        count(
            pg,
            "postgres",
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        ),
        0,
        "{}",
        bouncer.log()
    );

    // The administrator's other commands, through the pooler: export,
    // import, retention, list, purge.
    let admin = pooled_url("pooled", "postgres");
    let exports = tempfile::tempdir().expect("tempdir");
    let dir = exports.path().join("acme");
    let dir_s = dir.to_str().expect("utf-8");
    let out = run(&admin, true, &["org", "export", "acme", dir_s]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let smi = std::fs::read_to_string(dir.join("molecules.smi")).unwrap_or_default();
    assert!(smi.lines().count() > 0, "{}", show(&out));
    let out = run(&admin, true, &["org", "import", dir_s, "--as", "acme2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        count(
            pg,
            "pooled",
            "SELECT count(*) FROM molecules m JOIN organizations o ON o.id = m.organization_id
             WHERE o.name = 'acme2'"
        ),
        1020
    );
    let out = run(&admin, true, &["retention", "apply", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(&admin, true, &["org", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = run(
        &admin,
        true,
        &["org", "purge", "killed", "--confirm", "killed"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        count(
            pg,
            "pooled",
            "SELECT count(*) FROM organizations WHERE name = 'killed'"
        ),
        0
    );
    assert_eq!(
        count(pg, "pooled", "SELECT count(*) FROM molecules"),
        1020 * 5,
        "the other organizations are untouched"
    );
    // The roles made here belong to this test's own cluster, which goes
    // with `server`.
}
