//! Decode: turn a byte stream into text lines, whatever its compression.
//! Gzip is recognised by its magic bytes, not its name, and multi-member
//! streams are read to the end. Binary content is refused up front.

use flate2::bufread::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Read};

const READ_BUFFER: usize = 256 * 1024;
/// How much decoded text is inspected to tell text from binary.
const SNIFF_BYTES: usize = 8 * 1024;

/// A decoded stream, and whether it was gzip.
pub struct Decoded<'a> {
    pub reader: Box<dyn BufRead + Send + 'a>,
    pub gzip: bool,
}

/// Wrap a raw stream: gunzip if it starts with the gzip magic.
pub fn decode<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Decoded<'a>> {
    let mut raw = BufReader::with_capacity(READ_BUFFER, raw);
    let gzip = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead + Send + 'a> = if gzip {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    Ok(Decoded { reader, gzip })
}

/// Why the start of a decoded stream is not molecule text, if it is not.
/// A few stray NUL bytes in a title are tolerated (and stripped later); a
/// stream with many, or an archive, is not text.
pub fn refuse_binary(head: &[u8]) -> Option<&'static str> {
    let sample = &head[..head.len().min(SNIFF_BYTES)];
    if sample.len() > 262 && &sample[257..262] == b"ustar" {
        return Some("tar archive, not a molecule file");
    }
    let nul = memchr::memchr_iter(0, sample).count();
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0))
        .count();
    if nul >= 4 || (nul + control) * 10 > sample.len().max(1) {
        return Some("binary content (NUL or control bytes)");
    }
    None
}

/// The first bytes of the stream, at most `want` (what one fill of its
/// buffer holds), without consuming them: enough to sniff the content.
pub fn peek(reader: &mut dyn BufRead, want: usize) -> io::Result<Vec<u8>> {
    let buf = reader.fill_buf()?;
    Ok(buf[..buf.len().min(want)].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn multi_member_gzip_is_read_to_the_end() {
        let mut both = gz(b"first\n");
        both.extend(gz(b"second\n"));
        let mut d = decode(std::io::Cursor::new(both)).unwrap();
        assert!(d.gzip);
        let mut s = String::new();
        d.reader.read_to_string(&mut s).unwrap();
        assert_eq!(s, "first\nsecond\n");
    }

    #[test]
    fn binary_is_refused_text_is_not() {
        assert!(refuse_binary(b"C1CCCCC1 benzene\n").is_none());
        assert!(refuse_binary(b"title\0with a nul\nmore text here\n").is_none());
        assert!(refuse_binary(&[0u8, 0, 0, 0, 1, 2, 3, 0, 0]).is_some());
    }
}
