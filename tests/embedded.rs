//! The embedded default database: no DATABASE_URL, so molingest creates and
//! starts its own PostgreSQL cluster in --data-dir with the machine's server
//! binaries. Run as root (as CI is), this exercises starting the server as
//! the unprivileged `postgres` user. The test stops the server it started.

mod common;

use common::*;

#[test]
fn load_without_a_database_url_uses_a_private_cluster() {
    let dir = tempfile::Builder::new()
        .prefix("molingest-embedded")
        .tempdir_in("/tmp")
        .unwrap();
    let data = dir.path().join("pgdata");
    let data_s = data.to_str().unwrap();
    struct Stop<'a>(&'a str);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = molingest(None, &["db", "stop", "--data-dir", self.0]);
        }
    }
    let _stop = Stop(data_s);

    let out = molingest(
        None,
        &[
            "load",
            "sample_data",
            "--org",
            "demo",
            "--create-org",
            "--json",
            "--data-dir",
            data_s,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records_inserted"], 1020);

    assert!(data.join("PG_VERSION").exists());
    // Unix socket only, in the data directory.
    assert!(data.join(".s.PGSQL.5432").exists());
    let conf = std::fs::read_to_string(data.join("postmaster.opts")).unwrap();
    assert!(conf.contains("listen_addresses="), "{conf}");
    if unsafe_is_root() {
        use std::os::unix::fs::MetadataExt;
        assert_ne!(
            std::fs::metadata(&data).unwrap().uid(),
            0,
            "the cluster must not belong to root"
        );
    }

    let out = molingest(None, &["org", "list", "--data-dir", data_s]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("demo\t1020 molecules"),
        "{}",
        show(&out)
    );
    let out = molingest(
        None,
        &[
            "load",
            "sample_data",
            "--org",
            "demo",
            "--json",
            "--data-dir",
            data_s,
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records_inserted"], 0, "{v}");

    only_the_owner_gets_in(&data);

    let out = molingest(None, &["db", "stop", "--data-dir", data_s]);
    assert!(out.status.success(), "{}", show(&out));
    let out = molingest(None, &["db", "status", "--data-dir", data_s]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

/// pg_hba.conf lets in the owner over the socket (peer) and nobody else:
/// not another database user, not another OS user, not TCP even when the
/// server is made to listen on a port.
fn only_the_owner_gets_in(data: &std::path::Path) {
    let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
    let rules: Vec<&str> = hba
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert!(!rules.is_empty(), "{hba}");
    for rule in &rules {
        assert!(
            rule.starts_with("local") && rule.contains("peer"),
            "only local peer rules: {hba}"
        );
    }
    assert!(!hba.contains("trust"), "{hba}");
    if !unsafe_is_root() {
        return;
    }
    let psql = pg::pg_bin().join("psql");
    let data_s = data.to_str().unwrap();
    let try_psql = |cmd: &mut std::process::Command| {
        cmd.args(["-X", "-d", "postgres", "-tAc", "SELECT 1"])
            .output()
            .unwrap()
    };
    // The owner (root maps to postgres) gets in.
    let out = try_psql(std::process::Command::new(&psql).args(["-h", data_s, "-U", "postgres"]));
    assert!(out.status.success(), "{}", show(&out));
    // Root as another database user: refused (pg_hba names only postgres).
    let out =
        try_psql(std::process::Command::new(&psql).args(["-h", data_s, "-U", "molingest_app"]));
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pg_hba.conf entry"),
        "{}",
        show(&out)
    );
    // Another OS user: refused.
    let out = try_psql(
        std::process::Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&psql)
            .args(["-h", data_s, "-U", "postgres"]),
    );
    assert!(!out.status.success(), "{}", show(&out));
    // Made to listen on TCP: still refused (no host line at all).
    let port = pg::free_port();
    let opts = format!("-c listen_addresses=127.0.0.1 -p {port} -k {data_s}");
    let out = pg::as_server_user(
        &pg::pg_bin().join("pg_ctl"),
        // With a log file: the server must not hold our output pipe open.
        &[
            "-D",
            data_s,
            "-l",
            data.join("server.log").to_str().unwrap(),
            "-w",
            "-o",
            &opts,
            "restart",
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    let out = try_psql(std::process::Command::new(&psql).args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
    ]));
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pg_hba.conf entry"),
        "{}",
        show(&out)
    );
}

fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}
