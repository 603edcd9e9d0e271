//! The messages of a POP3 maildrop, from its UIDL and LIST listings (RFC 1939 §5 and §7),
//! validated before anything is fetched: a listing that does not describe one message per
//! number, each with one unique id and one size, is a protocol error, never two messages or a
//! guess.
//!
//! At the start of a session no message is marked deleted, so both listings name exactly the
//! messages 1 to N (RFC 1939 §5). Nothing here allocates more than the listings' own lines: a
//! number or a size the server claims is compared, never used as a length.

use std::collections::HashSet;

use super::proto::quote;
use crate::source::{ListingDigest, RemoteMessage};

/// The SHA-256 digest of a UIDL listing: each line as the server sent it (`n uid`, without the
/// line end), followed by LF, in order. Equal digests mean equal listings: the same unique ids
/// under the same numbers.
pub struct Digest {
    sha: openssl::sha::Sha256,
    /// Lines not hashed yet: one update per 64 KiB instead of one per line.
    buf: Vec<u8>,
}

impl Default for Digest {
    fn default() -> Digest {
        Digest::new()
    }
}

impl Digest {
    pub fn new() -> Digest {
        Digest {
            sha: openssl::sha::Sha256::new(),
            buf: Vec::with_capacity(64 << 10),
        }
    }

    /// Adds one listing line (without its line end).
    pub fn line(&mut self, line: &[u8]) {
        if self.buf.len() + line.len() + 1 > self.buf.capacity() {
            self.sha.update(&self.buf);
            self.buf.clear();
        }
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
    }

    pub fn finish(mut self) -> ListingDigest {
        self.sha.update(&self.buf);
        self.sha.finish()
    }
}

/// The most messages a maildrop listing may hold (about 100 bytes of memory each).
pub const MAX_MESSAGES: usize = 4_000_000;

/// The largest message size a LIST line may announce (1 TiB): anything larger is not a size.
/// (It also keeps sums of sizes far from overflowing.)
pub const MAX_SIZE: u64 = 1 << 40;

