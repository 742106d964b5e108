//! Chemical identity: the canonical isomeric SMILES of every molecule,
//! written as RDKit writes it (`Chem.MolToSmiles` of the molecule RDKit's
//! own reader makes of the record, sanitized, hydrogens removed), and the
//! structure key derived from it.
//!
//! The canonicaliser is `chematic-smiles` (a port of RDKit's), pinned to an
//! exact version: [`IDENTITY_VERSION`] names it and is stored with every
//! key, so a change of strings is detectable. Per format:
//! - **SDF**: the reader's graph ([`graph`]), hydrogens by the MDL valence
//!   model (the one that gives the formula), stereo from wedges (2D) or
//!   coordinates (3D);
//! - **SMILES**: the record's SMILES text, parsed again by chematic;
//! - **MOL2** and **PDB**: the record's text through chematic's ports of
//!   RDKit's MOL2 and PDB readers (Tripos types and charges, residue
//!   templates);
//! - **PDBQT** and chemfiles frames: no SMILES (no bond orders), with the
//!   reason.

pub mod cache;
mod graph;
mod guards;

use guards::{dative_at_aromatic_atom, has_atom_maps, kekule_five_ring_heteroaromatic};

use crate::formats::{Format, Parsed};

/// Which identity a run computes (`--identity`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdentityMode {
    /// No identity work: SMILES, key and version stay NULL.
    Off,
    /// Canonical SMILES and the structure key.
    #[default]
    Smiles,
    /// As `Smiles`, plus InChI and InChIKey (cargo feature `inchi`).
    Inchi,
}

/// The canonicaliser behind every string: a new version may write other
/// strings, so keys of another version are not comparable.
pub const IDENTITY_VERSION: &str =
    "chematic-smiles 1.2.1 (RDKit 2026.03 canonical isomeric SMILES)";

/// PDB models larger than this get no SMILES (see [`canonical_smiles`]).
pub const MAX_PDB_ATOMS: usize = 20_000;

/// Why a molecule has no SMILES.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The format carries no bond orders (PDBQT, frames).
    #[error("no SMILES: {0}")]
    NoBondOrders(&'static str),
    /// RDKit itself refuses the molecule (valence, kekulization).
    #[error("no SMILES: RDKit would refuse the molecule: {0}")]
    Sanitization(String),
    /// Beyond what the canonicaliser models (query bonds, …).
    #[error("no SMILES: unsupported: {0}")]
    Unsupported(String),
    /// A SMILES was made but holds characters the `smiles_string` domain
    /// refuses.
    #[error("SMILES outside the smiles_string domain: {0}")]
    Domain(String),
}

/// The identity of one molecule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Canonical isomeric SMILES; `None` with `error` set.
    pub smiles: Option<String>,
    /// blake3 of the canonical SMILES.
    pub key: Option<[u8; 32]>,
    pub error: Option<String>,
    /// Standard InChI and InChIKey (`--identity inchi`).
    pub inchi: Option<String>,
    pub inchikey: Option<String>,
}

impl Identity {
    /// Why RDKit would refuse the molecule (kekulization, valence), when
    /// the canonicaliser found it so.
    pub fn rdkit_refusal(&self) -> Option<&str> {
        self.error
            .as_deref()?
            .strip_prefix("no SMILES: RDKit would refuse the molecule: ")
    }
}

/// [`identify`], through a run's [`cache::IdentityCache`] when there is one.
pub fn identify_cached(
    cache: Option<&cache::IdentityCache>,
    mode: IdentityMode,
    format: Format,
    text: &[u8],
    parsed: &Parsed,
) -> Identity {
    let key = match cache {
        Some(_) if mode != IdentityMode::Off => cache::structure_text_key(format, text, parsed),
        _ => None,
    };
    let (Some(cache), Some(key)) = (cache, key) else {
        return identify(mode, format, text, parsed);
    };
    if let Some(id) = cache.get(&key) {
        return id;
    }
    let id = identify(mode, format, text, parsed);
    cache.insert(key, &id);
    id
}

