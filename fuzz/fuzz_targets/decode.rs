//! Any bytes through the decode layer (gzip, bzip2, zstd by magic bytes, a
//! byte-order mark, lone-CR line ends, the binary/UTF-16 refusal), then the
//! splitter and readers of the format the content sniffs as (SMILES when it
//! says nothing): never a panic, always an end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use molingest_chem::formats::{parse_all, Format};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Ok(mut decoded) = molingest_chem::decode::decode(data) else {
        return;
    };
    let Ok(head) = molingest_chem::decode::peek(&mut decoded.reader, 8192) else {
        return;
    };
    if molingest_chem::decode::refuse_binary(&head).is_some() {
        return;
    }
    let format = Format::sniff(&head).unwrap_or(Format::Smiles);
    // Bounded: a small bomb may not grow past 1 MiB of text here.
    let mut text = Vec::new();
    if decoded.reader.take(1 << 20).read_to_end(&mut text).is_err() {
        return;
    }
    for parsed in parse_all(format, &text).into_iter().flatten().flatten() {
        let _ = molingest_chem::chem::properties(&parsed.mol);
        let _ = molingest_chem::chem::valence::check(&parsed.mol);
    }
});
