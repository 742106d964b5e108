//! Error types. Every error that input can cause carries where it happened:
//! the file, the record (0-based) and the line (1-based, decompressed text).

use serde::Serialize;
use std::path::PathBuf;

/// A reader's complaint about one record; the pipeline adds the file. It
/// lives with the readers (`molingest-chem`).
pub use molingest_chem::ParseError;

/// Something that was not loaded: a record, or a whole file (`record: None`).
/// One line of the reject report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}{}{}: {reason}",
    .record.map(|r| format!(": record {r}")).unwrap_or_default(),
    .line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct Reject {
    pub path: String,
    pub record: Option<u64>,
    pub line: Option<u64>,
    pub reason: String,
    /// The record's own text, to write it back out (`--rejects-dir`).
    #[serde(skip)]
    pub original: Option<Original>,
    /// Not read on purpose (a FIFO, socket or device), rather than refused.
    #[serde(skip)]
    pub skipped: bool,
    /// A whole file refused for its own bytes (binary, empty, a corrupt
    /// compressed header): its content hash and location, so the next run
    /// knows it (see `refused_files`).
    #[serde(skip)]
    pub refused_content: Option<([u8; 32], String)>,
}

/// A rejected record's text as it was in its file, and the file's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub text: Vec<u8>,
    pub format: crate::formats::Format,
}

impl Reject {
    /// A whole file. Its location and the reason are redacted (a URL's
    /// password or signature never reaches a report).
    pub fn file(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Reject {
            path: crate::redact::text(&path.into()),
            record: None,
            line: None,
            reason: crate::redact::text(&reason.into()),
            original: None,
            skipped: false,
            refused_content: None,
        }
    }

    /// A file left unread on purpose, with why (`status: skipped`).
    pub fn skipped(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Reject {
            skipped: true,
            ..Reject::file(path, reason)
        }
    }

    pub fn record(path: impl Into<String>, record: u64, e: &ParseError) -> Self {
        Reject {
            path: crate::redact::text(&path.into()),
            record: Some(record),
            line: Some(e.line),
            reason: e.reason.clone(),
            original: None,
            skipped: false,
            refused_content: None,
        }
    }
}

/// Errors that stop a command (as opposed to rejects, which do not).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("organization {0:?} does not exist (create it with `molingest org add {0}`, or pass --create-org)")]
    UnknownOrganization(String),
    #[error("organization {0:?} already exists")]
    OrganizationExists(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A connection could not be made: where, in which sslmode, and why
    /// (never with a password).
    #[error("{0}")]
    Connect(String),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("embedded PostgreSQL: {0}")]
    Embedded(String),
    #[error("{0}")]
    Input(String),
    #[error("pipeline: {0}")]
    Pipeline(String),
    /// The command line asks for something it must not without a flag
    /// (a dangerous command without its confirmation): exit 2.
    #[error("{0}")]
    Usage(String),
    /// The server answered, but has no database of that name.
    #[error("{0}")]
    NoSuchDatabase(String),
    /// Whoever read our output went away (`| head`): stop, successfully.
    #[error("output closed")]
    OutputClosed,
    /// A signal asked the run to stop, and a writer stopped mid-batch (its
    /// transaction rolled back; the next run writes that batch).
    #[error("cancelled")]
    Cancelled,
    /// An error with the step it happened in ("saving file progress").
    #[error("{step}: {source}")]
    During {
        step: &'static str,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Say which step this error happened in. A usage error, a cancellation
    /// or an error that already names its step is left as it is.
    pub fn during(self, step: &'static str) -> Self {
        match self {
            Error::Usage(_) | Error::Cancelled | Error::During { .. } => self,
            e => Error::During {
                step,
                source: Box::new(e),
            },
        }
    }

    /// The error under any steps it was wrapped in.
    pub fn root(&self) -> &Error {
        match self {
            Error::During { source, .. } => source.root(),
            e => e,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
