//! One batch of the staging path, written by a writer connection: COPY
//! into the temporary staging table, move into the partitions, all in one
//! transaction as the tenant; transient faults and stalls retried (see
//! [`write_with_retry`]).

use super::row::{create_stage, STAGE};
use super::sink::Batch;
use super::structure::{Dedup, Moved};
use crate::db::tenant_in_run;
use crate::error::Error;
use crate::ids::{OrgId, RunId};
use crate::pipeline::stats::Stats;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub(super) async fn connect_writer(url: &str) -> Result<PgConnection, Error> {
    let mut conn = crate::db::connection(url, "molingest-writer").await?;
    // Behind a transaction pooler each batch creates its own (write_batch).
    if !crate::db::pooler::transaction_pooler() {
        create_stage(&mut conn).await?;
    }
    Ok(conn)
}

/// How long a writer keeps retrying one batch through transient faults.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// The COPY of one batch into the temporary staging table is a plain data
/// transfer (at most 16 MB, no locks taken): one making no end in this time
/// is stalled. Seen once in CI (the server waiting for data the client
/// never sent, the client waiting too); such a batch is retried on a new
/// connection instead of waiting forever.
const COPY_STALL: Duration = Duration::from_secs(60);

/// A connection that does not answer a ping in this time is replaced.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

fn stalled() -> Error {
    Error::Database(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the COPY of a batch made no end in {} s",
            COPY_STALL.as_secs()
        ),
    )))
}

fn is_stall(e: &Error) -> bool {
    matches!(e.root(), Error::Database(sqlx::Error::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Write a batch, retrying transient faults (a lost connection, an
/// administrator's shutdown of the backend, a serialization failure or
/// deadlock) with backoff for up to [`RETRY_FOR`], on a new connection when
/// the old one is gone. A batch is one transaction and its insert ignores
/// rows already there, so a retry never loses or doubles a row.
pub(super) async fn write_with_retry(
    conn: &mut PgConnection,
    url: &str,
    (org, run, job): (OrgId, RunId, Option<Uuid>),
    batch: &Batch,
    stats: &Stats,
    dedup: Dedup,
) -> Result<(), Error> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(100);
    let mut stalls = 0u32;
    loop {
        let err = match write_batch(conn, (org, run, job), batch, dedup).await {
            Ok((moved, (results, unscored))) => {
                Stats::add(&stats.records_duplicate, batch.held.len() as u64);
                Stats::add(&stats.job_results, results);
                Stats::add(&stats.poses_without_score, unscored);
                // Record duplicates: texts already loaded; structure
                // duplicates: new texts of structures already loaded.
                let new_texts = match dedup {
                    Dedup::Record => moved.molecules,
                    Dedup::Structure => moved.occurrences,
                };
                Stats::add(&stats.records_inserted, moved.molecules);
                Stats::add(
                    &stats.records_duplicate,
                    batch.rows.saturating_sub(new_texts),
                );
                Stats::add(
                    &stats.records_structure_duplicate,
                    new_texts.saturating_sub(moved.molecules),
                );
                return Ok(());
            }
            Err(e) => e,
        };
        let stall = is_stall(&err);
        // A stall is retried once whatever the time spent.
        if !transient(&err) || (start.elapsed() + pause > RETRY_FOR && !(stall && stalls == 0)) {
            return Err(err);
        }
        stalls += u32::from(stall);
        Stats::add(&stats.batches_retried, 1);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
        // A stalled connection is in an unknown state: never reused.
        let alive = !stall
            && matches!(
                tokio::time::timeout(PING_TIMEOUT, conn.ping()).await,
                Ok(Ok(()))
            );
        if !alive {
            match connect_writer(url).await {
                Ok(fresh) => *conn = fresh,
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Faults worth retrying: the connection (I/O, closed pool, protocol),
/// `08…` connection exceptions, `57P01`–`57P03` shutdowns, `40001`
/// serialization failures and `40P01` deadlocks.
fn transient(e: &Error) -> bool {
    match e.root() {
        Error::Database(sqlx::Error::Io(_))
        | Error::Database(sqlx::Error::PoolTimedOut)
        | Error::Database(sqlx::Error::PoolClosed)
        | Error::Database(sqlx::Error::WorkerCrashed)
        | Error::Database(sqlx::Error::Protocol(_)) => true,
        Error::Database(sqlx::Error::Database(d)) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }),
        _ => false,
    }
}

/// One batch in one transaction; returns what was new, and how many job
/// results were recorded and how many of those had no score.
async fn write_batch(
    conn: &mut PgConnection,
    (org, run, job): (OrgId, RunId, Option<Uuid>),
    batch: &Batch,
    dedup: Dedup,
) -> Result<(Moved, (u64, u64)), Error> {
    let mut tx = tenant_in_run(&mut *conn, org, Some(run)).await?;
    // A run stopped mid-batch drops this connection: the server notices
    // within a second and stops the statement, rather than finishing a
    // batch nobody will commit.
    crate::db::pooler::query("SELECT set_config('client_connection_check_interval', '1000', true)")
        .execute(&mut *tx)
        .await?;
    let mut moved = Moved::default();
    let mut results = (0, 0);
    if batch.rows > 0 {
        if crate::db::pooler::transaction_pooler() {
            // Created as the organization's role, which owns it; gone at commit.
            crate::db::pooler::query(&STAGE.ddl_in_transaction)
                .execute(&mut *tx)
                .await?;
        }
        let copied = tokio::time::timeout(COPY_STALL, async {
            let mut copy = tx.copy_in_raw(&STAGE.copy).await?;
            copy.send(batch.copy.as_slice()).await?;
            copy.finish().await?;
            Ok::<(), Error>(())
        })
        .await;
        match copied {
            Ok(r) => r?,
            // The transaction is dropped unfinished; the caller replaces
            // the connection.
            Err(_) => return Err(stalled()),
        }
        moved = match dedup {
            Dedup::Record => Moved {
                molecules: crate::db::pooler::query(&STAGE.move_rows)
                    .bind(org)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
                occurrences: 0,
            },
            Dedup::Structure => super::structure::move_by_structure(&mut tx, org).await?,
        };
        // Records that brought nothing new are repeats; a batch of only
        // new records (the usual load) skips the lookup.
        let new_texts = match dedup {
            Dedup::Record => moved.molecules,
            Dedup::Structure => moved.occurrences,
        };
        if new_texts < batch.rows {
            crate::db::pooler::query(&STAGE.record_repeats)
                .bind(org)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(job) = job {
            let (n, unscored): (i64, i64) = crate::db::pooler::query_as(&STAGE.job_results)
                .bind(org)
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
            results = (n as u64, unscored as u64);
        }
    }
    if !batch.held.is_empty() {
        let missing = super::provenance::record_held(&mut tx, org, &batch.held).await?;
        if missing > 0 {
            return Err(Error::Pipeline(format!(
                "{missing} records found already loaded were removed from the organization \
                 while this run read them (a purge or an erasure beside it); their files are \
                 read again by the next run"
            )));
        }
    }
    tx.commit().await?;
    Ok((moved, results))
}
