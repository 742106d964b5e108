//! The bulk first load: an organization's first load at PostgreSQL's best
//! speed, with the same end state as the staging path.
//!
//! While the pipeline parses, two connections each fill a standalone table
//! (`molecules_bulk_<org>`, `molecule_properties_bulk_<org>`, shaped like
//! the parents) by one binary `COPY … FREEZE` in the transaction that
//! created it: no trigger, no index, no foreign key runs per row. At the
//! end the same two connections build the parents' keys, indexes and
//! foreign keys (`molingest_bulk_ddl`). Duplicates are found by the build
//! of the unique key on the record hash, not held in memory (memory stays
//! flat at any size): when it finds one, every duplicate is deleted (the
//! first record of each text stays) and recorded as a repeat, and the key
//! is built again ([`build::dedup`]). Then one short transaction swaps
//! the tables in for the organization's empty partitions, writes the audit
//! rows and completes the files (`molingest_bulk_attach`).
//!
//! Who takes it ([`super::path::choose`]): the schema's owner (a tenant login cannot
//! create tables: it loads through the staging path, and is told so), for
//! an organization with no molecules, under the organization's own
//! lease (a row of `load_leases`) held exclusively: a bulk load starts only
//! when no other load of the organization holds a lease, and loads that
//! arrive during a bulk load wait for it and then load incrementally.
//!
//! Behind a transaction pooler: every statement runs in a transaction (the
//! COPYs each in the one that created its table, held for the load: two
//! server connections of the pool for its length), so the path is the same.
//!
//! Crash safety: until the attach commits, nothing of the load is visible;
//! a killed run leaves either nothing (the COPY transactions roll back) or
//! unattached tables, which the next run drops. The files are completed in
//! the attach transaction, so the next run reads them again.

mod build;

use super::files::{file_ids, mark_completed, register_files, remember_refused};
use super::kill_point;
use super::provenance::{record_repeats, Repeat};
use super::row::{BulkRows, BULK};
use super::sink::FileDone;
use super::sync::{Seen, SeenFiles};
use crate::error::Error;
use crate::ids::{OrgId, RunId};
use crate::pipeline::stats::Stats;
use crate::pipeline::{Event, FileEnd, FileInfo, Known, Needs, NothingKnown, Outcome, Sink};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use uuid::Uuid;

/// What a COPY task is sent.
enum Chunk {
    Data(Vec<u8>),
    /// Every row was sent: finish the COPY and commit.
    End,
}

/// The binary COPY header: signature, flags, header extension length.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// A buffer is sent to its COPY when it holds this much.
const CHUNK: usize = 1 << 20;

type CopyTask = tokio::task::JoinHandle<Result<PgConnection, Error>>;

pub struct BulkSink {
    rt: Handle,
    org: OrgId,
    run: RunId,
    stats: Arc<Stats>,
    /// Holds the organization lock; registers and completes files; attaches.
    control: PgConnection,
    /// How the attach's watcher connects (see [`crate::db::preempt`]).
    watch: sqlx::postgres::PgConnectOptions,
    known: Arc<SeenFiles>,
    file_ids: HashMap<[u8; 32], Uuid>,
    molecules: Vec<u8>,
    properties: Vec<u8>,
    /// The molecules COPY, then the properties COPY.
    copies: Vec<(mpsc::Sender<Chunk>, CopyTask)>,
    rows: u64,
    duplicates: u64,
    /// Records whose text an earlier record brought: written at attach.
    repeats: Vec<Repeat>,
    /// Files refused for their own bytes (see [`remember_refused`]).
    refused: Vec<crate::error::Reject>,
    ended: Vec<(Arc<FileInfo>, FileEnd, u64)>,
    done: Vec<FileDone>,
    /// Files begun but not registered yet, and the records that wait for
    /// their ids (registered together: see [`BulkSink::register_pending`]).
    unregistered: Vec<Arc<FileInfo>>,
    waiting: Vec<(Arc<FileInfo>, Vec<Outcome>)>,
    waiting_bytes: usize,
}

/// Files registered in one statement, at most; and how many encoded bytes
/// of records may wait for their files' registration.
const REGISTER_FILES: usize = 2000;
const WAITING_BYTES: usize = 8 << 20;

