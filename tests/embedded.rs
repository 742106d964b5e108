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

    let out = molingest(None, &["db", "stop", "--data-dir", data_s]);
    assert!(out.status.success(), "{}", show(&out));
    let out = molingest(None, &["db", "status", "--data-dir", data_s]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}
