//! Line numbers of CSV records, counted from their byte offsets.
//!
//! The csv crate's `Position::line` counts `\n` characters only where a record ended on one:
//! in a file with `\r\n` endings (most CRM exports) every record is numbered one line short,
//! and in a file with bare `\r` endings every record is on "line 1". A record's byte offset is
//! right in all three cases, so the line is counted from it instead: `\n`, `\r\n` and a bare
//! `\r` each end a line, as an editor shows them.
//!
//! A record can span lines (a quoted field with line breaks), so a record has a first and a
//! last line; an error names both, and nothing between them is lost without a line number.

/// Where each line of a file starts.
#[derive(Debug)]
pub struct Lines<'a> {
    bytes: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    /// Indexes the line starts of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut starts = vec![0];
        for (i, b) in bytes.iter().enumerate() {
            let ends_line = match b {
                b'\n' => true,
                b'\r' => bytes.get(i + 1) != Some(&b'\n'),
                _ => false,
            };
            if ends_line {
                starts.push(i + 1);
            }
        }
        Self { bytes, starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> u64 {
        self.starts.partition_point(|start| *start <= offset) as u64
    }

    /// The first and last line of the record between byte offsets `start` (as the csv reader
    /// reports it, which may point at the previous record's line break) and `end` (where the
    /// next record starts).
    pub fn span(&self, start: usize, end: usize) -> (u64, u64) {
        let (first, last) = self.content(start, end);
        (self.line_of(first), self.line_of(last.max(first + 1) - 1))
    }

    /// Whether the record between `start` and `end` opens a quote it never closes: a properly
    /// quoted record always holds an even number of `"` (each pair, or a doubled `""`), and one
    /// that runs to the end of the file inside a quote holds an odd number.
    pub fn has_unclosed_quote(&self, start: usize, end: usize) -> bool {
        let (first, last) = self.content(start, end);
        self.bytes[first..last]
            .iter()
            .filter(|b| **b == b'"')
            .count()
            % 2
            == 1
    }

    /// The record's bytes without the line breaks around it.
    fn content(&self, start: usize, end: usize) -> (usize, usize) {
        let end = end.min(self.bytes.len());
        let mut first = start.min(end);
        while first < end && matches!(self.bytes[first], b'\r' | b'\n') {
            first += 1;
        }
        let mut last = end;
        while last > first && matches!(self.bytes[last - 1], b'\r' | b'\n') {
            last -= 1;
        }
        (first, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's (first, last) line, as the csv reader sees the records.
    fn spans(text: &[u8]) -> Vec<(u64, u64)> {
        let lines = Lines::new(text);
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
        let mut record = csv::StringRecord::new();
        let mut out = Vec::new();
        loop {
            let start = reader.position().byte() as usize;
            if !reader.read_record(&mut record).unwrap() {
                return out;
            }
            let start = record.position().map_or(start, |p| p.byte() as usize);
            out.push(lines.span(start, reader.position().byte() as usize));
        }
    }

    #[test]
    fn lf_crlf_and_cr_files_number_their_records_alike() {
        for text in [
            &b"h\na\nb\nc\n"[..],
            b"h\r\na\r\nb\r\nc\r\n",
            b"h\ra\rb\rc\r",
            b"h\na\nb\nc",
        ] {
            assert_eq!(spans(text), [(2, 2), (3, 3), (4, 4)], "{text:?}");
        }
    }

    #[test]
    fn a_quoted_line_break_makes_a_record_span_lines() {
        assert_eq!(
            spans(b"h,n\r\n1,\"two\r\nlines\"\r\n2,x\r\n"),
            [(2, 3), (4, 4)]
        );
    }

    #[test]
    fn an_unclosed_quote_is_told_from_a_closed_one() {
        let text = b"1,\"open\n2,x\n3,y\n";
        let lines = Lines::new(text);
        assert!(lines.has_unclosed_quote(0, text.len()));
        assert_eq!(lines.span(0, text.len()), (1, 3));

        let closed = b"1,\"a \"\"quoted\"\" word\"\n";
        assert!(!Lines::new(closed).has_unclosed_quote(0, closed.len()));
    }
}
