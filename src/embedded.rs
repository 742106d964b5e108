//! The embedded default database: with no `--database-url`/`DATABASE_URL`,
//! molingest runs a private PostgreSQL cluster of its own, created with the
//! server binaries installed on the machine, listening on a Unix socket in
//! its data directory only (no TCP port).
//!
//! `initdb` and `postgres` refuse to run as root. When molingest runs as
//! root, the cluster belongs to an unprivileged system user (`postgres` by
//! default, `MOLINGEST_PG_USER` to choose) and the server commands run as it.
//!
//! Only its owner gets in, whatever the server is started with: before
//! every start molingest writes `pg_hba.conf` with a single line,
//! `local all postgres peer map=molingest` (no `host` line, so TCP is
//! refused even if someone adds `listen_addresses`), and `pg_ident.conf`
//! mapping exactly two operating-system users to the database user
//! `postgres`: the one molingest runs as (root, or you) and the cluster's
//! owner. Peer authentication asks the kernel who is on the other end of
//! the socket, so there is no password to store or leak; any other local
//! user, or any other database user, is refused.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const DATABASE: &str = "molingest";
const SUPERUSER: &str = "postgres";

/// A private cluster in a data directory.
pub struct Embedded {
    pub data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(u32, u32, String)>,
}

impl Embedded {
    /// Where the cluster lives by default: `/var/lib/molingest/pgdata` for
    /// root (the server user must be able to reach it), else under the
    /// user's data directory.
    pub fn default_data_dir() -> PathBuf {
        if is_root() {
            return PathBuf::from("/var/lib/molingest/pgdata");
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("molingest/pgdata")
    }

    pub fn new(data_dir: &Path) -> Result<Self> {
        let run_as = if is_root() {
            let user = std::env::var("MOLINGEST_PG_USER").unwrap_or_else(|_| "postgres".into());
            let (uid, gid) = lookup_user(&user).ok_or_else(|| {
                Error::Embedded(format!(
                    "running as root, the embedded PostgreSQL must run as an unprivileged user, \
                     and user {user:?} does not exist: create it (`useradd --system {user}`), \
                     set MOLINGEST_PG_USER, or pass --database-url"
                ))
            })?;
            Some((uid, gid, user))
        } else {
            None
        };
        let data_dir = absolute(data_dir)?;
        Ok(Embedded {
            data_dir,
            bin_dir: find_bin_dir()?,
            run_as,
        })
    }

    /// Create the cluster if needed, start it if it is not running, create
    /// the database; return its connection URL.
    pub fn ensure_running(&self) -> Result<String> {
        if !self.data_dir.join("PG_VERSION").exists() {
            self.init()?;
            eprintln!(
                "molingest: created a private PostgreSQL cluster in {}",
                self.data_dir.display()
            );
        }
        if self.is_running() {
            // A cluster made by an older molingest may still trust everyone.
            if self.write_access_rules()? {
                self.run(
                    self.bin("pg_ctl")
                        .arg("-D")
                        .arg(&self.data_dir)
                        .arg("reload"),
                )
                .and_then(|out| check("pg_ctl reload", &out))?;
            }
        } else {
            self.start()?;
            eprintln!(
                "molingest: started the embedded PostgreSQL (Unix socket in {}; `molingest db stop` stops it)",
                self.data_dir.display()
            );
        }
        let exists = self.psql(&[
            "-tAc",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
        ])?;
        if exists.trim() != "1" {
            self.psql(&["-c", &format!("CREATE DATABASE {DATABASE}")])?;
        }
        Ok(self.url(DATABASE))
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost/{db}?host={}",
            self.data_dir.display()
        )
    }

    pub fn is_running(&self) -> bool {
        self.data_dir.join("PG_VERSION").exists()
            && self
                .run(
                    self.bin("pg_ctl")
                        .arg("-D")
                        .arg(&self.data_dir)
                        .arg("status"),
                )
                .map(|o| o.status.success())
                .unwrap_or(false)
    }

