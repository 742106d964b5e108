//! The commands as library functions: a request value in, a report value
//! out. The binary only parses arguments, calls one of these, prints the
//! report and maps it to an [`Exit`](crate::exit::Exit) code.
//!
//! - [`load`]: walk, parse, dedup and load into an organization;
//! - [`scan`]: the same pipeline without a database;
//! - [`verify`]: recount a source against the database, writing nothing;
//! - [`lifecycle`]: an organization's export, import and purge;
//! - [`admin`]: migrations, organizations, the embedded server.

pub mod admin;
pub mod docking;
pub mod lifecycle;
pub mod load;
mod rejects;
pub mod retention;
pub mod scan;
mod sync;
pub mod verify;

pub use load::{load, LoadReport, LoadRequest};
pub use scan::{scan, ScanReport, ScanRequest};
pub use verify::{verify, VerifyReport, VerifyRequest};

use crate::error::{Error, Result};
use crate::identity::IdentityMode;
use crate::pipeline::Options;
use crate::source::Root;

/// How hard a run works (all optional: the defaults suit this machine).
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Parse threads (default: all cores).
    pub threads: Option<usize>,
    /// Files read at once (default: 2 on local disk, 8 from object stores).
    pub readers: Option<usize>,
    /// Which chemical identity the parse stage computes.
    pub identity: IdentityMode,
}

/// What a person sees on stderr while a run goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Display {
    /// A progress line (callers show it only when a person is watching).
    pub progress: bool,
    /// No per-reject lines and notices on stderr.
    pub quiet: bool,
}

/// A runtime for the async parts (database, object stores). Two worker
/// threads: the CPU work runs on the pipeline's own threads.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Pipeline(format!("starting the async runtime: {e}")))
}

pub(crate) fn roots(rt: &tokio::runtime::Runtime, sources: &[String]) -> Result<Vec<Root>> {
    sources
        .iter()
        .map(|p| Root::parse(p, rt.handle()))
        .collect()
}

pub(crate) fn pipeline_options(t: &Tuning, roots: &[Root]) -> Options {
    let mut o = Options::default();
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
    o.identity = t.identity;
    o
}

/// Body reads that were resumed after a fault (object stores).
pub(crate) fn resumed(roots: &[Root]) -> u64 {
    roots
        .iter()
        .map(|r| match r {
            Root::Object(b) => b.resumed.load(std::sync::atomic::Ordering::Relaxed),
            Root::Local(_) => 0,
        })
        .sum()
}
