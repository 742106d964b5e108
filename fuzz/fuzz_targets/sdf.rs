//! Any bytes through the sdf splitter, reader and chemistry: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use molingest_chem::formats::{parse_all, Format};

fuzz_target!(|data: &[u8]| {
    for parsed in parse_all(Format::Sdf, data).into_iter().flatten().flatten() {
        let _ = molingest_chem::chem::properties(&parsed.mol);
    }
});
