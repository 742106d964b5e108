//! The progress line a person sees on a terminal (callers decide whether a
//! person is watching). For a load it follows what is committed to the
//! database, not what was read: reading runs ahead of the database, and a
//! bar at 100 % while a fifth of the rows are still being inserted is a lie.

use super::stats::Stats;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// What the bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Records parsed (scan, verify).
    Parsed,
    /// Records committed to the database, inserted or found already there (load).
    Committed,
}

/// Records done, and the total estimated from how much of the listed
/// bytes has been read so far (exact once reading is done).
fn position(stats: &Stats, follow: Follow) -> (u64, u64) {
    let found = stats.records_parsed.load(Relaxed) + stats.records_rejected.load(Relaxed);
    let done = match follow {
        Follow::Parsed => found,
        Follow::Committed => {
            stats.records_inserted.load(Relaxed)
                + stats.records_duplicate.load(Relaxed)
                + stats.records_rejected.load(Relaxed)
        }
    };
    let listed = stats.bytes_listed.load(Relaxed);
    let read = stats.bytes_read.load(Relaxed) + stats.bytes_skipped.load(Relaxed);
    let total = if read > 0 && read < listed {
        (found as f64 * listed as f64 / read as f64) as u64
    } else {
        found
    };
    (done, total.max(done))
}

/// Show progress on stderr while `work` runs: records done of the estimated
/// total with rate and ETA (from that rate), then reading as its own figure
/// (in MB, as the summary counts), files and rejects.
pub fn with_progress<T>(stats: &Stats, show: bool, follow: Follow, work: impl FnOnce() -> T) -> T {
    if !show {
        return work();
    }
    let bar = indicatif::ProgressBar::new(0);
    let what = match follow {
        Follow::Parsed => "parsed",
        Follow::Committed => "committed",
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:25}}] {{human_pos}}/~{{human_len}} molecules {what} \
             · ETA {{eta}} · {{msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Relaxed) {
                let sum = stats.snapshot(start.elapsed());
                let (pos, len) = position(stats, follow);
                bar.set_length(len);
                bar.set_position(pos);
                let listed = stats.bytes_listed.load(Relaxed) as f64 / 1e6;
                let read = (stats.bytes_read.load(Relaxed) + stats.bytes_skipped.load(Relaxed))
                    as f64
                    / 1e6;
                let rate = pos as f64 / start.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{rate:.0}/s · read {read:.1} of {listed:.1} MB · files {}/{} · rejected {}",
                    sum.files_read + sum.files_unchanged + sum.files_failed,
                    sum.files_seen,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_is_done_when_committed_not_when_read() {
        let stats = Stats::default();
        Stats::add(&stats.bytes_listed, 1000);
        Stats::add(&stats.bytes_read, 1000);
        Stats::add(&stats.records_parsed, 100);
        Stats::add(&stats.records_inserted, 60);
        assert_eq!(position(&stats, Follow::Committed), (60, 100));
        assert_eq!(position(&stats, Follow::Parsed), (100, 100));
        // Half read: the total is estimated from the bytes.
        let stats = Stats::default();
        Stats::add(&stats.bytes_listed, 1000);
        Stats::add(&stats.bytes_read, 500);
        Stats::add(&stats.records_parsed, 50);
        assert_eq!(position(&stats, Follow::Parsed), (50, 100));
    }
}
