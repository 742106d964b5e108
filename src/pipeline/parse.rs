//! The parse stage: each chunk's records are parsed, computed, hashed and
//! encoded for the sink in parallel on the rayon pool; results keep file order.

use super::hash::record_hash;
use super::stats::{RejectLog, Stats};
use super::{
    Cancel, Encoder, Event, FileEnd, FileInfo, HeldRecord, Options, Outcome, Record, ToParse,
};
use crate::chem;
use crate::error::{Original, ParseError, Reject};
use crate::formats::split::{Chunk, Span};
use crate::formats::Format;
use crate::identity::cache::IdentityCache;
use crate::identity::{identify_cached, IdentityMode};
use crossbeam_channel::{Receiver, Sender};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;

pub(super) fn parse_stage(
    rx: Receiver<ToParse>,
    tx: Sender<Event>,
    encoder: Option<&dyn Encoder>,
    options: &Options,
    stats: &Stats,
    rejects: &RejectLog,
) {
    let cancel = &options.cancel;
    // Records, rejects and skipped lines per file, for its End event.
    let mut per_file: std::collections::HashMap<*const FileInfo, (u64, u64, u64)> =
        Default::default();
    for msg in rx {
        let event = match msg {
            ToParse::Begin(f) => {
                per_file.insert(Arc::as_ptr(&f), (0, 0, 0));
                Event::Begin(f)
            }
            ToParse::FileRejected(r) => Event::FileRejected(r),
            ToParse::Chunk(f, chunk, lookup) => {
                let t = Instant::now();
                let outcomes: Vec<Outcome> = chunk
                    .spans
                    .par_iter()
                    .enumerate()
                    .map(|(i, span)| match &lookup {
                        Some(l) if l.held[i] => Outcome::Held(HeldRecord {
                            index: span.index,
                            line: span.line,
                            hash: l.hashes[i],
                            end_offset: span.end_offset,
                            next_line: span.next_line,
                        }),
                        _ => {
                            let hash = lookup.as_ref().map(|l| l.hashes[i]);
                            let identity = (options.identity, options.identity_cache.as_deref());
                            process_hashed(&f, &chunk, span, encoder, identity, hash)
                        }
                    })
                    .collect();
                let counts = per_file.entry(Arc::as_ptr(&f)).or_default();
                for o in &outcomes {
                    match o {
                        Outcome::Molecule(_) => {
                            counts.0 += 1;
                            Stats::add(&stats.records_parsed, 1);
                        }
                        Outcome::Held(_) => {
                            counts.0 += 1;
                            Stats::add(&stats.records_parsed, 1);
                            Stats::add(&stats.records_held, 1);
                        }
                        Outcome::Rejected(r) => {
                            counts.1 += 1;
                            rejects.add(stats, r.clone());
                        }
                        Outcome::Skipped => {
                            counts.2 += 1;
                            Stats::add(&stats.records_skipped, 1);
                        }
                    }
                }
                Stats::add_time(&stats.busy_parse_ns, t.elapsed());
                if options.budget.exceeded(stats, false) {
                    cancel.set(Cancel::ERROR_BUDGET);
                }
                Event::Records(f, outcomes)
            }
            // Once the run is stopping, no file ends: the one that broke the
            // error budget (or was cut by a signal) is read again next time.
            ToParse::End(..) if cancel.is_set() => continue,
            // The rate is judged at each file's end however few records it had.
            ToParse::End(..) if options.budget.exceeded(stats, true) => {
                cancel.set(Cancel::ERROR_BUDGET);
                continue;
            }
            ToParse::End(f, mut error) => {
                let (records, rejected, skipped) =
                    per_file.remove(&Arc::as_ptr(&f)).unwrap_or_default();
                // No silent zero: comment and header lines only.
                if records == 0 && rejected == 0 && skipped > 0 && error.is_none() {
                    let reason = "no records: only comment or header lines".to_owned();
                    rejects.add(stats, Reject::file(f.job.display.clone(), reason.clone()));
                    error = Some((reason, true));
                }
                let lasting = error.as_ref().is_some_and(|(_, l)| *l);
                Event::End(
                    f,
                    FileEnd {
                        records,
                        rejected,
                        error: error.map(|(e, _)| e),
                        lasting,
                    },
                )
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Parse one record, compute its chemistry, identity and hash. Never panics: a reader
/// bug rejects the record, not the run.
pub fn process(
    file: &FileInfo,
    chunk: &Chunk,
    span: &Span,
    encoder: Option<&dyn Encoder>,
    identity: IdentityMode,
) -> Outcome {
    process_hashed(file, chunk, span, encoder, (identity, None), None)
}

/// [`process`], with the record's hash when the held stage made it already.
fn process_hashed(
    file: &FileInfo,
    chunk: &Chunk,
    span: &Span,
    encoder: Option<&dyn Encoder>,
    (identity, cache): (IdentityMode, Option<&IdentityCache>),
    hash: Option<[u8; 32]>,
) -> Outcome {
    let reject = |e: ParseError| {
        let mut r = Reject::record(file.job.display.clone(), span.index, &e);
        r.original = Some(Original {
            text: chunk.record(span).to_vec(),
            format: file.format,
        });
        Outcome::Rejected(r)
    };
    if let Some(reason) = &span.error {
        return reject(ParseError::new(span.line, reason.clone()));
    }
    let bytes = chunk.record(span);
    let format = file.format;
    let parsed = std::panic::catch_unwind(|| format.parse(bytes, span.text_line));
    let mut parsed = match parsed {
        Ok(Ok(Some(p))) => p,
        Ok(Ok(None)) => return Outcome::Skipped,
        Ok(Err(e)) => return reject(e),
        Err(_) => {
            return reject(ParseError::new(
                span.line,
                "internal error: the reader panicked on this record",
            ))
        }
    };
    if parsed.mol.atoms.is_empty() {
        return reject(ParseError::new(span.line, "record has no atoms"));
    }
    // RDKit refuses impossible valences where it reads these formats (its
    // PDB reader takes CONECT bonds as written; PDBQT it does not read).
    if matches!(format, Format::Sdf | Format::Smiles | Format::Mol2) {
        // MOL2: RDKit's charges from the Tripos types, and its verdict.
        let rdkit_read = if format == Format::Mol2 {
            match crate::formats::mol2::rdkit_charges(bytes, &mut parsed.mol) {
                Some(Err(why)) => return reject(ParseError::new(span.line, why)),
                Some(Ok(())) => true,
                None => false,
            }
        } else {
            false
        };
        // RDKit's cleanUp and cleanUpOrganometallics come before its check.
        chem::cleanup::clean_up(&mut parsed.mol);
        if !rdkit_read {
            if let Err(why) = chem::valence::check(&parsed.mol) {
                return reject(ParseError::new(span.line, why));
            }
        }
    }
    let props = chem::properties(&parsed.mol);
    // Canonicalisation runs here, in the parallel stage, per record.
    let id = identify_cached(cache, identity, format, bytes, &parsed);
    // A SMILES that RDKit's sanitization refuses (an aromatic system it
    // cannot kekulize) is refused here too, when the identity is computed.
    if format == Format::Smiles {
        if let Some(why) = id.rdkit_refusal() {
            return reject(ParseError::new(
                span.line,
                format!("RDKit refuses the molecule: {why}"),
            ));
        }
    }
    let mut record = Record {
        index: span.index,
        line: span.line,
        title: parsed.title,
        identity: id,
        identity_mode: identity,
        fields: parsed.fields,
        props,
        hash: hash.unwrap_or_else(|| record_hash(bytes)),
        end_offset: span.end_offset,
        next_line: span.next_line,
        encoded: Vec::new(),
    };
    if let Some(e) = encoder {
        let mut out = Vec::with_capacity(256 + bytes.len() / 8);
        e.encode(file, &record, &mut out);
        record.encoded = out;
    }
    Outcome::Molecule(record)
}
