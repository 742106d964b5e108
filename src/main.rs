//! The `molingest` command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use molingest::db::{self, embedded::Embedded, load::BatchLimits, RunStatus};
use molingest::error::Error;
use molingest::pipeline::stats::{RejectLog, Stats, Summary};
use molingest::pipeline::{self, Known, NothingKnown, Options};
use molingest::scan::JsonlSink;
use molingest::source::Root;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Exit codes scripts can trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Everything was read and loaded (or was already loaded).
    Success = 0,
    /// A fatal error: the run stopped (what was committed stays committed).
    Failure = 1,
    /// The run completed, but some records or files were rejected.
    Rejects = 3,
}

const AFTER_HELP: &str = "\
Database:
  --database-url or DATABASE_URL (a .env file in the current directory is read).
  Without either, molingest runs its own private PostgreSQL cluster in --data-dir
  (Unix socket only), using the server binaries installed on this machine.

Object stores:
  s3://, gs://, az://, http(s):// and file:// URLs, configured by the usual environment:
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP,
  GOOGLE_*, AZURE_*.

Exit status:
  0  success: everything read was loaded, or was already there
  1  failure: the run stopped (nothing committed is lost; run it again)
  2  usage error
  3  completed, but some records or files were rejected or failed (see --rejects)

Examples:
  molingest migrate
  molingest org add acme
  molingest scan ./library --jsonl > preview.jsonl
  molingest load ./library --org acme --rejects rejects.jsonl
  molingest load s3://vendor-drop/2026/ --org acme --json   # for cron: one JSON summary";

