//! The held stage: between reading and parsing, each chunk's records are
//! hashed and the sink asked, in one lookup, which it already holds. Those
//! are handed on as [`super::HeldRecord`]s and never parsed: a record the
//! organization already has costs its split and its hash.
//!
//! It is a stage of its own so the lookup's round trip overlaps reading
//! the next chunk and parsing the previous one.

use super::hash::record_hash;
use super::stats::Stats;
use super::{HeldRecords, ToParse};
use crossbeam_channel::{Receiver, Sender};
use std::time::Instant;

/// A chunk's record hashes (in span order; zero for a span the splitter
/// already refused) and which of them the sink holds.
#[derive(Debug)]
pub(super) struct Lookup {
    pub hashes: Vec<[u8; 32]>,
    pub held: Vec<bool>,
}

pub(super) fn held_stage(
    rx: Receiver<ToParse>,
    tx: Sender<ToParse>,
    sink: &dyn HeldRecords,
    stats: &Stats,
) {
    for msg in rx {
        let msg = match msg {
            ToParse::Chunk(f, chunk, None) => {
                let t = Instant::now();
                let hashes: Vec<[u8; 32]> = chunk
                    .spans
                    .iter()
                    .map(|s| match s.error {
                        Some(_) => [0; 32],
                        None => record_hash(chunk.record(s)),
                    })
                    .collect();
                let mut held = sink.held(&hashes);
                // A refused span is never held, whatever its zero hash says.
                for (h, s) in held.iter_mut().zip(&chunk.spans) {
                    *h &= s.error.is_none();
                }
                held.resize(hashes.len(), false);
                Stats::add_time(&stats.busy_held_ns, t.elapsed());
                ToParse::Chunk(f, chunk, Some(Lookup { hashes, held }))
            }
            other => other,
        };
        if tx.send(msg).is_err() {
            return;
        }
    }
}
