//! An organization's whole life in SQL: its rows in every table (export,
//! import), deleting them all (purge) and the tombstone a purge leaves.

use super::{orgs::org_role, tenant_in_run};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::Connection;
use std::collections::BTreeMap;

/// Every table that holds an organization's rows, parents before children
/// (the order to restore in; purge deletes in reverse), with the columns
/// that order its rows in an export.
pub const ORG_TABLES: &[(&str, &str)] = &[
    ("organizations", "id"),
    ("users", "id"),
    ("user_sessions", "id"),
    ("organization_config", "key"),
    ("molecule_files", "id"),
    ("pipelines", "id"),
    ("pipeline_executions", "id"),
    ("molecules", "id"),
    ("molecule_properties", "molecule_id"),
    ("molecule_occurrences", "content_hash"),
    ("molecule_records", "file_id, record_index"),
    ("refused_files", "content_hash"),
    ("docking_jobs", "id"),
    ("job_executions", "id"),
    ("job_results", "id"),
    ("audit_log", "id"),
];

/// The column naming the organization in `table`.
fn org_column(table: &str) -> &'static str {
    if table == "organizations" {
        "id"
    } else {
        "organization_id"
    }
}

/// Audit rows an export leaves out: tombstones of earlier purges belong to
/// the organization's past life, not to what is restored.
const NOT_TOMBSTONE: &str = "action NOT LIKE '%purge%'";

/// Stream every row of `table` for `org` as JSON lines into `out`, in
/// primary-key order, as the organization's role (row-level security holds).
/// Returns the row count.
pub async fn export_table(
    conn: &mut PgConnection,
    org: OrgId,
    table: &str,
    out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<u64> {
    let order = ORG_TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map_or("1", |(_, o)| *o);
    let extra = if table == "audit_log" {
        format!(" AND {NOT_TOMBSTONE}")
    } else {
        String::new()
    };
    // CSV with a quote and delimiter that JSON never holds raw: the JSON
    // text comes through unescaped, one row per line.
    let sql = format!(
        "COPY (SELECT row_to_json(t) FROM (SELECT * FROM {table} WHERE {} = '{org}'{extra} \
         ORDER BY {order}) t) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
        org_column(table)
    );
    let mut tx = tenant_in_run(&mut *conn, org, None).await?;
    let mut rows = 0u64;
    {
        let mut stream = tx.copy_out_raw(&sql).await?;
        while let Some(chunk) = stream.try_next().await? {
            rows += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            out(&chunk).map_err(|e| Error::io("export", e))?;
        }
    }
    tx.commit().await?;
    Ok(rows)
}

/// Restore one table's JSON lines for `org`, as the administrator: rows go
/// in through the organization's role (policies checked), audit rows as
/// the owner with their ids; the audit triggers see `molingest.restoring`.
/// `organization_id` is set to `org` (the import may give a new id).
pub async fn import_table(
    conn: &mut PgConnection,
    org: OrgId,
    table: &str,
    lines: &[String],
) -> Result<u64> {
    if lines.is_empty() {
        return Ok(0);
    }
    let mut tx = conn.begin().await?;
    crate::db::pooler::query("SELECT set_config('molingest.restoring', 'on', true)")
        .execute(&mut *tx)
        .await?;
    let col = org_column(table);
    // Rows go in as the organization's role, so its row security checks
    // them; the audit trail and the organization row as the administrator.
    // (SET LOCAL lasts to the end of the whole import's transaction, so
    // each table says which role it needs.)
    let role = if table == "audit_log" || table == "organizations" {
        "NONE".to_owned()
    } else {
        org_role(org)
    };
    crate::db::pooler::query(&format!("SET LOCAL ROLE {role}"))
        .execute(&mut *tx)
        .await?;
    let sql = if table == "audit_log" {
        // An export is a file an administrator trusts, not the database's
        // own history: imported audit rows get ids from the sequence (a
        // crafted id can never move the shared sequence), the importing
        // administrator as their actor, and what the file claimed — its
        // actor and id — as data under `details.imported`.
        "INSERT INTO audit_log (organization_id, \"timestamp\", action, entity_type, entity_id, details)
         SELECT $1, r.\"timestamp\", r.action, r.entity_type, r.entity_id,
                coalesce(r.details, '{}'::jsonb)
                  || jsonb_build_object('imported', jsonb_build_object('actor', r.actor, 'id', r.id))
         FROM unnest($2::text[]) AS u(doc),
              LATERAL jsonb_populate_record(NULL::audit_log, u.doc::jsonb) AS r"
            .to_owned()
    } else {
        format!(
            "INSERT INTO {table}
             SELECT (jsonb_populate_record(NULL::{table}, doc::jsonb || jsonb_build_object('{col}', $1::uuid))).*
             FROM unnest($2::text[]) AS u(doc)"
        )
    };
    // The lines go to PostgreSQL as text: its JSON parser keeps every digit
    // (a float parsed and printed in between might not come back the same).
    let n = crate::db::pooler::query(&sql)
        .bind(org)
        .bind(lines)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// How many rows the organization has in each table.
pub async fn row_counts(conn: &mut PgConnection, org: OrgId) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for (table, _) in ORG_TABLES {
        let mut tx = tenant_in_run(&mut *conn, org, None).await?;
        let n: i64 = crate::db::pooler::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE {} = $1",
            org_column(table)
        ))
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        counts.insert(table.to_string(), n as u64);
    }
    Ok(counts)
}

