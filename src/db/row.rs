//! The staged row: one declaration of every column a load writes — its name,
//! its type, the table it ends up in and how it is encoded. The staging
//! table's DDL, the COPY column list and the `INSERT … SELECT` that moves
//! rows into `molecules` and `molecule_properties` are all built from
//! [`COLUMNS`], so adding a column touches this list and a migration only.

use super::copy_text::{bytea, text};
use super::TENANT_ROLE;
use crate::error::Error;
use crate::identity::{IdentityMode, IDENTITY_VERSION};
use crate::pipeline::{Encoder, FileInfo, Record};
use sqlx::postgres::PgConnection;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::LazyLock;
use uuid::Uuid;

/// Where a staged column goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// The row's id: `molecules.id` and `molecule_properties.molecule_id`.
    Id,
    /// Joined against `molecule_files.content_hash` to find `file_id`.
    FileKey,
    /// A column of `molecules` of the same name.
    Molecules,
    /// A column of `molecule_properties` of the same name.
    Properties,
    /// A pose's docking result (`job_results`, with `--docking-job`).
    Job,
}

/// What a column's encoder sees.
pub struct Row<'a> {
    pub id: Uuid,
    pub file: &'a FileInfo,
    pub record: &'a Record,
    /// The pose's scores, when the load records a docking job.
    pub pose: Option<crate::docking::Pose>,
}

/// One column of the staged row.
pub struct Column {
    pub name: &'static str,
    /// Its type in the staging table.
    pub sql_type: &'static str,
    pub dest: Dest,
    /// Writes the field in COPY text format (`\N` for NULL), no separator.
    pub encode: fn(&Row, &mut Vec<u8>),
}

const NULL: &[u8] = b"\\N";

fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Every column of the staged row, in COPY order.
pub static COLUMNS: &[Column] = &[
    Column {
        name: "id",
        sql_type: "uuid",
        dest: Dest::Id,
        encode: |r, out| {
            let mut buf = Uuid::encode_buffer();
            out.extend_from_slice(r.id.as_hyphenated().encode_lower(&mut buf).as_bytes());
        },
    },
    Column {
        name: "file_hash",
        sql_type: "bytea",
        dest: Dest::FileKey,
        // The pipeline always hashes files for this sink (its `Needs`); the
        // sink refuses a file without a hash before any row reaches here.
        encode: |r, out| bytea(out, &r.file.hash.unwrap_or_default()),
    },
    Column {
        name: "content_hash",
        sql_type: "bytea",
        dest: Dest::Molecules,
        encode: |r, out| bytea(out, &r.record.hash),
    },
    Column {
        name: "name",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| {
            let m = r.record;
            if m.title.trim().is_empty() {
                text(out, &r.file.job.display);
                out.push(b'#');
                int(out, m.index);
            } else {
                text(out, truncate_chars(&m.title, 255));
            }
        },
    },
    Column {
        name: "smiles",
        sql_type: "text",
        dest: Dest::Molecules,
        // The canonical SMILES (identity checks the smiles_string domain;
        // a string outside it is an identity_error, never stored).
        encode: |r, out| match r.record.identity.smiles.as_deref() {
            Some(s) => text(out, s),
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "structure_key",
        sql_type: "bytea",
        dest: Dest::Molecules,
        encode: |r, out| match &r.record.identity.key {
            Some(k) => bytea(out, k),
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "identity_version",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| match r.record.identity_mode {
            IdentityMode::Off => out.extend_from_slice(NULL),
            _ => text(out, IDENTITY_VERSION),
        },
    },
    Column {
        name: "identity_error",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| match &r.record.identity.error {
            Some(e) => text(out, truncate_chars(e, 500)),
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "inchi",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| match &r.record.identity.inchi {
            Some(v) => text(out, v),
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "inchikey",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| match &r.record.identity.inchikey {
            Some(v) => text(out, v),
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "formula",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| {
            let f = &r.record.props.formula;
            if f.len() <= 255 {
                text(out, f);
            } else {
                out.extend_from_slice(NULL);
            }
        },
    },
    Column {
        name: "molecular_weight",
        sql_type: "numeric",
        dest: Dest::Molecules,
        // The design's molecular_weight domain holds 0 < MW < 10000; larger
        // molecules (proteins) keep their weight in molecule_properties only.
        encode: |r, out| {
            let mw = r.record.props.average_mw;
            if mw > 0.0 && mw < 9999.99995 {
                let _ = write!(out, "{mw:.4}");
            } else {
                out.extend_from_slice(NULL);
            }
        },
    },
    Column {
        name: "file_path",
        sql_type: "text",
        dest: Dest::Molecules,
        encode: |r, out| text(out, &r.file.job.display),
    },
    Column {
        name: "format",
        sql_type: "molecule_format",
        dest: Dest::Molecules,
        encode: |r, out| match r.file.format.db_value() {
            Some(f) => out.extend_from_slice(f.as_bytes()),
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "record_index",
        sql_type: "bigint",
        dest: Dest::Molecules,
        encode: |r, out| int(out, r.record.index),
    },
    Column {
        name: "record_line",
        sql_type: "bigint",
        dest: Dest::Molecules,
        encode: |r, out| int(out, r.record.line),
    },
    Column {
        name: "properties",
        sql_type: "jsonb",
        dest: Dest::Molecules,
        encode: |r, out| json_fields(out, &r.record.fields),
    },
    Column {
        name: "atom_count",
        sql_type: "int",
        dest: Dest::Properties,
        encode: |r, out| int(out, r.record.props.atom_count),
    },
    Column {
        name: "heavy_atom_count",
        sql_type: "int",
        dest: Dest::Properties,
        encode: |r, out| int(out, r.record.props.heavy_atom_count),
    },
    Column {
        name: "hydrogen_count",
        sql_type: "int",
        dest: Dest::Properties,
        encode: |r, out| int(out, r.record.props.hydrogen_count),
    },
    Column {
        name: "implicit_h_count",
        sql_type: "int",
        dest: Dest::Properties,
        encode: |r, out| int(out, r.record.props.implicit_h_count),
    },
    Column {
        name: "bond_count",
        sql_type: "int",
        dest: Dest::Properties,
        encode: |r, out| int(out, r.record.props.bond_count),
    },
    Column {
        name: "net_charge",
        sql_type: "int",
        dest: Dest::Properties,
        encode: |r, out| int(out, r.record.props.net_charge),
    },
    Column {
        name: "average_mw",
        sql_type: "float8",
        dest: Dest::Properties,
        encode: |r, out| {
            let _ = write!(out, "{}", r.record.props.average_mw);
        },
    },
    Column {
        name: "job_score",
        sql_type: "float8",
        dest: Dest::Job,
        encode: |r, out| match r.pose.as_ref().and_then(|p| p.score) {
            Some(s) => {
                let _ = write!(out, "{s}");
            }
            None => out.extend_from_slice(NULL),
        },
    },
    Column {
        name: "pose_data",
        sql_type: "jsonb",
        dest: Dest::Job,
        encode: |r, out| match &r.pose {
            Some(p) => text(
                out,
                &serde_json::to_string(&p.data).unwrap_or_else(|_| "{}".into()),
            ),
            None => out.extend_from_slice(NULL),
        },
    },
];

/// The SQL built from [`COLUMNS`].
pub struct StageSql {
    /// `CREATE TEMP TABLE stage_molecules (…)`.
    pub ddl: String,
    /// `COPY stage_molecules (…) FROM STDIN`, in [`COLUMNS`] order.
    pub copy: String,
    /// Move staged rows into `molecules` (new content only, in hash order:
    /// concurrent writers never deadlock) and the properties of the rows
    /// that went in. `$1` is the organization; run as the tenant.
    pub move_rows: String,
    /// One `job_results` row per staged pose (`$2` the docking job), after
    /// `move_rows` in the same transaction, so new and known molecules are
    /// both found; a pose already recorded (same job, file, record) is kept.
    /// Returns (rows, rows without a score).
    pub job_results: String,
}

pub const STAGE_TABLE: &str = "stage_molecules";

pub static STAGE: LazyLock<StageSql> = LazyLock::new(|| {
    let cols = |dest: Dest| {
        COLUMNS
            .iter()
            .filter(move |c| c.dest == dest)
            .map(|c| c.name)
    };
    let join = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<_>>().join(", ");
    let ddl = format!(
        "CREATE TEMP TABLE {STAGE_TABLE} ({}) ON COMMIT DELETE ROWS",
        join(&mut COLUMNS.iter().map(|c| format!("{} {}", c.name, c.sql_type)))
    );
    let copy = format!(
        "COPY {STAGE_TABLE} ({}) FROM STDIN",
        join(&mut COLUMNS.iter().map(|c| c.name.to_owned()))
    );
    let m: Vec<&str> = cols(Dest::Molecules).collect();
    let p: Vec<&str> = cols(Dest::Properties).collect();
    let key = cols(Dest::FileKey).next().unwrap_or("file_hash");
    let id = cols(Dest::Id).next().unwrap_or("id");
    let mut move_rows = String::new();
    let _ = write!(
        move_rows,
        "WITH ins AS (
            INSERT INTO molecules (id, organization_id, file_id, {m_cols})
            SELECT s.{id}, $1, f.id, {m_vals}
            FROM {STAGE_TABLE} s
            JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = s.{key}
            ORDER BY s.content_hash
            ON CONFLICT (organization_id, content_hash) DO NOTHING
            RETURNING id)
         INSERT INTO molecule_properties (organization_id, molecule_id, {p_cols})
         SELECT $1, s.{id}, {p_vals}
         FROM {STAGE_TABLE} s JOIN ins ON ins.id = s.{id}",
        m_cols = m.join(", "),
        m_vals = m
            .iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        p_cols = p.join(", "),
        p_vals = p
            .iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let job_results = format!(
        "WITH r AS (
            INSERT INTO job_results (organization_id, job_id, molecule_id, score, data, file_id, record_index)
            SELECT $1, $2, m.id, s.job_score, s.pose_data, f.id, s.record_index
            FROM {STAGE_TABLE} s
            JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = s.{key}
            JOIN molecules m ON m.organization_id = $1 AND m.content_hash = s.content_hash
            ON CONFLICT (organization_id, job_id, file_id, record_index) DO NOTHING
            RETURNING score)
         SELECT count(*), count(*) FILTER (WHERE score IS NULL) FROM r"
    );
    StageSql {
        ddl,
        copy,
        move_rows,
        job_results,
    }
});

/// Create the staging table on this connection, usable by the tenant role.
pub async fn create_stage(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query(&STAGE.ddl).execute(&mut *conn).await?;
    sqlx::query(&format!(
        "GRANT ALL ON TABLE pg_temp.{STAGE_TABLE} TO {TENANT_ROLE}"
    ))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Encodes records as staged rows in COPY text format (runs in the
/// parallel parse stage). With `docking`, each record's pose scores too.
pub struct CopyRows {
    pub docking: bool,
}

impl Encoder for CopyRows {
    fn encode(&self, file: &FileInfo, record: &Record, out: &mut Vec<u8>) {
        let row = Row {
            id: Uuid::now_v7(),
            file,
            record,
            pose: self.docking.then(|| crate::docking::pose(&record.fields)),
        };
        for (i, c) in COLUMNS.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            (c.encode)(&row, out);
        }
        out.push(b'\n');
    }
}

/// The data fields as a JSON object (numbers typed), COPY-escaped.
fn json_fields(out: &mut Vec<u8>, fields: &[(String, String)]) {
    let json = crate::properties::to_json(fields);
    text(out, &json);
}

pub use crate::identity::valid_smiles_chars;

fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_copy_and_move_are_built_from_one_list() {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        for name in &names {
            assert!(STAGE.ddl.contains(&format!("{name} ")), "{name} in DDL");
            assert!(STAGE.copy.contains(name), "{name} in COPY");
        }
        for c in COLUMNS {
            match c.dest {
                Dest::Molecules | Dest::Properties => {
                    assert!(STAGE.move_rows.contains(&format!("s.{}", c.name)))
                }
                Dest::Job => assert!(STAGE.job_results.contains(&format!("s.{}", c.name))),
                Dest::Id | Dest::FileKey => {}
            }
        }
        // The COPY list is in encoding order.
        let listed = STAGE
            .copy
            .split_once('(')
            .unwrap()
            .1
            .split_once(')')
            .unwrap()
            .0;
        assert_eq!(listed.split(", ").collect::<Vec<_>>(), names);
    }
}
