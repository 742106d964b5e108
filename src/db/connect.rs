//! How molingest connects: libpq's conventions, TLS, and what `.env` may say.
//!
//! A connection is described by a URL (`--database-url`, `DATABASE_URL`),
//! by the `PG*` environment variables, or both (the URL wins where both say
//! something), as libpq and psql read them:
//!
//! - `PGHOST` (a name, an address, or a Unix-socket directory starting with
//!   `/`), `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`;
//! - `PGPASSFILE` (default `~/.pgpass`, ignored unless mode 0600 or less)
//!   when no password is given;
//! - `PGSSLMODE` / `sslmode=`: `disable`, `allow`, `prefer` (the default),
//!   `require`, `verify-ca`, `verify-full`; `PGSSLROOTCERT` /
//!   `sslrootcert=` (default `~/.postgresql/root.crt` when it exists). As in
//!   libpq, `require` with a root certificate verifies like `verify-ca`;
//!   `prefer` falls back to a plain connection when the server refuses the
//!   encrypted one, and `allow` tries plain first, then TLS.
//!
//! sqlx reads most of these already; this module adds what it lacks
//! (socket directories in `PGHOST`, `allow`, the `prefer` fallback, the
//! default root certificate, and refusing a malformed `PGSSLMODE`/`PGPORT`
//! instead of ignoring it) and turns connection failures into messages
//! that say where, how, and why — never with a password.

use crate::error::{Error, Result};
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The `PG*` variables that say *where* to connect: any of them set (and no
/// URL given) means "connect there", not "use the embedded database".
pub const WHERE_VARS: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
];

/// Everything a `.env` file may set: the database URL and libpq's
/// connection variables. Nothing else (in particular nothing that names a
/// program to run, such as `MOLINGEST_PG_BIN`).
pub const DOTENV_VARS: &[&str] = &[
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
    "PGSSLCERT",
    "PGSSLKEY",
];

/// The URL that means "libpq's defaults and the `PG*` environment".
pub const FROM_ENVIRONMENT: &str = "postgres://";

/// Whether the environment names a server (one of [`WHERE_VARS`] is set).
pub fn environment_names_a_server() -> bool {
    WHERE_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// Read `./.env` (the current directory only, never a parent), taking only
/// [`DOTENV_VARS`] from it and never replacing a variable that is already
/// set. Returns the names it ignored, for a warning.
pub fn load_dotenv(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(".env");
    let iter = match dotenvy::from_path_iter(&path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(Error::Input(format!("{}: {e}", path.display()))),
    };
    let mut ignored = Vec::new();
    // A password the caller's own environment holds never follows a
    // working directory's `.env` to another server: with PGPASSWORD (or
    // PGPASSFILE) set, `.env` may not say where to connect.
    let own_password =
        std::env::var_os("PGPASSWORD").is_some() || std::env::var_os("PGPASSFILE").is_some();
    const WHERE: &[&str] = &["DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGPORT"];
    for item in iter {
        let (key, value) = item.map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        if !DOTENV_VARS.contains(&key.as_str()) || (own_password && WHERE.contains(&key.as_str())) {
            ignored.push(key);
        } else if std::env::var_os(&key).is_none() {
            // Called once at start-up, before any thread exists.
            std::env::set_var(&key, value);
        }
    }
    Ok(ignored)
}

/// Where a connection goes, for reports: never a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Target {
    /// A host name or address, or the Unix-socket directory.
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.host, self.port, self.database)
    }
}

/// Where `url` (with the `PG*` environment) connects.
pub fn target(url: &str) -> Result<Target> {
    Ok(target_of(&options(url)?))
}

fn target_of(o: &PgConnectOptions) -> Target {
    Target {
        host: match o.get_socket() {
            Some(dir) => dir.display().to_string(),
            None => o.get_host().to_owned(),
        },
        port: o.get_port(),
        // libpq's default database is the user's name.
        database: o.get_database().unwrap_or(o.get_username()).to_owned(),
    }
}