/// Compute the identity of a parsed record (`text` is the record's own
/// text). Never panics: a canonicaliser panic is an error, not a crash.
pub fn identify(mode: IdentityMode, format: Format, text: &[u8], parsed: &Parsed) -> Identity {
    if mode == IdentityMode::Off {
        return Identity::default();
    }
    let result = std::panic::catch_unwind(|| canonical_smiles(format, text, parsed))
        .unwrap_or_else(|_| Err(IdentityError::Unsupported("canonicaliser panicked".into())));
    let (inchi, inchikey) = if mode == IdentityMode::Inchi {
        inchi_of(format, text, parsed)
    } else {
        (None, None)
    };
    let mut id = match result.and_then(|s| {
        if valid_smiles_chars(&s) {
            Ok(s)
        } else {
            Err(IdentityError::Domain(s))
        }
    }) {
        Ok(s) => Identity {
            key: Some(structure_key(&s)),
            smiles: Some(s),
            error: None,
            ..Identity::default()
        },
        Err(e) => Identity {
            smiles: None,
            key: None,
            error: Some(e.to_string()),
            ..Identity::default()
        },
    };
    id.inchi = inchi;
    id.inchikey = inchikey;
    id
}

/// Standard InChI and InChIKey: from the molfile itself for SDF records (as
/// RDKit and every other toolkit hand it to the IUPAC library), from the
/// canonical SMILES' graph otherwise is not attempted: the IUPAC library
/// reads molfiles, and only SDF records are molfiles.
#[cfg(feature = "inchi")]
fn inchi_of(format: Format, text: &[u8], _parsed: &Parsed) -> (Option<String>, Option<String>) {
    if format != Format::Sdf {
        return (None, None);
    }
    let Ok(block) = std::str::from_utf8(text) else {
        return (None, None);
    };
    // The IUPAC library is not re-entrant: one call at a time.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = LOCK.lock();
    let Ok(out) = inchi::from_molfile(block, ()) else {
        return (None, None);
    };
    let key = inchi::inchikey(out.inchi()).ok();
    (Some(out.inchi().to_owned()), key)
}

#[cfg(not(feature = "inchi"))]
fn inchi_of(_: Format, _: &[u8], _: &Parsed) -> (Option<String>, Option<String>) {
    (None, None)
}

/// The structure key: blake3 of the canonical SMILES.
pub fn structure_key(smiles: &str) -> [u8; 32] {
    *blake3::hash(smiles.as_bytes()).as_bytes()
}

/// The design's `smiles_string` domain: only these characters.
pub fn valid_smiles_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@+-[]()=#$:.%\\/<>".contains(&b))
}

/// The canonical SMILES of a record, as RDKit writes it.
pub fn canonical_smiles(
    format: Format,
    text: &[u8],
    parsed: &Parsed,
) -> Result<String, IdentityError> {
    // RDKit writes dative bonds `->`, the metal chosen by its canonical
    // ranks, and the smiles_string domain takes them (migration
    // 20261209000001). From a SMILES, chematic's sanitization makes the same
    // bonds dative as RDKit's and writes RDKit's strings (tools/rdkit-diff:
    // MetaLigDB's organometallics, DrugBank's `->`). From a molfile the
    // reader's dative bonds (MDL coordination bonds, RDKit's clean-up) are
    // not handed to chematic as such: no string rather than a wrong one.
    let has_dative = parsed
        .mol
        .bonds
        .iter()
        .any(|b| b.order == crate::chem::BondOrder::Dative);
    if has_dative && format != Format::Smiles {
        return Err(IdentityError::Unsupported(
            "organometallic: dative bonds in a molfile (MDL coordination bonds or RDKit's \
             cleanUpOrganometallics) are not canonicalised"
                .into(),
        ));
    }
    let smiles = canonical_smiles_of(format, text, parsed)?;
    // A metal bound to an aromatic ring atom (η-arenes, metallated
    // pyrroles in macrocycles): there chematic's aromaticity and dative
    // bonds part from RDKit's (tools/rdkit-diff on MetaLigDB: 107 of 14,166
    // dative strings differed, all but 2 of them of this shape).
    if has_dative && dative_at_aromatic_atom(&smiles) {
        return Err(IdentityError::Unsupported(
            "organometallic: a dative bond at an aromatic atom (its ring is perceived \
             otherwise than by RDKit)"
                .into(),
        ));
    }
    if kekule_five_ring_heteroaromatic(&smiles) {
        return Err(IdentityError::Unsupported(
            "a five-membered heteroaromatic ring left in Kekulé form (bridged rings: \
             RDKit aromatizes it, the canonicaliser does not)"
                .into(),
        ));
    }
    Ok(smiles)
}

