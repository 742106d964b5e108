//! A run's hold on its source: the lease taken before anything is written
//! (a second load of the same source waits for the first), renewed by a
//! task of its own, and given back when the run ends, however it ends
//! ([`Watch`] is a drop guard).

use crate::db;
use crate::error::Result;
use crate::ids::OrgId;
use crate::pipeline::Cancel;
use sqlx::PgConnection;
use uuid::Uuid;

/// One load of a source into an organization at a time: a second one waits
/// for the first, then finds its work done. The lease is taken and renewed
/// on a connection of its own.
pub async fn take_lock(
    url: &str,
    org: OrgId,
    org_name: &str,
    source: &str,
) -> Result<(PgConnection, db::Leases)> {
    let mut conn = db::connect::bookkeeping(url, "molingest-lock").await?;
    let holder = Uuid::now_v7();
    let mut told = false;
    loop {
        if let Some(leases) = db::try_lease_source(&mut conn, org, source, holder).await? {
            return Ok((conn, leases));
        }
        if !told {
            eprintln!(
                "molingest: another load of {source} into {org_name} is running; waiting for it to finish"
            );
            told = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The run's leases, renewed every [`crate::load::runs::RENEW_EVERY`] on the lock's
/// connection: if a renewal fails (the connection ended, the database
/// stopped answering, the lease expired and another run took it), the run
/// stops before another can write beside it. Dropped at the end of the
/// run (or on its failure): the leases are given back.
pub struct Watch {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    leases: tokio::sync::watch::Sender<db::Leases>,
}

impl Watch {
    pub fn start(
        handle: &tokio::runtime::Handle,
        lock: PgConnection,
        leases: db::Leases,
        cancel: Cancel,
    ) -> Watch {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::watch::channel(leases);
        let task = handle.spawn(watch_lock(lock, rx, stopped, cancel));
        Watch {
            handle: handle.clone(),
            stop: Some(stop),
            task: Some(task),
            leases: tx,
        }
    }

    /// The leases changed (the organization's was taken for a bulk load).
    pub fn set(&mut self, leases: &db::Leases) {
        let _ = self.leases.send(leases.clone());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = self.handle.block_on(async move {
                tokio::time::timeout(std::time::Duration::from_secs(10), task).await
            });
        }
    }
}

async fn watch_lock(
    mut lock: PgConnection,
    leases: tokio::sync::watch::Receiver<db::Leases>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    cancel: Cancel,
) {
    let mut tick = tokio::time::interval(crate::load::runs::RENEW_EVERY);
    let mut lost = false;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        if lost {
            continue;
        }
        let current = leases.borrow().clone();
        let renewed =
            tokio::time::timeout(std::time::Duration::from_secs(10), current.renew(&mut lock))
                .await;
        if !matches!(renewed, Ok(Ok(true))) {
            cancel.set(Cancel::LOCK_LOST);
            lost = true;
        }
    }
    if !lost {
        let current = leases.borrow().clone();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            current.release(&mut lock),
        )
        .await;
    }
}
