//! The readers' error: where in the record's file it happened, and why.

/// A reader's complaint about one record; the pipeline adds the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: u64,
    pub reason: String,
}

impl ParseError {
    pub fn new(line: u64, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            reason: reason.into(),
        }
    }
}
