//! The administrative commands' glue: call the library, print what it
//! returns. (Kept apart so that `main.rs` stays a page.)

use crate::cli::{DbAction, Direction, OrgCommand, RetentionCommand};
use crate::print_stdout;
use molingest::db::routing::describe;
use molingest::exit::Exit;
use molingest::workflow::admin::{self, Database};
use molingest::workflow::{lifecycle, retention};

pub fn migrate(
    database: &Database,
    direction: Direction,
    options: admin::MigrateOptions,
) -> anyhow::Result<Exit> {
    if molingest::db::pooler::transaction_pooler() && direction != Direction::Status {
        anyhow::bail!(
            "`migrate` needs a direct connection to PostgreSQL, not one through a pooler in \
             transaction mode: it holds sqlx's migration lock (a session advisory lock) across \
             its transactions. Run it with the server's own address (or PgBouncer in session \
             mode) and without --pooler / MOLINGEST_POOLER; loads then work through the pooler"
        );
    }
    let url = database.resolve(false)?;
    let steps = match direction {
        Direction::Up => admin::migrate_up(&url, options)?,
        Direction::Down => admin::migrate_down(&url, options)?,
        Direction::Status => {
            for m in admin::migration_status(&url)? {
                let state = if m.applied { "applied" } else { "pending" };
                print_stdout(&format!("{} {state} {}", m.version, m.description));
            }
            return Ok(Exit::Success);
        }
    };
    let verb = match (direction, options.dry_run) {
        (Direction::Up, true) => "would apply",
        (Direction::Up, false) => "applied",
        (_, true) => "would revert",
        (_, false) => "reverted",
    };
    for step in &steps {
        for m in &step.migrations {
            print_stdout(&format!("{} {verb} {m}", step.database));
        }
    }
    let n: usize = steps.iter().map(|s| s.migrations.len()).sum();
    eprintln!("{verb} {n} migration(s) in {} database(s)", steps.len());
    Ok(Exit::Success)
}

pub fn org(database: &Database, command: OrgCommand) -> anyhow::Result<Exit> {
    let url = database.resolve(true)?;
    match command {
        OrgCommand::Add { name, database } => {
            let id = admin::org_add(&url, &name, database.as_deref())?;
            print_stdout(&id.to_string());
            eprintln!("created organization {name:?}");
        }
        OrgCommand::Grant { name, login_role } => {
            admin::org_grant(&url, &name, &login_role)?;
            eprintln!("{login_role:?} may now load into {name:?}");
        }
        OrgCommand::List => {
            for o in admin::org_list(&url)? {
                let place = o.location.as_deref().map_or("here".into(), describe);
                print_stdout(&format!(
                    "{}\t{}\t{} molecules\t{place}",
                    o.id, o.name, o.molecules
                ));
            }
        }
        OrgCommand::Export { name, dir } => {
            let m = lifecycle::export(&url, &name, &dir)?;
            print_stdout(&serde_json::to_string(&m.row_counts)?);
            eprintln!("exported {name:?} to {}", dir.display());
        }
        OrgCommand::Import { dir, as_name } => {
            let r = lifecycle::import(&url, &dir, as_name.as_deref())?;
            print_stdout(&serde_json::to_string(&r)?);
            eprintln!("imported {} into {:?}", dir.display(), r.organization);
        }
        OrgCommand::Purge {
            name,
            confirm,
            drop_database,
        } => {
            let r = lifecycle::purge(&url, &name, confirm.as_deref(), drop_database)?;
            for (table, n) in &r.rows_deleted {
                print_stdout(&format!("{table}\t{n}"));
            }
            eprintln!("purged {name:?}: one tombstone remains in the audit log");
        }
        OrgCommand::Config { name, key, value } => {
            for (k, v) in retention::config(&url, &name, key.as_deref(), value.as_deref())? {
                print_stdout(&format!("{k}\t{v}"));
            }
        }
    }
    Ok(Exit::Success)
}

pub fn retention(database: &Database, command: RetentionCommand) -> anyhow::Result<Exit> {
    let url = database.resolve(true)?;
    match command {
        RetentionCommand::Apply { dry_run, json } => {
            let report = retention::apply(&url, dry_run)?;
            if json {
                print_stdout(&serde_json::to_string(&report)?);
            } else {
                eprint!("{}", retention::render(&report, dry_run));
            }
            // Non-zero only after every other organization was processed.
            if report.iter().any(|o| o.error.is_some()) {
                return Ok(Exit::Failure);
            }
        }
    }
    Ok(Exit::Success)
}

pub fn db(database: &Database, action: DbAction) -> anyhow::Result<Exit> {
    let embedded = database.embedded()?;
    match action {
        DbAction::Start => print_stdout(&embedded.ensure_running()?),
        DbAction::Stop => {
            embedded.stop()?;
            eprintln!("stopped {}", embedded.data_dir.display());
        }
        DbAction::Status => {
            let state = if embedded.is_running() {
                "running"
            } else {
                "not running"
            };
            print_stdout(&format!("{}: {state}", embedded.data_dir.display()));
            // Scripts ask `db status && …`: not running is not success.
            if !embedded.is_running() {
                return Ok(Exit::Failure);
            }
        }
    }
    Ok(Exit::Success)
}
