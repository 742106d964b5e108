//! The database sink. Rows arrive already encoded as COPY text (see
//! [`CopyRows`], run in the parallel parse stage); the sink thread packs them
//! into batches and hands each to one of several writer tasks, each with its
//! own connection. A writer's batch is one transaction, as the tenant:
//!
//! 1. COPY the rows into a temporary staging table (PostgreSQL refuses COPY
//!    into a table with row-level security for a role subject to it);
//! 2. `INSERT … SELECT … ORDER BY content_hash ON CONFLICT DO NOTHING` into
//!    `molecules`, and the computed properties of the rows that went in.
//!
//! The sink's own connection keeps the file bookkeeping in order while
//! writers commit in any order:
//! - a file is registered in `molecule_files` before any batch holding its
//!   rows is sent;
//! - a file is marked completed only when every batch up to the last one that
//!   could hold its rows has committed (a commit watermark).
//!
//! So a killed run leaves its unfinished files incomplete; the next run reads
//! them again and the unique key drops what was already loaded. Inserting in
//! hash order keeps concurrent writers (and concurrent runs) from deadlocking.

use super::{tenant, TENANT_ROLE};
use crate::error::Error;
use crate::pipeline::stats::Stats;
use crate::pipeline::{Encoder, Event, FileEnd, FileInfo, Outcome, Record, Sink};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use uuid::Uuid;

/// When a batch is sent to the database: whichever limit comes first.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub rows: usize,
    pub bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            rows: 10_000,
            bytes: 16 << 20,
        }
    }
}

#[derive(Default)]
struct Batch {
    seq: u64,
    copy: Vec<u8>,
    rows: u64,
}

/// Which batches have committed: every batch below `watermark` has.
#[derive(Default)]
struct Committed {
    watermark: u64,
    above: std::collections::BTreeSet<u64>,
}

impl Committed {
    fn mark(&mut self, seq: u64) {
        self.above.insert(seq);
        while self.above.remove(&self.watermark) {
            self.watermark += 1;
        }
    }
}

pub struct DbSink {
    rt: Handle,
    org: Uuid,
    limits: BatchLimits,
    /// The sink's own connection: file registration and completion.
    control: PgConnection,
    batch: Batch,
    /// Files begun but not yet registered.
    unregistered: Vec<Arc<FileInfo>>,
    /// Files ended, with the batch that must commit before they are complete.
    ended: Vec<(Arc<FileInfo>, FileEnd, u64)>,
    committed: Arc<std::sync::Mutex<Committed>>,
    tx: Option<mpsc::Sender<Batch>>,
    writers: Vec<tokio::task::JoinHandle<Result<(), Error>>>,
}

/// The staging table: one row per molecule, both tables' columns.
pub const STAGE_DDL: &str = "CREATE TEMP TABLE stage_molecules (
            id uuid, file_hash bytea, content_hash bytea, name text, smiles text,
            formula text, molecular_weight numeric, file_path text, format molecule_format,
            record_index bigint, record_line bigint, properties jsonb,
            atom_count int, heavy_atom_count int, hydrogen_count int, implicit_h_count int,
            bond_count int, net_charge int, average_mw float8
         ) ON COMMIT DELETE ROWS";

/// COPY into the staging table, in the column order [`CopyRows`] writes.
pub const COPY_TO_STAGE: &str = "COPY stage_molecules (id, file_hash, content_hash, name, smiles, \
    formula, molecular_weight, file_path, format, record_index, record_line, properties, \
    atom_count, heavy_atom_count, hydrogen_count, implicit_h_count, bond_count, net_charge, \
    average_mw) FROM STDIN";

