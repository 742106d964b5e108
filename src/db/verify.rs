//! `verify`: which of a source's records are in an organization's tables,
//! asked without writing anything.

use super::tenant;
use crate::error::Result;
use sqlx::postgres::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

/// Of these record hashes, the ones the organization holds.
pub async fn present(pool: &PgPool, org: Uuid, hashes: &[[u8; 32]]) -> Result<HashSet<[u8; 32]>> {
    let mut found = HashSet::with_capacity(hashes.len());
    let mut tx = tenant(pool, org).await?;
    for chunk in hashes.chunks(10_000) {
        let list: Vec<Vec<u8>> = chunk.iter().map(|h| h.to_vec()).collect();
        let rows: Vec<Vec<u8>> = crate::db::pooler::query_scalar(
            "SELECT content_hash FROM molecules WHERE organization_id = $1 AND content_hash = ANY($2)",
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
