//! Per-organization databases: where an organization's data lives, and how
//! a caller's connection is routed there. The control database keeps only a
//! location (a URL with no credentials); the caller's own user and password
//! (its URL, `PGPASSWORD`, or `.pgpass`) are used to connect to it.

use crate::error::{Error, Result};
use url::Url;

/// Check a location given to `org add --database` and return it as stored:
/// no password anywhere (it would be kept in plain text in the control
/// database), no user (the caller's is used).
pub fn location(raw: &str) -> Result<String> {
    let mut url = Url::parse(raw).map_err(|e| {
        Error::Input(format!(
            "--database: not a URL ({e}): postgres://host:port/db"
        ))
    })?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(Error::Input(
            "--database: a postgres:// URL is expected".into(),
        ));
    }
    let password_param = url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"));
    if url.password().is_some() || password_param {
        return Err(Error::Input(
            "--database: the URL holds a password, which would be stored in the control \
             database; give the URL without it and put the password in PGPASSWORD or a \
             .pgpass file (PGPASSFILE)"
                .into(),
        ));
    }
    if url.path().trim_start_matches('/').is_empty() {
        return Err(Error::Input("--database: the URL names no database".into()));
    }
    let _ = url.set_username("");
    Ok(url.to_string())
}

/// The URL to reach `location` as the caller of `control_url`: its user
/// and password, the location's host, port, database and parameters.
pub fn route(control_url: &str, location: &str) -> Result<String> {
    let mut target =
        Url::parse(location).map_err(|e| Error::Input(format!("stored database location: {e}")))?;
    if let Ok(control) = Url::parse(control_url) {
        if !control.username().is_empty() {
            let _ = target.set_username(control.username());
            let _ = target.set_password(control.password());
        }
    }
    Ok(target.to_string())
}

/// host:port/database of a URL, never a user or password (for listings
/// and summaries).
pub fn describe(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let host = u
                .query_pairs()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.into_owned())
                .or_else(|| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "localhost".into());
            let port = u.port().unwrap_or(5432);
            format!("{host}:{port}{}", u.path())
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_keep_no_secret_and_routes_use_the_callers_credentials() {
        assert_eq!(
            location("postgres://admin@db2:5433/acme?sslmode=require").unwrap(),
            "postgres://db2:5433/acme?sslmode=require"
        );
        assert!(location("postgres://u:secret@db2/acme").is_err());
        assert!(location("postgres://db2/acme?password=secret").is_err());
        assert!(location("postgres://db2/").is_err());
        assert_eq!(
            route(
                "postgres://alice:pw@control/main",
                "postgres://db2:5433/acme"
            )
            .unwrap(),
            "postgres://alice:pw@db2:5433/acme"
        );
        assert_eq!(
            describe("postgres://alice:pw@db2:5433/acme"),
            "db2:5433/acme"
        );
    }
}
