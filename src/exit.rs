//! Exit codes scripts can trust: the one table. `--help` prints it and the
//! README copies it; every command maps its report to one of these.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything was read and loaded (or was already loaded).
    Success = 0,
    /// The run stopped or never started (what was committed stays committed;
    /// run it again).
    Failure = 1,
    /// The command line was wrong (clap's own code for usage errors).
    Usage = 2,
    /// The run completed, but some records or files were rejected.
    Rejects = 3,
    /// The sources named hold no molecule file at all (an empty prefix, a
    /// typo, only `.txt` files): nothing was read, and that is not success.
    NoMoleculeFiles = 4,
    /// More records were rejected than `--max-errors`/`--max-error-rate`
    /// allow: the run stopped; what was committed stays.
    ErrorBudget = 5,
    /// `verify`: some records of the source are neither in the database nor
    /// rejected, or a file could not be read.
    Unaccounted = 6,
    /// `load --sync`: what was found was loaded, but nothing was retracted:
    /// the sync would remove more molecules than `--max-retract` allows.
    SyncRefused = 7,
    /// Everything new was loaded; the only problems are files that failed
    /// before and have not changed since (named in the notices).
    KnownFailures = 8,
    /// Stopped by SIGINT (Ctrl-C): committed batches stand; run it again.
    Interrupted = 130,
    /// Stopped by SIGTERM: committed batches stand; run it again.
    Terminated = 143,
}

impl Exit {
    /// Every code with its meaning, in order.
    pub const TABLE: &'static [(Exit, &'static str)] = &[
        (
            Exit::Success,
            "success: everything found was loaded, or was already loaded",
        ),
        (
            Exit::Failure,
            "failure: the run stopped or a source could not be listed; what was committed stays, run it again",
        ),
        (Exit::Usage, "usage error"),
        (
            Exit::Rejects,
            "completed, but some records or files were rejected or failed (see --rejects)",
        ),
        (
            Exit::NoMoleculeFiles,
            "the sources hold no molecule file at all (empty prefix, typo, only other files)",
        ),
        (
            Exit::ErrorBudget,
            "stopped: more records rejected than --max-errors / --max-error-rate allow; what was committed stays",
        ),
        (
            Exit::Unaccounted,
            "verify: some records are neither in the database nor rejected, or a file could not be read",
        ),
        (
            Exit::SyncRefused,
            "load --sync: loaded, but nothing retracted: it would remove more molecules than --max-retract allows",
        ),
        (
            Exit::KnownFailures,
            "completed; the only problems are files that failed before and have not changed (still failing, named in the notices)",
        ),
        (
            Exit::Interrupted,
            "stopped by SIGINT (Ctrl-C); what was committed stays, run it again to resume",
        ),
        (
            Exit::Terminated,
            "stopped by SIGTERM; what was committed stays, run it again to resume",
        ),
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The table as `--help` shows it.
    pub fn help() -> String {
        let mut s = String::from("Exit status:\n");
        for (e, meaning) in Exit::TABLE {
            s.push_str(&format!("  {}  {meaning}\n", e.code()));
        }
        s
    }
}
