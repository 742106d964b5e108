//! libpq's `require_auth`, which sqlx lacks: which authentication methods
//! the client accepts from the server. sqlx answers whatever the server
//! asks, so a server (or whoever stands between) that asks for the
//! password in cleartext gets it, even over an unencrypted connection.
//!
//! Before connecting without TLS, molingest asks the server itself how it
//! would authenticate: it opens the connection up to the server's first
//! authentication request (`SSLRequest` first where TLS may be used; then
//! the startup message) and closes it without answering. Nothing secret is
//! sent. The method it names is then checked against:
//!
//! - `require_auth` in the URL or `PGREQUIREAUTH` (libpq's list:
//!   `password`, `md5`, `gss`, `sspi`, `scram-sha-256`, `none`; or a list
//!   of `!method`s to refuse), exactly as libpq reads it;
//! - unset, the default: every method but `password` (cleartext) over an
//!   unencrypted connection. libpq's default allows it; molingest asks to be
//!   told (`require_auth=password`, or TLS with `sslmode=require` or above).
//!
//! A Unix-socket connection is not probed (it never leaves the machine).

use crate::error::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const METHODS: &[&str] = &["password", "md5", "gss", "sspi", "scram-sha-256", "none"];

/// The accepted authentication methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequireAuth {
    /// `None`: the default. `Some((refuse, names))`: libpq's list, either
    /// the methods allowed or (`refuse`) the methods refused.
    list: Option<(bool, Vec<String>)>,
}

impl RequireAuth {
    /// `require_auth` from the URL, else `PGREQUIREAUTH`.
    pub fn of(url: &str) -> Result<Self> {
        let from_url = url::Url::parse(url).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "require_auth")
                .map(|(_, v)| v.into_owned())
        });
        let Some(value) = from_url.or_else(|| {
            std::env::var("PGREQUIREAUTH")
                .ok()
                .filter(|v| !v.is_empty())
        }) else {
            return Ok(RequireAuth::default());
        };
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        let refuse = items.iter().all(|i| i.starts_with('!'));
        if !refuse && items.iter().any(|i| i.starts_with('!')) {
            return Err(Error::Input(format!(
                "require_auth={value:?}: a list either allows methods or refuses them (`!method`), not both"
            )));
        }
        let names: Vec<String> = items
            .iter()
            .map(|i| i.trim_start_matches('!').to_owned())
            .collect();
        if let Some(bad) = names.iter().find(|n| !METHODS.contains(&n.as_str())) {
            return Err(Error::Input(format!(
                "require_auth: {bad:?} is not one of {}",
                METHODS.join(", ")
            )));
        }
        Ok(RequireAuth {
            list: Some((refuse, names)),
        })
    }

    fn allows(&self, method: &str, encrypted: bool) -> bool {
        match &self.list {
            None => encrypted || method != "password",
            Some((false, names)) => names.iter().any(|n| n == method),
            Some((true, names)) => !names.iter().any(|n| n == method),
        }
    }

    /// Whether there is anything to check for connections in `mode`.
    fn needs_probe(&self, o: &PgConnectOptions, mode: PgSslMode) -> bool {
        let socket = o.get_socket().is_some() || o.get_host().starts_with('/');
        // With the default, an encrypted connection accepts every method.
        let may_be_plain = matches!(
            mode,
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
        );
        !socket && (self.list.is_some() || may_be_plain)
    }

    /// Ask the server how it would authenticate a connection in `mode`, and
    /// refuse before any password is sent if that is not accepted. A probe
    /// that cannot reach the server says nothing: the connection itself
    /// then reports why.
    pub async fn check(
        &self,
        o: &PgConnectOptions,
        mode: PgSslMode,
        limit: Duration,
    ) -> Result<()> {
        if !self.needs_probe(o, mode) {
            return Ok(());
        }
        let probed = tokio::time::timeout(limit, probe(o, mode)).await;
        let Ok(Ok(Some((method, encrypted)))) = probed else {
            return Ok(());
        };
        if self.allows(method, encrypted) {
            return Ok(());
        }
        let place = format!("{}:{}", o.get_host(), o.get_port());
        Err(Error::Connect(if self.list.is_none() {
            format!(
                "refusing to send the password in cleartext: the server at {place} asks for \
                 `password` authentication over an unencrypted connection. Connect with TLS \
                 (sslmode=require or verify-full), or allow it with require_auth=password in \
                 the URL or PGREQUIREAUTH=password"
            )
        } else {
            format!(
                "the server at {place} asks for `{method}` authentication{}, which \
                 require_auth does not allow",
                if encrypted { "" } else { " (unencrypted)" }
            )
        }))
    }
}

/// The method the server asks for first, and whether the connection would
/// be encrypted; `None` when it answers with an error or something else.
async fn probe(
    o: &PgConnectOptions,
    mode: PgSslMode,
) -> std::io::Result<Option<(&'static str, bool)>> {
    let mut s = TcpStream::connect((o.get_host(), o.get_port())).await?;
    let encrypted = if matches!(mode, PgSslMode::Disable | PgSslMode::Allow) {
        false
    } else {
        // SSLRequest: length 8, code 80877103.
        s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await?;
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await?;
        if answer[0] == b'S' {
            // TLS would be used: asking further would need the handshake,
            // and over TLS the default accepts every method.
            return Ok(None);
        }
        if !matches!(mode, PgSslMode::Prefer) {
            return Ok(None);
        }
        false
    };
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for (k, v) in [
        ("user", o.get_username()),
        ("database", o.get_database().unwrap_or(o.get_username())),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    s.write_all(&message).await?;
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await?;
    if head[0] != b'R' {
        return Ok(None);
    }
    let code = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
    Ok(match code {
        0 => Some("none"),
        3 => Some("password"),
        5 => Some("md5"),
        7 | 8 => Some("gss"),
        9 => Some("sspi"),
        10 => Some("scram-sha-256"),
        _ => None,
    }
    .map(|m| (m, encrypted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_lists_and_the_default() {
        let d = RequireAuth::default();
        assert!(!d.allows("password", false));
        assert!(d.allows("password", true));
        assert!(d.allows("scram-sha-256", false));
        let allow = RequireAuth::of("postgres://h/db?require_auth=password,md5").unwrap();
        assert!(allow.allows("password", false));
        assert!(!allow.allows("scram-sha-256", false));
        let refuse = RequireAuth::of("postgres://h/db?require_auth=!md5,!password").unwrap();
        assert!(!refuse.allows("password", true));
        assert!(refuse.allows("none", false));
        assert!(RequireAuth::of("postgres://h/db?require_auth=md5,!password").is_err());
        assert!(RequireAuth::of("postgres://h/db?require_auth=kerberos").is_err());
    }
}
