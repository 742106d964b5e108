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

pub mod chem;
pub mod db;
pub mod decode;
pub mod docking;
pub mod embedded;
pub mod error;
pub mod exit;
pub mod formats;
pub mod identity;
pub mod load;
pub mod pipeline;
pub mod private_fs;
pub mod properties;
pub mod redact;
pub mod scan;
pub mod source;
pub mod workflow;
