//! Identities already computed in this run, by the text of the structure
//! they were computed from: a vendor file or a library that repeats a
//! structure under other names, ids or data fields pays for its canonical
//! SMILES once. Bounded (it holds the most recent and most used), so
//! memory does not grow with the load.

use super::Identity;
use crate::formats::{Format, Parsed};

/// Entries kept by default: about 100 bytes each (a SMILES and the key).
pub const DEFAULT_ENTRIES: usize = 65_536;

pub struct IdentityCache {
    cache: quick_cache::sync::Cache<[u8; 16], Identity>,
}

impl IdentityCache {
    /// A cache of `entries` identities; `None` for 0 (no caching).
    pub fn new(entries: usize) -> Option<Self> {
        (entries > 0).then(|| IdentityCache {
            cache: quick_cache::sync::Cache::new(entries),
        })
    }

    pub fn get(&self, key: &[u8; 16]) -> Option<Identity> {
        self.cache.get(key)
    }

    pub fn insert(&self, key: [u8; 16], identity: &Identity) {
        self.cache.insert(key, identity.clone());
    }
}

/// What a record's identity is computed from, hashed: for SDF the
/// connection table (counts line to `M  END`: not the title lines, not the
/// data fields), for SMILES the SMILES the reader took from the record.
/// Other formats are not cached (`None`): their structure is spread over
/// the record (MOL2 types, PDB residues).
pub fn structure_text_key(format: Format, text: &[u8], parsed: &Parsed) -> Option<[u8; 16]> {
    let (tag, part) = match format {
        Format::Sdf => {
            // The counts line is the fourth; the table ends at `M  END`.
            let mut start = 0;
            for _ in 0..3 {
                start += memchr::memchr(b'\n', &text[start..])? + 1;
            }
            let end = memchr::memmem::find(&text[start..], b"M  END")? + start;
            (b'S', &text[start..end])
        }
        Format::Smiles => (b'M', parsed.smiles.as_deref()?.as_bytes()),
        _ => return None,
    };
    let mut h = blake3::Hasher::new();
    h.update(&[tag]);
    h.update(part);
    let mut key = [0; 16];
    key.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(format: Format, text: &[u8]) -> Option<[u8; 16]> {
        let parsed = format.parse(text, 1).ok()??;
        structure_text_key(format, text, &parsed)
    }

    #[test]
    fn sdf_key_ignores_title_and_fields_but_not_the_table() {
        let a = b"name1\n  prog\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\nM  END\n> <id>\n1\n\n$$$$\n";
        let b = b"name2\n  other\ncomment\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\nM  END\n> <id>\n2\n\n$$$$\n";
        let c = b"name1\n  prog\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 N   0  0\nM  END\n";
        let ka = key(Format::Sdf, a);
        assert!(ka.is_some());
        assert_eq!(ka, key(Format::Sdf, b));
        assert_ne!(ka, key(Format::Sdf, c));
    }

    #[test]
    fn smiles_key_is_the_smiles_read() {
        let k = key(Format::Smiles, b"CCO ethanol\n");
        assert!(k.is_some());
        assert_eq!(k, key(Format::Smiles, b"CCO\tother name\n"));
        assert_ne!(k, key(Format::Smiles, b"OCC ethanol\n"));
    }
}
