//! The `molingest` binary: parse the command line, call the library's
//! workflow, print its report, exit with the code the report calls for.

mod admin_cmd;
mod cli;

use clap::Parser;
use cli::{Cli, Command};
use molingest::exit::Exit;
use molingest::load::sink::{BatchLimits, SinkOptions};
use molingest::load::structure::Dedup;
use molingest::pipeline::shard::Shard;
use molingest::pipeline::{Cancel, ErrorBudget};
use molingest::redact;
use molingest::workflow::admin::Database;
use molingest::workflow::{self, Display, LoadRequest, ScanRequest, Tuning};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

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
    cli::check(&cli);
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
            match e.downcast_ref::<molingest::error::Error>() {
                Some(molingest::error::Error::Usage(_)) => Exit::Usage,
                _ => Exit::Failure,
            }
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
    // A pooler's refusal, for a client that did not say it is behind one.
    let out = molingest::db::pooler::explain(&out).unwrap_or(out);
    redact::text(&out)
}

/// A password given with `--database-url` is visible to every user of the
/// machine (`ps`): say so, and where it belongs instead.
fn warn_password_on_command_line() {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let url = match a.strip_prefix("--database-url") {
            Some("") => args.next().unwrap_or_default(),
            Some(v) if v.starts_with('=') => v[1..].to_owned(),
            _ => continue,
        };
        if redact::text(&url) != url {
            eprintln!(
                "molingest: warning: the password in --database-url is visible to other users \
                 (ps); put the URL in DATABASE_URL, or the password in PGPASSWORD or ~/.pgpass"
            );
        }
    }
}

/// A line on stdout; a closed stdout (`| head`) is not an error.
pub(crate) fn print_stdout(line: &str) {
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

/// SIGINT and SIGTERM ask the load to stop cleanly (the run is recorded as
/// cancelled); the same signal a second time exits at once.
fn stop_on_signals() -> Cancel {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let cancel = Cancel::new();
    for sig in [SIGINT, SIGTERM] {
        let again = Arc::new(AtomicBool::new(false));
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, again.clone());
        let _ = signal_hook::flag::register(sig, again);
        let _ = signal_hook::flag::register_usize(sig, cancel.flag(), sig as usize);
    }
    cancel
}

fn tuning(t: &cli::Tuning) -> Tuning {
    Tuning {
        threads: t.threads,
        readers: t.readers,
        // Commands that want an identity say so (verify needs none).
        identity: molingest::identity::IdentityMode::Off,
    }
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    if let Some(secs) = cli.connect_timeout {
        molingest::db::connect::set_connect_timeout(secs);
    }
    molingest::db::pooler::set_transaction_pooler(cli.pooler == cli::Pooler::Transaction);
    warn_password_on_command_line();
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
            identity,
            tuning: t,
        } => {
            let req = ScanRequest {
                sources: paths,
                rejects,
                tuning: Tuning {
                    identity: identity.mode(),
                    ..tuning(&t)
                },
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
            rejects_dir,
            max_errors,
            max_error_rate,
            json,
            full,
            no_bulk,
            shard,
            docking_job,
            receptor,
            batch_rows,
            writers,
            identity,
            dedup,
            require_marker,
            sync,
            tuning: t,
        } => {
            // A bad --shard is a usage error before anything else happens.
            let shard = shard
                .map(|s| Shard::parse(&s, |k| std::env::var(k).ok()))
                .transpose()?;
            let req = LoadRequest {
                database_url: database.resolve(true)?,
                sources: paths,
                org,
                create_org,
                rejects,
                rejects_dir,
                shard,
                no_bulk,
                sync: sync.options(),
                require_marker,
                budget: ErrorBudget {
                    max_errors,
                    max_rate: max_error_rate,
                },
                sink: SinkOptions {
                    limits: BatchLimits {
                        rows: batch_rows.max(1),
                        ..BatchLimits::default()
                    },
                    writers: writers.max(1),
                    reread_all: full,
                    docking_job: None,
                    dedup: match dedup {
                        cli::DedupArg::Record => Dedup::Record,
                        cli::DedupArg::Structure => Dedup::Structure,
                    },
                },
                docking: docking_job.map(|job| workflow::docking::DockingRequest { job, receptor }),
                tuning: Tuning {
                    identity: identity.mode(),
                    ..tuning(&t)
                },
                display: display(&t, json),
                cancel: stop_on_signals(),
            };
            let report = workflow::load(&req)?;
            if json {
                print_stdout(&report.to_json().to_string());
            } else {
                // A dry run has no run record.
                let run = (!report.run_id.is_nil()).then(|| report.run_id.to_string());
                eprint!("{}", report.summary.render("load", run.as_deref()));
                eprintln!("database: {}", report.database);
            }
            if let Some(e) = &report.error {
                eprintln!("molingest: error: {}", redact::text(e));
            }
            if report.signal.is_some() {
                eprintln!(
                    "molingest: stopped by a signal; what was committed stays. \
                     Run the same command again to resume."
                );
            }
            Ok(report.exit())
        }
        Command::Verify {
            paths,
            org,
            json,
            tuning: t,
        } => {
            let req = workflow::VerifyRequest {
                database_url: database.resolve(true)?,
                sources: paths,
                org,
                tuning: tuning(&t),
                display: display(&t, json),
            };
            let report = workflow::verify(&req)?;
            if json {
                print_stdout(&serde_json::to_string(&report)?);
            } else {
                eprint!("{}", report.render());
            }
            Ok(report.exit())
        }
        Command::Migrate {
            direction,
            confirm_data_loss,
            target_version,
            dry_run,
        } => admin_cmd::migrate(
            &database,
            direction,
            workflow::admin::MigrateOptions {
                confirm_data_loss,
                target: target_version,
                dry_run,
            },
        ),
        Command::Org { command } => admin_cmd::org(&database, command),
        Command::Retention { command } => admin_cmd::retention(&database, command),
        Command::Db { action } => admin_cmd::db(&database, action),
    }
}