/// Builds the message list, in UIDL order, from the UIDL listing (`number`, unique id) and the
/// LIST listing (`number`, size). Both must name the same messages `1..=N`, each once; unique ids
/// must differ. The error says what is wrong.
pub fn merge(uidl: Vec<(u32, String)>, list: &[(u32, u64)]) -> Result<Vec<RemoteMessage>, String> {
    let count = uidl.len();
    if count > MAX_MESSAGES {
        return Err(format!(
            "the server lists {count} messages; mailpull handles at most {MAX_MESSAGES}"
        ));
    }
    let in_range = |n: u32, what: &str, count: usize| {
        if n == 0 || n as usize > count {
            Err(format!(
                "the {what} listing names message {n}, but a maildrop of {count} messages has \
                 only the numbers 1 to {count}"
            ))
        } else {
            Ok(n as usize)
        }
    };
    // Sizes by message number; `None` until LIST names the number.
    let mut sizes: Vec<Option<u64>> = vec![None; list.len() + 1];
    for &(n, size) in list {
        let i = in_range(n, "LIST", list.len())?;
        if sizes[i].is_some() {
            return Err(format!("the LIST listing names message {n} twice"));
        }
        if size > MAX_SIZE {
            return Err(format!(
                "the LIST listing gives message {n} a size of {size} bytes, which cannot be right"
            ));
        }
        sizes[i] = Some(size);
    }
    let mut seen_number = vec![false; count + 1];
    {
        // Unique ids, compared by reference before any is moved.
        let mut seen_uid: HashSet<&str> = HashSet::with_capacity(count);
        for (_, uid) in &uidl {
            if !seen_uid.insert(uid) {
                return Err(format!(
                    "the server lists the unique id {} twice; refusing to guess which message \
                     is which",
                    quote(uid.as_bytes())
                ));
            }
        }
    }
    let mut out = Vec::with_capacity(count);
    // The unique ids move into the messages: each is held once.
    for (n, uid) in uidl {
        let i = in_range(n, "UIDL", count)?;
        if std::mem::replace(&mut seen_number[i], true) {
            return Err(format!(
                "the UIDL listing names message {n} twice; refusing to guess which unique id is \
                 its own"
            ));
        }
        let Some(size) = sizes.get(i).copied().flatten() else {
            return Err(format!(
                "message {n} is in the UIDL listing but not in the LIST listing"
            ));
        };
        out.push(RemoteMessage {
            number: n,
            uid,
            size,
            flagged_deleted: false,
        });
    }
    if list.len() != count {
        // Every UIDL number is in LIST and none twice, so LIST names more.
        let extra = (1..sizes.len())
            .find(|&i| sizes[i].is_some() && !seen_number.get(i).copied().unwrap_or(false))
            .unwrap_or(0);
        return Err(format!(
            "message {extra} is in the LIST listing but not in the UIDL listing"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uidl(items: &[(u32, &str)]) -> Vec<(u32, String)> {
        items.iter().map(|(n, u)| (*n, u.to_string())).collect()
    }

    #[test]
    fn the_digest_is_the_sha256_of_the_lines_however_they_are_buffered() {
        let lines: Vec<String> = (1..=20_000).map(|n| format!("{n} uid-{n:08}")).collect();
        let mut d = Digest::new();
        let mut whole = Vec::new();
        for l in &lines {
            d.line(l.as_bytes());
            whole.extend_from_slice(l.as_bytes());
            whole.push(b'\n');
        }
        assert!(whole.len() > 4 * (64 << 10), "crosses several buffers");
        assert_eq!(d.finish(), openssl::sha::sha256(&whole));

        let digest = |ls: &[&str]| {
            let mut d = Digest::new();
            ls.iter().for_each(|l| d.line(l.as_bytes()));
            d.finish()
        };
        assert_ne!(digest(&["1 a", "2 b"]), digest(&["1 b", "2 a"]));
        assert_ne!(digest(&["1 ab"]), digest(&["1 a", "b"]));
        assert_ne!(digest(&[]), digest(&[""]));
    }

    #[test]
    fn a_good_listing() {
        let m = merge(uidl(&[(1, "a"), (2, "b")]), &[(2, 20), (1, 10)]).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].number, m[0].uid.as_str(), m[0].size), (1, "a", 10));
        assert_eq!((m[1].number, m[1].uid.as_str(), m[1].size), (2, "b", 20));
        assert!(merge(Vec::new(), &[]).unwrap().is_empty());
    }

    /// A UIDL listing, a LIST listing and what the error must say.
    type Case = (Vec<(u32, String)>, Vec<(u32, u64)>, &'static str);

    #[test]
    fn bad_listings_are_errors() {
        let cases: Vec<Case> = vec![
            // A number twice in UIDL with two ids (issue 11: the message was fetched twice).
            (
                uidl(&[(1, "a"), (1, "b")]),
                vec![(1, 10), (2, 20)],
                "names message 1 twice",
            ),
            (
                uidl(&[(1, "a"), (2, "b")]),
                vec![(1, 10), (1, 10)],
                "LIST listing names message 1 twice",
            ),
            (uidl(&[(1, "a"), (2, "a")]), vec![(1, 10), (2, 20)], "twice"),
            (
                uidl(&[(1, "a"), (2, "b")]),
                vec![(1, 10)],
                "not in the LIST",
            ),
            (uidl(&[(1, "a")]), vec![(1, 10), (2, 20)], "not in the UIDL"),
            (
                uidl(&[(1, "a"), (3, "b")]),
                vec![(1, 10), (2, 20)],
                "message 3",
            ),
            (
                uidl(&[(4_294_967_295, "a")]),
                vec![(1, 10)],
                "message 4294967295",
            ),
            (
                uidl(&[(1, "a")]),
                vec![(1, MAX_SIZE + 1)],
                "cannot be right",
            ),
            (
                uidl(&[(2, "a"), (1, "b")]),
                vec![(1, 1), (3, 1)],
                "message 3",
            ),
        ];
        for (u, l, want) in cases {
            let e = merge(u.clone(), &l).unwrap_err();
            assert!(e.contains(want), "{u:?} {l:?}: {e}");
        }
    }
}
