//! Throughput bench: parse-only and end-to-end load rates, the PostgreSQL
//! floor for the very same rows, re-runs, linear scaling and peak memory.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench throughput
//!
//! Environment:
//! - `DATABASE_URL`: the server to create the bench databases on (default
//!   postgres://postgres@127.0.0.1:5432/postgres); they are dropped at the end.
//! - `BENCH_CORPUS`: a directory of molecule files to bench instead of the
//!   built corpora (parse, load, floor, re-run on it only).
//! - `BENCH_SIZES`: molecule counts for the scaling table (default
//!   50000,200000,1000000); `BENCH_BIG=0` skips the 2 GB single-file scan;
//!   `BENCH_SHAPES=0` skips the shapes (a large file after a tiny first
//!   load, 20,000 one-record files).
//!
//! The corpora are built under target/bench-corpus from benches/data (50,000
//! MOSES molecules) by repeating the files with new titles, so every record is
//! distinct. Timed runs are the release binary, as a user runs it; peak memory
//! is the child's maximum resident set size.

use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target/bench-corpus");
    std::fs::create_dir_all(&work)?;
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rt = tokio::runtime::Runtime::new()?;
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "50000,200000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    println!(
        "molingest throughput bench — {} cores, {}",
        cores(),
        machine()
    );
    println!();

    let main_corpus = match std::env::var_os("BENCH_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => build_corpus(&root.join("benches/data"), &work, 200_000, true)?,
    };
    // Parse only.
    println!("## Parse only (`molingest scan`, no output)");
    println!();
    println!("| corpus | molecules | MB decoded | seconds | molecules/s | MB/s | peak RSS MB |");
    println!("|---|---|---|---|---|---|---|");
    let scan = scan_of(&main_corpus)?;
    let molecules = scan.summary["records_parsed"].as_u64().unwrap_or(0) as usize;
    row_scan("gzip", &scan);
    if std::env::var_os("BENCH_CORPUS").is_none() {
        let plain = build_corpus(&root.join("benches/data"), &work, 200_000, false)?;
        row_scan("plain", &scan_of(&plain)?);
    }
    println!();

    // End to end, the floor, re-run.
    println!("## Load ({molecules} molecules, fresh database)");
    println!();
    // The two rows compared with the peer are medians of three first loads
    // (each into a fresh database), as the peer's are.
    let db = Bench::create(&rt, &server, "main")?;
    let first = {
        let mut runs = vec![db.load(&main_corpus)?];
        for i in 1..ROUNDS {
            let db = Bench::create(&rt, &server, &format!("main{i}"))?;
            runs.push(db.load(&main_corpus)?);
            db.drop_db(&rt)?;
        }
        median_run(runs)
    };
    let again = db.load(&main_corpus)?;
    let off = {
        let mut runs = Vec::new();
        for i in 0..ROUNDS {
            let db = Bench::create(&rt, &server, &format!("off{i}"))?;
            runs.push(db.load_with(&main_corpus, &["--identity", "off"])?);
            db.drop_db(&rt)?;
        }
        median_run(runs)
    };
    let staged = {
        let db = Bench::create(&rt, &server, "staged")?;
        let r = db.load_with(&main_corpus, &["--no-bulk"])?;
        db.drop_db(&rt)?;
        r
    };
    let shards = {
        let db = Bench::create(&rt, &server, "shards")?;
        let r = db.two_shards(&main_corpus)?;
        db.drop_db(&rt)?;
        r
    };
    let peer = peer_runs(&rt, &server, &main_corpus)?;
    let floor = rt.block_on(floor(&server, &db))?;
    let rate = |d: Duration| molecules as f64 / d.as_secs_f64();
    println!("| what | seconds | molecules/s | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| molingest load, first run (bulk path; median of 3 fresh databases) | {:.2} | {:.0} | — |",
        first.wall.as_secs_f64(),
        rate(first.wall)
    );
    println!(
        "| molingest load, first run through the staging path (`--no-bulk`) | {:.2} | {:.0} | bulk {:.2}× faster |",
        staged.wall.as_secs_f64(),
        rate(staged.wall),
        staged.wall.as_secs_f64() / first.wall.as_secs_f64()
    );
    println!(
        "| molingest load, two shard workers at once (`--shard 0/2`, `1/2`; paths {}) | {:.2} | {:.0} | {:.2}× the single first run |",
        shards.1,
        shards.0.as_secs_f64(),
        rate(shards.0),
        shards.0.as_secs_f64() / first.wall.as_secs_f64()
    );
    println!(
        "| floor: staging COPY + INSERT … SELECT … ON CONFLICT, one transaction | {:.2} | {:.0} | molingest {:.2}× |",
        floor.staging.as_secs_f64(),
        rate(floor.staging),
        first.wall.as_secs_f64() / floor.staging.as_secs_f64()
    );
    println!(
        "| floor: plain COPY into molecules + molecule_properties | {:.2} | {:.0} | molingest {:.2}× |",
        floor.plain.as_secs_f64(),
        rate(floor.plain),
        first.wall.as_secs_f64() / floor.plain.as_secs_f64()
    );
    println!(
        "| molingest load, `--identity off` (median of 3 fresh databases) | {:.2} | {:.0} | — |",
        off.wall.as_secs_f64(),
        rate(off.wall)
    );
    if let Some((plain, smiles)) = peer {
        println!(
            "| peer: RDKit + psycopg COPY (benches/peer), median of 3 | {plain:.2} | {:.0} | molingest `--identity off` (median of 3) {:.2}× faster (goal ≥ 6×) |",
            molecules as f64 / plain,
            plain / off.wall.as_secs_f64()
        );
        println!(
            "| peer with RDKit canonical SMILES (`--smiles`), median of 3 | {smiles:.2} | {:.0} | molingest (identity on, median of 3) {:.2}× faster (goal ≥ 3.5×) |",
            molecules as f64 / smiles,
            smiles / first.wall.as_secs_f64()
        );
    } else {
        println!("| peer | — | — | not run: python3 with rdkit, psycopg and blake3 is needed |");
    }
    println!(
        "| molingest load, re-run (nothing changed) | {:.2} | — | {:.1} % of first |",
        again.wall.as_secs_f64(),
        100.0 * again.wall.as_secs_f64() / first.wall.as_secs_f64()
    );
    println!();
    println!(
        "Rows per molecule: 1 `molecules` + 1 `molecule_properties`; 1 `molecule_files` per file. \
         First run inserted {}, re-run inserted {}. Peak RSS of the load: {:.0} MB. \
         Stage busy seconds: {}.",
        first.summary["records_inserted"],
        again.summary["records_inserted"],
        first.peak_mb,
        first.summary["busy_seconds"]
    );
    if std::env::var("BENCH_SHAPES").map_or(true, |v| v != "0") {
        shapes(&rt, &server, &work, &db)?;
    }
    db.drop_db(&rt)?;
    println!();

    if let Some(baseline) = std::env::var_os("BENCH_BASELINE") {
        baseline_table(&rt, &server, Path::new(&baseline), &main_corpus, molecules)?;
    }

    if std::env::var_os("BENCH_CORPUS").is_none() {
        println!("## Scaling");
        println!();
        let mut purged = None;
        let mut incremental = None;
        println!("| molecules | scan s | scan molecules/s | load s | load molecules/s | load peak RSS MB |");
        println!("|---|---|---|---|---|---|");
        for &n in &sizes {
            let dir = build_corpus(&root.join("benches/data"), &work, n, true)?;
            let s = scan_of(&dir)?;
            let db = Bench::create(&rt, &server, &format!("n{n}"))?;
            let l = db.load(&dir)?;
            if n == *sizes.iter().max().unwrap_or(&n) {
                let (inc, new) = build_incremental(&root.join("benches/data"), &work)?;
                incremental = Some((n, rt.block_on(db.incremental(&inc, &new))?));
                purged = Some((n, db.purge()?));
            }
            db.drop_db(&rt)?;
            println!(
                "| {n} | {:.2} | {:.0} | {:.2} | {:.0} | {:.0} |",
                s.wall.as_secs_f64(),
                n as f64 / s.wall.as_secs_f64(),
                l.wall.as_secs_f64(),
                n as f64 / l.wall.as_secs_f64(),
                l.peak_mb
            );
        }
        println!();
        if let Some((n, inc)) = incremental {
            let copy = inc.copy.as_secs_f64();
            println!(
                "Incremental load into the organization of {n}: one new file of 20,000 new + 20,000 known \
                 molecules ({} inserted, {} duplicates, path {}). The owner's plain COPY of only those 20,000 \
                 new rows into the same partitions: {copy:.2} s.",
                inc.on.summary["records_inserted"],
                inc.on.summary["records_duplicate"],
                inc.on.summary["path"],
            );
            println!();
            println!("| incremental load | 20k new alone s | 20k new + 20k known s | ratio (goal ≤ 1.15×) | ratio to the plain COPY (goal ≤ 1.3×) | known records not parsed | database busy s (2 writers, summed) |");
            println!("|---|---|---|---|---|---|---|");
            for (what, alone, r) in [
                ("`--identity off`", &inc.new_off, &inc.off),
                ("identity on", &inc.new_on, &inc.on),
            ] {
                println!(
                    "| {what} | {:.2} | {:.2} | {:.2}× | {:.2}× | {} | {} |",
                    alone.wall.as_secs_f64(),
                    r.wall.as_secs_f64(),
                    r.wall.as_secs_f64() / alone.wall.as_secs_f64(),
                    r.wall.as_secs_f64() / copy,
                    r.summary["records_held"],
                    r.summary["busy_seconds"]["database"]
                );
            }
            println!();
        }
        if let Some((n, secs)) = purged {
            println!(
                "Purge of an organization of {n} molecules (`org purge`, every table, one tombstone): {secs:.2} s."
            );
            println!();
        }
        if std::env::var("BENCH_BIG").map_or(true, |v| v != "0") {
            let big = build_big_file(&root.join("benches/data"), &work, 2 << 30)?;
            let s = scan_of(&big)?;
            println!(
                "Single {:.1} GB uncompressed SDF: {} molecules scanned in {:.2} s ({:.0} MB/s), peak RSS {:.0} MB.",
                std::fs::metadata(&big)?.len() as f64 / 1e9,
                s.summary["records_parsed"],
                s.wall.as_secs_f64(),
                s.summary["mb_per_second"].as_f64().unwrap_or(0.0),
                s.peak_mb
            );
        }
    }
    Ok(())
}

