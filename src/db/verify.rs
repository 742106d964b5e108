//! `verify`: which of a source's records are in an organization's tables,
//! asked without writing anything.

use super::tenant;
use crate::error::Result;
use crate::ids::OrgId;
use sqlx::postgres::PgPool;
use std::collections::HashSet;

/// Of these record hashes, the ones the organization holds: as a molecule
/// (record dedup, docking poses) or as an occurrence of one (structure
/// dedup keeps one molecule per structure and every record's text as an
/// occurrence).
pub async fn present(pool: &PgPool, org: OrgId, hashes: &[[u8; 32]]) -> Result<HashSet<[u8; 32]>> {
    let mut found = HashSet::with_capacity(hashes.len());
    let mut tx = tenant(pool, org).await?;
    for chunk in hashes.chunks(10_000) {
        let list: Vec<Vec<u8>> = chunk.iter().map(|h| h.to_vec()).collect();
        let rows: Vec<Vec<u8>> = crate::db::pooler::query_scalar(
            "SELECT m.content_hash FROM unnest($2::bytea[]) AS h(hash)
             JOIN molecules m ON m.organization_id = $1 AND m.content_hash = h.hash
             UNION
             SELECT o.content_hash FROM unnest($2::bytea[]) AS h(hash)
             JOIN molecule_occurrences o ON o.organization_id = $1 AND o.content_hash = h.hash",
        )
        .bind(org)
        .bind(&list)
        .fetch_all(&mut *tx)
        .await?;
        found.extend(
            rows.iter()
                .filter_map(|h| <[u8; 32]>::try_from(h.as_slice()).ok()),
        );
    }
    tx.commit().await?;
    Ok(found)
}
