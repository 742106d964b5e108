//! The database sink. Rows are encoded as COPY text on the pipeline's sink
//! thread and handed, a batch at a time, to one writer task that owns one
//! connection. Each batch is one transaction, as the tenant:
//!
//! 1. register the batch's new files in `molecule_files`;
//! 2. COPY the molecules into a temporary staging table (PostgreSQL refuses
//!    COPY into a table with row-level security for a role subject to it);
//! 3. `INSERT … SELECT … ORDER BY content_hash ON CONFLICT DO NOTHING` into
//!    `molecules`, and the computed properties of the rows that went in;
//! 4. mark the files that ended in this batch completed.
//!
//! Batches commit in order, so a file is marked completed only after all of
//! its molecules are committed: a killed run leaves it incomplete, and the
//! next run reads it again, with dedup dropping what was already loaded.
//! Inserting in hash order keeps two concurrent loads from deadlocking.

use super::{tenant, TENANT_ROLE};
use crate::error::Error;
use crate::pipeline::stats::Stats;
use crate::pipeline::{Event, FileEnd, FileInfo, Outcome, Record, Sink};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
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
            rows: 20_000,
            bytes: 16 << 20,
        }
    }
}

#[derive(Default)]
struct Batch {
    files: Vec<Arc<FileInfo>>,
    copy: Vec<u8>,
    rows: u64,
    ends: Vec<(Arc<FileInfo>, FileEnd)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.rows == 0 && self.ends.is_empty()
    }
}

pub struct DbSink {
    rt: Handle,
    limits: BatchLimits,
    batch: Batch,
    tx: Option<mpsc::Sender<Batch>>,
    writer: Option<tokio::task::JoinHandle<Result<(), Error>>>,
    json: Vec<u8>,
}

const STAGE_COLUMNS: &str =
    "id, file_hash, content_hash, name, smiles, formula, molecular_weight, \
    file_path, format, record_index, record_line, properties, atom_count, heavy_atom_count, \
    hydrogen_count, implicit_h_count, bond_count, net_charge, average_mw";

impl DbSink {
    /// Open the writer's connection and staging table.
    pub fn open(
        rt: &Handle,
        url: &str,
        org: Uuid,
        limits: BatchLimits,
        stats: Arc<Stats>,
    ) -> Result<Self, Error> {
        let mut conn = rt.block_on(connect_writer(url))?;
        let (tx, rx) = mpsc::channel::<Batch>(1);
        let writer = rt.spawn(async move {
            let mut rx = rx;
            while let Some(batch) = rx.recv().await {
                let t = Instant::now();
                write_batch(&mut conn, org, batch, &stats).await?;
                Stats::add_time(&stats.busy_db_ns, t.elapsed());
            }
            let _ = conn.close().await;
            Ok(())
        });
        Ok(DbSink {
            rt: rt.clone(),
            limits,
            batch: Batch::default(),
            tx: Some(tx),
            writer: Some(writer),
            json: Vec::with_capacity(1024),
        })
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let sent = self.tx.as_ref().map(|tx| tx.blocking_send(batch));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped: its error says why.
            _ => Err(self
                .join_writer()
                .err()
                .unwrap_or_else(|| Error::Pipeline("database writer stopped".into()))),
        }
    }

    fn join_writer(&mut self) -> Result<(), Error> {
        self.tx = None;
        match self.writer.take() {
            Some(w) => self
                .rt
                .block_on(w)
                .map_err(|e| Error::Pipeline(format!("database writer: {e}")))?,
            None => Ok(()),
        }
    }

    fn encode(&mut self, file: &FileInfo, m: &Record) {
        let out = &mut self.batch.copy;
        let id = Uuid::now_v7();
        out.extend_from_slice(
            id.as_hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        out.push(b'\t');
        bytea(out, &file.hash.unwrap_or_default());
        out.push(b'\t');
        bytea(out, &m.hash);
        out.push(b'\t');
        let name: String = if m.title.trim().is_empty() {
            format!("{}#{}", file.job.display, m.index)
        } else {
            m.title.clone()
        };
        text(out, truncate_chars(&name, 255));
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
            out.extend_from_slice(format!("{mw:.4}").as_bytes());
        } else {
            out.extend_from_slice(b"\\N");
        }
        out.push(b'\t');
        text(out, &file.job.display);
        out.push(b'\t');
        out.extend_from_slice(file.format.as_str().as_bytes());
        let p = &m.props;
        let ints = [m.index as i64, m.line as i64];
        for v in ints {
            out.push(b'\t');
            out.extend_from_slice(v.to_string().as_bytes());
        }
        out.push(b'\t');
        self.json.clear();
        let fields: serde_json::Map<String, serde_json::Value> = m
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let _ = serde_json::to_writer(&mut self.json, &fields);
        let json = std::str::from_utf8(&self.json).unwrap_or("{}");
        text(out, json);
        let counts = [
            i64::from(p.atom_count),
            i64::from(p.heavy_atom_count),
            i64::from(p.hydrogen_count),
            i64::from(p.implicit_h_count),
            i64::from(p.bond_count),
            i64::from(p.net_charge),
        ];
        for v in counts {
            out.push(b'\t');
            out.extend_from_slice(v.to_string().as_bytes());
        }
        out.push(b'\t');
        out.extend_from_slice(format!("{}", p.average_mw).as_bytes());
        out.push(b'\n');
        self.batch.rows += 1;
    }
}