impl BulkSink {
    /// Start the two COPYs (each creates its table in its transaction).
    pub fn open(
        rt: &Handle,
        url: &str,
        (org, run): (OrgId, RunId),
        mut control: PgConnection,
        reread_all: bool,
        stats: Arc<Stats>,
    ) -> Result<Self, Error> {
        let known: Arc<dyn Known> = if reread_all {
            Arc::new(NothingKnown)
        } else {
            Arc::new(
                rt.block_on(super::known::known_files(&mut control, org))
                    .map_err(|e| e.during("reading the organization's loaded files"))?,
            )
        };
        let watch = crate::db::connect::options(url)?;
        let mut copies = Vec::new();
        for parent in ["molecules", "molecule_properties"] {
            let conn = rt.block_on(crate::db::connection(url, "molingest-bulk"))?;
            let (tx, rx) = mpsc::channel(4);
            copies.push((tx, rt.spawn(fill(conn, org, parent, rx, stats.clone()))));
        }
        Ok(BulkSink {
            rt: rt.clone(),
            org,
            run,
            stats,
            control,
            watch,
            known: SeenFiles::wrap(known),
            file_ids: HashMap::new(),
            molecules: Vec::with_capacity(CHUNK + (64 << 10)),
            properties: Vec::with_capacity(CHUNK + (64 << 10)),
            copies,
            rows: 0,
            duplicates: 0,
            repeats: Vec::new(),
            refused: Vec::new(),
            ended: Vec::new(),
            done: Vec::new(),
            unregistered: Vec::new(),
            waiting: Vec::new(),
            waiting_bytes: 0,
        })
    }

    pub fn files_done(&self) -> &[FileDone] {
        &self.done
    }

    /// What the run saw of its sources (for `--sync`).
    pub fn seen(&self) -> Seen {
        self.known.seen()
    }

    /// Send the buffers to their COPYs.
    fn send(&mut self, last: bool) -> Result<(), Error> {
        let mut sent = true;
        let bufs = [&mut self.molecules, &mut self.properties];
        for ((tx, _), buf) in self.copies.iter().zip(bufs) {
            if !buf.is_empty() {
                let data = std::mem::replace(buf, Vec::with_capacity(CHUNK + (64 << 10)));
                sent &= tx.blocking_send(Chunk::Data(data)).is_ok();
            }
            if last {
                sent &= tx.blocking_send(Chunk::End).is_ok();
            }
        }
        if sent {
            Ok(())
        } else {
            Err(self.copy_failed())
        }
    }

    /// A COPY task stopped: its error says why.
    fn copy_failed(&mut self) -> Error {
        for (tx, task) in std::mem::take(&mut self.copies) {
            drop(tx);
            match self.rt.block_on(task) {
                Ok(Err(e)) => return e,
                Err(e) => return Error::Pipeline(format!("bulk COPY: {e}")),
                Ok(Ok(_)) => {}
            }
        }
        Error::Pipeline("bulk COPY stopped".into())
    }

    /// Register the files begun since the last time, in one statement (a
    /// round trip and an audit row per file made many small files cost 5 ms
    /// each), then take in the records that waited for their file's id.
    fn register_pending(&mut self) -> Result<(), Error> {
        if self.unregistered.is_empty() {
            return Ok(());
        }
        let (org, run) = (self.org, self.run);
        let files = std::mem::take(&mut self.unregistered);
        let hashes: Vec<[u8; 32]> = files.iter().filter_map(|f| f.hash).collect();
        // The insert returns the new rows' ids; only files registered by an
        // earlier run (rare) are looked up. (A lookup of every file, planned
        // once while the table was small, cost 5-6 s for 20,000 files.)
        let ids = self
            .rt
            .block_on(async {
                let mut ids = register_files(&mut self.control, org, run, &files).await?;
                let new: std::collections::HashSet<[u8; 32]> =
                    ids.iter().map(|(h, _)| *h).collect();
                let old: Vec<[u8; 32]> = hashes.into_iter().filter(|h| !new.contains(h)).collect();
                if !old.is_empty() {
                    ids.extend(file_ids(&mut self.control, org, &old).await?);
                }
                Ok::<_, Error>(ids)
            })
            .map_err(|e| e.during("registering files"))?;
        self.file_ids.extend(ids);
        self.waiting_bytes = 0;
        for (f, outcomes) in std::mem::take(&mut self.waiting) {
            self.take(&f, &outcomes)?;
        }
        Ok(())
    }