/// Delete every row of the organization, children first, as its role (so
/// each delete is audited and touches no other tenant); then its audit
/// rows and the organization itself, as the administrator. Returns the
/// count per table. The tombstone is written by [`tombstone`].
pub async fn purge_rows(pool: &PgPool, org: OrgId) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    // What a killed bulk load left unattached holds foreign keys to the
    // organization's rows: it goes first.
    {
        // In a transaction: behind a pooler, a statement with parameters is
        // only safe inside one (see `pooler`).
        let mut tx = pool.begin().await?;
        crate::db::pooler::query("SELECT molingest_bulk_discard($1)")
            .bind(org)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    // Tenants may not delete (a DELETE grant would let them lock the shared
    // tables): the administrator deletes, for this organization only.
    let mut tx = super::admin_for(pool, org).await?;
    for (table, _) in ORG_TABLES.iter().rev() {
        if matches!(*table, "audit_log" | "organizations") {
            continue;
        }
        let n =
            crate::db::pooler::query(&format!("DELETE FROM {table} WHERE organization_id = $1"))
                .bind(org)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        counts.insert(table.to_string(), n);
    }
    let n = crate::db::pooler::query(&format!(
        "DELETE FROM audit_log WHERE organization_id = $1 AND {NOT_TOMBSTONE}"
    ))
    .bind(org)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    counts.insert("audit_log".into(), n);
    let n = crate::db::pooler::query("DELETE FROM organizations WHERE id = $1")
        .bind(org)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    counts.insert("organizations".into(), n);
    // The deletes above were audited; those rows go too (no names in them,
    // but the purge leaves one tombstone only).
    crate::db::pooler::query(&format!(
        "DELETE FROM audit_log WHERE organization_id = $1 AND {NOT_TOMBSTONE}"
    ))
    .bind(org)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    drop_partitions(pool, org).await?;
    Ok(counts)
}

