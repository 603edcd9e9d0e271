//! Fuzz harness: the LIST pattern matcher (`mailpull::imap::pattern`) against the obvious
//! recursive matcher, on short inputs (the reference takes exponential time on long ones).
//!
//! Input: the pattern, a 0xff byte, the name (no 0xff: just a pattern against itself).
//!
//! Oracles: no panic; the same answer as the reference for `%` with `/` as the delimiter,
//! with `/` and `.`, and without a delimiter; `*` matches everything; a pattern without
//! wildcards matches only itself.

use mailpull::imap::pattern;

fn reference(p: &[u8], n: &[u8], delims: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..], delims)),
        Some((b'%', rest)) => (0..=n.len())
            .take_while(|&i| i == 0 || !delims.contains(&n[i - 1]))
            .any(|i| reference(rest, &n[i..], delims)),
        Some((&c, rest)) => n.first() == Some(&c) && reference(rest, &n[1..], delims),
    }
}

pub fn run(data: &[u8]) {
    let (p, n) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    // Long inputs: only what needs no reference (and must take no time).
    if p.iter().filter(|&&b| b == b'*' || b == b'%').count() > 8 || n.len() > 24 {
        let _ = pattern::matches(p, n, b"/");
        let _ = pattern::list_answers(p, n, Some(b'/'));
        return;
    }
    for delims in [&b"/"[..], b"/.", b""] {
        assert_eq!(
            pattern::matches(p, n, delims),
            reference(p, n, delims),
            "pattern {p:?}, name {n:?}, delimiters {delims:?}"
        );
    }
    assert!(pattern::matches(b"*", n, b"/"));
    if !p.contains(&b'*') && !p.contains(&b'%') {
        assert_eq!(pattern::matches(p, n, b"/"), p == n);
    }
    let _ = pattern::list_answers(p, n, None);
}
