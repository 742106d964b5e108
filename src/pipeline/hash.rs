//! Record identity for record-level dedup: a hash of the record's text that
//! ignores what editors and operating systems change (line endings, trailing
//! white space, trailing blank lines).

/// blake3 of a record's text with CRLF read as LF, trailing white space on
/// each line and trailing blank lines ignored: the same molecule saved on
/// Windows or Unix is one molecule. The text is normalised into a
/// per-thread buffer and hashed in one call (blake3 is fastest on whole
/// kilobytes; line-sized updates cost it three times as much).
pub fn record_hash(bytes: &[u8]) -> [u8; 32] {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // Most records are already normal: no CR, no white space before a line
    // end. Then normalising is only dropping the trailing blank lines.
    let body = bytes.trim_ascii_end();
    let finder = |needle: &[u8]| memchr::memmem::find(body, needle).is_some();
    if memchr::memchr(b'\r', body).is_none()
        && !finder(b" \n")
        && !finder(b"\t\n")
        && !body.is_empty()
    {
        let mut h = blake3::Hasher::new();
        h.update(body);
        h.update(b"\n");
        return *h.finalize().as_bytes();
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        let mut blank_run = 0usize;
        for line in bytes.split(|&b| b == b'\n') {
            let end = line
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |i| i + 1);
            if end == 0 {
                blank_run += 1;
                continue;
            }
            buf.extend(std::iter::repeat_n(b'\n', blank_run));
            blank_run = 0;
            buf.extend_from_slice(&line[..end]);
            buf.push(b'\n');
        }
        *blake3::hash(buf).as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::record_hash;

    #[test]
    fn line_endings_and_trailing_blanks_do_not_change_the_hash() {
        let unix = record_hash(b"title\n  1  2\nM  END\n> <A>\n1\n\n");
        assert_eq!(
            unix,
            record_hash(b"title\r\n  1  2\r\nM  END\r\n> <A>\r\n1\r\n\r\n")
        );
        assert_eq!(unix, record_hash(b"title  \n  1  2\t\nM  END\n> <A>\n1\n"));
        assert_ne!(unix, record_hash(b"title\n  1  3\nM  END\n> <A>\n1\n"));
        // Blank lines inside a record count.
        assert_ne!(unix, record_hash(b"title\n\n  1  2\nM  END\n> <A>\n1\n"));
    }
}
