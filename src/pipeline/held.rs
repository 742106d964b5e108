//! The held stage: between reading and parsing, records are hashed and the
//! sink asked, in one lookup for up to [`LOOKUP_RECORDS`] of them, which it
//! already holds. Those are handed on as [`super::HeldRecord`]s and never
//! parsed: a record the organization already has costs its split and its
//! hash.
//!
//! It is a stage of its own so the lookup's round trip overlaps reading
//! the next chunk and parsing the previous one. Chunks that are waiting
//! share one lookup (a folder of one-record files is not a round trip a
//! file).

use super::hash::record_hash;
use super::stats::Stats;
use super::{HeldRecords, ToParse};
use crossbeam_channel::{Receiver, Sender};
use std::time::Instant;

/// Records looked up at once, at most (about what one chunk holds).
const LOOKUP_RECORDS: usize = 2048;

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
    let records = |m: &ToParse| match m {
        ToParse::Chunk(_, c, None) => c.spans.len(),
        _ => 0,
    };
    while let Ok(first) = rx.recv() {
        // Whatever else is waiting joins this lookup.
        let mut n = records(&first);
        let mut pending = vec![first];
        while n < LOOKUP_RECORDS {
            match rx.try_recv() {
                Ok(m) => {
                    n += records(&m);
                    pending.push(m);
                }
                Err(_) => break,
            }
        }
        if n > 0 {
            look_up(&mut pending, sink, stats);
        }
        for m in pending {
            if tx.send(m).is_err() {
                return;
            }
        }
    }
}

/// Hash the pending chunks' records, ask the sink once, and attach each
/// chunk's answer to it.
fn look_up(pending: &mut [ToParse], sink: &dyn HeldRecords, stats: &Stats) {
    let t = Instant::now();
    let mut hashes = Vec::new();
    for m in pending.iter() {
        if let ToParse::Chunk(_, chunk, None) = m {
            hashes.extend(chunk.spans.iter().map(|s| match s.error {
                Some(_) => [0; 32],
                None => record_hash(chunk.record(s)),
            }));
        }
    }
    let mut held = sink.held(&hashes).into_iter();
    let mut hashes = hashes.into_iter();
    for m in pending.iter_mut() {
        if let ToParse::Chunk(_, chunk, lookup @ None) = m {
            let n = chunk.spans.len();
            let mut l = Lookup {
                hashes: hashes.by_ref().take(n).collect(),
                held: held.by_ref().take(n).collect(),
            };
            l.held.resize(n, false);
            // A refused span is never held, whatever its zero hash says.
            for (h, s) in l.held.iter_mut().zip(&chunk.spans) {
                *h &= s.error.is_none();
            }
            *lookup = Some(l);
        }
    }
    Stats::add_time(&stats.busy_held_ns, t.elapsed());
}
