//! A PostgreSQL server of a test's own: a fresh cluster in a temporary
//! directory (initdb, pg_ctl as the `postgres` user when the tests run as
//! root), on a free loopback port, with the pg_hba.conf and settings the
//! test asks for. Dropping it stops the server, also when the test fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false)
}

pub fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server installed").1
}

/// Run a server program, as `postgres` when we are root.
pub fn as_server_user(program: &Path, args: &[&str]) -> Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .current_dir("/")
        .output()
        .expect("server program runs")
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
}

impl Cluster {
    /// initdb a cluster; `setup` may write files into the data directory
    /// (certificates, pg_hba.conf) before it is started with `settings`.
    pub fn start(hba: &str, settings: &[&str], setup: impl FnOnce(&Path)) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("molingest-pg")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let data = dir.path().join("data");
        let bin = pg_bin();
        if is_root() {
            chown_postgres(dir.path());
        }
        let data_s = data.to_str().expect("utf-8 path");
        let out = as_server_user(
            &bin.join("initdb"),
            &["-D", data_s, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        assert!(out.status.success(), "initdb: {out:?}");
        std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        setup(&data);
        if is_root() {
            chown_postgres(&data);
        }
        let port = free_port();
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {}",
            dir.path().display()
        );
        for s in settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let log = dir.path().join("server.log");
        let cluster = Cluster { dir, port, bin };
        let out = as_server_user(
            &cluster.bin.join("pg_ctl"),
            &[
                "-D",
                data_s,
                "-l",
                log.to_str().expect("utf-8"),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        cluster
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stop the server at once (as a crash or an operator would).
    pub fn stop(&self) {
        let data = self.data();
        let out = as_server_user(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap_or(""),
                "-w",
                "-m",
                "immediate",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    /// Start it again on the same port.
    pub fn restart(&self) {
        let data = self.data();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let out = as_server_user(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap_or(""),
                "-l",
                log.to_str().unwrap_or(""),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = as_server_user(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap_or(""),
                "-w",
                "-m",
                "immediate",
                "stop",
            ],
        );
    }
}

/// Give a directory tree to the `postgres` user (the tests run as root).
pub fn chown_postgres(path: &Path) {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .expect("chown runs");
    assert!(out.status.success(), "chown: {out:?}");
}
