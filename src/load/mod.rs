//! The write path: everything that turns the pipeline's encoded rows into
//! an organization's rows, exactly once.
//!
//! - [`path`]: which path a load takes (bulk first load or staging) and the
//!   organization's lease that keeps a bulk load alone;
//! - [`lease`]: a run's hold on its source, renewed while it runs and
//!   given back however it ends;
//! - [`runs`]: run records (`pipeline_executions`) and the per-source leases;
//! - [`files`]: the file ledger (`molecule_files`): registration, progress,
//!   completion, shared by both sinks;
//! - [`sink`] with [`writer`]: the staging path (COPY into a per-transaction
//!   staging table, then `INSERT … SELECT … ON CONFLICT DO NOTHING` as the
//!   tenant), batches on several connections with a commit watermark;
//! - [`bulk`]: the bulk first load (standalone tables by binary COPY FREEZE,
//!   keys and indexes built in bulk, attached in one short transaction);
//! - [`row`] with [`copy_format`]: the row schema, declared once, and its
//!   COPY text and binary encodings;
//! - [`structure`]: `--dedup structure`; [`known`]: what the organization
//!   already holds;
//! - [`provenance`]: every record a molecule was read from; [`sync`]:
//!   `--sync`, retiring what left the source and removing what no current
//!   file holds.
//!
//! `db` keeps connections, tenancy, organizations, lifecycle, retention and
//! routing; `workflow::load` sequences a run on top of this.

pub mod bulk;
mod copy_format;
mod files;
pub mod known;
pub mod lease;
pub mod path;
pub mod provenance;
pub mod row;
pub mod runs;
pub mod sink;
pub mod structure;
pub mod sync;
mod writer;

/// Kill this process at a named point when `MOLINGEST_TEST_KILL_AT` says
/// so: the crash-safety tests' way to SIGKILL a load exactly there. Only
/// in builds with the `test-hooks` feature (the test suite's); a release
/// build has no such switch.
#[cfg(feature = "test-hooks")]
pub(crate) fn kill_point(name: &str) {
    if std::env::var("MOLINGEST_TEST_KILL_AT").is_ok_and(|v| v == name) {
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
pub(crate) fn kill_point(_name: &str) {}
