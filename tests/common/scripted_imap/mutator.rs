//! The output filter of a connection with a [`Mutation`]: splits what the server sends into
//! protocol lines and literal data, and changes the one thing the mutation names.

use super::super::server::{Filter, Filtered};
use super::parse::literal_marker;
use super::Mutation;

/// Applies a [`Mutation`] to a connection's output as it is written.
pub(super) struct Mutator {
    mutation: Mutation,
    /// The protocol line being assembled (original bytes).
    line: Vec<u8>,
    /// Protocol lines seen so far.
    lines: usize,
    /// Literal data still to pass through unchanged.
    literal: usize,
    /// Lines with a literal marker seen so far.
    literals: usize,
    /// Bytes still to send before a cut (once the cut's line has begun).
    cut_left: Option<usize>,
}

impl Mutator {
    pub(super) fn new(mutation: Mutation) -> Mutator {
        Mutator {
            mutation,
            line: Vec::new(),
            lines: 0,
            literal: 0,
            literals: 0,
            cut_left: None,
        }
    }

    /// What to send for `bytes`, and whether to close the connection after it.
    fn mutated(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut i = 0;
        while i < bytes.len() {
            if self.literal > 0 {
                let n = self.literal.min(bytes.len() - i);
                if self.emit(&mut out, &bytes[i..i + n]) {
                    return (out, true);
                }
                self.literal -= n;
                i += n;
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.line.push(b);
            if b != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let k = self.lines;
            self.lines += 1;
            let mut target = self.mutation.line() == Some(k);
            if let Some((n, _)) = literal_marker(&line) {
                self.literal = n;
                if let Mutation::LiteralLength { literal, .. } = self.mutation {
                    target = literal == self.literals;
                }
                self.literals += 1;
            }
            let mutated = if target { self.mutate(&line) } else { line };
            if self.emit(&mut out, &mutated) {
                return (out, true);
            }
        }
        (out, false)
    }

    /// Appends `bytes` to `out`, honouring a running cut; true when the cut strikes.
    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) -> bool {
        match &mut self.cut_left {
            None => {
                out.extend_from_slice(bytes);
                false
            }
            Some(left) => {
                let n = (*left).min(bytes.len());
                out.extend_from_slice(&bytes[..n]);
                *left -= n;
                n < bytes.len() || *left == 0
            }
        }
    }

    fn mutate(&mut self, line: &[u8]) -> Vec<u8> {
        match &self.mutation {
            Mutation::None => line.to_vec(),
            Mutation::Flip { at, mask, .. } => {
                let mut l = line.to_vec();
                let at = at % l.len();
                l[at] ^= mask.max(&1);
                l
            }
            Mutation::Delete { .. } => Vec::new(),
            Mutation::Duplicate { .. } => [line, line].concat(),
            Mutation::Insert { bytes, .. } => [bytes.as_slice(), line].concat(),
            Mutation::Number { nth, value, .. } => {
                let mut runs = Vec::new();
                let mut j = 0;
                while j < line.len() {
                    if line[j].is_ascii_digit() {
                        let start = j;
                        while j < line.len() && line[j].is_ascii_digit() {
                            j += 1;
                        }
                        runs.push((start, j));
                    } else {
                        j += 1;
                    }
                }
                if runs.is_empty() {
                    return line.to_vec();
                }
                let (a, b) = runs[nth % runs.len()];
                [&line[..a], value.as_bytes(), &line[b..]].concat()
            }
            Mutation::LiteralLength { by, .. } => match literal_marker(line) {
                Some((n, plus)) => {
                    let open = line.iter().rposition(|&c| c == b'{').unwrap();
                    let m = (n as i64 + by).max(0);
                    let marker = if plus {
                        format!("{{{m}+}}\r\n")
                    } else {
                        format!("{{{m}}}\r\n")
                    };
                    [&line[..open], marker.as_bytes()].concat()
                }
                None => line.to_vec(),
            },
            Mutation::Cut { at, .. } => {
                self.cut_left = Some(*at);
                line.to_vec()
            }
        }
    }
}

impl Filter for Mutator {
    fn apply(&mut self, bytes: &[u8]) -> Filtered {
        let before = self.lines;
        let (bytes, cut) = self.mutated(bytes);
        Filtered {
            bytes,
            lines: self.lines - before,
            cut,
        }
    }
}
