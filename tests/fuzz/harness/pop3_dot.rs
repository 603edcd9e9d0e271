//! Fuzz harness: the dot-unstuffing reader for multi-line replies (`pop3::proto::DotReader`)
//! over arbitrary input, arbitrary read chunking and arbitrary caller buffer sizes.
//!
//! The first three bytes choose the read buffer's capacity, the caller's buffer sizes and the
//! sizes of the chunks the underlying stream returns; the rest is the stream.
//!
//! Oracles: no panic; the end is reported (`Ok(0)`) only when the stream holds a terminating
//! `.` line, and then the output equals a simple line-by-line reference decoder's and exactly
//! the bytes up to the terminator were consumed (the rest is left for the next reply); without
//! a terminator the reader fails and what it returned is a prefix of the reference decoding;
//! the byte counters agree with the reference.

use std::io::{BufRead, BufReader, Read};

use mailpull::pop3::proto::DotReader;

/// A tiny deterministic generator for sizes.
struct Lcg(u32);

impl Lcg {
    fn next(&mut self, max: usize) -> usize {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        1 + (self.0 >> 16) as usize % max
    }
}

/// A stream that returns its data in chunks of varying size.
struct Chunky<'a> {
    data: &'a [u8],
    sizes: Lcg,
    max: usize,
}

impl Read for Chunky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self
            .sizes
            .next(self.max)
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The reference: line by line, a line that is `.` ends the reply, one leading dot of a line
/// that starts with `..` is removed, CRLF and LF both end a line (a lone CR is data). Returns
/// the decoded bytes, the bytes consumed up to and including the terminator, and how many line
/// ends were CRLF; `None` without a terminator.
fn reference(input: &[u8]) -> Option<(Vec<u8>, usize, u64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut crlf = 0;
    loop {
        let nl = pos + input[pos..].iter().position(|&b| b == b'\n')?;
        let mut line = &input[pos..nl];
        let had_cr = line.ends_with(b"\r");
        if had_cr {
            line = &line[..line.len() - 1];
        }
        pos = nl + 1;
        if line == b"." {
            return Some((out, pos, crlf));
        }
        if line.starts_with(b"..") {
            line = &line[1..];
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        crlf += u64::from(had_cr);
    }
}

pub fn run(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let cap = 1 + data[0] as usize % 64;
    let mut out_sizes = Lcg(u32::from(data[1]));
    let chunk_max = 1 + data[2] as usize % 32;
    let input = &data[3..];
    let mut r = BufReader::with_capacity(
        cap,
        Chunky {
            data: input,
            sizes: Lcg(u32::from(data[2]) << 8 | u32::from(data[1])),
            max: chunk_max,
        },
    );
    let mut dot = DotReader::new(&mut r);
    let mut out = Vec::new();
    let mut buf = [0u8; 40];
    let result = loop {
        let k = out_sizes.next(buf.len());
        match dot.read(&mut buf[..k]) {
            Ok(0) => break Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    match reference(input) {
        Some((want, consumed, crlf)) => {
            assert!(result.is_ok(), "{result:?}");
            assert!(dot.is_done() && !dot.failed());
            assert_eq!(out, want);
            assert_eq!(dot.decoded_bytes(), out.len() as u64);
            assert_eq!(dot.content_octets(), out.len() as u64 + crlf);
            assert_eq!(dot.wire_bytes(), consumed as u64);
            // Reading again still reports the end.
            assert_eq!(dot.read(&mut buf).unwrap(), 0);
            // What follows the terminator is still there for the next reply.
            let mut rest = Vec::new();
            loop {
                let chunk = r.fill_buf().unwrap();
                if chunk.is_empty() {
                    break;
                }
                rest.extend_from_slice(chunk);
                let n = chunk.len();
                r.consume(n);
            }
            assert_eq!(rest, &input[consumed..]);
        }
        None => {
            assert!(result.is_err(), "end reported without a terminator");
            assert!(!dot.is_done() && dot.failed());
            let mut completed = input.to_vec();
            completed.extend_from_slice(b"\r\n.\r\n");
            let (full, _, _) = reference(&completed).expect("a terminator was added");
            assert!(
                full.starts_with(&out),
                "output is not a prefix of the decoding"
            );
        }
    }
}
