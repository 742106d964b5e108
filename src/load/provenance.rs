//! Provenance: every record a molecule was read from. The first is on the
//! molecule itself, a further distinct text of its structure is an
//! occurrence, and every repeat (the same text again, in another file or in
//! the same one) is a `molecule_records` row; the view
//! `molecule_provenance` joins the three (migration 20261208000001). The
//! staging path writes repeats per batch (`STAGE.record_repeats`); the bulk
//! path keeps its repeats here and writes them in its attach transaction.

use crate::error::Error;
use crate::ids::OrgId;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

/// A record whose text an earlier record of the load already brought.
#[derive(Debug, Clone)]
pub struct Repeat {
    pub content_hash: [u8; 32],
    pub file_id: Uuid,
    pub record_index: u64,
    pub record_line: u64,
}

/// Write the repeats, each pointing at the molecule its text became (found
/// by content hash, so it holds whether the bulk tables were attached or
/// merged). Returns the rows written.
pub async fn record_repeats(
    conn: &mut PgConnection,
    org: OrgId,
    repeats: &[Repeat],
) -> Result<u64, Error> {
    let mut written = 0;
    for chunk in repeats.chunks(50_000) {
        let hash: Vec<Vec<u8>> = chunk.iter().map(|r| r.content_hash.to_vec()).collect();
        let file: Vec<Uuid> = chunk.iter().map(|r| r.file_id).collect();
        let index: Vec<i64> = chunk.iter().map(|r| r.record_index as i64).collect();
        let line: Vec<i64> = chunk.iter().map(|r| r.record_line as i64).collect();
        written += crate::db::pooler::query(
            "INSERT INTO molecule_records (organization_id, file_id, record_index, record_line, molecule_id)
             SELECT $1, u.file, u.index, u.line, m.id
             FROM UNNEST($2::bytea[], $3::uuid[], $4::int8[], $5::int8[]) AS u(hash, file, index, line)
             JOIN molecules m ON m.organization_id = $1 AND m.content_hash = u.hash
             WHERE (m.file_id, m.record_index) IS DISTINCT FROM (u.file, u.index)
             ORDER BY u.file, u.index
             ON CONFLICT DO NOTHING",
        )
        .bind(org)
        .bind(&hash)
        .bind(&file)
        .bind(&index)
        .bind(&line)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(written)
}
