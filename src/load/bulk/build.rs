//! The bulk tables' keys, indexes and foreign keys, built after the COPYs
//! on the COPY connections at once; and the duplicates of the load, found
//! by the unique key's build and taken out.

use super::super::provenance::Repeat;
use crate::error::Error;
use crate::ids::OrgId;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::sync::Arc;
use uuid::Uuid;

/// Give the filled tables the parents' keys, indexes and foreign keys, on
/// the COPY connections at once, the big GIN indexes first. A unique key
/// the rows break (the same record text twice in the load) is built again
/// after [`dedup`]; returns the duplicates it took out, as repeats.
pub(super) async fn build(
    control: &mut PgConnection,
    conns: Vec<PgConnection>,
    org: OrgId,
) -> Result<Vec<Repeat>, Error> {
    let mut tx = control.begin().await?;
    let mut ddl: Vec<String> = crate::db::pooler::query_scalar(
        "SELECT molingest_bulk_ddl($1, 'molecules') UNION ALL SELECT molingest_bulk_ddl($1, 'molecule_properties')",
    )
    .bind(org)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    ddl.sort_by_key(|s| !s.contains(" gin "));
    let queue = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(ddl)));
    let workers = conns.into_iter().map(|mut conn| {
        let queue = queue.clone();
        async move {
            // Statements a duplicate broke: built again after the dedup.
            let mut broken = Vec::new();
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(statement) = next else { break };
                match build_one(&mut conn, &statement).await {
                    Err(e) if is_unique_violation(&e) => broken.push(statement),
                    r => r?,
                }
            }
            let _ = conn.close().await;
            Ok::<Vec<String>, Error>(broken)
        }
    });
    let mut broken = Vec::new();
    for r in futures_util::future::join_all(workers).await {
        broken.extend(r?);
    }
    if broken.is_empty() {
        return Ok(Vec::new());
    }
    let repeats = dedup(control, org).await?;
    for statement in broken {
        build_one(control, &statement).await?;
    }
    Ok(repeats)
}

/// One DDL statement in its own transaction.
async fn build_one(conn: &mut PgConnection, statement: &str) -> Result<(), Error> {
    // A GIN build in more memory flushes less often (measured: the
    // full-text index of 200,000 names 1.50 s → 1.23 s). Set for the
    // statement's own transaction only: nothing of it outlives the
    // transaction (safe behind a pooler too).
    let mut tx = conn.begin().await?;
    crate::db::pooler::query("SET LOCAL maintenance_work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    crate::db::pooler::query(statement)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn is_unique_violation(e: &Error) -> bool {
    matches!(e.root(), Error::Database(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505"))
}

/// Delete every record of the bulk tables whose text an earlier record of
/// the load brought (COPY order is the load's order, so the first stays,
/// as on the staging path) with its properties; return them as repeats.
/// One sort of the record hashes in PostgreSQL, paid only by a load that
/// holds duplicates.
async fn dedup(control: &mut PgConnection, org: OrgId) -> Result<Vec<Repeat>, Error> {
    let hex = org.simple().to_string();
    let (m, p) = (
        format!("public.molecules_bulk_{hex}"),
        format!("public.molecule_properties_bulk_{hex}"),
    );
    let mut tx = control.begin().await?;
    crate::db::pooler::query(&format!(
        "CREATE TEMP TABLE molingest_bulk_duplicates ON COMMIT DROP AS
         SELECT id, content_hash, file_id, record_index, record_line FROM (
             SELECT id, content_hash, file_id, record_index, record_line,
                    row_number() OVER (PARTITION BY content_hash ORDER BY ctid) AS n
             FROM {m}) d
         WHERE n > 1"
    ))
    .execute(&mut *tx)
    .await?;
    crate::db::pooler::query(&format!(
        "DELETE FROM {p} p USING molingest_bulk_duplicates d WHERE p.molecule_id = d.id"
    ))
    .execute(&mut *tx)
    .await?;
    crate::db::pooler::query(&format!(
        "DELETE FROM {m} m USING molingest_bulk_duplicates d WHERE m.id = d.id"
    ))
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(Vec<u8>, Uuid, i64, Option<i64>)> = crate::db::pooler::query_as(
        "SELECT content_hash, file_id, record_index, record_line FROM molingest_bulk_duplicates",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|(hash, file_id, index, line)| {
            Some(Repeat {
                content_hash: <[u8; 32]>::try_from(hash.as_slice()).ok()?,
                file_id,
                record_index: index.max(0) as u64,
                record_line: line.unwrap_or(0).max(0) as u64,
            })
        })
        .collect())
}
