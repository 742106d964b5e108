//! Administrator DDL on the shared parent tables — the bulk first load's
//! attach, a purge's detach — needs their ACCESS EXCLUSIVE lock for
//! milliseconds. Tenants cannot take a strong lock any more (migration
//! `tenant_availability`), but every tenant transaction that has read or
//! written a parent holds a weak one until it ends, and one left open
//! would hold the DDL (and, behind it in the lock queue, everyone) for as
//! long as it likes. So the DDL runs with a bounded `lock_timeout`, and a
//! watcher on a connection of its own ends the tenant sessions that block
//! it for longer than [`GRACE`] — never an administrator's or a
//! superuser's session, which are waited for (and the DDL retried).

use crate::error::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Postgres, Row, Transaction};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a tenant session may block administrator DDL before it is ended.
pub const GRACE: Duration = Duration::from_secs(2);

/// Each attempt's lock wait, and how many attempts (for blockers that are
/// not tenants: the bound is about a minute).
const LOCK_TIMEOUT: &str = "10s";
const ATTEMPTS: u32 = 6;

/// The future a DDL step returns, borrowing its transaction.
pub type Step<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Run `step` in a transaction on `conn` with a bounded lock wait, retried
/// on lock timeouts, while tenant sessions that block it are ended after
/// [`GRACE`]. `watch` connects the watcher. Returns the step's value and
/// the sessions ended (as `pid (role)`).
pub async fn with_parent_locks<T, F>(
    conn: &mut PgConnection,
    watch: PgConnectOptions,
    mut step: F,
) -> Result<(T, Vec<String>)>
where
    F: for<'a, 'c> FnMut(&'a mut Transaction<'c, Postgres>) -> Step<'a, T>,
{
    let ended = Arc::new(Mutex::new(Vec::new()));
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let mut watcher = None;
        let result = async {
            let mut tx = conn.begin().await?;
            // The backend is asked inside the transaction: behind a pooler
            // each transaction may run on another server connection.
            let pid: i32 = super::pooler::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *tx)
                .await?;
            watcher = Some(tokio::spawn(end_tenant_blockers(
                watch.clone(),
                pid,
                ended.clone(),
            )));
            for setting in [
                format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"),
                // Waiting for locks is bounded; the work is not (the check
                // of a foreign key grows with the rows).
                "SET LOCAL statement_timeout = 0".to_owned(),
            ] {
                super::pooler::query(&setting).execute(&mut *tx).await?;
            }
            let value = step(&mut tx).await?;
            tx.commit().await?;
            Ok::<T, Error>(value)
        }
        .await;
        if let Some(w) = watcher {
            w.abort();
        }
        match result {
            Err(e) if lock_timeout(&e) && attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break other,
        }
    };
    let ended = ended
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    result.map(|v| (v, ended))
}

/// Say on stderr which tenant sessions were ended (nothing if none).
pub fn tell(ended: &[String]) {
    if !ended.is_empty() {
        eprintln!(
            "molingest: note: ended {} tenant session(s) that held the shared tables for more than {} s: {}",
            ended.len(),
            GRACE.as_secs(),
            ended.join(", ")
        );
    }
}

fn lock_timeout(e: &Error) -> bool {
    matches!(e.root(), Error::Database(sqlx::Error::Database(d)) if d.code().as_deref() == Some("55P03"))
}

/// Every 250 ms: who blocks `pid`? Tenant sessions (members of
/// `molingest_app` that are not members of the tables' owner, which rules
/// out administrators and superusers) seen blocking for [`GRACE`] are
/// terminated. Errors end the watcher quietly: the DDL's own lock timeout
/// still bounds the wait.
async fn end_tenant_blockers(watch: PgConnectOptions, pid: i32, ended: Arc<Mutex<Vec<String>>>) {
    let Ok(mut conn) =
        PgConnection::connect_with(&watch.application_name("molingest-preempt")).await
    else {
        return;
    };
    let mut since: HashMap<i32, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        // The simple protocol (no parameters: the pid is an integer of
        // ours), which works through a transaction pooler as well.
        let sql = format!(
            "SELECT b.pid, coalesce(b.usename::text, '')
             FROM pg_stat_activity b
             WHERE b.pid = ANY (pg_blocking_pids({pid}))
               AND b.usesysid IS NOT NULL
               AND pg_has_role(b.usesysid, 'molingest_app', 'MEMBER')
               AND NOT pg_has_role(b.usesysid,
                     (SELECT relowner FROM pg_class WHERE oid = 'public.organizations'::regclass),
                     'MEMBER')"
        );
        let blockers: Vec<(i32, String)> =
            match sqlx::Executor::fetch_all(&mut conn, sql.as_str()).await {
                Ok(rows) => rows
                    .iter()
                    .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
                    .collect(),
                Err(_) => return,
            };
        let now = Instant::now();
        since.retain(|p, _| blockers.iter().any(|(b, _)| b == p));
        for (blocker, role) in blockers {
            let first = *since.entry(blocker).or_insert(now);
            if now.duration_since(first) < GRACE {
                continue;
            }
            let done: Result<bool, sqlx::Error> = sqlx::Executor::fetch_one(
                &mut conn,
                format!("SELECT pg_terminate_backend({blocker})").as_str(),
            )
            .await
            .and_then(|r| r.try_get(0));
            if matches!(done, Ok(true)) {
                since.remove(&blocker);
                ended
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(format!("{blocker} ({role})"));
            }
        }
    }
}