/// Detach and drop the organization's (now empty) partitions. Detaching
/// needs the parents' ACCESS EXCLUSIVE lock for milliseconds: waited for
/// with a bounded lock_timeout and retried, while tenant sessions that hold
/// it up for longer than [`super::preempt::GRACE`] are ended (see
/// [`super::preempt`]). A failure leaves empty partitions that the next
/// purge or `org add` of the same id would find harmless.
async fn drop_partitions(pool: &PgPool, org: OrgId) -> Result<()> {
    let hex = org.simple().to_string();
    let mut conn = pool.acquire().await?;
    let watch = (*pool.connect_options()).clone();
    let ((), ended) = super::preempt::with_parent_locks(&mut conn, watch, |tx| {
        let hex = hex.clone();
        Box::pin(async move {
            // Detached first: a partition that foreign keys reference
            // cannot be dropped while attached.
            for t in ["molecule_properties", "molecules"] {
                let part = format!("{t}_{hex}");
                let attached: bool = crate::db::pooler::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1))",
                )
                .bind(format!("public.{part}"))
                .fetch_one(&mut **tx)
                .await?;
                if attached {
                    crate::db::pooler::query(&format!("ALTER TABLE {t} DETACH PARTITION {part}"))
                        .execute(&mut **tx)
                        .await?;
                }
                crate::db::pooler::query(&format!("DROP TABLE IF EXISTS {part}"))
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        })
    })
    .await
    .map_err(|e| e.during("dropping the organization's partitions"))?;
    super::preempt::tell(&ended);
    Ok(())
}

/// The one audit row a purge leaves: organization id, time, actor and
/// counts — no names, no personal data. Kept whatever the retention policy.
pub async fn tombstone(pool: &PgPool, org: OrgId, counts: &BTreeMap<String, u64>) -> Result<()> {
    let mut tx = pool.begin().await?;
    crate::db::pooler::query(
        "INSERT INTO audit_log (organization_id, actor, action, entity_type, entity_id, details)
         VALUES ($1, session_user, 'organization.purge', 'organizations', $1, $2)",
    )
    .bind(org)
    .bind(serde_json::json!({ "rows_deleted": counts }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Drop the organization's role (its memberships go with it).
pub async fn drop_org_role(pool: &PgPool, org: OrgId) -> Result<()> {
    sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {}", org_role(org)))
        .execute(pool)
        .await?;
    Ok(())
}

/// Does the database hold any data (for `migrate down`)?
pub async fn holds_data(pool: &PgPool) -> Result<bool> {
    let exists: bool =
        crate::db::pooler::query_scalar("SELECT to_regclass('organizations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    if !exists {
        return Ok(false);
    }
    Ok(
        crate::db::pooler::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations)")
            .fetch_one(pool)
            .await?,
    )
}

/// The molecules that have a SMILES as `smiles<TAB>name` lines, for tools
/// that read SMILES files (tabs and line breaks in names become spaces).
pub async fn export_smiles(
    conn: &mut PgConnection,
    org: OrgId,
    out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<()> {
    let sql = format!(
        "COPY (SELECT smiles || E'\\t' || regexp_replace(name, E'[\\t\\r\\n]', ' ', 'g')
               FROM molecules WHERE organization_id = '{org}' AND smiles IS NOT NULL ORDER BY id)
         TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    );
    let mut tx = tenant_in_run(&mut *conn, org, None).await?;
    {
        let mut stream = tx.copy_out_raw(&sql).await?;
        while let Some(chunk) = stream.try_next().await? {
            out(&chunk).map_err(|e| Error::io("export", e))?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Give the restored organization row its exported fields back (creation
/// time; the name and id were used to create it), and move the audit id
/// sequence past the restored audit rows.
pub async fn restore_org_row(
    conn: &mut PgConnection,
    org: OrgId,
    path: &std::path::Path,
) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut tx = conn.begin().await?;
    crate::db::pooler::query("SELECT set_config('molingest.restoring', 'on', true)")
        .execute(&mut *tx)
        .await?;
    if let Some(line) = text.lines().next() {
        let doc: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Input(format!("organizations.jsonl: {e}")))?;
        crate::db::pooler::query(
            "UPDATE organizations SET created_at = (jsonb_populate_record(NULL::organizations, $2)).created_at
             WHERE id = $1",
        )
        .bind(org)
        .bind(&doc)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Delete an organization's audit rows, tombstones kept (as the owner).
pub async fn clear_audit(conn: &mut PgConnection, org: OrgId) -> Result<u64> {
    Ok(crate::db::pooler::query(&format!(
        "DELETE FROM audit_log WHERE organization_id = $1 AND {NOT_TOMBSTONE}"
    ))
    .bind(org)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
