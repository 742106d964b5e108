//! `load --dedup structure`: one molecule per structure (its structure key,
//! derived from the canonical SMILES), and one `molecule_occurrences` row
//! per distinct record of it — file, record, line, name and its own data
//! fields — so nothing is silently dropped. Molecules without a key (no
//! SMILES could be made) fall back to record dedup.

use super::row::{Dest, COLUMNS, STAGE_TABLE};
use crate::error::Error;
use crate::ids::OrgId;
use sqlx::postgres::PgConnection;
use std::sync::LazyLock;

/// How a load deduplicates (`--dedup`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dedup {
    /// By the record's content hash: the same text is one molecule.
    #[default]
    Record,
    /// By structure key: the same structure is one molecule, every record
    /// of it an occurrence.
    Structure,
}

/// What one batch did under structure dedup.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moved {
    /// New molecules (new structures, or new records without a key).
    pub molecules: u64,
    /// New occurrences (records whose text was not loaded before).
    pub occurrences: u64,
}

struct Sql {
    molecules: String,
    occurrences: String,
}

static SQL: LazyLock<Sql> = LazyLock::new(|| {
    let cols = |dest: Dest| {
        COLUMNS
            .iter()
            .filter(move |c| c.dest == dest)
            .map(|c| c.name)
            .collect::<Vec<_>>()
    };
    let m = cols(Dest::Molecules);
    let p = cols(Dest::Properties);
    let s = |v: &[&str]| {
        v.iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // One row per new structure (the first record of it in the batch), none
    // for structures or record texts the organization already holds.
    let molecules = format!(
        "WITH pick AS (
            SELECT DISTINCT ON (coalesce(s.structure_key, s.content_hash)) s.*, f.id AS fid
            FROM {STAGE_TABLE} s
            JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = s.file_hash
            WHERE NOT EXISTS (SELECT 1 FROM molecules m WHERE m.organization_id = $1
                                AND m.structure_key = s.structure_key)
              AND NOT EXISTS (SELECT 1 FROM molecule_occurrences o WHERE o.organization_id = $1
                                AND o.content_hash = s.content_hash)
            ORDER BY coalesce(s.structure_key, s.content_hash), s.file_hash, s.record_index),
         ins AS (
            INSERT INTO molecules (id, organization_id, file_id, {m_cols})
            SELECT s.id, $1, s.fid, {m_vals} FROM pick s
            ORDER BY s.content_hash
            ON CONFLICT (organization_id, content_hash) DO NOTHING
            RETURNING id)
         INSERT INTO molecule_properties (organization_id, molecule_id, {p_cols})
         SELECT $1, s.id, {p_vals} FROM pick s JOIN ins ON ins.id = s.id",
        m_cols = m.join(", "),
        m_vals = s(&m),
        p_cols = p.join(", "),
        p_vals = s(&p),
    );
    // Every record of the batch is an occurrence of its molecule: the one
    // with its text if there is one, else the first of its structure.
    let occurrences = format!(
        "INSERT INTO molecule_occurrences (organization_id, molecule_id, file_id, record_index,
                                          record_line, content_hash, name, properties)
         SELECT DISTINCT ON (s.content_hash) $1, coalesce(c.id, k.id), f.id, s.record_index,
                s.record_line, s.content_hash, s.name, s.properties
         FROM {STAGE_TABLE} s
         JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = s.file_hash
         LEFT JOIN molecules c ON c.organization_id = $1 AND c.content_hash = s.content_hash
         LEFT JOIN LATERAL (SELECT m.id FROM molecules m
                            WHERE m.organization_id = $1 AND m.structure_key = s.structure_key
                            ORDER BY m.created_at, m.id LIMIT 1) k ON true
         WHERE coalesce(c.id, k.id) IS NOT NULL
         ORDER BY s.content_hash
         ON CONFLICT (organization_id, content_hash) DO NOTHING"
    );
    Sql {
        molecules,
        occurrences,
    }
});

/// Move the staged batch in by structure. Batches of one organization take
/// turns here (a transaction-scoped advisory lock), so two writers never
/// insert the same new structure twice.
pub async fn move_by_structure(conn: &mut PgConnection, org: OrgId) -> Result<Moved, Error> {
    let (hi, lo) = org.as_u64_pair();
    crate::db::pooler::query("SELECT pg_advisory_xact_lock($1)")
        .bind((hi ^ lo ^ 0x5354_5255_4354) as i64)
        .execute(&mut *conn)
        .await?;
    let molecules = crate::db::pooler::query(&SQL.molecules)
        .bind(org)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let occurrences = crate::db::pooler::query(&SQL.occurrences)
        .bind(org)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(Moved {
        molecules,
        occurrences,
    })
}
