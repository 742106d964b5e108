//! Secrets never leave molingest: every location or error text that is
//! printed, written to `--rejects` or `--json`, or stored in the run record
//! passes through [`text`] (or [`url`]) first. What is hidden: the password
//! of a URL's user info (`postgres://u:SECRET@h/db`, `https://u:SECRET@h/x`)
//! and the values of credential query parameters (presigned S3 and GCS
//! URLs, Azure SAS tokens, `password=`, `token=`, …). The URL actually used
//! to connect or fetch is never changed; only what is shown of it.

/// What a hidden secret is replaced with.
pub const MASK: &str = "REDACTED";

/// Query (or `key=value`) parameters whose values are credentials,
/// compared case-insensitively.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "sslpassword",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "secret",
    "client_secret",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "awsaccesskeyid",
];

/// A URL with its secrets hidden (user name, host, path kept).
pub fn url(s: &str) -> String {
    text(s)
}

/// Any text (an error message, a location) with the secrets of every URL
/// and `key=value` credential in it hidden.
pub fn text(s: &str) -> String {
    hide_params(&hide_userinfo(s))
}

/// `scheme://user:password@` → `scheme://user:REDACTED@`, wherever it occurs.
fn hide_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // A password may hold an unencoded '/', '?' or '#' (such a URL does
        // not parse, but is still printed in errors): when the text up to
        // the last '@' of this URL has a ':', all of that is user info.
        let token = tail.find(is_delimiter).unwrap_or(tail.len());
        if let Some(at) = tail[..token].rfind('@') {
            let userinfo = &tail[..at];
            if let Some(colon) = userinfo.find(':') {
                out.push_str(&userinfo[..colon]);
                out.push(':');
                out.push_str(MASK);
                rest = &tail[at..];
                continue;
            }
        }
        // The authority ends at the first of these; user info ends at its last '@'.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || is_delimiter(c))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `…sig=SECRET&…` → `…sig=REDACTED&…` for every credential key.
fn hide_params(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut pos = 0;
    while let Some(eq) = lower[pos..].find('=').map(|i| pos + i) {
        let key_start = lower[..eq]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .map_or(0, |i| i + 1);
        let key = &lower[key_start..eq];
        let value_start = eq + 1;
        let value_end = lower[value_start..]
            .find(|c: char| c == '&' || c == ';' || is_delimiter(c))
            .map_or(lower.len(), |i| value_start + i);
        if SECRET_KEYS.contains(&key) && value_end > value_start {
            out.push_str(&s[copied..value_start]);
            out.push_str(MASK);
            copied = value_end;
        }
        pos = value_end.max(value_start);
    }
    out.push_str(&s[copied..]);
    out
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            text("postgres://ingest:s3cr3t@db:5432/chem?sslmode=require"),
            "postgres://ingest:REDACTED@db:5432/chem?sslmode=require"
        );
        assert_eq!(
            text("GET http://u:p%40ss@host:8/x.sdf failed (http://h/y)"),
            "GET http://u:REDACTED@host:8/x.sdf failed (http://h/y)"
        );
        assert_eq!(text("postgres://me@h/db"), "postgres://me@h/db");
        // Unencoded '/', '#', '?' in the password: the URL does not parse,
        // and the password is still hidden whole.
        for pw in ["se/cretPW", "se#cretPW", "se?cretPW", "a/b?c#d@e"] {
            let shown = text(&format!(
                "cannot connect to postgres://bob:{pw}@host:5432/db: refused"
            ));
            assert_eq!(
                shown,
                "cannot connect to postgres://bob:REDACTED@host:5432/db: refused"
            );
            assert!(!shown.contains("cretPW"), "{shown}");
        }
        assert_eq!(text("no url here: a=b"), "no url here: a=b");
    }

    #[test]
    fn credential_parameters_are_hidden() {
        let s = "https://b.s3.amazonaws.com/k.sdf?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123 then";
        assert_eq!(
            text(s),
            "https://b.s3.amazonaws.com/k.sdf?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED then"
        );
        assert_eq!(
            text("az://c/x?sv=2020&sig=Zm9v%3D&se=1"),
            "az://c/x?sv=2020&sig=REDACTED&se=1"
        );
        assert_eq!(
            text("host=db password=hunter2 user=x"),
            "host=db password=REDACTED user=x"
        );
        assert_eq!(text("?token=t0k"), "?token=REDACTED");
        assert_eq!(text("design=ok"), "design=ok");
    }
}
