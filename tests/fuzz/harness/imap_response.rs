//! Fuzz harness: server bytes through a whole IMAP session (`mailpull::imap::Session`) — the
//! greeting, login, LIST, SELECT, the listing, streamed bodies, a listing of new mail, IDLE,
//! STORE, EXPUNGE and LOGOUT — read in arbitrary chunks.
//!
//! The first two input bytes choose the chunking (a seed and a largest chunk); the rest is
//! what the server sends. The session is driven step by step until a step fails.
//!
//! Oracles: no panic; bounded allocation (libFuzzer's `-malloc_limit_mb`, see
//! `tests/fuzz/Cargo.toml`; a claimed number such as `* 4294967295 EXISTS` must not allocate);
//! and a message body handed on with a clean end is framed in the input: its bytes follow a
//! `{n}` line with n their length (or form a quoted string), and are followed by the rest of
//! a FETCH response — a line without a literal that ends with `)` — and then by the start of
//! another response (`* `, `+`, or a tag `A<digits> `).

use std::io::{self, Read, Write};
use std::time::Duration;

use mailpull::imap::{AuthMethod, Session, Stop};

/// The server side: reads come from the input in pseudo-random chunks, writes are dropped.
struct Server<'a> {
    input: &'a [u8],
    state: u32,
    max: usize,
}

impl Read for Server<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let chunk = 1 + (self.state >> 16) as usize % self.max;
        let n = chunk.min(buf.len()).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Server<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn run(data: &[u8]) {
    let [seed, max, script @ ..] = data else {
        return;
    };
    let server = Server {
        input: script,
        state: u32::from(*seed),
        // Mostly whole reads, sometimes a byte at a time.
        max: if *max < 16 {
            1 + *max as usize
        } else {
            1 << 16
        },
    };
    let Ok(mut s) = Session::start(server) else {
        return;
    };
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let _ = (|| -> Result<(), mailpull::source::SourceError> {
        s.login("alice", "secret", AuthMethod::Auto)?;
        s.list(&["INBOX".to_string(), "Lists/%".to_string()])?;
        s.select("INBOX", false)?;
        let listed = s.uids_and_sizes()?;
        let mut uids: Vec<u32> = listed.iter().map(|&(u, _)| u).take(50).collect();
        uids.extend([1, 2, 3]);
        let mut on_message = |_uid: u32, r: &mut dyn Read| -> Result<(), Stop> {
            let mut body = Vec::new();
            match r.read_to_end(&mut body) {
                Ok(_) => {
                    bodies.push(body);
                    Ok(())
                }
                Err(_) => Err(Stop),
            }
        };
        s.fetch_bodies(&uids, &mut on_message)?;
        s.list_new(3)?;
        s.fetch_bodies(&[4, 5], &mut on_message)?;
        s.idle(Duration::ZERO)?;
        s.store_deleted(&uids)?;
        s.expunge(&uids)?;
        s.logout()
    })();
    for body in &bodies {
        assert!(
            framed(script, body),
            "a body of {} bytes was handed on without a proven framing",
            body.len()
        );
    }
}

/// Whether `body` appears in `input` as a literal followed by the end of its FETCH response
/// and the start of another response, or as a quoted string.
fn framed(input: &[u8], body: &[u8]) -> bool {
    let marker = format!("{{{}}}", body.len());
    let mut from = 0;
    while let Some(at) = find(&input[from..], marker.as_bytes()).map(|p| from + p) {
        from = at + 1;
        let mut rest = &input[at + marker.len()..];
        rest = match rest {
            [b'\r', b'\n', r @ ..] | [b'\n', r @ ..] => r,
            _ => continue,
        };
        let Some(after) = rest.strip_prefix(body) else {
            continue;
        };
        let Some(lf) = after.iter().position(|&b| b == b'\n') else {
            continue;
        };
        let line = &after[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.ends_with(b")") || line.ends_with(b"}") {
            continue;
        }
        let next = &after[lf + 1..];
        let starts = match next {
            [b'+', ..] | [b'*', b' ', ..] => true,
            [b'A', r @ ..] => {
                let d = r.iter().take_while(|c| c.is_ascii_digit()).count();
                d > 0 && r.get(d) == Some(&b' ')
            }
            _ => false,
        };
        if starts {
            return true;
        }
    }
    // A quoted string: the bytes between quotes, with `\` escapes.
    let mut quoted = vec![b'"'];
    for &b in body {
        if b == b'"' || b == b'\\' {
            quoted.push(b'\\');
        }
        quoted.push(b);
    }
    quoted.push(b'"');
    find(input, &quoted).is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
