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
//!   already holds.
//!
//! `db` keeps connections, tenancy, organizations, lifecycle, retention and
//! routing; `workflow::load` sequences a run on top of this.

pub mod bulk;
mod copy_format;
mod files;
pub mod known;
pub mod lease;
pub mod path;
pub mod row;
pub mod runs;
pub mod sink;
pub mod structure;
mod writer;
