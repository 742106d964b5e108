//! `org config` and `retention apply`: per-organization retention policies
//! (default: keep everything) applied in every organization, routed
//! databases included.

use super::admin::{connect_ready, locate};
use super::runtime;
use crate::db::{self, retention as sql, routing};
use crate::error::Result;
use serde::Serialize;

/// Show the organization's settings, or set `key` to `value` first.
pub fn config(
    url: &str,
    name: &str,
    key: Option<&str>,
    value: Option<&str>,
) -> Result<Vec<(String, String)>> {
    runtime()?.block_on(async {
        let located = locate(url, Some(name), false).await?;
        match (key, value) {
            (Some(k), Some(v)) => {
                let days = sql::check(k, v)?;
                sql::set(&located.pool, located.org.id, k, days).await?;
            }
            (Some(k), None) => {
                return Err(crate::error::Error::Usage(format!(
                    "`org config {name} {k}` needs a value (whole days)"
                )))
            }
            _ => {}
        }
        sql::settings(&located.pool, located.org.id).await
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgExpired {
    pub organization: String,
    #[serde(flatten)]
    pub expired: sql::Expired,
    /// Why this organization's policy could not be applied (the others
    /// were applied all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Apply every organization's policy (count only with `dry_run`).
pub fn apply(url: &str, dry_run: bool) -> Result<Vec<OrgExpired>> {
    runtime()?.block_on(async {
        let control = connect_ready(url).await?;
        db::orgs::require_admin(&control, "retention apply").await?;
        let mut out = Vec::new();
        // One organization's failure (a bad setting, its database down)
        // is reported; every other organization is still processed.
        for org in db::list_orgs(&control).await? {
            let applied = match &org.location {
                None => sql::apply(&control, org.id, dry_run).await,
                Some(l) => {
                    async {
                        let pool = connect_ready(&routing::route(url, l)?).await?;
                        let e = sql::apply(&pool, org.id, dry_run).await;
                        pool.close().await;
                        e
                    }
                    .await
                }
            };
            let (expired, error) = match applied {
                Ok(e) => (e, None),
                Err(e) => (
                    sql::Expired::default(),
                    Some(crate::redact::text(&e.to_string())),
                ),
            };
            out.push(OrgExpired {
                organization: org.name,
                expired,
                error,
            });
        }
        Ok(out)
    })
}

pub fn render(report: &[OrgExpired], dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    report
        .iter()
        .map(|o| match &o.error {
            Some(e) => format!("{}: not applied: {e}\n", o.organization),
            None => format!(
                "{}: {verb} {} run records, {} audit rows; cleared rejects of {} runs\n",
                o.organization, o.expired.runs, o.expired.audit_rows, o.expired.rejects_cleared
            ),
        })
        .collect()
}