    fn init(&self) -> Result<()> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| Error::io(&self.data_dir, e))?;
        if let Some((uid, gid, user)) = &self.run_as {
            chown(&self.data_dir, *uid, *gid)?;
            check_reachable(&self.data_dir, user)?;
        }
        let out = self.run(self.bin("initdb").arg("-D").arg(&self.data_dir).args([
            "-U",
            SUPERUSER,
            // Never trust, not even until pg_hba.conf is rewritten below.
            "--auth-local=peer",
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--no-instructions",
        ]))?;
        check("initdb", &out)
    }

    /// Only the owner, over the socket: see the module documentation.
    /// Returns whether the files changed.
    fn write_access_rules(&self) -> Result<bool> {
        let me = current_user_name()
            .ok_or_else(|| Error::Embedded("cannot tell which user molingest runs as".into()))?;
        let owner = match &self.run_as {
            Some((_, _, user)) => user.clone(),
            None => me.clone(),
        };
        let hba = format!(
            "# Written by molingest: only the owner, over the Unix socket (peer).\n\
             local all {SUPERUSER} peer map=molingest\n"
        );
        let mut ident = String::from("# Written by molingest: OS user -> database user.\n");
        for os_user in [&me, &owner] {
            let line = format!("molingest {os_user} {SUPERUSER}\n");
            if !ident.contains(&line) {
                ident.push_str(&line);
            }
        }
        let mut changed = false;
        for (name, text) in [("pg_hba.conf", hba), ("pg_ident.conf", ident)] {
            let path = self.data_dir.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
                continue;
            }
            write_private(&path, &text)?;
            if let Some((uid, gid, _)) = &self.run_as {
                chown(&path, *uid, *gid)?;
            }
            changed = true;
        }
        Ok(changed)
    }

    fn start(&self) -> Result<()> {
        let _ = self.write_access_rules()?;
        let opts = format!("-c listen_addresses='' -k {}", self.data_dir.display());
        let out = self.run(
            self.bin("pg_ctl")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(self.data_dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"]),
        )?;
        check("pg_ctl start", &out)
    }

    pub fn stop(&self) -> Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let out = self.run(
            self.bin("pg_ctl")
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-w", "-m", "fast", "stop"]),
        )?;
        check("pg_ctl stop", &out)
    }

    fn psql(&self, args: &[&str]) -> Result<String> {
        let out = self.run(
            self.bin("psql")
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                    "-h",
                ])
                .arg(&self.data_dir)
                .args(args),
        )?;
        check("psql", &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn bin(&self, name: &str) -> Command {
        Command::new(self.bin_dir.join(name))
    }

    /// Run a server command, as the unprivileged user when we are root.
    fn run(&self, cmd: &mut Command) -> Result<Output> {
        if let Some((uid, gid, user)) = &self.run_as {
            let (uid, gid) = (*uid, *gid);
            cmd.env("USER", user)
                .env("HOME", &self.data_dir)
                .current_dir("/");
            // SAFETY: setgroups, setgid and setuid are async-signal-safe. In
            // that order: drop root's supplementary groups while still root.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(gid) != 0
                        || libc::setuid(uid) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.output()
            .map_err(|e| Error::Embedded(format!("cannot run {:?}: {e}", cmd.get_program())))
    }
}

fn check(what: &str, out: &Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Embedded(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    )))
}

/// The PostgreSQL server binaries: `MOLINGEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian, Ubuntu), else `initdb` on PATH.
pub fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MOLINGEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(dir);
            }
        }
    }
    Err(Error::Embedded(
        "no PostgreSQL server binaries found (initdb, pg_ctl, postgres). Install them \
         (Debian/Ubuntu: `apt-get install postgresql`), set MOLINGEST_PG_BIN to their directory, \
         or pass --database-url / DATABASE_URL to use an existing server"
            .into(),
    ))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The name of the user this process runs as (effective uid).
fn current_user_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer to static storage or null; the name
    // is copied out before any other call.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Write a file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy
    // the two ids out before any other call.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        if pw.is_null() {
            None
        } else {
            Some(((*pw).pw_uid, (*pw).pw_gid))
        }
    }
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| Error::io(path, e))
}

/// The server user must be able to walk down to the data directory.
fn check_reachable(dir: &Path, user: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for anc in dir.ancestors().skip(1) {
        if let Ok(meta) = std::fs::metadata(anc) {
            if meta.permissions().mode() & 0o001 == 0 {
                return Err(Error::Embedded(format!(
                    "user {user:?} cannot reach {} because {} is not searchable by others; \
                     choose another --data-dir",
                    dir.display(),
                    anc.display()
                )));
            }
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .map_err(|e| Error::io(p, e))
}