/// Shapes that once had cliffs: a large file after a tiny first load
/// (the partition analysed at one row), and many one-record files.
fn shapes(rt: &tokio::runtime::Runtime, server: &str, work: &Path, big_org: &Bench) -> Result<()> {
    let dir = work.join("shapes");
    std::fs::create_dir_all(&dir)?;
    let smiles = |k: usize| {
        format!(
            "{}O{}\tm{k}\n",
            "C".repeat(k / 200 + 1),
            "C".repeat(k % 200 + 1)
        )
    };
    let big = dir.join("60k.smi");
    std::fs::write(&big, (0..60_000).map(smiles).collect::<String>())?;
    let one = dir.join("one.smi");
    std::fs::write(&one, "CCO\tethanol\n")?;
    let staging = ["--no-bulk", "--identity", "off"];
    println!("## Shapes");
    println!();
    println!("| what | seconds | molecules or files/s | ratio |");
    println!("|---|---|---|---|");
    let into_big = big_org.load_with(&big, &staging)?;
    let tiny = Bench::create(rt, server, "tiny")?;
    tiny.load_with(&one, &staging)?;
    let after_tiny = tiny.load_with(&big, &staging)?;
    tiny.drop_db(rt)?;
    let (a, b) = (into_big.wall.as_secs_f64(), after_tiny.wall.as_secs_f64());
    println!("| 60,000 SMILES into the 200,000-molecule organization (staging, identity off) | {a:.2} | {:.0} | — |", 60_000.0 / a);
    println!(
        "| the same file after a one-record first load (goal ≤ 1.5×) | {b:.2} | {:.0} | {:.2}× |",
        60_000.0 / b,
        b / a
    );
    let files = dir.join("files");
    if !files.exists() {
        std::fs::create_dir_all(&files)?;
        for k in 0..20_000 {
            std::fs::write(files.join(format!("f{k:05}.smi")), smiles(k))?;
        }
    }
    let bulk = Bench::create(rt, server, "files_bulk")?;
    let on_bulk = bulk.load_with(&files, &["--identity", "off"])?;
    bulk.drop_db(rt)?;
    let stage = Bench::create(rt, server, "files_staging")?;
    let on_staging = stage.load_with(&files, &staging)?;
    stage.drop_db(rt)?;
    let (a, b) = (on_staging.wall.as_secs_f64(), on_bulk.wall.as_secs_f64());
    println!("| first load of 20,000 one-record files, staging path (`--no-bulk`) | {a:.2} | {:.0} files/s | — |", 20_000.0 / a);
    println!(
        "| the same on the bulk path, {} (goal ≤ 1.2×, ≥ 5,000 files/s) | {b:.2} | {:.0} files/s | {:.2}× |",
        on_bulk.summary["path"], 20_000.0 / b, b / a
    );
    println!();
    Ok(())
}

