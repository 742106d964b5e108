//! Decode: turn a byte stream into text lines, whatever its compression
//! and line ends. Compression (gzip, bzip2, zstd) is recognised by its magic
//! bytes, not its name, and multi-member / multi-stream / multi-frame
//! streams are read to the end. A UTF-8 byte-order mark is skipped; classic
//! Mac line ends (a lone CR) are read as LF, streamed. Binary content, and
//! UTF-16/UTF-32 text, is refused up front.

use flate2::bufread::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Read};

const READ_BUFFER: usize = 256 * 1024;
/// How much decoded text is inspected to tell text from binary.
const SNIFF_BYTES: usize = 8 * 1024;
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// How a file's bytes were compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Bzip2,
    Zstd,
}

impl Compression {
    /// What the first bytes of a raw stream say.
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            // "BZh" and the block size, then a block (pi) or the end (sqrt pi).
            [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..]
                if rest.len() < 6
                    || rest.starts_with(&[0x31, 0x41, 0x59, 0x26, 0x53, 0x59])
                    || rest.starts_with(&[0x17, 0x72, 0x45, 0x38, 0x50, 0x90]) =>
            {
                Compression::Bzip2
            }
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            // A skippable frame (0x184D2A50-5F, little-endian) first.
            [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// The `molecule_files.compression` value.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Bzip2 => Some("bzip2"),
            Compression::Zstd => Some("zstd"),
        }
    }
}

/// A decoded stream, and how it was stored.
pub struct Decoded<'a> {
    pub reader: Box<dyn BufRead + Send + 'a>,
    pub compression: Compression,
    /// Bytes skipped at the start of the decoded text (a byte-order mark):
    /// decoded offsets are file offsets less this.
    pub skipped: u64,
}

/// Wrap a raw stream: decompress by magic bytes, skip a UTF-8 byte-order
/// mark, read lone-CR line ends as LF.
pub fn decode<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Decoded<'a>> {
    let mut raw = BufReader::with_capacity(READ_BUFFER, raw);
    let compression = Compression::sniff(raw.fill_buf()?);
    let mut reader: Box<dyn BufRead + Send + 'a> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(raw),
        )),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            bzip2::bufread::MultiBzDecoder::new(raw),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::with_buffer(raw)?,
        )),
    };
    let mut skipped = 0;
    if starts_with_bom(&mut reader)? {
        reader.consume(UTF8_BOM.len());
        skipped = UTF8_BOM.len() as u64;
    }
    Ok(Decoded {
        reader: line_ends(reader),
        compression,
        skipped,
    })
}

/// Whether the stream starts with a UTF-8 byte-order mark. (A decoder's
/// first fill holds far more than three bytes unless the text is shorter.)
fn starts_with_bom(reader: &mut dyn BufRead) -> io::Result<bool> {
    Ok(reader.fill_buf()?.starts_with(UTF8_BOM))
}

/// Read lone CR line ends (classic Mac OS) as LF; LF and CRLF text passes
/// through untouched (no copy). The choice is made at the first line end.
/// Byte for byte (a CR becomes an LF), so offsets stay file offsets.
pub fn line_ends<'a>(inner: Box<dyn BufRead + Send + 'a>) -> Box<dyn BufRead + Send + 'a> {
    Box::new(LineEnds {
        inner,
        mode: Mode::Undecided,
        buf: Vec::new(),
        pos: 0,
        held_cr: false,
        eof: false,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No line end seen yet: bytes pass through.
    Undecided,
    /// LF or CRLF: everything passes through.
    Lf,
    /// Lone CRs are LFs (CRLF kept as it is).
    Cr,
}

struct LineEnds<R> {
    inner: R,
    mode: Mode,
    /// Translated bytes (CR mode only) and how far they were consumed.
    buf: Vec<u8>,
    pos: usize,
    /// A CR ended the last fill: the next byte says whether it is CRLF.
    held_cr: bool,
    eof: bool,
}

impl<R: BufRead> LineEnds<R> {
    fn fill_translated(&mut self) -> io::Result<()> {
        while self.pos >= self.buf.len() && !self.eof {
            self.buf.clear();
            self.pos = 0;
            let src = self.inner.fill_buf()?;
            if src.is_empty() {
                self.eof = true;
                if std::mem::take(&mut self.held_cr) {
                    self.buf.push(b'\n');
                }
                continue;
            }
            let n = src.len();
            let mut from = 0;
            if std::mem::take(&mut self.held_cr) {
                self.buf.push(if src[0] == b'\n' { b'\r' } else { b'\n' });
                from = 1;
            }
            self.buf.extend_from_slice(src);
            self.inner.consume(n);
            if self.buf.len() > from && self.buf.last() == Some(&b'\r') {
                self.buf.pop();
                self.held_cr = true;
            }
            let mut i = from;
            while let Some(j) = memchr::memchr(b'\r', &self.buf[i..]) {
                let k = i + j;
                if self.buf.get(k + 1) != Some(&b'\n') {
                    self.buf[k] = b'\n';
                }
                i = k + 1;
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Read for LineEnds<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineEnds<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.mode == Mode::Undecided {
            let buf = self.inner.fill_buf()?;
            self.mode = match memchr::memchr2(b'\n', b'\r', buf) {
                None => Mode::Undecided,
                Some(i) if buf[i] == b'\n' || buf.get(i + 1) == Some(&b'\n') => Mode::Lf,
                // A lone CR, or a CR at the end of the fill: CR mode keeps a
                // CRLF that a buffer boundary splits as it is.
                Some(_) => Mode::Cr,
            };
        }
        if self.mode != Mode::Cr {
            return self.inner.fill_buf();
        }
        self.fill_translated()?;
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        if self.mode == Mode::Cr {
            self.pos = (self.pos + n).min(self.buf.len());
        } else {
            self.inner.consume(n);
        }
    }
}

/// Why the start of a decoded stream is not molecule text, if it is not.
/// A few stray NUL bytes in a title are tolerated (and stripped later); a
/// stream with many, or an archive, is not text. UTF-16 and UTF-32 text is
/// named as such (convert it to UTF-8).
pub fn refuse_binary(head: &[u8]) -> Option<&'static str> {
    let sample = &head[..head.len().min(SNIFF_BYTES)];
    if sample.starts_with(&[0xff, 0xfe, 0, 0]) || sample.starts_with(&[0, 0, 0xfe, 0xff]) {
        return Some("UTF-32 text (byte-order mark): not read; convert it to UTF-8 (iconv -f UTF-32 -t UTF-8)");
    }
    if sample.starts_with(&[0xff, 0xfe]) || sample.starts_with(&[0xfe, 0xff]) {
        return Some("UTF-16 text (byte-order mark): not read; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)");
    }
    if sample.len() > 262 && &sample[257..262] == b"ustar" {
        return Some("tar archive, not a molecule file");
    }
    let nul = memchr::memchr_iter(0, sample).count();
    if nul >= 4 && looks_like_utf16(sample) {
        return Some("UTF-16 text (no byte-order mark): not read; convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8)");
    }
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0))
        .count();
    if nul >= 4 || (nul + control) * 10 > sample.len().max(1) {
        return Some("binary content (NUL or control bytes)");
    }
    None
}

