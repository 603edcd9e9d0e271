//! CRLF to LF while streaming, for targets that store Unix line ends (an IMAP message's bytes
//! come with CRLF).

use std::io::{self, Read};

/// Turns CRLF line ends into LF while streaming; a lone CR stays.
pub struct CrlfToLf<'a> {
    inner: &'a mut dyn Read,
    /// A CR read at the end of the previous chunk, not yet known to precede an LF.
    held_cr: bool,
    /// A decoded byte that did not fit a one-byte read.
    pending: Option<u8>,
}

impl<'a> CrlfToLf<'a> {
    pub fn new(inner: &'a mut dyn Read) -> CrlfToLf<'a> {
        CrlfToLf {
            inner,
            held_cr: false,
            pending: None,
        }
    }
}

impl Read for CrlfToLf<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some(b) = self.pending.take() {
            out[0] = b;
            return Ok(1);
        }
        if out.len() == 1 {
            let mut two = [0u8; 2];
            let n = self.read(&mut two)?;
            if n == 2 {
                self.pending = Some(two[1]);
            }
            out[0] = two[0];
            return Ok(n.min(1));
        }
        loop {
            // Leave room for a held CR.
            let start = usize::from(self.held_cr);
            let n = self.inner.read(&mut out[start..])?;
            if n == 0 {
                if self.held_cr {
                    self.held_cr = false;
                    out[0] = b'\r';
                    return Ok(1);
                }
                return Ok(0);
            }
            if self.held_cr {
                out[0] = b'\r';
                self.held_cr = false;
            }
            let end = start + n;
            // Compact in place, dropping the CR of every CRLF: the bytes between two CRs move
            // as one run (memchr finds the CRs).
            let mut w = 0;
            let mut r = 0;
            while r < end {
                let cr = memchr::memchr(b'\r', &out[r..end]).map_or(end, |i| r + i);
                if w != r {
                    out.copy_within(r..cr, w);
                }
                w += cr - r;
                if cr + 1 >= end {
                    // The end, or a CR that the next read may pair with an LF.
                    self.held_cr = cr + 1 == end;
                    break;
                }
                if out[cr + 1] != b'\n' {
                    // A lone CR stays.
                    out[w] = b'\r';
                    w += 1;
                }
                // After a CRLF the LF starts the next run.
                r = cr + 1;
            }
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads at most `.1` bytes at a time.
    struct Chunky<'a>(&'a [u8], usize);

    impl Read for Chunky<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// `input` through [`CrlfToLf`], delivered in reads of `chunk` bytes and read with a
    /// buffer of `buf` bytes.
    fn convert(input: &[u8], chunk: usize, buf: usize) -> Vec<u8> {
        let mut src = Chunky(input, chunk);
        let mut r = CrlfToLf::new(&mut src);
        let mut out = Vec::new();
        let mut b = vec![0u8; buf];
        loop {
            let n = r.read(&mut b).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&b[..n]);
        }
    }

    #[test]
    fn crlf_becomes_lf_across_chunk_boundaries() {
        let input = b"a\r\nb\r\r\nc\rd\n\r\n\r";
        for chunk in 1..10usize {
            let buf = if chunk.is_multiple_of(2) { 1 } else { 7 };
            assert_eq!(
                convert(input, chunk, buf),
                b"a\nb\r\nc\rd\n\n\r",
                "chunk {chunk}"
            );
        }
        assert_eq!(convert(b"", 3, 7), b"");
        assert_eq!(convert(b"\r\n", 1, 7), b"\n");
    }

    #[test]
    fn conversion_matches_a_plain_replace_whatever_the_reads() {
        // Every mix of CR, LF and other bytes, cut into reads of every size and read with
        // buffers of every size, gives what replacing each CRLF by LF in the whole gives.
        let mut rng = 0x2545_f491_u32;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng
        };
        for _ in 0..300 {
            let len = (next() % 200) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| [b'\r', b'\n', b'x', b'\r', b'y'][(next() % 5) as usize])
                .collect();
            let mut want = Vec::new();
            let mut i = 0;
            while i < input.len() {
                if input[i] == b'\r' && input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                want.push(input[i]);
                i += 1;
            }
            for chunk in [1, 2, 3, 64, 4096] {
                for buf in [1, 2, 5, 64, 4096] {
                    let got = convert(&input, chunk, buf);
                    assert_eq!(got, want, "input {input:?} chunk {chunk} buf {buf}");
                }
            }
        }
    }
}
