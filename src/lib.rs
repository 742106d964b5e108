//! molingest: bulk-load molecular structure files into a multi-tenant
//! PostgreSQL schema.
//!
//! The modules follow the data: [`source`] lists files, [`decode`] turns
//! bytes into text, [`formats`] splits and parses records, [`chem`] computes
//! formula and weight from the molecular graph, [`identity`] the canonical
//! SMILES and structure key, [`pipeline`] runs those
//! stages concurrently into a sink, which is [`db`] (load) or [`scan`]
//! (JSONL, no database). [`workflow`] holds the commands (`load`, `scan`,
//! administration) as functions from a request to a report; [`exit`] is the
//! one exit-code table; [`redact`] hides the secrets of every location and
//! error text molingest writes.
//!
//! The readers, chemistry and identity ([`decode`], [`formats`], [`chem`],
//! [`identity`]) live in a crate of their own, `molingest-chem`
//! (`crates/molingest-chem`), which has no database, async runtime or
//! object store; they are re-exported here under their old paths.

pub mod db;
pub mod docking;
pub mod embedded;
pub mod error;
pub mod exit;
pub mod ids;
pub mod load;
pub mod pipeline;
pub mod private_fs;
pub mod properties;
pub mod redact;
pub mod scan;
pub mod source;
pub mod workflow;

pub use molingest_chem::{chem, decode, formats, identity};
