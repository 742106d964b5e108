//! The `molingest` binary: parse the command line, call the library's
//! workflow, print its report, exit with the code the report calls for.

mod cli;

use clap::Parser;
use cli::{Cli, Command, DbAction, Direction, OrgCommand};
use molingest::db::sink::{BatchLimits, SinkOptions};
use molingest::exit::Exit;
use molingest::redact;
use molingest::workflow::admin::{self, Database};
use molingest::workflow::{self, Display, LoadRequest, ScanRequest, Tuning};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // `.env` holds configuration, not programs: only DATABASE_URL and the
    // PG* connection variables, from the current directory, never overriding.
    match molingest::db::connect::load_dotenv(std::path::Path::new(".")) {
        Ok(ignored) if !ignored.is_empty() => eprintln!(
            "molingest: .env: ignoring {} (only DATABASE_URL and PG* connection variables are read from .env)",
            ignored.join(", ")
        ),
        Ok(_) => {}
        Err(e) => eprintln!("molingest: warning: {}", redact::text(&e.to_string())),
    }
    let cli = Cli::parse();
    // With --json, even a failure before the run prints one JSON document.
    let json = matches!(cli.command, Command::Load { json: true, .. });
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            let message = error_chain(&e);
            if json {
                let doc = serde_json::json!({"status": "failed", "error": message});
                print_stdout(&doc.to_string());
            }
            eprintln!("molingest: error: {message}");
            Exit::Failure
        }
    };
    ExitCode::from(exit.code())
}

/// An error and its causes, each said once (a cause whose text its parent
/// already quotes is not repeated), with any secret in them hidden.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    redact::text(&out)
}

/// A line on stdout; a closed stdout (`| head`) is not an error.
fn print_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// Progress only for a person: both streams on a terminal.
fn display(t: &cli::Tuning, machine_output: bool) -> Display {
    Display {
        progress: !t.quiet
            && !machine_output
            && std::io::stderr().is_terminal()
            && std::io::stdout().is_terminal(),
        quiet: t.quiet || machine_output,
    }
}

fn tuning(t: &cli::Tuning) -> Tuning {
    Tuning {
        threads: t.threads,
        readers: t.readers,
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let database = Database {
        url: cli.database_url.clone(),
        data_dir: cli.data_dir.clone(),
    };
    match cli.command {
        Command::Scan {
            paths,
            jsonl,
            rejects,
            json,
            tuning: t,
        } => {
            let req = ScanRequest {
                sources: paths,
                rejects,
                tuning: tuning(&t),
                display: display(&t, jsonl || json),
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let report = workflow::scan(&req, jsonl.then_some(&mut out as &mut dyn Write))?;
            drop(out);
            if report.output_closed {
                return Ok(report.exit());
            }
            if json {
                print_stdout(&serde_json::to_string(&report.summary)?);
            } else {
                eprint!("{}", report.summary.render("scan", None));
            }
            Ok(report.exit())
        }
        Command::Load {
            paths,
            org,
            create_org,
            rejects,
            json,
            full,
            batch_rows,
            writers,
            tuning: t,
        } => {
            let req = LoadRequest {
                database_url: database.resolve(true)?,
                sources: paths,
                org,
                create_org,
                rejects,
                sink: SinkOptions {
                    limits: BatchLimits {
                        rows: batch_rows.max(1),
                        ..BatchLimits::default()
                    },
                    writers: writers.max(1),
                    reread_all: full,
                },
                tuning: tuning(&t),
                display: display(&t, json),
            };
            let report = workflow::load(&req)?;
            if json {
                print_stdout(&report.to_json().to_string());
            } else {
                let run = report.run_id.to_string();
                eprint!("{}", report.summary.render("load", Some(&run)));
                eprintln!("database: {}", report.database);
            }
            if let Some(e) = &report.error {
                eprintln!("molingest: error: {}", redact::text(e));
            }
            Ok(report.exit())
        }
        Command::Migrate { direction } => {
            let url = database.resolve(false)?;
            match direction {
                Direction::Up => {
                    let n = admin::migrate_up(&url)?;
                    eprintln!("schema up to date ({n} migrations applied)");
                }
                Direction::Down => {
                    admin::migrate_down(&url)?;
                    eprintln!("all migrations reverted");
                }
                Direction::Status => {
                    for m in admin::migration_status(&url)? {
                        let state = if m.applied { "applied" } else { "pending" };
                        print_stdout(&format!("{} {state} {}", m.version, m.description));
                    }
                }
            }
            Ok(Exit::Success)
        }
        Command::Org { command } => {
            let url = database.resolve(true)?;
            match command {
                OrgCommand::Add { name } => {
                    let id = admin::org_add(&url, &name)?;
                    print_stdout(&id.to_string());
                    eprintln!("created organization {name:?}");
                }
                OrgCommand::List => {
                    for o in admin::org_list(&url)? {
                        print_stdout(&format!("{}\t{}\t{} molecules", o.id, o.name, o.molecules));
                    }
                }
            }
            Ok(Exit::Success)
        }
        Command::Db { action } => {
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
                }
            }
            Ok(Exit::Success)
        }
    }
}