/// ASCII text as UTF-16: every other byte is NUL, the others printable.
fn looks_like_utf16(sample: &[u8]) -> bool {
    let pairs = sample.len() / 2;
    if pairs < 4 {
        return false;
    }
    [0, 1].iter().any(|&zero| {
        let chunks = sample.chunks_exact(2);
        let fit = chunks
            .filter(|p| {
                p[zero] == 0
                    && (p[1 - zero] >= 0x20 || matches!(p[1 - zero], b'\n' | b'\r' | b'\t'))
            })
            .count();
        fit * 10 >= pairs * 9
    })
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
        assert_eq!(d.compression, Compression::Gzip);
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

    fn read_all(data: Vec<u8>) -> io::Result<(Compression, Vec<u8>)> {
        let mut d = decode(std::io::Cursor::new(data))?;
        let mut out = Vec::new();
        d.reader.read_to_end(&mut out)?;
        Ok((d.compression, out))
    }

    fn bz2(data: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zst(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 3).unwrap()
    }

    #[test]
    fn bzip2_and_zstd_by_magic_multi_stream_and_cut() {
        for (c, pack) in [
            (Compression::Bzip2, bz2 as fn(&[u8]) -> Vec<u8>),
            (Compression::Zstd, zst),
            (Compression::Gzip, gz),
        ] {
            let mut both = pack(b"first\n");
            both.extend(pack(b"second\n"));
            assert_eq!(Compression::sniff(&both), c);
            let (got, text) = read_all(both.clone()).unwrap();
            assert_eq!((got, text.as_slice()), (c, &b"first\nsecond\n"[..]));
            // A stream cut short is an error, never a silent end.
            let big: Vec<u8> = (0..200_000u32)
                .flat_map(|i| format!("C{i}\n").into_bytes())
                .collect();
            let packed = pack(&big);
            let cut = packed[..packed.len() / 2].to_vec();
            assert!(read_all(cut).is_err(), "{c:?} cut stream");
        }
        assert_eq!(
            Compression::sniff(b"BZh9 is not bzip2 text"),
            Compression::None
        );
        assert_eq!(Compression::sniff(b"CCO"), Compression::None);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let d = decode(std::io::Cursor::new(b"\xef\xbb\xbfCCO x\n".to_vec())).unwrap();
        assert_eq!(d.skipped, 3);
        let (_, text) = read_all(gz(b"\xef\xbb\xbfCCO x\n")).unwrap();
        assert_eq!(text, b"CCO x\n");
    }

    /// A reader that hands out at most `n` bytes per fill, to split line
    /// ends across buffer boundaries.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn through_line_ends(data: &[u8], step: usize) -> Vec<u8> {
        let inner: Box<dyn BufRead + Send> =
            Box::new(BufReader::with_capacity(step, Trickle(data, step)));
        let mut out = Vec::new();
        line_ends(inner).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn lone_cr_line_ends_become_lf_whatever_the_buffer_boundaries() {
        for step in [1, 2, 3, 7, 4096] {
            assert_eq!(
                through_line_ends(b"a\rbb\r\rc\r", step),
                b"a\nbb\n\nc\n",
                "{step}"
            );
            // CRLF and LF pass as they are, also when a boundary splits CRLF.
            assert_eq!(through_line_ends(b"a\r\nb\r\n", step), b"a\r\nb\r\n");
            assert_eq!(through_line_ends(b"a\nb\rc\n", step), b"a\nb\rc\n");
            // A CR file with one CRLF keeps that CRLF.
            assert_eq!(through_line_ends(b"a\rb\r\nc\r", step), b"a\nb\r\nc\n");
            assert_eq!(through_line_ends(b"no line end", step), b"no line end");
        }
    }

    #[test]
    fn utf16_is_named() {
        let mut le = vec![0xff, 0xfe];
        le.extend("CCO ethanol\n".encode_utf16().flat_map(u16::to_le_bytes));
        assert!(refuse_binary(&le).unwrap().contains("UTF-16"));
        let bare: Vec<u8> = "CCO ethanol\nCC\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(refuse_binary(&bare).unwrap().contains("UTF-16"));
        assert!(refuse_binary("CCO é\n".as_bytes()).is_none());
        assert!(refuse_binary(b"CCO \xe9 latin-1\n").is_none());
    }
}