#[derive(Parser)]
#[command(name = "molingest", version, about = "Bulk-load molecular structure files (SDF, MOL2, PDB, PDBQT, SMILES; plain or gzip) from\ndirectories or object stores into a multi-tenant PostgreSQL schema.", after_help = AFTER_HELP)]
struct Cli {
    /// PostgreSQL URL, e.g. postgres://user@host:5432/db
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Data directory of the embedded PostgreSQL (used when no database URL is given).
    #[arg(long, env = "MOLINGEST_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the schema migrations (`migrate down` reverts them all).
    Migrate {
        #[arg(value_enum, default_value = "up")]
        direction: Direction,
    },
    /// Manage organizations (tenants).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Walk PATHs, parse every molecule, and load the new ones into an organization.
    ///
    /// Files already loaded (same location, size and mtime, or same content) are
    /// skipped; records already present (same content hash) are not inserted twice.
    /// A killed run can simply be run again.
    Load {
        /// Directories, files, or object-store URLs (s3://bucket/prefix/, gs://, az://,
        /// https://, file:///dir). Files: .sdf .sd .mol .mol2 .pdb .ent .pdbqt .smi
        /// .smiles .csv, each optionally .gz.
        #[arg(required = true, value_name = "PATH_OR_URL")]
        paths: Vec<String>,
        /// Organization name.
        #[arg(long)]
        org: String,
        /// Create the organization if it does not exist.
        #[arg(long)]
        create_org: bool,
        /// Write every rejected record or file as a JSON line to this file.
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
        /// Print one JSON summary on stdout (for cron); no progress bar.
        #[arg(long)]
        json: bool,
        /// Re-read every file, even those already loaded.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Read, parse and compute without a database (preview a library).
    Scan {
        /// Directories, files, or object-store URLs, as for `load`.
        #[arg(required = true, value_name = "PATH_OR_URL")]
        paths: Vec<String>,
        /// One JSON line per record on stdout: path, record, line, format, title,
        /// formula, mw, charge, hash, status, error.
        #[arg(long)]
        jsonl: bool,
        /// Write every rejected record or file as a JSON line to this file.
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
        /// Print the summary as JSON on stdout (without --jsonl).
        #[arg(long, conflicts_with = "jsonl")]
        json: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// The embedded PostgreSQL server: start, stop, status.
    Db {
        #[arg(value_enum)]
        action: DbAction,
    },
}

#[derive(clap::Args, Clone)]
struct Tuning {
    /// Parse threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Files read at once (default: 2 on local disk, 8 from object stores).
    #[arg(long)]
    readers: Option<usize>,
    /// Rows per database batch (one transaction each).
    #[arg(long, default_value_t = BatchLimits::default().rows)]
    batch_rows: usize,
    /// Database connections writing batches at once.
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// No progress bar and no per-reject lines on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization (names are unique).
    Add { name: String },
    /// List organizations and their molecule counts.
    List,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Direction {
    Up,
    Down,
    Status,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum DbAction {
    Start,
    Stop,
    Status,
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("molingest: error: {e:#}");
            ExitCode::from(Exit::Failure as u8)
        }
    }
}

fn run(cli: Cli) -> Result<Exit> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Scan {
            paths,
            jsonl,
            rejects,
            json,
            tuning,
        } => scan(&rt, &paths, jsonl, json, rejects.as_deref(), &tuning),
        Command::Db { action } => {
            let embedded = embedded(&cli.data_dir)?;
            match action {
                DbAction::Start => {
                    let url = embedded.ensure_running()?;
                    println!("{url}");
                }
                DbAction::Stop => {
                    embedded.stop()?;
                    eprintln!("stopped {}", embedded.data_dir.display());
                }
                DbAction::Status => {
                    let running = embedded.is_running();
                    println!(
                        "{}: {}",
                        embedded.data_dir.display(),
                        if running { "running" } else { "not running" }
                    );
                }
            }
            Ok(Exit::Success)
        }
        Command::Migrate { direction } => {
            let url = database(&cli, &rt)?;
            rt.block_on(async {
                let pool = db::connect(&url).await?;
                match direction {
                    Direction::Up => {
                        db::migrate_up(&pool).await?;
                        eprintln!(
                            "schema up to date ({} migrations applied)",
                            db::applied_migrations(&pool).await?.len()
                        );
                    }
                    Direction::Down => {
                        db::migrate_down(&pool).await?;
                        eprintln!("all migrations reverted");
                    }
                    Direction::Status => {
                        let applied = db::applied_migrations(&pool).await?;
                        for m in db::MIGRATOR
                            .iter()
                            .filter(|m| m.migration_type.is_up_migration())
                        {
                            let state = if applied.contains(&m.version) {
                                "applied"
                            } else {
                                "pending"
                            };
                            println!("{} {} {}", m.version, state, m.description);
                        }
                    }
                }
                Ok::<_, Error>(())
            })?;
            Ok(Exit::Success)
        }
        Command::Org { ref command } => {
            let url = database(&cli, &rt)?;
            rt.block_on(async {
                let pool = connect_ready(&url).await?;
                match command {
                    OrgCommand::Add { name } => {
                        let id = db::add_org(&pool, name).await?;
                        println!("{id}");
                        eprintln!("created organization {name:?}");
                    }
                    OrgCommand::List => {
                        for o in db::list_orgs(&pool).await? {
                            println!("{}\t{}\t{} molecules", o.id, o.name, o.molecules);
                        }
                    }
                }
                Ok::<_, Error>(())
            })?;
            Ok(Exit::Success)
        }
        Command::Load {
            ref paths,
            ref org,
            create_org,
            ref rejects,
            json,
            full,
            ref tuning,
        } => {
            let url = database(&cli, &rt)?;
            load(
                &rt,
                &url,
                paths,
                org,
                create_org,
                rejects.as_deref(),
                json,
                full,
                tuning,
            )
        }
    }
}

fn embedded(data_dir: &Option<PathBuf>) -> Result<Embedded> {
    let dir = data_dir.clone().unwrap_or_else(Embedded::default_data_dir);
    Ok(Embedded::new(&dir)?)
}

/// The database URL, starting the embedded server (and applying the
/// migrations to it) when none was given.
fn database(cli: &Cli, rt: &tokio::runtime::Runtime) -> Result<String> {
    if let Some(url) = &cli.database_url {
        return Ok(url.clone());
    }
    let url = embedded(&cli.data_dir)?.ensure_running()?;
    if !matches!(cli.command, Command::Migrate { .. }) {
        // Our own private cluster: keep its schema current without asking.
        rt.block_on(async {
            let pool = db::connect(&url).await?;
            db::migrate_up(&pool).await?;
            pool.close().await;
            Ok::<_, Error>(())
        })?;
    }
    Ok(url)
}

