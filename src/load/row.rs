//! The staged row: one declaration of every column a load writes — its name,
//! its type, the table it ends up in and how it is encoded. The staging
//! table's DDL, the COPY column list and the `INSERT … SELECT` that moves
//! rows into `molecules` and `molecule_properties` are all built from
//! [`COLUMNS`], so adding a column touches this list and a migration only.

pub use super::copy_format::Value;
use crate::db::TENANT_ROLE;
use crate::error::Error;
use crate::identity::{IdentityMode, IDENTITY_VERSION};
use crate::pipeline::{Encoder, FileInfo, Record};
use sqlx::postgres::PgConnection;
use std::fmt::Write as _;
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
    /// The field's value; [`Value::text`] and [`Value::binary`] write it in
    /// the COPY text and binary formats.
    pub value: for<'a> fn(&'a Row<'a>) -> Value<'a>,
}

fn int4(v: u32) -> Value<'static> {
    Value::Int4(i32::try_from(v).unwrap_or(i32::MAX))
}

fn optional(v: Option<&str>) -> Value<'_> {
    v.map_or(Value::Null, Value::Text)
}

/// Every column of the staged row, in COPY order.
pub static COLUMNS: &[Column] = &[
    Column {
        name: "id",
        sql_type: "uuid",
        dest: Dest::Id,
        value: |r| Value::Uuid(r.id),
    },
    Column {
        name: "file_hash",
        sql_type: "bytea",
        dest: Dest::FileKey,
        // The pipeline always hashes files for this sink (its `Needs`); the
        // sink refuses a file without a hash before any row reaches here.
        value: |r| match &r.file.hash {
            Some(h) => Value::Bytea(h),
            None => Value::Bytea(&[0; 32]),
        },
    },
    Column {
        name: "content_hash",
        sql_type: "bytea",
        dest: Dest::Molecules,
        value: |r| Value::Bytea(&r.record.hash),
    },
    Column {
        name: "name",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| {
            let m = r.record;
            if m.title.trim().is_empty() {
                Value::OwnedText(format!("{}#{}", r.file.job.display, m.index))
            } else {
                Value::Text(truncate_chars(&m.title, 255))
            }
        },
    },
    Column {
        name: "smiles",
        sql_type: "text",
        dest: Dest::Molecules,
        // The canonical SMILES (identity checks the smiles_string domain;
        // a string outside it is an identity_error, never stored).
        value: |r| optional(r.record.identity.smiles.as_deref()),
    },
    Column {
        name: "structure_key",
        sql_type: "bytea",
        dest: Dest::Molecules,
        value: |r| match &r.record.identity.key {
            Some(k) => Value::Bytea(k),
            None => Value::Null,
        },
    },
    Column {
        name: "identity_version",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| match r.record.identity_mode {
            IdentityMode::Off => Value::Null,
            _ => Value::Text(IDENTITY_VERSION),
        },
    },
    Column {
        name: "identity_error",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| {
            optional(
                r.record
                    .identity
                    .error
                    .as_deref()
                    .map(|e| truncate_chars(e, 500)),
            )
        },
    },
    Column {
        name: "inchi",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| optional(r.record.identity.inchi.as_deref()),
    },
    Column {
        name: "inchikey",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| optional(r.record.identity.inchikey.as_deref()),
    },
    Column {
        name: "formula",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| {
            let f = &r.record.props.formula;
            if f.len() <= 255 {
                Value::Text(f)
            } else {
                Value::Null
            }
        },
    },
    Column {
        name: "molecular_weight",
        sql_type: "numeric",
        dest: Dest::Molecules,
        // The design's molecular_weight domain holds 0 < MW < 10000; larger
        // molecules (proteins) keep their weight in molecule_properties only.
        value: |r| {
            let mw = r.record.props.average_mw;
            if mw > 0.0 && mw < 9999.99995 {
                Value::Numeric4(mw)
            } else {
                Value::Null
            }
        },
    },
    Column {
        name: "file_path",
        sql_type: "text",
        dest: Dest::Molecules,
        value: |r| Value::Text(&r.file.job.display),
    },
    Column {
        name: "format",
        sql_type: "molecule_format",
        dest: Dest::Molecules,
        value: |r| r.file.format.db_value().map_or(Value::Null, Value::Label),
    },
    Column {
        name: "record_index",
        sql_type: "bigint",
        dest: Dest::Molecules,
        value: |r| Value::Int8(i64::try_from(r.record.index).unwrap_or(i64::MAX)),
    },
    Column {
        name: "record_line",
        sql_type: "bigint",
        dest: Dest::Molecules,
        value: |r| Value::Int8(i64::try_from(r.record.line).unwrap_or(i64::MAX)),
    },
    Column {
        name: "properties",
        sql_type: "jsonb",
        dest: Dest::Molecules,
        value: |r| Value::Jsonb(crate::properties::to_json(&r.record.fields)),
    },
    Column {
        name: "atom_count",
        sql_type: "int",
        dest: Dest::Properties,
        value: |r| int4(r.record.props.atom_count),
    },
    Column {
        name: "heavy_atom_count",
        sql_type: "int",
        dest: Dest::Properties,
        value: |r| int4(r.record.props.heavy_atom_count),
    },
    Column {
        name: "hydrogen_count",
        sql_type: "int",
        dest: Dest::Properties,
        value: |r| int4(r.record.props.hydrogen_count),
    },
    Column {
        name: "implicit_h_count",
        sql_type: "int",
        dest: Dest::Properties,
        value: |r| int4(r.record.props.implicit_h_count),
    },
    Column {
        name: "bond_count",
        sql_type: "int",
        dest: Dest::Properties,
        value: |r| int4(r.record.props.bond_count),
    },
    Column {
        name: "net_charge",
        sql_type: "int",
        dest: Dest::Properties,
        value: |r| Value::Int4(r.record.props.net_charge),
    },
    Column {
        name: "average_mw",
        sql_type: "float8",
        dest: Dest::Properties,
        value: |r| Value::Float8(r.record.props.average_mw),
    },
    Column {
        name: "job_score",
        sql_type: "float8",
        dest: Dest::Job,
        value: |r| {
            r.pose
                .as_ref()
                .and_then(|p| p.score)
                .map_or(Value::Null, Value::Float8)
        },
    },
    Column {
        name: "pose_data",
        sql_type: "jsonb",
        dest: Dest::Job,
        value: |r| match &r.pose {
            Some(p) => Value::Jsonb(serde_json::to_string(&p.data).unwrap_or_else(|_| "{}".into())),
            None => Value::Null,
        },
    },
];

