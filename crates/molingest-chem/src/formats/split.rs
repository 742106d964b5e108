//! Splitting a text stream into records, line by line, without holding more
//! than one chunk of records in memory. Records are packed into [`Chunk`]s:
//! one buffer and a list of spans, so the parse stage gets work in pieces
//! large enough to be worth a thread and small enough to bound memory.

use std::io::{self, BufRead};

/// Where record boundaries are, by format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// A record ends at a line starting `$$$$`; a last record may lack it.
    Sdf,
    /// A record starts at each `@<TRIPOS>MOLECULE`; text before the first is ignored.
    Mol2,
    /// A record starts at `MODEL` and ends at `ENDMDL` or `END`; a block
    /// without ATOM/HETATM lines is no record. (PDB and PDBQT.)
    Pdb,
    /// Every non-blank line is a record.
    Lines,
}

/// What a line does to the record structure.
enum Action {
    /// Part of the current record (opens one if none is open).
    Body,
    /// Ignored (text before the first MOL2 molecule).
    Drop,
    /// Ends the current record; the line itself belongs to no record.
    End,
    /// Ends the current model, but connectivity lines that follow (CONECT,
    /// MASTER) still belong to it; an atom line starts a new record.
    EndModel,
    /// Ends the current record and starts a new one with this line.
    Start,
    /// A record of its own.
    Single,
}

impl Rules {
    fn classify(self, line: &[u8], open: bool) -> Action {
        match self {
            Rules::Sdf if line.starts_with(b"$$$$") => Action::End,
            Rules::Sdf => Action::Body,
            Rules::Mol2 if line.starts_with(b"@<TRIPOS>MOLECULE") => Action::Start,
            Rules::Mol2 if open => Action::Body,
            Rules::Mol2 => Action::Drop,
            Rules::Pdb => {
                if line.starts_with(b"MODEL") {
                    Action::Start
                } else if line.starts_with(b"ENDMDL") {
                    Action::EndModel
                } else if trim_end(line) == b"END" || line.starts_with(b"END ") {
                    Action::End
                } else {
                    Action::Body
                }
            }
            Rules::Lines if trim_end(line).iter().all(u8::is_ascii_whitespace) => Action::Drop,
            Rules::Lines => Action::Single,
        }
    }

    fn is_atom_line(self, line: &[u8]) -> bool {
        match self {
            Rules::Pdb => line.starts_with(b"ATOM") || line.starts_with(b"HETATM"),
            _ => true,
        }
    }
}

fn trim_end(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &line[..n]
}

/// One record inside a chunk's buffer.
#[derive(Debug, Clone)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// 0-based record number in its file.
    pub index: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based line of the record's first byte (before `line` when a PDB
    /// record's header lines precede its first atom): readers number their
    /// lines from here.
    pub text_line: u64,
    /// The splitter already knows this record is unusable (too large).
    pub error: Option<String>,
    /// Where the record ends in the decoded stream (absolute bytes), and
    /// the 1-based line there: a run that stopped after this record can
    /// resume reading at this point ([`Splitter::resume_at`]).
    pub end_offset: u64,
    pub next_line: u64,
}

#[derive(Debug, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub spans: Vec<Span>,
}

impl Chunk {
    pub fn record(&self, s: &Span) -> &[u8] {
        &self.data[s.start..s.end]
    }
}

/// A record larger than this is rejected, not held (a 10 MB line is fine).
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

struct Open {
    start: usize,
    /// The line of `start`.
    first_line: u64,
    /// Where the record starts: its MODEL line, else its first atom line.
    line: Option<u64>,
    has_atoms: bool,
    too_large: bool,
    /// ENDMDL was seen: only trailing non-atom lines may join.
    model_ended: bool,
}

/// The splitter appends whole buffer fills to the pending chunk and walks
/// the lines in place (memchr), so a line costs a scan, not a call and a
/// copy. Lines that belong to no record (terminators, blank lines, text
/// before the first MOL2 molecule) stay in the buffer outside every span.
pub struct Splitter<R> {
    reader: R,
    rules: Rules,
    line_no: u64,
    next_index: u64,
    open: Option<Open>,
    pending: Chunk,
    /// Start of the first line of `pending.data` not yet classified.
    scan: usize,
    done: bool,
    error: Option<io::Error>,
    target_bytes: usize,
    target_records: usize,
    /// Absolute stream offset of `pending.data[0]`.
    base: u64,
}

impl<R: BufRead> Splitter<R> {
    pub fn new(reader: R, rules: Rules) -> Self {
        Splitter {
            reader,
            rules,
            line_no: 0,
            next_index: 0,
            open: None,
            pending: Chunk::default(),
            scan: 0,
            done: false,
            error: None,
            target_bytes: 1 << 20,
            target_records: 1024,
            base: 0,
        }
    }

    /// The reader starts at `offset` of the stream, which is where record
    /// `index` begins on line `line` (a run resuming after its last
    /// committed record).
    pub fn resume_at(mut self, offset: u64, index: u64, line: u64) -> Self {
        self.base = offset;
        self.next_index = index;
        self.line_no = line.saturating_sub(1);
        self
    }