/// Connect and check that the schema is there.
async fn connect_ready(url: &str) -> Result<sqlx::PgPool, Error> {
    let pool = db::connect(url).await?;
    if db::applied_migrations(&pool).await?.len()
        < db::MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .count()
    {
        return Err(Error::Input(
            "the database schema is missing or out of date: run `molingest migrate` first".into(),
        ));
    }
    Ok(pool)
}

fn options(t: &Tuning, hash_files: bool, roots: &[Root]) -> Options {
    let mut o = Options {
        hash_files,
        ..Options::default()
    };
    if let Some(n) = t.threads {
        o.threads = n.max(1);
    }
    // Object stores: reading waits on the network, so read more at once.
    if roots.iter().any(|r| matches!(r, Root::Object(_))) {
        o.readers = 8;
    }
    if let Some(n) = t.readers {
        o.readers = n.max(1);
    }
    o
}

fn roots(rt: &tokio::runtime::Runtime, paths: &[String]) -> Result<Vec<Root>> {
    Ok(paths
        .iter()
        .map(|p| Root::parse(p, rt.handle()))
        .collect::<Result<_, _>>()?)
}

/// Progress on stderr only for a person: both streams on a terminal.
fn interactive(t: &Tuning) -> bool {
    !t.quiet && std::io::stderr().is_terminal() && std::io::stdout().is_terminal()
}

/// Body reads that were resumed after a fault (object stores).
fn resumed(roots: &[Root]) -> u64 {
    roots
        .iter()
        .map(|r| match r {
            Root::Object(b) => b.resumed.load(std::sync::atomic::Ordering::Relaxed),
            Root::Local(_) => 0,
        })
        .sum()
}

fn scan(
    rt: &tokio::runtime::Runtime,
    paths: &[String],
    jsonl: bool,
    json: bool,
    rejects: Option<&std::path::Path>,
    t: &Tuning,
) -> Result<Exit> {
    let roots = roots(rt, paths)?;
    let stats = Stats::default();
    let log = RejectLog::new(rejects, t.quiet || jsonl).context("creating the reject report")?;
    let start = Instant::now();
    let stdout = std::io::stdout();
    let mut sink =
        JsonlSink::new(jsonl.then(|| std::io::BufWriter::with_capacity(1 << 16, stdout.lock())));
    let show = !jsonl && !json && interactive(t);
    pipeline::with_progress(&stats, show, || {
        pipeline::run(
            &roots,
            &options(t, false, &roots),
            &NothingKnown,
            None,
            &mut sink,
            &stats,
            &log,
        )
    })?;
    drop(sink);
    log.flush()?;
    let summary = stats.snapshot(start.elapsed());
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary("scan", &summary, None);
    }
    Ok(exit_for(&summary))
}

