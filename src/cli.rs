//! The command line's shape: every command, argument and flag, with the
//! help text that teaches them. `main.rs` turns these into requests.

use clap::{Parser, Subcommand};
use molingest::identity::IdentityMode;
use molingest::load::sink::BatchLimits;
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
    about = "Bulk-load molecular structure files (SDF, MOL2, PDB, PDBQT, SMILES; plain, gzip, bzip2 or zstd) from\ndirectories or object stores into a multi-tenant PostgreSQL schema.",
    after_help = format!("{EXAMPLES}\n\n{}", molingest::exit::Exit::help())
)]
pub struct Cli {
    /// PostgreSQL URL, e.g. postgres://user@host:5432/db?sslmode=verify-full
    /// (without it: the PG* variables if set, else the embedded database)
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Seconds to wait for the database to answer a connection attempt
    /// (default: PGCONNECT_TIMEOUT, else 10).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub connect_timeout: Option<u64>,
    /// What sits between molingest and PostgreSQL: `transaction` for a pooler in
    /// transaction mode (PgBouncer `pool_mode = transaction`): no named prepared
    /// statements, session settings, session locks or session temporary tables
    /// (docs/pgbouncer.md); `migrate` then needs a direct connection.
    #[arg(
        long,
        env = "MOLINGEST_POOLER",
        global = true,
        value_enum,
        default_value = "none"
    )]
    pub pooler: Pooler,
    /// Data directory of the embedded PostgreSQL (used when no database URL is given).
    #[arg(long, env = "MOLINGEST_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--pooler`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pooler {
    /// A direct connection, or a pooler in session mode.
    None,
    /// A pooler in transaction mode.
    Transaction,
}

