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

/// Records the held stage found already loaded (never parsed or staged):
/// each becomes a repeat of the molecule its text is, unless it is that
/// molecule's own first record (a file read again with `--full`). Returns
/// how many of them the organization no longer holds: removed since the
/// lookup (a purge or an erasure beside the run); the batch then fails and
/// its file is read again by the next run.
pub async fn record_held(
    conn: &mut PgConnection,
    org: OrgId,
    held: &[(Vec<u8>, crate::pipeline::HeldRecord)],
) -> Result<u64, Error> {
    let file: Vec<&[u8]> = held.iter().map(|(f, _)| f.as_slice()).collect();
    let hash: Vec<&[u8]> = held.iter().map(|(_, r)| r.hash.as_slice()).collect();
    let index: Vec<i64> = held.iter().map(|(_, r)| r.index as i64).collect();
    let line: Vec<i64> = held.iter().map(|(_, r)| r.line as i64).collect();
    let missing: i64 = crate::db::pooler::query_scalar(
        "WITH u AS (
            SELECT f.id AS file_id, u.index, u.line,
                   coalesce(m.id, o.molecule_id) AS molecule_id,
                   (m.id IS NOT NULL AND (m.file_id, m.record_index) = (f.id, u.index))
                   OR (o.molecule_id IS NOT NULL AND (o.file_id, o.record_index) = (f.id, u.index)) AS own
            FROM UNNEST($2::bytea[], $3::bytea[], $4::int8[], $5::int8[]) AS u(file_hash, hash, index, line)
            JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = u.file_hash
            LEFT JOIN molecules m ON m.organization_id = $1 AND m.content_hash = u.hash
            LEFT JOIN molecule_occurrences o ON o.organization_id = $1 AND o.content_hash = u.hash),
         ins AS (
            INSERT INTO molecule_records (organization_id, file_id, record_index, record_line, molecule_id)
            SELECT $1, file_id, index, line, molecule_id FROM u
            WHERE molecule_id IS NOT NULL AND NOT own
            ORDER BY file_id, index
            ON CONFLICT DO NOTHING)
         SELECT $6::int8 - count(*) FILTER (WHERE molecule_id IS NOT NULL) FROM u",
    )
    .bind(org)
    .bind(&file)
    .bind(&hash)
    .bind(&index)
    .bind(&line)
    .bind(held.len() as i64)
    .fetch_one(&mut *conn)
    .await?;
    Ok(missing.max(0) as u64)
}
