//! What an organization already holds: its completed files, by location
//! and by content, so a re-run skips them without reading a byte.

use crate::error::Result;
use crate::ids::OrgId;
use crate::pipeline::{Known, Progress};
use crate::source::FileJob;
use sqlx::postgres::PgConnection;
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// Completed files of an organization, to recognise unchanged input.
#[derive(Debug, Default)]
pub struct KnownFiles {
    by_hash: HashSet<[u8; 32]>,
    /// source_uri → (size, mtime in µs, ETag) of its newest completed load.
    by_location: HashMap<String, (i64, Option<i64>, Option<String>)>,
    /// Incomplete files' committed progress, by content hash.
    progress: HashMap<[u8; 32], Progress>,
    /// Contents that failed for a reason of their own, with why.
    failed: HashMap<[u8; 32], String>,
}

impl Known for KnownFiles {
    fn progress(&self, hash: &[u8; 32]) -> Option<Progress> {
        self.progress.get(hash).copied()
    }

    /// Same location and size, and the same ETag (objects) or modification
    /// time (files). Nothing is read to decide it.
    fn unchanged(&self, job: &FileJob) -> bool {
        let Some((size, mtime, etag)) = self.by_location.get(&job.uri) else {
            return false;
        };
        if *size != job.size as i64 {
            return false;
        }
        match (etag, &job.etag) {
            (Some(a), Some(b)) => a == b,
            _ => mtime.is_some() && *mtime == job.mtime_ns.map(|n| n / 1000),
        }
    }

    fn loaded(&self, hash: &[u8; 32]) -> bool {
        self.by_hash.contains(hash)
    }

    fn failed_before(&self, hash: &[u8; 32]) -> Option<String> {
        self.failed.get(hash).cloned()
    }

    fn vanished(&self, prefix: &str, seen: &HashSet<String>) -> Vec<String> {
        let under = |uri: &str| {
            uri.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
            })
        };
        let mut gone: Vec<String> = self
            .by_location
            .keys()
            .filter(|uri| under(uri) && !seen.contains(*uri))
            .cloned()
            .collect();
        gone.sort();
        gone
    }
}

pub async fn known_files(conn: &mut PgConnection, org: OrgId) -> Result<KnownFiles> {
    let mut tx = crate::db::tenant_bookkeeping(&mut *conn, org, None).await?;
    let rows = crate::db::pooler::query(
        "SELECT content_hash, source_uri, size_bytes,
                (extract(epoch FROM source_mtime) * 1000000)::bigint, etag
         FROM molecule_files WHERE status = 'completed' AND retired_at IS NULL ORDER BY created_at",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut known = KnownFiles::default();
    for r in rows {
        let hash: Vec<u8> = r.get(0);
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            known.by_hash.insert(h);
        }
        known
            .by_location
            .insert(r.get(1), (r.get(2), r.get(3), r.get(4)));
    }
    let mut tx = crate::db::tenant_bookkeeping(&mut *conn, org, None).await?;
    let rows = crate::db::pooler::query(
        "SELECT content_hash, committed_records, committed_offset, committed_line
         FROM molecule_files
         WHERE status <> 'completed' AND committed_records > 0 AND retired_at IS NULL",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    for r in rows {
        let hash: Vec<u8> = r.get(0);
        let (records, offset, line): (i64, i64, i64) = (r.get(1), r.get(2), r.get(3));
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            known.progress.insert(
                h,
                Progress {
                    records: records as u64,
                    offset: offset as u64,
                    line: line as u64,
                },
            );
        }
    }
    let mut tx = crate::db::tenant_bookkeeping(&mut *conn, org, None).await?;
    let rows = crate::db::pooler::query(
        "SELECT content_hash, coalesce(error, '') FROM molecule_files
         WHERE status = 'failed' AND failed_on_content AND retired_at IS NULL
         UNION ALL
         SELECT content_hash, reason FROM refused_files",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    for r in rows {
        let hash: Vec<u8> = r.get(0);
        if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
            known.failed.insert(h, r.get(1));
        }
    }
    Ok(known)
}

/// Which records the organization already holds, by the hash of their text
/// (`molecules.content_hash`, or a further text of a structure under
/// `--dedup structure`): the held stage asks a chunk at a time, on a
/// connection of its own, as the tenant.
pub struct HeldInDatabase {
    rt: tokio::runtime::Handle,
    conn: std::sync::Mutex<PgConnection>,
    org: OrgId,
}

impl HeldInDatabase {
    /// `None` when the organization holds no molecule yet: a first load
    /// (on the staging path) would look up every record for nothing. A
    /// record another run loads meanwhile is then parsed, and the writers'
    /// ON CONFLICT finds it.
    pub async fn open(rt: tokio::runtime::Handle, url: &str, org: OrgId) -> Result<Option<Self>> {
        let mut conn = crate::db::connect::bookkeeping(url, "molingest-held").await?;
        let mut tx = crate::db::tenant_bookkeeping(&mut conn, org, None).await?;
        let any: bool = crate::db::pooler::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM molecules WHERE organization_id = $1)",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if !any {
            use sqlx::Connection;
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(HeldInDatabase {
            rt,
            conn: std::sync::Mutex::new(conn),
            org,
        }))
    }

    async fn lookup(conn: &mut PgConnection, org: OrgId, hashes: &[[u8; 32]]) -> Result<Vec<i64>> {
        let hashes: Vec<&[u8]> = hashes.iter().map(|h| h.as_slice()).collect();
        let mut tx = crate::db::tenant_bookkeeping(&mut *conn, org, None).await?;
        let held: Vec<i64> = crate::db::pooler::query_scalar(
            "SELECT u.i FROM UNNEST($2::bytea[]) WITH ORDINALITY AS u(hash, i)
             WHERE EXISTS (SELECT 1 FROM molecules m
                           WHERE m.organization_id = $1 AND m.content_hash = u.hash)
                OR EXISTS (SELECT 1 FROM molecule_occurrences o
                           WHERE o.organization_id = $1 AND o.content_hash = u.hash)",
        )
        .bind(org)
        .bind(&hashes)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(held)
    }
}

impl crate::pipeline::HeldRecords for HeldInDatabase {
    fn held(&self, hashes: &[[u8; 32]]) -> Vec<bool> {
        let mut out = vec![false; hashes.len()];
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Unanswered, nothing is held: the records are parsed and the
        // writers' ON CONFLICT finds them, as before this lookup existed.
        if let Ok(held) = self.rt.block_on(Self::lookup(&mut conn, self.org, hashes)) {
            for i in held {
                if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
                    *slot = true;
                }
            }
        }
        out
    }
}