fn canonical_smiles_of(
    format: Format,
    text: &[u8],
    parsed: &Parsed,
) -> Result<String, IdentityError> {
    let rd = |e: chematic_smiles::RdkitSmilesError| match e {
        chematic_smiles::RdkitSmilesError::Sanitization(s) => IdentityError::Sanitization(s),
        chematic_smiles::RdkitSmilesError::Unsupported(s) => IdentityError::Unsupported(s),
    };
    let utf8 = || {
        std::str::from_utf8(text)
            .map_err(|_| IdentityError::Unsupported("record text is not UTF-8".into()))
    };
    match format {
        Format::Sdf => {
            if has_atom_maps(text) {
                return Err(IdentityError::Unsupported(
                    "atom-atom mapping numbers (RDKit writes them into the SMILES)".into(),
                ));
            }
            let mol = graph::to_chematic(&parsed.mol)?;
            chematic_smiles::rdkit_canonical_smiles(&mol).map_err(rd)
        }
        Format::Smiles => {
            let smiles = parsed
                .smiles
                .as_deref()
                .ok_or(IdentityError::Unsupported("no SMILES text".into()))?;
            let mol = chematic_smiles::parse(smiles)
                .map_err(|e| IdentityError::Sanitization(e.to_string()))?;
            chematic_smiles::rdkit_canonical_smiles(&mol).map_err(rd)
        }
        Format::Mol2 => chematic_smiles::rdkit_mol_from_mol2_block(utf8()?, true, true, true)
            .map(|m| m.smiles)
            .map_err(rd),
        // RDKit's proximity bonding is quadratic in this port: a box of
        // tens of thousands of waters would hold up its chunk for seconds.
        Format::Pdb if parsed.mol.atoms.len() > MAX_PDB_ATOMS => {
            Err(IdentityError::Unsupported(format!(
                "model of {} atoms (identity is computed up to {MAX_PDB_ATOMS})",
                parsed.mol.atoms.len()
            )))
        }
        Format::Pdb => {
            match chematic_smiles::rdkit_mol_from_pdb_block(utf8()?, true, true, 0, true) {
                Ok(Some(m)) => Ok(m.smiles),
                Ok(None) => Err(IdentityError::Sanitization(
                    "no molecule in the model".into(),
                )),
                Err(e) => Err(rd(e)),
            }
        }
        // Meeko writes the ligand's SMILES in a REMARK: that gives the bond
        // orders PDBQT lacks.
        Format::Pdbqt => match parsed.smiles.as_deref() {
            Some(smiles) => {
                let mol = chematic_smiles::parse(smiles)
                    .map_err(|e| IdentityError::Sanitization(e.to_string()))?;
                chematic_smiles::rdkit_canonical_smiles(&mol).map_err(rd)
            }
            None => Err(IdentityError::NoBondOrders(
                "PDBQT has AutoDock atom types and no bond orders (and no Meeko REMARK SMILES)",
            )),
        },
        Format::Other(_) => Err(IdentityError::NoBondOrders(
            "chemfiles frames have no bond orders",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smiles_records_are_canonical() {
        let parsed = crate::formats::smiles::parse(b"OC(=O)[C@@H]1CCCN1 proline", 1)
            .unwrap()
            .unwrap();
        let id = identify(IdentityMode::Smiles, Format::Smiles, b"", &parsed);
        assert_eq!(id.smiles.as_deref(), Some("O=C(O)[C@@H]1CCCN1"));
        assert_eq!(id.key, Some(structure_key("O=C(O)[C@@H]1CCCN1")));
        assert_eq!(
            identify(IdentityMode::Off, Format::Smiles, b"", &parsed),
            Identity::default()
        );
    }

    /// Found by tools/rdkit-diff on public sets (answers from RDKit
    /// 2026.09): a ring of aromatic bonds between atoms written aliphatic
    /// that holds an N bound to a metal cannot be kekulized, so RDKit
    /// refuses the SMILES; the same ring without the metal is pyridine.
    #[test]
    fn aromatic_bonds_written_between_aliphatic_atoms_follow_rdkit() {
        let id = |smiles: &[u8]| {
            let clean = |mut p: Parsed| {
                crate::chem::cleanup::clean_up(&mut p.mol);
                p
            };
            let parsed = clean(crate::formats::smiles::parse(smiles, 1).unwrap().unwrap());
            identify(IdentityMode::Smiles, Format::Smiles, smiles, &parsed)
        };
        let refused = id(b"FC:1:C:C:[N]2:C(C:3:[N]([Hg]2):C:C:C(:C3)F):C1");
        assert!(refused.rdkit_refusal().is_some(), "{refused:?}");
        assert_eq!(id(b"C:1:C:C:[N]:C:C1").smiles.as_deref(), Some("c1ccncc1"));
        assert_eq!(
            id(b"[Hg]SCC:1:C:C:C:C:C1").smiles.as_deref(),
            Some("[Hg][S]Cc1ccccc1")
        );
    }
}
