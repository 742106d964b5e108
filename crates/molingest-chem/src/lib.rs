//! molingest-chem: the readers, chemistry and identity of molingest, with
//! no database, async runtime or object store.
//!
//! [`decode`] turns bytes into text (gzip, bzip2, zstd by magic bytes, a
//! byte-order mark, lone-CR line ends; binary and UTF-16 refused),
//! [`formats`] splits the text into records and parses SDF, MOL2, PDB,
//! PDBQT and SMILES into a molecular graph, [`chem`] computes the Hill
//! formula and average molecular weight from it (RDKit's valence model and
//! weights), and [`identity`] the canonical isomeric SMILES (RDKit's
//! string) and the structure key.
//!
//! ```
//! use molingest_chem::formats::{parse_all, Format};
//! use molingest_chem::{chem, identity};
//!
//! // One record: the reader's graph, its formula and weight, its identity.
//! let record = b"c1ccccc1O phenol";
//! let parsed = Format::Smiles.parse(record, 1).unwrap().expect("a molecule");
//! let props = chem::properties(&parsed.mol);
//! assert_eq!((parsed.title.as_str(), props.formula.as_str()), ("phenol", "C6H6O"));
//! assert!((props.average_mw - 94.113).abs() < 1e-3);
//! let smiles = identity::canonical_smiles(Format::Smiles, record, &parsed).unwrap();
//! assert_eq!(smiles, "Oc1ccccc1"); // as RDKit's Chem.MolToSmiles writes it
//! let key: [u8; 32] = identity::structure_key(&smiles);
//!
//! // A whole text (SMILES, one per line), split and parsed record by record.
//! let all = parse_all(Format::Smiles, b"CCO ethanol\nC1CC1 cyclopropane\n");
//! assert_eq!(all.len(), 2);
//! ```

pub mod chem;
pub mod decode;
pub mod error;
pub mod formats;
pub mod identity;

pub use error::ParseError;

/// The README's example, run as a doc test so that it keeps compiling.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