/// The SQL built from [`COLUMNS`].
pub struct StageSql {
    /// `CREATE TEMP TABLE stage_molecules (…)`, once per connection.
    pub ddl: String,
    /// The same, dropped at the end of the transaction that creates it
    /// (behind a transaction pooler, where a session's table would be
    /// another client's next transaction's).
    pub ddl_in_transaction: String,
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
    /// After `move_rows`: each staged record that is not its molecule's
    /// first record (nor, under structure dedup, its occurrence) — the same
    /// text again, here or in another file — becomes a `molecule_records`
    /// row, so every record's file, index and line is known.
    pub record_repeats: String,
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
    let columns = join(&mut COLUMNS.iter().map(|c| format!("{} {}", c.name, c.sql_type)));
    let ddl = format!("CREATE TEMP TABLE {STAGE_TABLE} ({columns}) ON COMMIT DELETE ROWS");
    let ddl_in_transaction = format!("CREATE TEMP TABLE {STAGE_TABLE} ({columns}) ON COMMIT DROP");
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
    let record_repeats = format!(
        "INSERT INTO molecule_records (organization_id, file_id, record_index, record_line, molecule_id)
         SELECT $1, f.id, s.record_index, s.record_line, coalesce(m.id, o.molecule_id)
         FROM {STAGE_TABLE} s
         JOIN molecule_files f ON f.organization_id = $1 AND f.content_hash = s.{key}
         LEFT JOIN molecules m ON m.organization_id = $1 AND m.content_hash = s.content_hash
         LEFT JOIN molecule_occurrences o ON o.organization_id = $1 AND o.content_hash = s.content_hash
         WHERE coalesce(m.id, o.molecule_id) IS NOT NULL
           AND (m.id IS NULL OR (m.file_id, m.record_index) IS DISTINCT FROM (f.id, s.record_index))
           AND (o.molecule_id IS NULL OR (o.file_id, o.record_index) IS DISTINCT FROM (f.id, s.record_index))
         ORDER BY f.id, s.record_index
         ON CONFLICT DO NOTHING"
    );
    StageSql {
        ddl,
        ddl_in_transaction,
        copy,
        move_rows,
        job_results,
        record_repeats,
    }
});