struct Run {
    wall: Duration,
    peak_mb: f64,
    summary: Value,
}

fn row_scan(name: &str, r: &Run) {
    let mb = r.summary["bytes_decoded"].as_f64().unwrap_or(0.0) / 1e6;
    let n = r.summary["records_parsed"].as_f64().unwrap_or(0.0);
    let s = r.wall.as_secs_f64();
    println!(
        "| {name} | {n} | {mb:.0} | {s:.2} | {:.0} | {:.0} | {:.0} |",
        n / s,
        mb / s,
        r.peak_mb
    );
}

/// The peer (benches/peer/peer_rdkit_copy.py: RDKit, 2 processes, psycopg
/// COPY) on the same corpus, plain and with canonical SMILES, each into a
/// fresh database with its own table. `None` when its Python modules are
/// missing.
fn peer_runs(
    rt: &tokio::runtime::Runtime,
    server: &str,
    corpus: &Path,
) -> Result<Option<(f64, f64)>> {
    let ok = Command::new("python3")
        .args(["-c", "import rdkit, psycopg, blake3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return Ok(None);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("benches/peer/schema.sql"))?
        .replace(":tbl", "molecules")
        .replace(":persistence", "");
    let mut times = Vec::new();
    let plans = [("peer", None), ("peers", Some("--smiles"))];
    for (round, (tag, extra)) in (0..ROUNDS).flat_map(|r| plans.map(|p| (r, p))) {
        let tag = format!("{tag}{round}");
        let name = format!("molingest_bench_{}_{tag}", std::process::id());
        rt.block_on(async {
            let mut c = fresh_database(server, &name).await?;
            let _ = &mut c;
            let mut db = PgConnection::connect(&with_database(server, &name)).await?;
            sqlx::raw_sql(&schema).execute(&mut db).await?;
            db.close().await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
        let dsn = format!("host=127.0.0.1 user=postgres dbname={name}");
        let start = Instant::now();
        let mut cmd = Command::new("python3");
        cmd.arg(root.join("benches/peer/peer_rdkit_copy.py"))
            .arg(corpus)
            .args(["--dsn", &dsn]);
        if let Some(e) = extra {
            cmd.arg(e);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            return Err(format!("peer: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        times.push(start.elapsed().as_secs_f64());
        rt.block_on(async {
            let mut c = PgConnection::connect(server).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut c)
                .await?;
            Ok::<_, sqlx::Error>(())
        })?;
    }
    let median = |parity: usize| {
        let mut t: Vec<f64> = times.iter().skip(parity).step_by(2).copied().collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    Ok(Some((median(0), median(1))))
}

/// Rounds of the runs compared with the peer (the medians are printed).
const ROUNDS: usize = 3;

/// The run of median wall time.
fn median_run(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

/// This build against another one (`BENCH_BASELINE=path/to/molingest`),
/// interleaved, three rounds each: parse-only and a first load into a fresh
/// database (each binary migrates its own), medians and ratios. This build
/// runs with the arguments in `BENCH_THIS_ARGS` (e.g. `--identity off`, to
/// compare with a build that computed no identity).
fn baseline_table(
    rt: &tokio::runtime::Runtime,
    server: &str,
    baseline: &Path,
    corpus: &Path,
    molecules: usize,
) -> Result<()> {
    let this = Path::new(env!("CARGO_BIN_EXE_molingest"));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut scan_a, mut scan_b, mut load_a, mut load_b) = (vec![], vec![], vec![], vec![]);
    let (mut staged_a, mut staged_b) = (vec![], vec![]);
    let this_args = std::env::var("BENCH_THIS_ARGS").unwrap_or_default();
    let this_args: Vec<&str> = this_args.split_whitespace().collect();
    let staged_this: Vec<&str> = this_args.iter().copied().chain(["--no-bulk"]).collect();
    for round in 0..3 {
        scan_a.push(scan_args(this, corpus, &this_args)?.wall.as_secs_f64());
        scan_b.push(scan_with(baseline, corpus)?.wall.as_secs_f64());
        // The bulk first load, then the staging path (`--no-bulk`: the
        // batches every incremental load goes through).
        for (bin, out, tag, extra) in [
            (this, &mut load_a, "a", &this_args[..]),
            (baseline, &mut load_b, "b", &[][..]),
            (this, &mut staged_a, "sa", &staged_this[..]),
            (baseline, &mut staged_b, "sb", &["--no-bulk"][..]),
        ] {
            let db = Bench::create_with(rt, server, &format!("base{round}{tag}"), bin)?;
            out.push(db.load_with(corpus, extra)?.wall.as_secs_f64());
            db.drop_db(rt)?;
        }
    }
    let (sa, sb, la, lb) = (
        median(scan_a),
        median(scan_b),
        median(load_a),
        median(load_b),
    );
    let (ta, tb) = (median(staged_a), median(staged_b));
    let rate = |s: f64| molecules as f64 / s;
    println!(
        "## This build against the baseline ({})",
        baseline.display()
    );
    println!();
    println!("| what | this s | this molecules/s | baseline s | baseline molecules/s | this / baseline rate |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| parse only | {sa:.2} | {:.0} | {sb:.2} | {:.0} | {:.2} |",
        rate(sa),
        rate(sb),
        sb / sa
    );
    println!(
        "| first load | {la:.2} | {:.0} | {lb:.2} | {:.0} | {:.2} |",
        rate(la),
        rate(lb),
        lb / la
    );
    println!(
        "| staging load (--no-bulk) | {ta:.2} | {:.0} | {tb:.2} | {:.0} | {:.2} |",
        rate(ta),
        rate(tb),
        tb / ta
    );
    println!();
    Ok(())
}

fn scan_of(path: &Path) -> Result<Run> {
    scan_with(Path::new(env!("CARGO_BIN_EXE_molingest")), path)
}

fn scan_with(bin: &Path, path: &Path) -> Result<Run> {
    scan_args(bin, path, &[])
}

fn scan_args(bin: &Path, path: &Path, extra: &[&str]) -> Result<Run> {
    run(Command::new(bin)
        .args(["scan", "--json", "-q"])
        .args(extra)
        .arg(path))
}

/// Run the molingest binary; its JSON summary, wall time and peak RSS.
///
/// Peak RSS is the child's `VmHWM`, polled from /proc while it runs: the
/// high-water mark of its own address space. (`ru_maxrss` would not do: it
/// survives exec, so a child inherits the bench's own high-water mark.)
fn run(cmd: &mut Command) -> Result<Run> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let start = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let (peak, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let poller = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find(|l| l.starts_with("VmHWM:"))
                            .map(str::to_owned)
                    })
                    .and_then(|l| {
                        l.split_whitespace()
                            .nth(1)
                            .and_then(|v| v.parse::<u64>().ok())
                    })
                {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = child.wait_with_output()?;
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    let wall = start.elapsed();
    let summary: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(Run {
        wall,
        peak_mb: peak.load(Ordering::Relaxed) as f64 / 1024.0,
        summary,
    })
}

/// A fresh database with the schema and an organization.
struct Bench {
    url: String,
    server: String,
    name: String,
    bin: PathBuf,
}

impl Bench {
    fn create(rt: &tokio::runtime::Runtime, server: &str, tag: &str) -> Result<Bench> {
        Bench::create_with(rt, server, tag, Path::new(env!("CARGO_BIN_EXE_molingest")))
    }

    /// A fresh database migrated and loaded by `bin` (another build of
    /// molingest, for a before/after comparison in one bench run).
    fn create_with(
        rt: &tokio::runtime::Runtime,
        server: &str,
        tag: &str,
        bin: &Path,
    ) -> Result<Bench> {
        let name = format!("molingest_bench_{}_{tag}", std::process::id());
        rt.block_on(fresh_database(server, &name))?;
        let url = with_database(server, &name);
        for args in [&["migrate"][..], &["org", "add", "bench"][..]] {
            let out = Command::new(bin)
                .args(args)
                .env("DATABASE_URL", &url)
                .output()?;
            if !out.status.success() {
                return Err(format!("{args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
        }
        Ok(Bench {
            url,
            server: server.to_owned(),
            name,
            bin: bin.to_owned(),
        })
    }

    fn load(&self, dir: &Path) -> Result<Run> {
        self.load_with(dir, &[])
    }

    fn load_with(&self, dir: &Path, extra: &[&str]) -> Result<Run> {
        run(Command::new(&self.bin)
            .args(["load", "--org", "bench", "--json", "-q"])
            .args(extra)
            .arg(dir)
            .env("DATABASE_URL", &self.url))
    }

    /// Two shard workers (`--shard 0/2`, `1/2`) started together: the wall
    /// time until both are done, and the paths they took.
    fn two_shards(&self, dir: &Path) -> Result<(Duration, String)> {
        let start = Instant::now();
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (bin, url, dir) = (self.bin.clone(), self.url.clone(), dir.to_owned());
                std::thread::spawn(move || {
                    run(Command::new(bin)
                        .args(["load", "--org", "bench", "--json", "-q", "--shard"])
                        .arg(format!("{i}/2"))
                        .arg(dir)
                        .env("DATABASE_URL", url))
                    .map_err(|e| e.to_string())
                })
            })
            .collect();
        let mut paths = Vec::new();
        for w in workers {
            let r = w.join().map_err(|_| "shard worker panicked")??;
            paths.push(r.summary["path"].as_str().unwrap_or("?").to_owned());
        }
        Ok((start.elapsed(), paths.join(" + ")))
    }

    /// The incremental case, identity off and on: the 20,000 new records
    /// alone (`new`), then the file of 20,000 known + the same 20,000 new
    /// (`both`), each into the big organization with its new rows (and
    /// repeats) taken out again after it; then the owner's plain COPY of
    /// only the rows the last load inserted: copied out, deleted, and
    /// copied back in as one transaction.
    async fn incremental(&self, dir: &Path, new: &Path) -> Result<Incremental> {
        let mut c = PgConnection::connect(&self.url).await?;
        let mut runs = Vec::new();
        let mut since = String::new();
        for identity in [&["--identity", "off"][..], &[]] {
            for input in [new, dir] {
                if !since.is_empty() {
                    undo_since(&mut c, &since).await?;
                }
                since = server_now(&mut c).await?;
                let args: Vec<&str> = identity.iter().copied().chain(["--full"]).collect();
                runs.push(self.load_with(input, &args)?);
            }
        }
        let new = format!("created_at > '{since}'");
        let molecules = copy_out(
            &mut c,
            &format!("COPY (SELECT * FROM molecules WHERE {new}) TO STDOUT"),
        )
        .await?;
        let properties = copy_out(
            &mut c,
            &format!(
                "COPY (SELECT p.* FROM molecule_properties p JOIN molecules m ON m.id = p.molecule_id \
                 AND m.organization_id = p.organization_id WHERE m.{new}) TO STDOUT"
            ),
        )
        .await?;
        undo_since(&mut c, &since).await?;
        let start = Instant::now();
        let mut tx = c.begin().await?;
        copy_in(&mut tx, "COPY molecules FROM STDIN", &molecules).await?;
        copy_in(&mut tx, "COPY molecule_properties FROM STDIN", &properties).await?;
        tx.commit().await?;
        let copy = start.elapsed();
        c.close().await?;
        let mut runs = runs.into_iter();
        match (runs.next(), runs.next(), runs.next(), runs.next()) {
            (Some(new_off), Some(off), Some(new_on), Some(on)) => Ok(Incremental {
                new_off,
                off,
                new_on,
                on,
                copy,
            }),
            _ => Err("incremental: a run is missing".into()),
        }
    }

    /// Time `org purge` of the bench organization.
    fn purge(&self) -> Result<f64> {
        let start = Instant::now();
        let out = Command::new(&self.bin)
            .args(["org", "purge", "bench", "--confirm", "bench"])
            .env("DATABASE_URL", &self.url)
            .output()?;
        if !out.status.success() {
            return Err(format!("purge: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(start.elapsed().as_secs_f64())
    }

    /// Drop the database and the roles of its organizations: roles belong
    /// to the server and would outlive it.
    fn drop_db(&self, rt: &tokio::runtime::Runtime) -> Result<()> {
        rt.block_on(async {
            let roles: Vec<String> = match PgConnection::connect(&self.url).await {
                Ok(mut db) => sqlx::query_scalar(
                    "SELECT 'molingest_org_' || replace(id::text, '-', '') FROM organizations",
                )
                .fetch_all(&mut db)
                .await
                .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let mut c = PgConnection::connect(&self.server).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c)
            .await?;
            for role in roles {
                // Named by the organization's id: this database's own.
                let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                    .execute(&mut c)
                    .await;
            }
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }
}

/// (Re)create an empty database; the returned connection is to the server.
async fn fresh_database(
    server: &str,
    name: &str,
) -> std::result::Result<PgConnection, sqlx::Error> {
    let mut c = PgConnection::connect(server).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut c)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await?;
    Ok(c)
}

fn with_database(server: &str, db: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, ""), |(a, q)| (a, q));
    let scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme..].find('/').map_or(base.len(), |i| scheme + i);
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}/{db}{q}", &base[..host_end])
}

struct Floor {
    staging: Duration,
    plain: Duration,
}

/// PostgreSQL alone loading the rows molingest loaded, from memory, with the
/// same schema and indexes: (1) the staging path molingest uses, in one
/// transaction as the tenant; (2) plain COPY into the final tables as owner.
async fn floor(server: &str, loaded: &Bench) -> Result<Floor> {
    let mut src = PgConnection::connect(&loaded.url).await?;
    // The staged rows, column for column as the load stages them.
    use molingest::load::row::{Dest, COLUMNS};
    let select: Vec<String> = COLUMNS
        .iter()
        .map(|c| match c.dest {
            Dest::Id => "m.id".to_owned(),
            Dest::FileKey => "f.content_hash".to_owned(),
            Dest::Molecules => format!("m.{}", c.name),
            Dest::Properties => format!("p.{}", c.name),
            Dest::Job => "NULL".to_owned(),
        })
        .collect();
    let staged = copy_out(
        &mut src,
        &format!(
            "COPY (SELECT {} FROM molecules m JOIN molecule_properties p ON p.molecule_id = m.id
                   JOIN molecule_files f ON f.id = m.file_id) TO STDOUT",
            select.join(", ")
        ),
    )
    .await?;
    let molecules = copy_out(&mut src, "COPY (SELECT * FROM molecules) TO STDOUT").await?;
    let properties = copy_out(
        &mut src,
        "COPY (SELECT * FROM molecule_properties) TO STDOUT",
    )
    .await?;
    let files = copy_out(&mut src, "COPY molecule_files TO STDOUT").await?;
    let orgs = copy_out(&mut src, "COPY organizations TO STDOUT").await?;
    src.close().await?;

    let mut result = Vec::new();
    for (tag, staging) in [("floor_stage", true), ("floor_plain", false)] {
        let name = format!("molingest_bench_{}_{tag}", std::process::id());
        let mut c = fresh_database(server, &name).await?;
        let url = with_database(server, &name);
        let mut db = PgConnection::connect(&url).await?;
        molingest::db::MIGRATOR.run(&mut db).await?;
        copy_in(&mut db, "COPY organizations FROM STDIN", &orgs).await?;
        // Its partitions, as `org add` makes them.
        sqlx::query("SELECT molingest_add_partitions(id) FROM organizations")
            .execute(&mut db)
            .await?;
        copy_in(&mut db, "COPY molecule_files FROM STDIN", &files).await?;
        let org: uuid::Uuid = sqlx::query_scalar("SELECT id FROM organizations")
            .fetch_one(&mut db)
            .await?;
        molingest::load::row::create_stage(&mut db).await?;
        let start = Instant::now();
        if staging {
            let mut tx = molingest::db::tenant(&mut db, org.into()).await?;
            copy_in(&mut tx, &molingest::load::row::STAGE.copy, &staged).await?;
            sqlx::query(&molingest::load::row::STAGE.move_rows)
                .bind(org)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        } else {
            let mut tx = db.begin().await?;
            copy_in(&mut tx, "COPY molecules FROM STDIN", &molecules).await?;
            copy_in(&mut tx, "COPY molecule_properties FROM STDIN", &properties).await?;
            tx.commit().await?;
        }
        result.push(start.elapsed());
        db.close().await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await?;
    }
    Ok(Floor {
        staging: result[0],
        plain: result[1],
    })
}

async fn copy_out(c: &mut PgConnection, sql: &str) -> Result<Vec<u8>> {
    use futures_util::TryStreamExt;
    let mut stream = c.copy_out_raw(sql).await?;
    let mut out = Vec::new();
    while let Some(bytes) = stream.try_next().await? {
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

async fn copy_in(c: &mut PgConnection, sql: &str, data: &[u8]) -> Result<()> {
    let mut copy = c.copy_in_raw(sql).await?;
    for piece in data.chunks(1 << 20) {
        copy.send(piece).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// `n` molecules as gzip (or plain) SDF files of 10,000, from the bench data
/// repeated with new titles. Built once, kept under target/bench-corpus.
fn build_corpus(data: &Path, work: &Path, n: usize, gzip: bool) -> Result<PathBuf> {
    let dir = work.join(format!("{n}{}", if gzip { "" } else { "-plain" }));
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir)?;
    let sources = sources(data)?;
    let mut written = 0usize;
    let mut rep = 0usize;
    'outer: loop {
        for src in &sources {
            if written >= n {
                break 'outer;
            }
            let stem = src
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or("x")
                .trim_end_matches(".sdf.gz");
            let name = format!("{stem}_r{rep:03}.sdf{}", if gzip { ".gz" } else { "" });
            let file = BufWriter::new(std::fs::File::create(dir.join(name))?);
            let mut out: Box<dyn Write> = if gzip {
                Box::new(GzEncoder::new(file, flate2::Compression::new(6)))
            } else {
                Box::new(file)
            };
            written += retitle(src, rep, &mut out, n - written)?;
            out.flush()?;
        }
        rep += 1;
    }
    std::fs::write(done, b"")?;
    Ok(dir)
}

/// The incremental case: one new file of 20,000 molecules the corpora
/// already hold (repetition 0 of the first two sources) and 20,000 new
/// ones (a repetition no corpus uses); and, in a folder of its own, a file
/// of only those 20,000 new ones.
fn build_incremental(data: &Path, work: &Path) -> Result<(PathBuf, PathBuf)> {
    let dir = work.join("incremental");
    let new = work.join("incremental-new");
    let done = work.join("incremental.complete");
    if done.exists() {
        return Ok((dir, new));
    }
    for (folder, reps) in [(&dir, &[0, 999][..]), (&new, &[999][..])] {
        std::fs::create_dir_all(folder)?;
        let file = BufWriter::new(std::fs::File::create(folder.join("records.sdf.gz"))?);
        let mut out: Box<dyn Write> = Box::new(GzEncoder::new(file, flate2::Compression::new(6)));
        for &rep in reps {
            for src in sources(data)?.iter().take(2) {
                retitle(src, rep, &mut out, 10_000)?;
            }
        }
        out.flush()?;
    }
    std::fs::write(done, b"")?;
    Ok((dir, new))
}

/// The server's clock (rows created after it are the load's).
async fn server_now(c: &mut PgConnection) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT localtimestamp::text")
        .fetch_one(c)
        .await?)
}

struct Incremental {
    /// The 20,000 new records alone, then with the 20,000 known.
    new_off: Run,
    off: Run,
    new_on: Run,
    on: Run,
    copy: Duration,
}

/// Take out what loads since `since` (server time) added: their molecules
/// (properties with them) and repeats, then vacuum, so the next load finds
/// the organization as it was.
async fn undo_since(c: &mut PgConnection, since: &str) -> Result<()> {
    sqlx::query(&format!(
        "DELETE FROM molecule_records WHERE file_id IN \
         (SELECT id FROM molecule_files WHERE created_at > '{since}' OR source_uri LIKE '%/incremental%')"
    ))
        .execute(&mut *c)
        .await?;
    sqlx::query(&format!(
        "DELETE FROM molecules WHERE created_at > '{since}'"
    ))
    .execute(&mut *c)
    .await?;
    sqlx::query("VACUUM ANALYZE molecules, molecule_properties, molecule_records")
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// One uncompressed SDF file of about `bytes`.
fn build_big_file(data: &Path, work: &Path, bytes: u64) -> Result<PathBuf> {
    let path = work.join("big.sdf");
    let done = work.join(".big-complete");
    if done.exists() {
        return Ok(path);
    }
    let mut out: Box<dyn Write> = Box::new(BufWriter::new(std::fs::File::create(&path)?));
    let sources = sources(data)?;
    let mut rep = 0;
    while std::fs::metadata(&path)?.len() < bytes {
        for src in &sources {
            retitle(src, rep, &mut out, usize::MAX)?;
        }
        out.flush()?;
        rep += 1;
    }
    std::fs::write(done, b"")?;
    Ok(path)
}

fn sources(data: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".sdf.gz"))
        .collect();
    v.sort();
    Ok(v)
}

/// Copy an SDF.gz with every title made unique for repetition `rep`; at
/// most `limit` records. Returns the records written.
fn retitle(src: &Path, rep: usize, out: &mut dyn Write, limit: usize) -> Result<usize> {
    let reader = BufReader::new(MultiGzDecoder::new(BufReader::new(std::fs::File::open(
        src,
    )?)));
    let mut title_next = true;
    let mut records = 0;
    for line in reader.split(b'\n') {
        let line = line?;
        if title_next {
            if records >= limit {
                break;
            }
            write!(out, "R{rep}-")?;
            title_next = false;
        }
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        if line.starts_with(b"$$$$") {
            title_next = true;
            records += 1;
        }
    }
    Ok(records)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1048576.0
            })
        })
        .unwrap_or(0.0);
    format!("{cpu}, {mem:.0} GiB")
}