    /// Chunk size: flush after this many bytes or records.
    pub fn with_chunk_size(mut self, bytes: usize, records: usize) -> Self {
        self.target_bytes = bytes.max(1);
        self.target_records = records.max(1);
        self
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// Records cut so far (counting those before a resume point).
    pub fn records_seen(&self) -> u64 {
        self.next_index
    }

    fn ready(&self) -> bool {
        self.pending.spans.len() >= self.target_records
            || self.pending.data.len() >= self.target_bytes && !self.pending.spans.is_empty()
    }

    /// The next chunk of whole records; `Ok(None)` at the end. On a read error
    /// (a cut gzip stream, an I/O fault) the records completed so far come
    /// first and the error after them; the record being read when the stream
    /// broke is dropped, as it may be cut anywhere.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        loop {
            while let Some(pos) = memchr::memchr(b'\n', &self.pending.data[self.scan..]) {
                let (start, end) = (self.scan, self.scan + pos + 1);
                self.scan = end;
                self.line_no += 1;
                self.on_line(start, end);
                if self.ready() {
                    return Ok(Some(self.take_complete()));
                }
            }
            let n = match self.reader.fill_buf() {
                Ok(buf) => {
                    self.pending.data.extend_from_slice(buf);
                    buf.len()
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    self.open = None; // it may be cut anywhere
                    self.scan = self.pending.data.len();
                    if self.pending.spans.is_empty() {
                        return Err(e);
                    }
                    self.error = Some(e);
                    return Ok(Some(self.take_complete()));
                }
            };
            if n == 0 {
                // The end: a last line without a newline is a line too.
                let end = self.pending.data.len();
                if self.scan < end {
                    let start = self.scan;
                    self.scan = end;
                    self.line_no += 1;
                    self.on_line(start, end);
                }
                self.close(end, self.line_no + 1);
                self.done = true;
                return Ok((!self.pending.spans.is_empty()).then(|| self.take_complete()));
            }
            self.reader.consume(n);
        }
    }

    fn on_line(&mut self, start: usize, end: usize) {
        let line = &self.pending.data[start..end];
        let is_atom = self.rules.is_atom_line(line);
        let model_ended = self.open.as_ref().is_some_and(|o| o.model_ended);
        match self.rules.classify(line, self.open.is_some()) {
            Action::Body if model_ended && is_atom => {
                self.close(start, self.line_no);
                self.open_at(start, true, false);
            }
            Action::Body => self.open_at(start, is_atom, false),
            Action::EndModel => {
                if let Some(o) = self.open.as_mut() {
                    o.model_ended = true;
                }
            }
            Action::Drop => {}
            Action::End => self.close(start, self.line_no),
            Action::Start => {
                self.close(start, self.line_no);
                self.open_at(start, false, true);
            }
            Action::Single => {
                self.close(start, self.line_no);
                self.open_at(start, true, true);
                self.close(end, self.line_no + 1);
            }
        }
        self.check_size();
    }

    /// `starts`: this line starts the record (MODEL, a MOL2 header, a
    /// SMILES line); otherwise the record starts at its first atom line.
    fn open_at(&mut self, line_start: usize, is_atom: bool, starts: bool) {
        let here = (starts || is_atom).then_some(self.line_no);
        match self.open.as_mut() {
            Some(o) => {
                o.has_atoms |= is_atom;
                o.line = o.line.or(here);
            }
            None => {
                self.open = Some(Open {
                    start: line_start,
                    first_line: self.line_no,
                    line: here,
                    has_atoms: is_atom,
                    too_large: false,
                    model_ended: false,
                })
            }
        }
    }

    /// Close the open record at `end`, where line `next_line` begins.
    /// Blank blocks, and PDB blocks without atoms, are no record (their
    /// bytes stay outside every span).
    fn close(&mut self, end: usize, next_line: u64) {
        let Some(open) = self.open.take() else {
            return;
        };
        let body = &self.pending.data[open.start..end];
        if (body.iter().all(u8::is_ascii_whitespace) || !open.has_atoms) && !open.too_large {
            return;
        }
        self.pending.spans.push(Span {
            start: open.start,
            end,
            index: self.next_index,
            line: open.line.unwrap_or(self.line_no),
            text_line: open.first_line,
            error: open
                .too_large
                .then(|| format!("record larger than {} MiB", MAX_RECORD_BYTES >> 20)),
            end_offset: self.base + end as u64,
            next_line,
        });
        self.next_index += 1;
    }

    /// A record that outgrows the limit keeps its place (and number) but not
    /// its bytes.
    fn check_size(&mut self) {
        if let Some(open) = self.open.as_mut() {
            if self.scan - open.start > MAX_RECORD_BYTES {
                open.too_large = true;
                self.pending.data.drain(open.start..self.scan);
                self.base += (self.scan - open.start) as u64;
                self.scan = open.start;
            }
        }
    }

    /// Move the completed records out, keeping the open record's bytes and
    /// the lines not yet classified.
    fn take_complete(&mut self) -> Chunk {
        let tail_start = self.open.as_ref().map_or(self.scan, |o| o.start);
        let tail = self.pending.data.split_off(tail_start);
        self.scan -= tail_start;
        self.base += tail_start as u64;
        if let Some(o) = self.open.as_mut() {
            o.start = 0;
        }
        std::mem::replace(
            &mut self.pending,
            Chunk {
                data: tail,
                spans: Vec::new(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_know_where_to_resume() {
        let text = "a\nb\n$$$$\nc\nd\n$$$$\ne\n$$$$\n";
        let mut s = Splitter::new(text.as_bytes(), Rules::Sdf).with_chunk_size(1, 1);
        let mut spans = Vec::new();
        while let Some(c) = s.next_chunk().unwrap() {
            spans.extend(c.spans);
        }
        assert_eq!(spans.len(), 3);
        // Resuming after the first record reads the rest as records 1 and 2.
        let (off, line) = (spans[0].end_offset, spans[0].next_line);
        assert_eq!((off, line), (4, 3));
        let rest = &text.as_bytes()[off as usize..];
        let mut r = Splitter::new(rest, Rules::Sdf).resume_at(off, 1, line);
        let c = r.next_chunk().unwrap().unwrap();
        let got: Vec<(u64, u64, u64)> = c
            .spans
            .iter()
            .map(|s| (s.index, s.line, s.end_offset))
            .collect();
        let want: Vec<(u64, u64, u64)> = spans[1..]
            .iter()
            .map(|s| (s.index, s.line, s.end_offset))
            .collect();
        assert_eq!(got, want);
        // SMILES lines: the next line is the one after.
        let mut s = Splitter::new(&b"C x\nCC y\n"[..], Rules::Lines);
        let c = s.next_chunk().unwrap().unwrap();
        assert_eq!((c.spans[0].end_offset, c.spans[0].next_line), (4, 2));
    }

    fn split(text: &str, rules: Rules, per_chunk: usize) -> Vec<(u64, u64, String)> {
        let mut s = Splitter::new(text.as_bytes(), rules).with_chunk_size(1, per_chunk);
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk().unwrap() {
            for sp in &c.spans {
                out.push((
                    sp.index,
                    sp.line,
                    String::from_utf8_lossy(c.record(sp)).into_owned(),
                ));
            }
        }
        out
    }

    #[test]
    fn sdf_records_end_at_dollars_and_last_may_be_unterminated() {
        let r = split("a\nb\n$$$$\n\n$$$$\nc\r\nd\r\n$$$$\r\ne\n", Rules::Sdf, 1);
        assert_eq!(
            r,
            vec![
                (0, 1, "a\nb\n".into()),
                (1, 6, "c\r\nd\r\n".into()),
                (2, 9, "e\n".into())
            ]
        );
    }

    #[test]
    fn pdb_models_and_atomless_blocks() {
        let t = "HEADER x\nMODEL 1\nATOM 1\nENDMDL\nMODEL 2\nHETATM 2\nENDROOT\nENDMDL\nEND\n";
        let r = split(t, Rules::Pdb, 100);
        assert_eq!(r.len(), 2);
        let trailing = split(
            "MODEL 1\nATOM 1\nENDMDL\nCONECT 1\nMODEL 2\nATOM 2\nENDMDL\n",
            Rules::Pdb,
            100,
        );
        assert!(
            trailing[0].2.contains("CONECT"),
            "CONECT after ENDMDL stays with its model"
        );
        assert_eq!(trailing.len(), 2);
        let single = split("CRYST1\nREMARK\nATOM 1\nATOM 2\nEND\n", Rules::Pdb, 100);
        assert_eq!(
            (single.len(), single[0].1),
            (1, 3),
            "no MODEL: starts at the first atom"
        );
        assert_eq!((r[0].0, r[0].1), (0, 2));
        assert_eq!((r[1].0, r[1].1), (1, 5));
        assert!(r[1].2.contains("ENDROOT"));
        // The record's text starts at its header, line 1: readers count from there.
        let mut s = Splitter::new(&b"CRYST1\nREMARK\nATOM 1\nEND\n"[..], Rules::Pdb);
        let c = s.next_chunk().unwrap().unwrap();
        assert_eq!((c.spans[0].line, c.spans[0].text_line), (3, 1));
    }

    #[test]
    fn lines_skip_blanks_and_keep_numbers() {
        let r = split("SMILES\n\nCCO ethanol\nC\n", Rules::Lines, 2);
        assert_eq!(r.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert_eq!(r[2].0, 2);
    }

    #[test]
    fn a_read_error_keeps_the_completed_records() {
        struct Broken<'a>(&'a [u8]);
        impl std::io::Read for Broken<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "cut",
                    ));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Splitter::new(
            std::io::BufReader::new(Broken(b"C one\nCC two\nCC")),
            Rules::Lines,
        );
        let c = s.next_chunk().unwrap().unwrap();
        assert_eq!(c.spans.len(), 2);
        assert!(s.next_chunk().is_err());
    }
}