/// Create the staging table on this connection, usable by the tenant role.
pub async fn create_stage(conn: &mut PgConnection) -> Result<(), Error> {
    crate::db::pooler::query(&STAGE.ddl)
        .execute(&mut *conn)
        .await?;
    crate::db::pooler::query(&format!(
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
            (c.value)(&row).text(out);
        }
        out.push(b'\n');
    }
}

/// The bulk path's two COPYs, in binary format, built from [`COLUMNS`]:
/// `molecules` gets `organization_id, file_id`, the row's id and every
/// [`Dest::Molecules`] column; `molecule_properties` gets
/// `organization_id`, the id as `molecule_id` and every
/// [`Dest::Properties`] column.
pub struct BulkLayout {
    pub molecules: Vec<&'static Column>,
    pub properties: Vec<&'static Column>,
}

pub static BULK: LazyLock<BulkLayout> = LazyLock::new(|| {
    let of = |dest: Dest| COLUMNS.iter().filter(move |c| c.dest == dest);
    BulkLayout {
        molecules: of(Dest::Id).chain(of(Dest::Molecules)).collect(),
        properties: of(Dest::Id).chain(of(Dest::Properties)).collect(),
    }
});

impl BulkLayout {
    fn names(cols: &[&Column]) -> String {
        cols.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    }

    pub fn molecules_copy(&self, table: &str) -> String {
        format!(
            "COPY public.{table} (organization_id, file_id, {}) FROM STDIN (FORMAT binary, FREEZE)",
            Self::names(&self.molecules)
        )
    }

    pub fn properties_copy(&self, table: &str) -> String {
        let names = Self::names(&self.properties).replacen("id", "molecule_id", 1);
        format!("COPY public.{table} (organization_id, {names}) FROM STDIN (FORMAT binary, FREEZE)")
    }

    /// Fields of a molecules tuple (with the two the sink writes).
    pub fn molecules_fields(&self) -> i16 {
        self.molecules.len() as i16 + 2
    }

    pub fn properties_fields(&self) -> i16 {
        self.properties.len() as i16 + 1
    }
}

/// Encodes records for the bulk path (COPY binary, see [`BULK`]): the
/// molecules tuple and the properties tuple without their leading
/// organization (and file) fields, which the bulk sink writes — it learns a
/// file's id only when it registers the file. `out` holds the molecules
/// part's length (u32, little-endian), that part, then the properties part.
pub struct BulkRows;

impl Encoder for BulkRows {
    fn encode(&self, file: &FileInfo, record: &Record, out: &mut Vec<u8>) {
        let row = Row {
            id: Uuid::now_v7(),
            file,
            record,
            pose: None,
        };
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        for c in &BULK.molecules {
            (c.value)(&row).binary(out);
        }
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        for c in &BULK.properties {
            (c.value)(&row).binary(out);
        }
    }
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

    #[test]
    fn bulk_copies_list_the_ids_first() {
        assert!(BULK
            .molecules_copy("t")
            .starts_with("COPY public.t (organization_id, file_id, id, content_hash"));
        assert!(BULK
            .properties_copy("t")
            .starts_with("COPY public.t (organization_id, molecule_id, atom_count"));
    }
}