/// rustls needs one process-wide crypto provider, and two are linked (ring
/// for sqlx, aws-lc-rs for object_store's HTTP client): choose ring, once.
fn crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The connection options of `url` and the `PG*` environment, libpq style.
pub fn options(url: &str) -> Result<PgConnectOptions> {
    crypto_provider();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(mode) = env("PGSSLMODE") {
        PgSslMode::from_str(&mode).map_err(|_| {
            Error::Input(format!(
                "PGSSLMODE={mode:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ))
        })?;
    }
    if let Some(port) = env("PGPORT") {
        port.parse::<u16>()
            .map_err(|_| Error::Input(format!("PGPORT={port:?} is not a port number")))?;
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::Input(format!("database URL {}: {e}", crate::redact::url(url))))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(Error::Input(format!(
            "database URL {}: the scheme must be postgres:// or postgresql://",
            crate::redact::url(url)
        )));
    }
    let names_host = parsed.host_str().is_some_and(|h| !h.is_empty())
        || parsed
            .query_pairs()
            .any(|(k, _)| k == "host" || k == "hostaddr");
    let mut to_parse = parsed.clone();
    // libpq's require_auth is molingest's to apply (super::require_auth).
    if parsed.query_pairs().any(|(k, _)| k == "require_auth") {
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "require_auth")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        to_parse.set_query(None);
        if !kept.is_empty() {
            to_parse.query_pairs_mut().extend_pairs(kept);
        }
    }
    // PGHOST=/dir is a Unix-socket directory; as libpq does, ~/.pgpass
    // matches such a connection as host "localhost". (Otherwise sqlx takes
    // the host from PGHOSTADDR / PGHOST itself.)
    let socket_dir = env("PGHOST")
        .filter(|h| h.starts_with('/'))
        .filter(|_| env("PGHOSTADDR").is_none());
    if let (false, Some(dir)) = (names_host, socket_dir) {
        to_parse
            .set_host(Some("localhost"))
            .map_err(|e| Error::Input(format!("PGHOST: {e}")))?;
        to_parse.query_pairs_mut().append_pair("host", &dir);
    }
    let mut o = PgConnectOptions::from_str(to_parse.as_str())
        .map_err(|e| Error::Input(format!("database URL {}: {e}", crate::redact::url(url))))?;
    let names_root_cert = env("PGSSLROOTCERT").is_some()
        || parsed
            .query_pairs()
            .any(|(k, _)| matches!(&*k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"));
    let mut root_cert = names_root_cert;
    if !names_root_cert {
        if let Some(home) = std::env::var_os("HOME") {
            let default = PathBuf::from(home).join(".postgresql/root.crt");
            if default.is_file() {
                o = o.ssl_root_cert(default);
                root_cert = true;
            }
        }
    }
    if root_cert && matches!(o.get_ssl_mode(), PgSslMode::Require) {
        o = o.ssl_mode(PgSslMode::VerifyCa);
    }
    // PgBouncer refuses startup parameters it does not track, and sqlx
    // sends extra_float_digits=2 (PostgreSQL 12's default of 1 is already
    // exact; floats are read in binary anyway).
    if super::pooler::transaction_pooler() {
        o = o.extra_float_digits(None);
    }
    Ok(o)
}

/// A pool of up to four connections. One connection is made first, so a
/// failure is reported at once with its cause (a pool would retry until
/// its timeout) and `allow`/`prefer` are settled for the others.
pub async fn connect(url: &str) -> Result<PgPool> {
    use sqlx::Connection;
    let o = options(url)?.application_name("molingest");
    let (first, settled) = with_fallback(url, o, |o: PgConnectOptions| async move {
        sqlx::PgConnection::connect_with(&o).await.map(|c| (c, o))
    })
    .await?;
    let _ = first.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .connect_lazy_with(settled))
}

/// One connection of its own (writers, the run's lock), named for
/// pg_stat_activity.
pub async fn connection(url: &str, name: &str) -> Result<sqlx::PgConnection> {
    use sqlx::Connection;
    let o = options(url)?.application_name(name);
    with_fallback(url, o, |o: PgConnectOptions| async move {
        sqlx::PgConnection::connect_with(&o).await
    })
    .await
}

/// How long a connection attempt may take before it is given up (seconds):
/// `--connect-timeout`, else `PGCONNECT_TIMEOUT` (libpq's), else 10.
static CONNECT_TIMEOUT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Set the connect timeout (the command line's `--connect-timeout`).
pub fn set_connect_timeout(seconds: u64) {
    CONNECT_TIMEOUT.store(seconds, std::sync::atomic::Ordering::Relaxed);
}

fn connect_timeout() -> std::time::Duration {
    let set = CONNECT_TIMEOUT.load(std::sync::atomic::Ordering::Relaxed);
    let secs = if set > 0 {
        set
    } else {
        std::env::var("PGCONNECT_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .unwrap_or(10)
    };
    // libpq: a timeout below 2 s is taken as 2 s.
    std::time::Duration::from_secs(secs.max(2))
}

/// A connection for bookkeeping (file registration, run records, the run
/// lock): its statements are small, so one that hangs for a minute means a
/// database that stopped answering.
pub async fn bookkeeping(url: &str, name: &str) -> Result<sqlx::PgConnection> {
    use sqlx::Connection;
    let mut o = options(url)?.application_name(name);
    // A pooler refuses startup options: behind one, the timeout is set in
    // the transactions that need it (see super::pooler).
    if !super::pooler::transaction_pooler() {
        o = o.options([("statement_timeout", "60s")]);
    }
    with_fallback(url, o, |o: PgConnectOptions| async move {
        sqlx::PgConnection::connect_with(&o).await
    })
    .await
}

/// Connect in the sslmode asked for, with libpq's second attempt for
/// `allow` (plain, then TLS) and `prefer` (TLS, then plain) when the server
/// refuses the first. Each attempt that may go unencrypted first asks the
/// server how it would authenticate ([`super::require_auth`]).
async fn with_fallback<T, F, Fut>(url: &str, o: PgConnectOptions, connect: F) -> Result<T>
where
    F: Fn(PgConnectOptions) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
{
    let limit = connect_timeout();
    let connect = |o: PgConnectOptions| {
        let attempt = connect(o);
        async move {
            tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or_else(|_| Err(sqlx::Error::PoolTimedOut))
        }
    };
    let auth = super::require_auth::RequireAuth::of(url)?;
    let mode = o.get_ssl_mode();
    let (first, second) = match mode {
        PgSslMode::Allow => (PgSslMode::Disable, Some(PgSslMode::Require)),
        PgSslMode::Prefer => (PgSslMode::Prefer, Some(PgSslMode::Disable)),
        other => (other, None),
    };
    auth.check(&o, first, limit).await?;
    match connect(o.clone().ssl_mode(first)).await {
        Ok(c) => Ok(c),
        Err(e) => match second {
            Some(next) if refused_by_server(&e) => {
                auth.check(&o, next, limit).await?;
                connect(o.clone().ssl_mode(next))
                    .await
                    .map_err(|e2| explain(&o, mode, &e2))
            }
            _ => Err(explain(&o, mode, &e)),
        },
    }
}

/// The server refused this kind of connection (pg_hba.conf has no line for
/// it: SQLSTATE 28000), so the other kind may be accepted.
fn refused_by_server(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "28000")
}

fn mode_name(m: PgSslMode) -> &'static str {
    match m {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// A connection failure that says where, in which sslmode, and why.
fn explain(o: &PgConnectOptions, mode: PgSslMode, e: &sqlx::Error) -> Error {
    let target = target_of(o);
    let reason = crate::redact::text(&e.to_string());
    if let Some(plain) = super::pooler::explain(&reason) {
        return Error::Connect(format!("cannot connect to {target}: {plain}"));
    }
    // rustls reports a bad certificate through an I/O error ("invalid peer
    // certificate: UnknownIssuer"), sqlx's own checks as a TLS error.
    let what = if reason.contains("invalid peer certificate")
        || (matches!(e, sqlx::Error::Tls(_)) && reason.to_lowercase().contains("certificate"))
    {
        format!(
            "TLS certificate verification failed (sslmode={}: the server's certificate \
             is not trusted by sslrootcert / PGSSLROOTCERT, or does not name the host): {reason}",
            mode_name(mode)
        )
    } else if matches!(e, sqlx::Error::PoolTimedOut) {
        format!(
            "no answer within {} s (--connect-timeout, PGCONNECT_TIMEOUT)",
            connect_timeout().as_secs()
        )
    } else if matches!(e, sqlx::Error::Tls(_)) {
        format!("TLS failed (sslmode={}): {reason}", mode_name(mode))
    } else {
        format!("sslmode={}: {reason}", mode_name(mode))
    };
    let message = format!(
        "cannot connect to {} as {}: {what}",
        target,
        o.get_username()
    );
    // SQLSTATE 3D000: the server is there, the database is not.
    if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("3D000") {
        Error::NoSuchDatabase(message)
    } else {
        Error::Connect(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_are_the_target() {
        let t = target("postgres://u:pw@db.example:6543/chem?sslmode=disable").unwrap();
        assert_eq!(t.host, "db.example");
        assert_eq!(t.port, 6543);
        assert_eq!(t.database, "chem");
        let t = target("postgres://postgres@localhost/molingest?host=/var/lib/x").unwrap();
        assert_eq!(t.host, "/var/lib/x");
    }

    #[test]
    fn every_sslmode_parses_from_the_url() {
        for m in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            let o = options(&format!("postgres://h/db?sslmode={m}")).unwrap();
            assert_eq!(mode_name(o.get_ssl_mode()), m);
        }
        let o = options("postgres://h/db?sslmode=require&sslrootcert=/tmp/ca.pem").unwrap();
        assert_eq!(mode_name(o.get_ssl_mode()), "verify-ca");
        assert!(options("postgres://h/db?sslmode=sometimes").is_err());
        assert!(options("mysql://h/db").is_err());
    }
}