impl Sink for DbSink {
    fn event(&mut self, event: Event) -> Result<(), Error> {
        match event {
            Event::Begin(f) => self.batch.files.push(f),
            Event::Records(f, outcomes) => {
                for o in &outcomes {
                    if let Outcome::Molecule(m) = o {
                        self.encode(&f, m);
                    }
                }
                if self.batch.rows as usize >= self.limits.rows
                    || self.batch.copy.len() >= self.limits.bytes
                {
                    self.flush()?;
                }
            }
            Event::End(f, end) => self.batch.ends.push((f, end)),
            Event::FileRejected(_) => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.join_writer()
    }
}

impl Drop for DbSink {
    fn drop(&mut self) {
        // Make sure the writer task ends with us (on error paths).
        self.tx = None;
        if let Some(w) = self.writer.take() {
            w.abort();
        }
    }
}

async fn connect_writer(url: &str) -> Result<PgConnection, Error> {
    use std::str::FromStr;
    let options =
        sqlx::postgres::PgConnectOptions::from_str(url)?.application_name("molingest-writer");
    let mut conn = PgConnection::connect_with(&options).await?;
    sqlx::query(
        "CREATE TEMP TABLE stage_molecules (
            id uuid, file_hash bytea, content_hash bytea, name text, smiles text,
            formula text, molecular_weight numeric, file_path text, format molecule_format,
            record_index bigint, record_line bigint, properties jsonb,
            atom_count int, heavy_atom_count int, hydrogen_count int, implicit_h_count int,
            bond_count int, net_charge int, average_mw float8
         ) ON COMMIT DELETE ROWS",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query(&format!(
        "GRANT ALL ON TABLE pg_temp.stage_molecules TO {TENANT_ROLE}"
    ))
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

async fn write_batch(
    conn: &mut PgConnection,
    org: Uuid,
    batch: Batch,
    stats: &Stats,
) -> Result<(), Error> {
    let mut tx = tenant(&mut *conn, org).await?;
    if !batch.files.is_empty() {
        let mut uri = Vec::new();
        let mut format = Vec::new();
        let mut compression = Vec::new();
        let mut size = Vec::new();
        let mut mtime = Vec::new();
        let mut hash = Vec::new();
        for f in &batch.files {
            uri.push(f.job.uri.clone());
            format.push(f.format.as_str());
            compression.push(f.gzip.then_some("gzip"));
            size.push(f.job.size as i64);
            mtime.push(f.job.mtime_ns.map(|n| n / 1000));
            hash.push(f.hash.unwrap_or_default().to_vec());
        }
        sqlx::query(
            "INSERT INTO molecule_files
                 (organization_id, source_uri, format, compression, size_bytes, source_mtime, content_hash)
             SELECT $1, u.uri, u.format::molecule_format, u.compression, u.size,
                    'epoch'::timestamptz + u.mtime_us * interval '1 microsecond', u.hash
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::bytea[])
                  AS u(uri, format, compression, size, mtime_us, hash)
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
        .execute(&mut *tx)
        .await?;
    }
    if batch.rows > 0 {
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY stage_molecules ({STAGE_COLUMNS}) FROM STDIN"
            ))
            .await?;
        copy.send(batch.copy).await?;
        copy.finish().await?;
        let inserted = sqlx::query(
            "WITH ins AS (
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
             FROM stage_molecules s JOIN ins USING (id)",
        )
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
    if !batch.ends.is_empty() {
        let mut hash = Vec::new();
        let mut status = Vec::new();
        let mut records = Vec::new();
        let mut rejected = Vec::new();
        let mut error = Vec::new();
        for (f, end) in &batch.ends {
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
