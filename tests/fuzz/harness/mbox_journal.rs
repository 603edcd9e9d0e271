//! Fuzz harness: the mbox journal parser (`deliver::mbox::reparse_journal`, what recovery reads
//! from `.NAME.mailpull-journal`) on any bytes — a torn, damaged or hand-edited journal.
//!
//! Oracles: no panic; what the parser keeps is consistent (a batch's data `[start + pad, end]`
//! is a real range, every message lies inside its batch's data, so recovery's offset
//! arithmetic cannot overflow or underflow; no location twice); and parsing what it kept gives
//! the same again (nothing it keeps depends on what it dropped).

use std::collections::{HashMap, HashSet};

pub fn run(data: &[u8]) {
    let kept = mailpull::deliver::mbox::reparse_journal(data);
    assert_eq!(
        mailpull::deliver::mbox::reparse_journal(kept.as_bytes()),
        kept,
        "parsing what was kept changed it"
    );
    let mut batches: HashMap<(String, u64), (u64, u64)> = HashMap::new();
    let mut ids = HashSet::new();
    // Split as the parser does, on line feeds only (a carriage return is part of a field).
    for line in kept.split_terminator('\n') {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |s: &str| s.parse::<u64>().expect("a kept number parses");
        match f[..] {
            ["B", token, seq, _time, start, pad, end] => {
                let data_start = num(start)
                    .checked_add(u64::from(pad == "1"))
                    .expect("start + pad overflows");
                assert!(
                    data_start <= num(end),
                    "batch ends before it starts: {line}"
                );
                let fresh = batches
                    .insert((token.to_string(), num(seq)), (data_start, num(end)))
                    .is_none();
                assert!(fresh, "batch twice: {line}");
            }
            ["M", token, seq, id, offset, len, sha] => {
                let &(start, end) = batches
                    .get(&(token.to_string(), num(seq)))
                    .expect("a message of a batch that was not kept");
                let (offset, len) = (num(offset), num(len));
                assert!(offset >= start, "message before its batch: {line}");
                let stop = offset.checked_add(len).expect("offset + len overflows");
                assert!(stop <= end, "message after its batch: {line}");
                assert_eq!(sha.len(), 64);
                assert!(ids.insert(id.to_string()), "location twice: {line}");
            }
            ["C", token, seq] => {
                assert!(batches.contains_key(&(token.to_string(), num(seq))));
            }
            _ => panic!("kept an unknown line: {line:?}"),
        }
    }
}