/// Move staged rows into `molecules` (new content only, in hash order) and
/// the properties of the rows that went in. `$1` is the organization; run as
/// the tenant.
pub const MOVE_FROM_STAGE: &str = "WITH ins AS (
                 INSERT INTO molecules (id, organization_id, name, smiles, formula, molecular_weight,
                                        file_path, format, file_id, record_index, record_line,
                                        content_hash, properties)
                 SELECT s.id, $1, s.name, s.smiles, s.formula, s.molecular_weight,
                        s.file_path, s.format, f.id, s.record_index, s.record_line,
                        s.content_hash, s.properties
                 FROM stage_molecules s
                 JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = s.file_hash
                 ORDER BY s.content_hash
                 ON CONFLICT (organization_id, content_hash) DO NOTHING
                 RETURNING id)
             INSERT INTO molecule_properties (organization_id, molecule_id, atom_count, heavy_atom_count,
                                              hydrogen_count, implicit_h_count, bond_count, net_charge,
                                              average_mw)
             SELECT $1, s.id, s.atom_count, s.heavy_atom_count, s.hydrogen_count, s.implicit_h_count,
                    s.bond_count, s.net_charge, s.average_mw
             FROM stage_molecules s JOIN ins USING (id)";

/// Create the staging table on this connection, usable by the tenant role.
pub async fn create_stage(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query(STAGE_DDL).execute(&mut *conn).await?;
    sqlx::query(&format!(
        "GRANT ALL ON TABLE pg_temp.stage_molecules TO {TENANT_ROLE}"
    ))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl DbSink {
    /// Open the control connection and `writers` writer connections.
    pub fn open(
        rt: &Handle,
        url: &str,
        org: Uuid,
        limits: BatchLimits,
        writers: usize,
        stats: Arc<Stats>,
    ) -> Result<Self, Error> {
        let control = rt.block_on(super::connection(url, "molingest"))?;
        let (tx, rx) = mpsc::channel::<Batch>(1);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let committed = Arc::new(std::sync::Mutex::new(Committed::default()));
        let mut handles = Vec::new();
        for _ in 0..writers.max(1) {
            let mut conn = rt.block_on(connect_writer(url))?;
            let (rx, stats, committed) = (rx.clone(), stats.clone(), committed.clone());
            handles.push(rt.spawn(async move {
                loop {
                    let Some(batch) = rx.lock().await.recv().await else {
                        break;
                    };
                    let t = Instant::now();
                    let seq = batch.seq;
                    write_batch(&mut conn, org, batch, &stats).await?;
                    Stats::add_time(&stats.busy_db_ns, t.elapsed());
                    if let Ok(mut c) = committed.lock() {
                        c.mark(seq);
                    }
                }
                let _ = conn.close().await;
                Ok(())
            }));
        }
        Ok(DbSink {
            rt: rt.clone(),
            org,
            limits,
            control,
            batch: Batch::default(),
            unregistered: Vec::new(),
            ended: Vec::new(),
            committed,
            tx: Some(tx),
            writers: handles,
        })
    }

    /// Send the current batch to a writer (after registering its files), and
    /// complete the files whose batches have all committed.
    fn flush(&mut self) -> Result<(), Error> {
        if self.batch.rows > 0 {
            self.register_files()?;
            let next = Batch {
                seq: self.batch.seq + 1,
                ..Batch::default()
            };
            let batch = std::mem::replace(&mut self.batch, next);
            let sent = self.tx.as_ref().map(|tx| tx.blocking_send(batch));
            if !matches!(sent, Some(Ok(()))) {
                // A writer stopped: its error says why.
                return Err(self
                    .join_writers()
                    .err()
                    .unwrap_or_else(|| Error::Pipeline("database writer stopped".into())));
            }
        }
        self.complete_files(false)
    }

    fn register_files(&mut self) -> Result<(), Error> {
        if self.unregistered.is_empty() {
            return Ok(());
        }
        let files = std::mem::take(&mut self.unregistered);
        self.rt
            .block_on(register_files(&mut self.control, self.org, &files))
    }

    /// Mark completed the ended files whose batches have all committed (all
    /// of them when `all`, after the writers have finished).
    fn complete_files(&mut self, all: bool) -> Result<(), Error> {
        let watermark = match self.committed.lock() {
            Ok(c) => c.watermark,
            Err(_) => return Err(Error::Pipeline("commit tracking poisoned".into())),
        };
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ended)
            .into_iter()
            .partition(|(_, _, needs)| all || *needs < watermark);
        self.ended = waiting;
        if ready.is_empty() {
            return Ok(());
        }
        self.rt
            .block_on(complete_files(&mut self.control, self.org, &ready))
    }

    fn join_writers(&mut self) -> Result<(), Error> {
        self.tx = None;
        let mut result = Ok(());
        for w in std::mem::take(&mut self.writers) {
            let r = self
                .rt
                .block_on(w)
                .map_err(|e| Error::Pipeline(format!("database writer: {e}")))
                .and_then(|r| r);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// Encodes records as rows of the staging table, in COPY text format.
pub struct CopyRows;

impl Encoder for CopyRows {
    fn encode(&self, file: &FileInfo, m: &Record, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(
            Uuid::now_v7()
                .as_hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        out.push(b'\t');
        bytea(out, &file.hash.unwrap_or_default());
        out.push(b'\t');
        bytea(out, &m.hash);
        out.push(b'\t');
        if m.title.trim().is_empty() {
            text(out, &file.job.display);
            out.push(b'#');
            out.extend_from_slice(num.format(m.index).as_bytes());
        } else {
            text(out, truncate_chars(&m.title, 255));
        }
        out.push(b'\t');
        match m.smiles.as_deref().filter(|s| valid_smiles_chars(s)) {
            Some(s) => text(out, s),
            None => out.extend_from_slice(b"\\N"),
        }
        out.push(b'\t');
        if m.props.formula.len() <= 255 {
            text(out, &m.props.formula);
        } else {
            out.extend_from_slice(b"\\N");
        }
        out.push(b'\t');
        // The design's molecular_weight domain holds 0 < MW < 10000; larger
        // molecules (proteins) keep their weight in molecule_properties only.
        let mw = m.props.average_mw;
        if mw > 0.0 && mw < 9999.99995 {
            let _ = write!(out, "{mw:.4}");
        } else {
            out.extend_from_slice(b"\\N");
        }
        out.push(b'\t');
        text(out, &file.job.display);
        out.push(b'\t');
        match file.format.db_value() {
            Some(f) => out.extend_from_slice(f.as_bytes()),
            None => out.extend_from_slice(b"\\N"),
        }
        for v in [m.index, m.line] {
            out.push(b'\t');
            out.extend_from_slice(num.format(v).as_bytes());
        }
        out.push(b'\t');
        json_fields(out, &m.fields);
        let p = &m.props;
        for v in [
            p.atom_count,
            p.heavy_atom_count,
            p.hydrogen_count,
            p.implicit_h_count,
            p.bond_count,
        ] {
            out.push(b'\t');
            out.extend_from_slice(num.format(v).as_bytes());
        }
        out.push(b'\t');
        out.extend_from_slice(num.format(p.net_charge).as_bytes());
        out.push(b'\t');
        let _ = write!(out, "{}", p.average_mw);
        out.push(b'\n');
    }
}

/// The data fields as a JSON object, COPY-escaped.
fn json_fields(out: &mut Vec<u8>, fields: &[(String, String)]) {
    struct Fields<'a>(&'a [(String, String)]);
    impl serde::Serialize for Fields<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }
    let json = serde_json::to_string(&Fields(fields)).unwrap_or_else(|_| "{}".to_owned());
    text(out, &json);
}

impl Sink for DbSink {
    fn event(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Begin(f) => self.unregistered.push(f),
            Event::Records(_, outcomes) => {
                for o in &outcomes {
                    if let Outcome::Molecule(m) = o {
                        self.batch.copy.extend_from_slice(&m.encoded);
                        self.batch.rows += 1;
                    }
                }
                if self.batch.rows as usize >= self.limits.rows
                    || self.batch.copy.len() >= self.limits.bytes
                {
                    self.flush()?;
                }
            }
            // Its rows are in batches up to the current one.
            Event::End(f, end) => self.ended.push((f, end, self.batch.seq)),
            Event::FileRejected(_) => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.join_writers()?;
        self.register_files()?;
        self.complete_files(true)
    }
}

impl Drop for DbSink {
    fn drop(&mut self) {
        // Make sure the writer tasks end with us (on error paths).
        self.tx = None;
        for w in self.writers.drain(..) {
            w.abort();
        }
    }
}

async fn connect_writer(url: &str) -> Result<PgConnection, Error> {
    let mut conn = super::connection(url, "molingest-writer").await?;
    create_stage(&mut conn).await?;
    Ok(conn)
}

async fn write_batch(
    conn: &mut PgConnection,
    org: Uuid,
    batch: Batch,
    stats: &Stats,
) -> Result<(), Error> {
    let mut tx = tenant(&mut *conn, org).await?;
    if batch.rows > 0 {
        let mut copy = tx.copy_in_raw(COPY_TO_STAGE).await?;
        copy.send(batch.copy).await?;
        copy.finish().await?;
        let inserted = sqlx::query(MOVE_FROM_STAGE)
            .bind(org)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        Stats::add(&stats.records_inserted, inserted);
        Stats::add(
            &stats.records_duplicate,
            batch.rows.saturating_sub(inserted),
        );
    }
    tx.commit().await?;
    Ok(())
}

/// Register files in `molecule_files` (a file loaded before keeps its row).
async fn register_files(
    conn: &mut PgConnection,
    org: Uuid,
    files: &[Arc<FileInfo>],
) -> Result<(), Error> {
    let mut tx = tenant(&mut *conn, org).await?;
    {
        let mut uri = Vec::new();
        let mut format = Vec::new();
        let mut compression = Vec::new();
        let mut size = Vec::new();
        let mut mtime = Vec::new();
        let mut hash = Vec::new();
        let mut etag = Vec::new();
        for f in files {
            etag.push(f.job.etag.clone());
            uri.push(f.job.uri.clone());
            format.push(f.format.db_value());
            compression.push(f.gzip.then_some("gzip"));
            size.push(f.job.size as i64);
            mtime.push(f.job.mtime_ns.map(|n| n / 1000));
            hash.push(f.hash.unwrap_or_default().to_vec());
        }
        sqlx::query(
            "INSERT INTO molecule_files
                 (organization_id, source_uri, format, compression, size_bytes, source_mtime, content_hash, etag)
             SELECT $1, u.uri, u.format::molecule_format, u.compression, u.size,
                    'epoch'::timestamptz + u.mtime_us * interval '1 microsecond', u.hash, u.etag
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::bytea[], $8::text[])
                  AS u(uri, format, compression, size, mtime_us, hash, etag)
             ORDER BY u.hash
             ON CONFLICT (organization_id, content_hash) DO NOTHING",
        )
        .bind(org)
        .bind(&uri)
        .bind(&format)
        .bind(&compression)
        .bind(&size)
        .bind(&mtime)
        .bind(&hash)
        .bind(&etag)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Mark ended files completed (or failed, when their stream broke).
async fn complete_files(
    conn: &mut PgConnection,
    org: Uuid,
    ended: &[(Arc<FileInfo>, FileEnd, u64)],
) -> Result<(), Error> {
    let mut tx = tenant(&mut *conn, org).await?;
    {
        let mut hash = Vec::new();
        let mut status = Vec::new();
        let mut records = Vec::new();
        let mut rejected = Vec::new();
        let mut error = Vec::new();
        for (f, end, _) in ended {
            hash.push(f.hash.unwrap_or_default().to_vec());
            status.push(if end.error.is_some() {
                "failed"
            } else {
                "completed"
            });
            records.push(end.records as i64);
            rejected.push(end.rejected as i64);
            error.push(end.error.clone());
        }
        sqlx::query(
            "UPDATE molecule_files f SET status = u.status::job_status, record_count = u.records,
                    rejected_count = u.rejected, error = u.error, completed_at = now()
             FROM UNNEST($2::bytea[], $3::text[], $4::int8[], $5::int8[], $6::text[])
                  AS u(hash, status, records, rejected, error)
             WHERE f.organization_id = $1 AND f.content_hash = u.hash",
        )
        .bind(org)
        .bind(&hash)
        .bind(&status)
        .bind(&records)
        .bind(&rejected)
        .bind(&error)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The design's `smiles_string` domain: only these characters.
pub fn valid_smiles_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@+-[]()=#$:.%\\/".contains(&b))
}

fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A COPY text-format field: backslash, tab, newline and CR escaped.
fn text(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// A bytea in COPY text format: `\\x` then hex.
fn bytea(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\\\x");
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}