// Parsed once per process: `load`'s many options need no box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Apply the schema migrations (`migrate down` reverts them), in the
    /// shared database and every organization's own database alike.
    ///
    /// `migrate up --target-version V` applies migrations up to V only;
    /// `migrate down --target-version V` reverts those newer than V (without
    /// it, all). `--dry-run` lists what would be applied or reverted and
    /// changes nothing.
    Migrate {
        #[arg(value_enum, default_value = "up")]
        direction: Direction,
        /// `migrate down` on a database that holds data: yes, drop it all.
        #[arg(long)]
        confirm_data_loss: bool,
        /// Stop at this migration version (up: apply up to it; down: revert
        /// to it).
        #[arg(long, value_name = "VERSION")]
        target_version: Option<i64>,
        /// Print the migrations that would be applied or reverted, per
        /// database, and change nothing.
        #[arg(long)]
        dry_run: bool,
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
        /// https://, file:///dir). Files: .sdf .sd .mol .mol2 .ml2 .pdb .ent .pdbqt
        /// .smi .smiles .ism .can .csv, each optionally compressed (.gz .bz2 .zst);
        /// the content decides the format when it says so clearly.
        #[arg(required = true, value_name = "PATH_OR_URL")]
        paths: Vec<String>,
        /// Organization name (may be omitted when the login acts for exactly one).
        #[arg(long)]
        org: Option<String>,
        /// Create the organization if it does not exist.
        #[arg(long)]
        create_org: bool,
        /// Write every rejected record or file as a JSON line to this file.
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
        /// Write each rejected record's own text to DIR (one file per source file, in its
        /// format: fix them and load DIR), with the reasons in DIR/rejects.jsonl.
        #[arg(long, value_name = "DIR", conflicts_with = "rejects")]
        rejects_dir: Option<PathBuf>,
        /// Stop the run (exit 5) once more than N records were rejected.
        #[arg(long, value_name = "N")]
        max_errors: Option<u64>,
        /// Stop the run (exit 5) once more than this share (0–1) of the records seen
        /// were rejected (judged after the first 100).
        #[arg(long, value_name = "R", value_parser = rate)]
        max_error_rate: Option<f64>,
        /// Print one JSON summary on stdout (for cron); no progress bar.
        #[arg(long)]
        json: bool,
        /// Re-read every file, even those already loaded.
        #[arg(long)]
        full: bool,
        /// Never take the bulk path: an organization's first load (administrator
        /// only) otherwise fills standalone tables and attaches them as its
        /// partitions at the end; with this it goes through the staging table in
        /// batches, as incremental loads do.
        #[arg(long)]
        no_bulk: bool,
        /// Record every pose as a result of this docking job (created if missing, reused
        /// by name): one job execution per run, one job_results row per pose (file and
        /// record) with its primary score and every score in `data`.
        #[arg(long, value_name = "JOB")]
        docking_job: Option<String>,
        /// The docking job's receptor: loaded as a molecule and linked to the job. A
        /// receptor that cannot be read is an error before anything is written.
        #[arg(long, value_name = "FILE", requires = "docking_job")]
        receptor: Option<PathBuf>,
        /// Load only shard I of N of the files (I from 0), by a hash of each file's
        /// location: N workers given 0/N … (N-1)/N together load the source once.
        /// `auto/N` takes I from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or
        /// SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN; `auto` also takes N from
        /// SLURM_ARRAY_TASK_COUNT.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Rows per database batch (one transaction each).
        #[arg(long, default_value_t = BatchLimits::default().rows)]
        batch_rows: usize,
        /// Database connections writing batches at once.
        #[arg(long, default_value_t = 2)]
        writers: usize,
        /// Chemical identity computed per molecule: canonical SMILES and structure key
        /// (smiles), plus InChI (inchi: cargo feature `inchi`), or none (off).
        #[arg(long, value_enum, default_value = "smiles")]
        identity: IdentityArg,
        /// Duplicates: `record` (the same record text is one molecule) or `structure`
        /// (the same structure is one molecule; every record of it is kept in
        /// molecule_occurrences). `structure` needs an identity.
        #[arg(long, value_enum, default_value = "record")]
        dedup: DedupArg,
        /// Read a folder (a delivery) only once a file of this name is in it or in a
        /// folder above it (e.g. _SUCCESS): a delivery still being uploaded is left
        /// for a later run, and named. Works for local folders and object-store
        /// prefixes alike.
        #[arg(long, value_name = "NAME")]
        require_marker: Option<String>,
        #[command(flatten)]
        sync: SyncArgs,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Read, parse and compute without a database (preview a library).
    Scan {
        /// Directories, files, or object-store URLs, as for `load`.
        #[arg(required = true, value_name = "PATH_OR_URL")]
        paths: Vec<String>,
        /// One JSON line per record on stdout: path, record, line, format, title,
        /// formula, mw, charge, hash, smiles, structure_key, identity_error, properties,
        /// status, error (README: "Record lines").
        #[arg(long)]
        jsonl: bool,
        /// Write every rejected record or file as a JSON line to this file.
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
        /// Print the summary as JSON on stdout (without --jsonl).
        #[arg(long, conflicts_with = "jsonl")]
        json: bool,
        /// Chemical identity: smiles (default), inchi (cargo feature `inchi`), off.
        #[arg(long, value_enum, default_value = "smiles")]
        identity: IdentityArg,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Recount a source against the database without writing: every record must be
    /// in the organization (by content) or be one a load rejects.
    ///
    /// Prints, per file, records read = present + rejected (+ missing), then the
    /// missing records. Exit 0 only when everything is accounted for (6 otherwise).
    Verify {
        /// Directories, files, or object-store URLs, as for `load`.
        #[arg(required = true, value_name = "PATH_OR_URL")]
        paths: Vec<String>,
        /// Organization name (may be omitted when the login acts for exactly one).
        #[arg(long)]
        org: Option<String>,
        /// Print the report as one JSON document on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Retention policies (set with `org config`): delete what has expired.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
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
    /// Create an organization and its role (names are trimmed and unique whatever their case).
    Add {
        name: String,
        /// Keep this organization's data in its own database (postgres://host:port/db,
        /// no password: it comes from PGPASSWORD or .pgpass). Created if missing,
        /// migrated; every command that touches the organization routes there.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Let an existing login role load into this organization, and nothing else.
    ///
    /// Refused for a superuser, a role with BYPASSRLS, or one that already acts for
    /// another organization. Needs the administrator.
    Grant {
        /// Organization name.
        name: String,
        /// An existing PostgreSQL login role.
        login_role: String,
    },
    /// List organizations and their molecule counts.
    List,
    /// Export every row of the organization (JSON Lines per table, molecules.smi,
    /// manifest.json with row counts and sha256 of each file) into DIR.
    Export {
        name: String,
        /// A new or empty directory (created if missing).
        dir: PathBuf,
    },
    /// Restore an export into a new or empty organization.
    Import {
        dir: PathBuf,
        /// The organization to restore into (created if missing); default: the exported name.
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
    },
    /// Delete every row of the organization in every table, and the organization
    /// (right to be forgotten). Leaves one audit tombstone with counts, no names.
    Purge {
        name: String,
        /// Repeat the organization's name: the purge cannot be undone.
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
        /// For an organization with its own database: drop that database.
        #[arg(long)]
        drop_database: bool,
    },
    /// Show the organization's settings, or set one: retention.runs_days,
    /// retention.audit_days, retention.rejects_days (whole days).
    Config {
        name: String,
        key: Option<String>,
        value: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Delete, in every organization (their own databases included), the run
    /// records, audit rows and kept rejects older than its policy. For cron.
    Apply {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
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

/// `load --sync` and its safeguards.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// Make the organization follow the sources: after a run that listed them
    /// completely and read every file to its end, retire their files that changed
    /// or disappeared, and remove the molecules no current file of the organization
    /// holds any more (in these sources or any other). Administrator only; not
    /// with --shard. Nothing is retracted after a listing error, a failed file, a
    /// signal or an exceeded error budget.
    #[arg(long, conflicts_with = "shard")]
    pub sync: bool,
    /// With --sync: read and compare, print what would be retired and removed, and
    /// change nothing (no run record, no rows).
    #[arg(long, requires = "sync")]
    pub dry_run: bool,
    /// With --sync: refuse (exit 7, nothing removed) a sync that would remove more
    /// than N molecules, or more than N% of the organization's molecules.
    #[arg(long, value_name = "N|N%", requires = "sync")]
    pub max_retract: Option<molingest::load::sync::MaxRetract>,
}

impl SyncArgs {
    pub fn options(&self) -> Option<molingest::load::sync::SyncOptions> {
        self.sync.then_some(molingest::load::sync::SyncOptions {
            dry_run: self.dry_run,
            max_retract: self.max_retract,
        })
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?}: a share between 0 and 1, e.g. 0.05")),
    }
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum IdentityArg {
    Smiles,
    Inchi,
    Off,
}

impl IdentityArg {
    pub fn mode(self) -> IdentityMode {
        match self {
            IdentityArg::Smiles => IdentityMode::Smiles,
            IdentityArg::Inchi => IdentityMode::Inchi,
            IdentityArg::Off => IdentityMode::Off,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum DedupArg {
    Record,
    Structure,
}

/// Combinations clap cannot express; each is a usage error (exit 2).
pub fn check(cli: &Cli) {
    use clap::CommandFactory;
    let (identity, dedup) = match &cli.command {
        Command::Load {
            identity, dedup, ..
        } => (*identity, *dedup),
        Command::Scan { identity, .. } => (*identity, DedupArg::Record),
        _ => return,
    };
    let mut cmd = Cli::command();
    if identity == IdentityArg::Inchi && !cfg!(feature = "inchi") {
        cmd.error(
            clap::error::ErrorKind::InvalidValue,
            "--identity inchi needs a molingest built with the cargo feature `inchi`",
        )
        .exit();
    }
    if identity == IdentityArg::Off && dedup == DedupArg::Structure {
        cmd.error(
            clap::error::ErrorKind::ArgumentConflict,
            "--dedup structure needs a structure key: it cannot be used with --identity off",
        )
        .exit();
    }
}
