//! The progress line a person sees on a terminal (callers decide whether a
//! person is watching).

use super::stats::Stats;
use std::time::{Duration, Instant};

/// Show progress on stderr while `work` runs (callers decide whether a
/// person is watching): bytes done of bytes listed so far, with rate and
/// ETA, and the file and record counts.
pub fn with_progress<T>(stats: &Stats, show: bool, work: impl FnOnce() -> T) -> T {
    use std::sync::atomic::Ordering::Relaxed;
    if !show {
        return work();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:25}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Relaxed) {
                let sum = stats.snapshot(start.elapsed());
                bar.set_length(stats.bytes_listed.load(Relaxed));
                bar.set_position(
                    stats.bytes_read.load(Relaxed) + stats.bytes_skipped.load(Relaxed),
                );
                bar.set_message(format!(
                    "files {}/{} · records {} ({:.0}/s) · inserted {} · rejected {}",
                    sum.files_read + sum.files_unchanged + sum.files_failed,
                    sum.files_seen,
                    sum.records_parsed,
                    sum.molecules_per_second,
                    sum.records_inserted,
                    sum.records_rejected,
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        let out = work();
        done.store(true, Relaxed);
        out
    })
}
