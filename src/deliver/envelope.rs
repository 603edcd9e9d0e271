//! The envelope sender of a message, as mbox's `From ` line and an MDA's `%F` need it: the
//! address in its first `Return-Path:` header. Only the header block is looked at, and only
//! within the first [`HEAD_LIMIT`] bytes, so a message is never buffered whole to find it.

use std::io::{self, Read};

/// At most this much of a message's head is buffered to find its `Return-Path:`.
pub(crate) const HEAD_LIMIT: usize = 64 * 1024;

/// Reads from `body` into `head` until the header block is complete (an empty line was seen),
/// [`HEAD_LIMIT`] bytes are buffered, or the message ends. Returns whether it ended.
pub(crate) fn read_head(body: &mut dyn Read, head: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        if head.starts_with(b"\n") || memchr::memmem::find(head, b"\n\n").is_some() {
            return Ok(false);
        }
        if head.len() >= HEAD_LIMIT {
            return Ok(false);
        }
        let want = chunk.len().min(HEAD_LIMIT - head.len());
        match body.read(&mut chunk[..want]) {
            Ok(0) => return Ok(true),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The envelope sender from the first `Return-Path:` header in `head` (the start of a message):
/// `None` if there is none, `Some(empty)` for `<>`. Only the header block is looked at, and only
/// complete lines unless `whole` says `head` is the whole message.
pub(crate) fn envelope_sender(head: &[u8], whole: bool) -> Option<Vec<u8>> {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = head;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None if whole => (rest, &rest[rest.len()..]),
            None => break,
        };
        if line.is_empty() || line == b"\r" {
            break;
        }
        lines.push(line);
        rest = next;
    }
    const NAME: &[u8] = b"return-path:";
    let i = lines
        .iter()
        .position(|l| l.len() >= NAME.len() && l[..NAME.len()].eq_ignore_ascii_case(NAME))?;
    let mut value = lines[i][NAME.len()..].to_vec();
    for cont in &lines[i + 1..] {
        if cont.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            value.push(b' ');
            value.extend_from_slice(cont);
        } else {
            break;
        }
    }
    let value = value.trim_ascii();
    let addr = match memchr::memchr(b'<', value) {
        Some(l) => {
            let inner = &value[l + 1..];
            match memchr::memchr(b'>', inner) {
                Some(r) => &inner[..r],
                None => inner,
            }
        }
        None => value
            .split(|c| c.is_ascii_whitespace())
            .find(|w| !w.is_empty())
            .unwrap_or(b""),
    };
    Some(addr.trim_ascii().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_sender_parsing() {
        let s = |h: &[u8]| envelope_sender(h, true).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(s(b"Return-Path: <a@b>\n\n"), Some("a@b".into()));
        assert_eq!(s(b"RETURN-PATH:<a@b>\n"), Some("a@b".into()));
        assert_eq!(s(b"Return-Path: <>\n\n"), Some("".into()));
        assert_eq!(s(b"Subject: x\n\nReturn-Path: <a@b>\n"), None);
        assert_eq!(s(b"\nReturn-Path: <a@b>\n"), None);
        assert_eq!(
            s(b"Return-Path: <first@x>\nReturn-Path: <second@x>\n"),
            Some("first@x".into())
        );
        assert_eq!(s(b"Return-Path: <a@b"), Some("a@b".into()));
        assert_eq!(s(b"Return-Path:\n\t<c@d>\nX: y\n"), Some("c@d".into()));
        assert_eq!(s(b"X-Return-Path: <a@b>\n"), None);
        // A line cut off by the head limit is not trusted.
        assert_eq!(envelope_sender(b"Return-Path: <a@b", false), None);
        assert_eq!(
            envelope_sender(b"Return-Path: <a@b>\nSubj", false),
            Some(b"a@b".to_vec())
        );
    }
}