#[allow(clippy::too_many_arguments)]
fn load(
    rt: &tokio::runtime::Runtime,
    url: &str,
    paths: &[String],
    org_name: &str,
    create_org: bool,
    rejects: Option<&std::path::Path>,
    json: bool,
    full: bool,
    t: &Tuning,
) -> Result<Exit> {
    let stats = Arc::new(Stats::default());
    let roots = roots(rt, paths)?;
    let source = roots
        .iter()
        .map(Root::describe)
        .collect::<Vec<_>>()
        .join(" ");
    let (pool, org, lock) = rt.block_on(async {
        let pool = connect_ready(url).await?;
        let org = match db::org_id(&pool, org_name).await {
            Err(Error::UnknownOrganization(_)) if create_org => {
                db::add_org(&pool, org_name).await?
            }
            other => other?,
        };
        Ok::<_, Error>((pool, org))
    })
    .and_then(|(pool, org)| {
        // One load of a source into an organization at a time: a second one
        // waits for the first, then finds its work done.
        let lock = match rt.block_on(db::try_lock_source(url, org, &source))? {
            Ok(lock) => lock,
            Err(mut conn) => {
                eprintln!("molingest: another load of {source} into {org_name} is running; waiting for it to finish");
                rt.block_on(db::wait_lock_source(&mut conn, org, &source))?;
                conn
            }
        };
        Ok((pool, org, lock))
    })?;
    let _lock = lock;
    let (pool, org, run, known) = rt.block_on(async {
        let run = db::begin_run(&pool, org, &source).await?;
        let known: Box<dyn Known> = if full {
            Box::new(NothingKnown)
        } else {
            Box::new(db::known_files(&pool, org).await?)
        };
        Ok::<_, Error>((pool, org, run, known))
    })?;
    let log = RejectLog::new(rejects, t.quiet || json).context("creating the reject report")?;
    let start = Instant::now();
    let limits = BatchLimits {
        rows: t.batch_rows.max(1),
        ..BatchLimits::default()
    };
    let show = !json && interactive(t);
    let result = pipeline::with_progress(&stats, show, || {
        let mut sink =
            db::load::DbSink::open(rt.handle(), url, org, limits, t.writers, stats.clone())?;
        pipeline::run(
            &roots,
            &options(t, true, &roots),
            known.as_ref(),
            Some(&db::load::CopyRows),
            &mut sink,
            &stats,
            &log,
        )
    });
    log.flush()?;
    let summary = stats.snapshot(start.elapsed());
    let (status, error) = match &result {
        Ok(()) if summary.listings_failed > 0 => (
            RunStatus::Failed,
            Some(format!(
                "{} source(s) could not be listed",
                summary.listings_failed
            )),
        ),
        Ok(()) => (RunStatus::Completed, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    let (kept, notices) = (log.kept(), log.notices());
    let end = db::RunEnd {
        status,
        summary: &summary,
        rejects: &kept,
        notices: &notices,
        error: error.as_deref(),
    };
    rt.block_on(db::finish_run(&pool, org, run, &end))?;
    let exit = match &result {
        Ok(()) => exit_for(&summary),
        Err(_) => Exit::Failure,
    };
    if let (Exit::Failure, Some(e), false) = (exit, &error, json) {
        eprintln!("molingest: error: {e}");
    }
    if json {
        let mut v = serde_json::to_value(&summary)?;
        v["run_id"] = run.to_string().into();
        v["resumed_transfers"] = resumed(&roots).into();
        v["notices"] = log.notices().into();
        v["organization"] = org_name.into();
        v["status"] = match exit {
            Exit::Success => "completed",
            Exit::Rejects => "completed_with_rejects",
            Exit::Failure => "failed",
        }
        .into();
        if let Some(e) = &error {
            v["error"] = e.clone().into();
        }
        println!("{v}");
    } else {
        print_summary("load", &summary, Some(&run.to_string()));
    }
    result?;
    Ok(exit)
}

fn exit_for(s: &Summary) -> Exit {
    if s.listings_failed > 0 {
        Exit::Failure
    } else if s.records_rejected > 0 || s.files_failed > 0 {
        Exit::Rejects
    } else {
        Exit::Success
    }
}

fn print_summary(what: &str, s: &Summary, run: Option<&str>) {
    let b = &s.busy_seconds;
    eprintln!("molingest {what}: {:.2} s", s.seconds);
    eprintln!(
        "  files     {} seen, {} read, {} unchanged, {} failed, {} not molecule files",
        s.files_seen, s.files_read, s.files_unchanged, s.files_failed, s.files_ignored
    );
    if what == "load" {
        eprintln!(
            "  records   {} parsed, {} inserted, {} duplicate, {} rejected",
            s.records_parsed, s.records_inserted, s.records_duplicate, s.records_rejected
        );
    } else {
        eprintln!(
            "  records   {} parsed, {} rejected",
            s.records_parsed, s.records_rejected
        );
    }
    eprintln!(
        "  data      {:.1} MB read, {:.1} MB decoded, {:.1} MB/s",
        s.bytes_read as f64 / 1e6,
        s.bytes_decoded as f64 / 1e6,
        s.mb_per_second
    );
    eprintln!("  rate      {:.0} molecules/s", s.molecules_per_second);
    eprintln!(
        "  busy      read {:.2} s, parse {:.2} s, sink {:.2} s, database {:.2} s (summed over connections)",
        b.read, b.parse, b.sink, b.database
    );
    if let Some(run) = run {
        eprintln!("  run       {run}");
        if s.records_inserted == 0 && s.records_rejected == 0 {
            eprintln!("  nothing new: every molecule found was already loaded");
        }
    }
}