    /// Add a file's molecules to the COPYs (duplicates go too: see [`build::dedup`]).
    fn take(&mut self, f: &FileInfo, outcomes: &[Outcome]) -> Result<(), Error> {
        let file_id = f
            .hash
            .and_then(|h| self.file_ids.get(&h).copied())
            .ok_or_else(|| Error::Pipeline(format!("{}: file not registered", f.job.display)))?;
        for o in outcomes {
            if let Outcome::Molecule(m) = o {
                self.add(file_id, &m.encoded)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, file_id: Uuid, encoded: &[u8]) -> Result<(), Error> {
        let Some((len, rest)) = encoded.split_first_chunk::<4>() else {
            return Err(Error::Pipeline("bulk row without its layout".into()));
        };
        let len = u32::from_le_bytes(*len) as usize;
        let (molecule, properties) = rest.split_at(len.min(rest.len()));
        let id_field = |out: &mut Vec<u8>, id: &Uuid| {
            out.extend_from_slice(&16i32.to_be_bytes());
            out.extend_from_slice(id.as_bytes());
        };
        self.molecules
            .extend_from_slice(&BULK.molecules_fields().to_be_bytes());
        id_field(&mut self.molecules, &self.org);
        id_field(&mut self.molecules, &file_id);
        self.molecules.extend_from_slice(molecule);
        self.properties
            .extend_from_slice(&BULK.properties_fields().to_be_bytes());
        id_field(&mut self.properties, &self.org);
        self.properties.extend_from_slice(properties);
        self.rows += 1;
        if self.molecules.len() >= CHUNK || self.properties.len() >= CHUNK {
            self.send(false)?;
        }
        Ok(())
    }

    /// Finish both COPYs, build keys and indexes, attach.
    fn complete(&mut self) -> Result<(), Error> {
        self.send(false)?;
        kill_point("bulk-copying");
        self.send(true)?;
        let mut conns = Vec::new();
        for (tx, task) in std::mem::take(&mut self.copies) {
            drop(tx);
            let conn = self
                .rt
                .block_on(task)
                .map_err(|e| Error::Pipeline(format!("bulk COPY: {e}")))??;
            conns.push(conn);
        }
        kill_point("bulk-copied");
        let org = self.org;
        let t = std::time::Instant::now();
        let repeats = self
            .rt
            .block_on(build::build(&mut self.control, conns, org))
            .map_err(|e| e.during("building the bulk tables' keys and indexes"))?;
        self.duplicates += repeats.len() as u64;
        self.rows -= (repeats.len() as u64).min(self.rows);
        self.repeats.extend(repeats);
        Stats::add_time(&self.stats.bulk_build_ns, t.elapsed());
        kill_point("bulk-indexed");
        let t = std::time::Instant::now();
        let (inserted, ended) = self
            .rt
            .block_on(attach(
                &mut self.control,
                self.watch.clone(),
                (self.org, self.run),
                self.rows,
                &self.ended,
                std::mem::take(&mut self.repeats),
            ))
            .map_err(|e| e.during("attaching the bulk tables"))?;
        crate::db::preempt::tell(&ended);
        Stats::add_time(&self.stats.bulk_attach_ns, t.elapsed());
        kill_point("bulk-attached");
        Stats::add(&self.stats.records_inserted, inserted);
        Stats::add(
            &self.stats.records_duplicate,
            self.duplicates + self.rows.saturating_sub(inserted),
        );
        self.done.extend(
            self.ended
                .drain(..)
                .map(|(f, end, _)| FileDone::of(&f, &end)),
        );
        Ok(())
    }
}

impl Sink for BulkSink {
    fn needs(&self) -> Needs {
        Needs {
            file_hashes: true,
            encoder: Some(Arc::new(BulkRows)),
            known: self.known.clone() as Arc<dyn Known>,
            // An empty organization holds no record.
            held: None,
        }
    }

    fn event(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Begin(f) => {
                let Some(hash) = f.hash else {
                    return Err(Error::Pipeline(format!(
                        "{}: no content hash; the database sink cannot key its rows",
                        f.job.display
                    )));
                };
                if !self.file_ids.contains_key(&hash) {
                    self.unregistered.push(f);
                    if self.unregistered.len() >= REGISTER_FILES {
                        self.register_pending()?;
                    }
                }
            }
            Event::Records(f, outcomes) => {
                let known = f.hash.is_some_and(|h| self.file_ids.contains_key(&h));
                if known && self.waiting.is_empty() {
                    self.take(&f, &outcomes)?;
                } else {
                    // Its file is not registered yet: wait for the batch.
                    self.waiting_bytes += outcomes
                        .iter()
                        .map(|o| match o {
                            Outcome::Molecule(m) => m.encoded.len(),
                            _ => 0,
                        })
                        .sum::<usize>();
                    self.waiting.push((f, outcomes));
                    if self.waiting_bytes >= WAITING_BYTES {
                        self.register_pending()?;
                    }
                }
            }
            Event::End(f, end) => self.ended.push((f, end, 0)),
            Event::FileRejected(r) => {
                if r.refused_content.is_some() {
                    self.refused.push(r);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.register_pending()?;
        self.complete()?;
        let refused = std::mem::take(&mut self.refused);
        remember_refused(&self.rt, &mut self.control, (self.org, self.run), &refused)
    }
}

impl Drop for BulkSink {
    fn drop(&mut self) {
        // Unfinished COPYs roll back with their connections.
        for (_, task) in self.copies.drain(..) {
            task.abort();
        }
    }
}

/// One COPY: create the table and fill it in one transaction (FREEZE needs
/// both in the same one), commit only when told the end was reached.
async fn fill(
    mut conn: PgConnection,
    org: OrgId,
    parent: &'static str,
    mut rx: mpsc::Receiver<Chunk>,
    stats: Arc<Stats>,
) -> Result<PgConnection, Error> {
    let mut tx = conn.begin().await?;
    let table: String = crate::db::pooler::query_scalar("SELECT molingest_bulk_create($1, $2)")
        .bind(org)
        .bind(parent)
        .fetch_one(&mut *tx)
        .await?;
    let sql = if parent == "molecules" {
        BULK.molecules_copy(&table)
    } else {
        BULK.properties_copy(&table)
    };
    let mut copy = tx.copy_in_raw(&sql).await?;
    copy.send(COPY_HEADER).await?;
    loop {
        match rx.recv().await {
            Some(Chunk::Data(data)) => {
                let t = std::time::Instant::now();
                copy.send(data).await?;
                Stats::add_time(&stats.busy_db_ns, t.elapsed());
            }
            Some(Chunk::End) => break,
            // The load stopped before its end: roll back (the table goes too).
            None => {
                let _ = copy.abort("load stopped").await;
                return Err(Error::Pipeline("bulk load stopped before its end".into()));
            }
        }
    }
    copy.send(&(-1i16).to_be_bytes()[..]).await?;
    copy.finish().await?;
    tx.commit().await?;
    Ok(conn)
}

/// The swap, the audit rows and the files' completion in one transaction,
/// with a bounded lock wait, retried, tenant sessions that block it ended
/// after a grace (see [`crate::db::preempt`]). Returns the molecules inserted
/// and the sessions ended.
async fn attach(
    control: &mut PgConnection,
    watch: sqlx::postgres::PgConnectOptions,
    (org, run): (OrgId, RunId),
    rows: u64,
    ended: &[(Arc<FileInfo>, FileEnd, u64)],
    repeats: Vec<Repeat>,
) -> Result<(u64, Vec<String>), Error> {
    // Owned, so that each attempt's future can hold it.
    let ended: Arc<Vec<_>> = Arc::new(ended.to_vec());
    let repeats = Arc::new(repeats);
    crate::db::preempt::with_parent_locks(control, watch, |tx| {
        let ended = ended.clone();
        let repeats = repeats.clone();
        Box::pin(async move {
            let (_how, inserted): (String, i64) = crate::db::pooler::query_as(
                "SELECT how, inserted FROM molingest_bulk_attach($1, $2, $3, $3)",
            )
            .bind(org)
            .bind(run)
            .bind(rows as i64)
            .fetch_one(&mut **tx)
            .await?;
            // The files are completed as the organization, like any other.
            crate::db::pooler::query("SELECT set_config('role', $1, true)")
                .bind(crate::db::orgs::org_role(org))
                .execute(&mut **tx)
                .await?;
            mark_completed(tx, org, &ended).await?;
            record_repeats(tx, org, &repeats).await?;
            Ok::<u64, Error>(inserted.max(0) as u64)
        })
    })
    .await
}
