//! TLS as a user meets it: a PostgreSQL server of the test's own with
//! `ssl=on`, a certificate signed by a CA made here with openssl (CN/SAN
//! 127.0.0.1 and localhost), and a pg_hba.conf with only `hostssl` lines.
//! Every sslmode is exercised through the binary (`migrate`, `org add`,
//! `load`), with the URL and with the PG* variables.

mod common;

use common::pg::Cluster;
use common::*;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", show(&out));
}

/// ca.crt (the right CA), wrong-ca.crt (another), server.crt/.key signed by ca.
fn make_certificates(dir: &Path) {
    let subj = |cn: &str| format!("/CN={cn}");
    for ca in ["ca", "wrong-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
                "-subj",
                &subj(&format!("molingest test {ca}")),
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &subj("127.0.0.1"),
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "san.ext",
        ],
    );
}

#[test]
fn every_sslmode_against_a_tls_only_server() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let cluster = Cluster::start(
        "hostssl all all 127.0.0.1/32 trust\nlocal all all trust\n",
        &[
            "ssl=on",
            "ssl_cert_file=server.crt",
            "ssl_key_file=server.key",
        ],
        |data| {
            for f in ["server.crt", "server.key"] {
                std::fs::copy(certs.path().join(f), data.join(f)).unwrap();
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        },
    );
    let port = cluster.port.to_string();
    let ca = certs.path().join("ca.crt");
    let ca = ca.to_str().unwrap();
    let wrong = certs.path().join("wrong-ca.crt");
    let wrong = wrong.to_str().unwrap();
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");
    let here = root();

    // require: encrypted, certificate not checked.
    let out = molingest_in(
        &here,
        &[("DATABASE_URL", &url("127.0.0.1", "sslmode=require"))],
        &["migrate"],
    );
    assert!(out.status.success(), "{}", show(&out));

    // verify-ca with the right CA, as URL parameters.
    let u = url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    let out = molingest_in(&here, &[("DATABASE_URL", &u)], &["org", "add", "acme"]);
    assert!(out.status.success(), "{}", show(&out));

    // verify-full with the right CA, as PG* variables only: a load.
    let files = dir_with(&[(
        &corpus().join("sdf/meeko__test__rdkitmol_from_docking_data__chiral_deutorated_D_gly.sdf"),
        "gly.sdf",
    )]);
    let files_s = files.path().to_str().unwrap();
    let pg_env = |mode: &str, root_cert: &str| -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PGHOST", "127.0.0.1".to_owned()),
            ("PGPORT", cluster.port.to_string()),
            ("PGUSER", "postgres".to_owned()),
            ("PGDATABASE", "postgres".to_owned()),
            ("PGSSLMODE", mode.to_owned()),
        ];
        if !root_cert.is_empty() {
            env.push(("PGSSLROOTCERT", root_cert.to_owned()));
        }
        env
    };
    let run_pg = |env: &[(&str, String)], args: &[&str]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        molingest_in(&here, &env, args)
    };
    let out = run_pg(
        &pg_env("verify-full", ca),
        &["load", files_s, "--org", "acme", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records_inserted"], 1, "{v}");
    assert_eq!(
        v["database"],
        serde_json::json!({"host": "127.0.0.1", "port": cluster.port, "database": "postgres"}),
        "{v}"
    );
    // The human summary names the database too.
    let out = run_pg(
        &pg_env("verify-full", ca),
        &["load", files_s, "--org", "acme"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("database: 127.0.0.1:{port}/postgres")),
        "{err}"
    );

    // verify-full by name (the certificate's DNS SAN).
    let u = url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let out = molingest_in(&here, &[("DATABASE_URL", &u)], &["org", "list"]);
    assert!(out.status.success(), "{}", show(&out));

    // The wrong CA: refused, and the error says why.
    for mode in ["verify-ca", "verify-full"] {
        let out = run_pg(&pg_env(mode, wrong), &["org", "list"]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("certificate verification failed"),
            "{mode}: {err}"
        );
        let u = url("127.0.0.1", &format!("sslmode={mode}&sslrootcert={wrong}"));
        let out = molingest_in(&here, &[("DATABASE_URL", &u)], &["org", "list"]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("certificate verification failed"),
            "{}",
            show(&out)
        );
    }
    // require with a root certificate verifies it, as libpq does.
    let out = molingest_in(
        &here,
        &[(
            "DATABASE_URL",
            &url("127.0.0.1", &format!("sslmode=require&sslrootcert={wrong}")),
        )],
        &["org", "list"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // disable: the server has only hostssl lines, so it refuses.
    let out = molingest_in(
        &here,
        &[("DATABASE_URL", &url("127.0.0.1", "sslmode=disable"))],
        &["org", "list"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no pg_hba.conf entry") && err.contains("sslmode=disable"),
        "{err}"
    );
    let out = run_pg(&pg_env("disable", ""), &["org", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));

    // allow (plain first, then TLS) and prefer (the default) get in.
    for query in ["sslmode=allow", "sslmode=prefer", ""] {
        let out = molingest_in(
            &here,
            &[("DATABASE_URL", &url("127.0.0.1", query))],
            &["org", "list"],
        );
        assert!(out.status.success(), "{query}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("acme"),
            "{}",
            show(&out)
        );
    }
    let out = run_pg(&pg_env("allow", ""), &["org", "list"]);
    assert!(out.status.success(), "{}", show(&out));
}

/// Set the `postgres` user's password over the cluster's Unix socket.
fn set_password(cluster: &Cluster, password: &str) {
    let out = std::process::Command::new(common::pg::pg_bin().join("psql"))
        .args(["-h", cluster.dir.path().to_str().unwrap()])
        .args(["-p", &cluster.port.to_string(), "-U", "postgres", "-qXc"])
        .arg(format!("ALTER ROLE postgres PASSWORD '{password}'"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn a_password_goes_in_cleartext_only_when_allowed() {
    // A server that asks for the password in cleartext over plain TCP.
    let cluster = Cluster::start(
        "local all all trust\nhost all all 127.0.0.1/32 password\n",
        &["password_encryption=scram-sha-256"],
        |_| {},
    );
    set_password(&cluster, "s3cret");
    let here = root();
    let url = |query: &str| {
        format!(
            "postgres://postgres:s3cret@127.0.0.1:{}/postgres?{query}",
            cluster.port
        )
    };
    for query in ["sslmode=disable", "sslmode=prefer", ""] {
        let out = molingest_in(&here, &[("DATABASE_URL", &url(query))], &["migrate"]);
        assert_eq!(out.status.code(), Some(1), "{query}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing to send the password in cleartext")
                && err.contains("require_auth=password"),
            "{query}: {err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
    // Told so, in the URL or as libpq's variable: it connects.
    let out = molingest_in(
        &here,
        &[("DATABASE_URL", &url("require_auth=password"))],
        &["migrate"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = molingest_in(
        &here,
        &[("DATABASE_URL", &url("")), ("PGREQUIREAUTH", "password")],
        &["org", "list"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // A list that leaves the server's method out is refused by name.
    let out = molingest_in(
        &here,
        &[("DATABASE_URL", &url("require_auth=scram-sha-256"))],
        &["org", "list"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`password` authentication (unencrypted)"),
        "{}",
        show(&out)
    );

    // A server asking for SCRAM (the password never crosses the wire) is
    // fine without TLS and without being told.
    let scram = Cluster::start(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        &["password_encryption=scram-sha-256"],
        |_| {},
    );
    set_password(&scram, "s3cret");
    let u = format!(
        "postgres://postgres:s3cret@127.0.0.1:{}/postgres?sslmode=disable",
        scram.port
    );
    let out = molingest_in(&here, &[("DATABASE_URL", &u)], &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}
