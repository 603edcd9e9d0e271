//! Fuzz harness: the POP3 reply parsers (`pop3::proto`, `pop3::listing`, `pop3::reply`) on any
//! bytes. Every line of the input (split at LF, one CR removed) is tried as a status line, a
//! UIDL or LIST line, a greeting with an APOP timestamp, a sentinel reply, a number and a
//! capability line; the listing lines found are then merged into a message list.
//!
//! Oracles: no panic; a parsed status line starts with `+OK`/`-ERR` as its `ok` says, its code
//! is upper case; the quick first-line test agrees with the full status parser; a listing line
//! yields a number of 1 or more and one word from the line; an APOP timestamp is a `<…@…>`
//! slice of the line; numbers agree with the standard parser; a merged list has one message per
//! number `1..=N`, each unique id once; quoted text is short.

use mailpull::pop3::{listing, proto, reply};

pub fn run(data: &[u8]) {
    let mut uidl: Vec<(u32, String)> = Vec::new();
    let mut list: Vec<(u32, u64)> = Vec::new();
    let mut caps = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let status = proto::parse_status(line);
        if let Some(st) = &status {
            let prefix: &[u8] = if st.ok { b"+OK" } else { b"-ERR" };
            assert!(line[..prefix.len()].eq_ignore_ascii_case(prefix));
            if let Some(code) = &st.code {
                assert_eq!(code, &code.to_ascii_uppercase());
                assert!(!code.contains(']'));
            }
            assert!(st.quoted().chars().count() <= proto::MAX_QUOTE + 1);
            if let Some(n) = proto::announced_octets(&st.text) {
                let first = st.text.split_ascii_whitespace().next();
                assert_eq!(first.and_then(|w| w.parse::<u64>().ok()), Some(n));
            }
        }
        let ended = line.len() <= 5;
        assert_eq!(
            proto::looks_like_status(&line[..line.len().min(5)], ended),
            status.is_some(),
            "{line:?}"
        );
        if let Some((n, v)) = proto::parse_listing(line) {
            assert!(n >= 1);
            assert!(!v.is_empty() && !v.contains(&b' '));
            assert!(line
                .windows(v.len())
                .any(|w| std::ptr::eq(w.as_ptr(), v.as_ptr())));
            if proto::valid_uidl_bytes(v) {
                let uid = String::from_utf8(v.to_vec()).expect("printable ASCII");
                assert!(proto::valid_uidl(&uid));
                if reply::sentinel_matches(format!("+OK {n} {uid}").as_bytes(), n, &uid) {
                    uidl.push((n, uid));
                } else {
                    panic!("the sentinel for {n} {uid} does not match itself");
                }
            }
            if let Some(size) = proto::parse_number(v) {
                list.push((n, size));
            }
        }
        if let Some(stamp) = proto::apop_timestamp(line) {
            assert!(stamp.starts_with(b"<") && stamp.ends_with(b">"));
            assert!(stamp.contains(&b'@'));
            assert_eq!(proto::apop_digest(stamp, "secret").len(), 32);
        }
        if let Some(n) = proto::parse_number(line) {
            let std = std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            assert_eq!(Some(n), std);
        }
        if reply::sentinel_matches(line, 1, "a") {
            assert!(status.as_ref().is_some_and(|s| s.ok));
        }
        assert!(proto::quote(line).chars().count() <= proto::MAX_QUOTE + 1);
        caps.push(String::from_utf8_lossy(line).into_owned());
    }
    let c = proto::Capabilities::from_lines(caps);
    for name in [
        "PIPELINING",
        "UTF8",
        "SASL",
        "TOP",
        "STLS",
        "LOGIN-DELAY",
        "",
    ] {
        assert_eq!(c.has(name), c.args(name).is_some());
    }
    let _ = c.sasl("PLAIN");
    match listing::merge(uidl.clone(), &list) {
        Ok(msgs) => {
            assert_eq!(msgs.len(), uidl.len());
            assert_eq!(list.len(), uidl.len());
            let mut numbers: Vec<u32> = msgs.iter().map(|m| m.number).collect();
            numbers.sort_unstable();
            assert!(numbers.iter().copied().eq(1..=msgs.len() as u32));
            let uids: std::collections::HashSet<&str> =
                msgs.iter().map(|m| m.uid.as_str()).collect();
            assert_eq!(uids.len(), msgs.len());
            assert!(msgs.iter().all(|m| m.size <= listing::MAX_SIZE));
        }
        Err(e) => assert!(!e.is_empty()),
    }
}
