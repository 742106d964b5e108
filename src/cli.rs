//! The command line's shape: every command, argument and flag, with the
//! help text that teaches them. `main.rs` turns these into requests.

use clap::{Parser, Subcommand};
use molingest::db::sink::BatchLimits;
use std::path::PathBuf;

pub const EXAMPLES: &str = "\
Database (in this order):
  --database-url or DATABASE_URL; else --data-dir (the embedded database); else the
  libpq variables when any of PGHOST, PGHOSTADDR, PGPORT, PGUSER, PGDATABASE, PGPASSWORD
  is set (with PGPASSFILE/~/.pgpass, PGSSLMODE, PGSSLROOTCERT, as psql reads them);
  else molingest runs its own private PostgreSQL cluster in --data-dir (Unix socket,
  owner only), using the server binaries installed on this machine.
  TLS: sslmode= (URL) or PGSSLMODE: disable, allow, prefer (default), require,
  verify-ca, verify-full; sslrootcert= or PGSSLROOTCERT names the CA.
  ./.env may set DATABASE_URL and the PG* variables only (never a parent's .env,
  never over the environment). Passwords and signatures are never printed or stored.

Object stores:
  s3://, gs://, az://, http(s):// and file:// URLs, configured by the usual environment:
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, AWS_ALLOW_HTTP,
  GOOGLE_*, AZURE_*.

Examples:
  molingest migrate
  molingest org add acme
  molingest scan ./library --jsonl > preview.jsonl
  molingest load ./library --org acme --rejects rejects.jsonl
  molingest load s3://vendor-drop/2026/ --org acme --json   # for cron: one JSON summary";

#[derive(Parser)]
#[command(
    name = "molingest",
    version,
    about = "Bulk-load molecular structure files (SDF, MOL2, PDB, PDBQT, SMILES; plain or gzip) from\ndirectories or object stores into a multi-tenant PostgreSQL schema.",
    after_help = format!("{EXAMPLES}\n\n{}", molingest::exit::Exit::help())
)]
pub struct Cli {
    /// PostgreSQL URL, e.g. postgres://user@host:5432/db?sslmode=verify-full
    /// (without it: the PG* variables if set, else the embedded database)
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Data directory of the embedded PostgreSQL (used when no database URL is given).
    #[arg(long, env = "MOLINGEST_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// Rows per database batch (one transaction each).
        #[arg(long, default_value_t = BatchLimits::default().rows)]
        batch_rows: usize,
        /// Database connections writing batches at once.
        #[arg(long, default_value_t = 2)]
        writers: usize,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Read, parse and compute without a database (preview a library).
    Scan {
        /// Directories, files, or object-store URLs, as for `load`.
        #[arg(required = true, value_name = "PATH_OR_URL")]
        paths: Vec<String>,
        /// One JSON line per record on stdout: path, record, line, format, title,
        /// formula, mw, charge, hash, status, error (README: "Record lines").
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
pub struct Tuning {
    /// Parse threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Files read at once (default: 2 on local disk, 8 from object stores).
    #[arg(long)]
    pub readers: Option<usize>,
    /// No progress bar and no per-reject lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization (names are unique).
    Add { name: String },
    /// List organizations and their molecule counts.
    List,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Direction {
    Up,
    Down,
    Status,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum DbAction {
    Start,
    Stop,
    Status,
}
