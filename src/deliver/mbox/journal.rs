//! The journal `.NAME.mailpull-journal` next to an mbox named NAME: what recovery reads to
//! tell, after a kill, which messages of a batch reached the mbox (steps 3 and 5 in the module
//! documentation of [`super`]), and the locations (`TOKENQn`) it knows them by.
//!
//! One `B` line per batch (token, sequence number, time, the mbox length before it, whether a
//! newline was added first, its end), one `M` line per message (location, absolute offset,
//! length, SHA-256), and a `C` line once the batch's data is durable. Malformed lines (a torn
//! last line after a crash) are ignored.
//!
//! The journal is compacted when it grows beyond 1 MiB: batches older than 14 days are dropped,
//! and then the oldest batches until it is under 512 KiB (several thousand messages). A
//! committed batch is needed only if the process was killed between the commit and the
//! ledger's own commit, and the next run of that account recovers it first thing; it could be
//! compacted away only if that run comes after 14 days or after thousands of other deliveries
//! into the same mbox (the message would then be fetched again — a duplicate, never a loss).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{with_suffix, Mbox};
use crate::fs::{context, open_or_create, parent_dir, private_file, sync_dir};

/// The journal is compacted when it grows beyond this…
pub(super) const JOURNAL_COMPACT_AT: u64 = 1024 * 1024;
/// …down to at most half that size, dropping batches older than this (seconds).
const JOURNAL_KEEP_AGE: u64 = 14 * 24 * 3600;

/// One message of a journaled batch.
#[derive(Clone, Debug)]
pub(super) struct JournalMsg {
    pub(super) id: String,
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) sha: String,
}

/// One journaled batch.
#[derive(Clone, Debug)]
pub(super) struct Batch {
    pub(super) token: String,
    pub(super) seq: u64,
    pub(super) time: u64,
    pub(super) start: u64,
    pub(super) pad: bool,
    pub(super) end: u64,
    pub(super) msgs: Vec<JournalMsg>,
    pub(super) committed: bool,
}

impl Batch {
    pub(super) fn intent(&self) -> String {
        let mut s = format!(
            "B {} {} {} {} {} {}\n",
            self.token,
            self.seq,
            self.time,
            self.start,
            u8::from(self.pad),
            self.end
        );
        for m in &self.msgs {
            s.push_str(&format!(
                "M {} {} {} {} {} {}\n",
                self.token, self.seq, m.id, m.offset, m.len, m.sha
            ));
        }
        s
    }

    pub(super) fn commit(&self) -> String {
        format!("C {} {}\n", self.token, self.seq)
    }

    pub(super) fn serialize(&self) -> String {
        let mut s = self.intent();
        if self.committed {
            s.push_str(&self.commit());
        }
        s
    }
}

/// The parsed journal: batches in file order, and where each location is.
#[derive(Default)]
pub(super) struct Journal {
    pub(super) batches: Vec<Batch>,
    pub(super) by_batch: HashMap<(String, u64), usize>,
    pub(super) by_id: HashMap<String, usize>,
}

impl Journal {
    /// Parses the journal; malformed lines (a torn last line after a crash) are ignored.
    pub(super) fn parse(text: &[u8]) -> Journal {
        let mut j = Journal::default();
        let mut rest = text;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let line = &rest[..i];
            rest = &rest[i + 1..];
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let f: Vec<&str> = line.split(' ').collect();
            let num = |s: &str| s.parse::<u64>().ok();
            match f.as_slice() {
                ["B", token, seq, time, start, pad, end] => {
                    let (Some(seq), Some(time), Some(start), Some(end)) =
                        (num(seq), num(time), num(start), num(end))
                    else {
                        continue;
                    };
                    let key = (token.to_string(), seq);
                    if j.by_batch.contains_key(&key) || !valid_token(token) {
                        continue;
                    }
                    // The batch's data lies in [start + pad, end]: anything else is damage.
                    let pad = *pad == "1";
                    if start.checked_add(u64::from(pad)).is_none_or(|s| s > end) {
                        continue;
                    }
                    j.by_batch.insert(key, j.batches.len());
                    j.batches.push(Batch {
                        token: token.to_string(),
                        seq,
                        time,
                        start,
                        pad,
                        end,
                        msgs: Vec::new(),
                        committed: false,
                    });
                }
                ["M", token, seq, id, offset, len, sha] => {
                    let (Some(seq), Some(offset), Some(len)) = (num(seq), num(offset), num(len))
                    else {
                        continue;
                    };
                    if sha.len() != 64 || check_location(id).is_err() {
                        continue;
                    }
                    let Some(&b) = j.by_batch.get(&(token.to_string(), seq)) else {
                        continue;
                    };
                    let batch = &j.batches[b];
                    if batch.committed || j.by_id.contains_key(*id) {
                        continue;
                    }
                    // A message lies within its batch's data.
                    let data_start = batch.start + u64::from(batch.pad);
                    if offset < data_start || offset.checked_add(len).is_none_or(|e| e > batch.end)
                    {
                        continue;
                    }
                    j.by_id.insert(id.to_string(), b);
                    j.batches[b].msgs.push(JournalMsg {
                        id: id.to_string(),
                        offset,
                        len,
                        sha: sha.to_string(),
                    });
                }
                ["C", token, seq] => {
                    if let Some(seq) = num(seq) {
                        if let Some(&b) = j.by_batch.get(&(token.to_string(), seq)) {
                            j.batches[b].committed = true;
                        }
                    }
                }
                _ => {}
            }
        }
        j
    }
}

/// The journal parser on its own, for the fuzz target `mbox_journal` (`tests/fuzz`): parses
/// `text` as recovery does and writes back what it kept, in the journal's own format, batches
/// in file order. Parsing that again must give the same text.
#[doc(hidden)]
pub fn reparse_journal(text: &[u8]) -> String {
    Journal::parse(text)
        .batches
        .iter()
        .map(Batch::serialize)
        .collect()
}

/// Reads and parses the journal; a missing journal is empty.
pub(super) fn read_journal(path: &Path) -> io::Result<Journal> {
    match fs::read(path) {
        Ok(text) => Ok(Journal::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Journal::default()),
        Err(e) => Err(context(e, "cannot read", path)),
    }
}

pub(super) fn valid_token(token: &str) -> bool {
    // <secs>P<pid>N<counter>
    let parts: Vec<&str> = token.split(['P', 'N']).collect();
    parts.len() == 3
        && token.find('P') < token.find('N')
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// Refuses locations that are not `TOKENQn` (they come from the ledger, which a damaged or
/// edited file could fill with anything). Returns the token.
pub(super) fn check_location(location: &str) -> io::Result<&str> {
    if let Some((token, n)) = location.split_once('Q') {
        if valid_token(token) && !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
            return Ok(token);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid mbox location {location:?}"),
    ))
}

/// The pid in a token (`<secs>P<pid>N<counter>`).
pub(super) fn token_pid(token: &str) -> Option<u32> {
    token.split(['P', 'N']).nth(1).and_then(|p| p.parse().ok())
}

/// The journal's clock: Unix seconds.
pub(super) fn now() -> u64 {
    u64::try_from(crate::time::unix_now()).unwrap_or(0)
}

impl Mbox {
    /// Opens the journal for appending, creating it if needed; tells whether it was created.
    pub(super) fn open_journal(&self) -> io::Result<(File, bool)> {
        open_or_create(&self.journal_path, private_file().append(true))
    }

    /// Rewrites the journal when it is too large (under the locks).
    pub(super) fn maybe_compact(&self, journal: &File) -> io::Result<()> {
        if journal.metadata()?.len() <= self.journal_compact_at {
            return Ok(());
        }
        let parsed = read_journal(&self.journal_path)?;
        let cutoff = now().saturating_sub(JOURNAL_KEEP_AGE);
        let keep_bytes = (self.journal_compact_at / 2) as usize;
        let mut kept: Vec<String> = Vec::new();
        let mut size = 0;
        for batch in parsed.batches.iter().rev() {
            if batch.time < cutoff {
                continue;
            }
            let text = batch.serialize();
            if size + text.len() > keep_bytes && !kept.is_empty() {
                break;
            }
            size += text.len();
            kept.push(text);
        }
        let tmp = with_suffix(&self.journal_path, ".tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| context(e, "cannot create", &tmp))?;
        for text in kept.iter().rev() {
            f.write_all(text.as_bytes())?;
        }
        f.sync_data()?;
        fs::rename(&tmp, &self.journal_path)
            .map_err(|e| context(e, "cannot replace", &self.journal_path))?;
        sync_dir(parent_dir(&self.path))?;
        log::debug!(
            "compacted {} to {} batches",
            self.journal_path.display(),
            kept.len()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{deliver, info, open_temp};
    use super::*;
    use crate::deliver::mbox::format::parse_mboxrd;
    use crate::deliver::{Deliver, DeliverError, Recovered};

    #[test]
    fn torn_journal_lines_are_ignored() {
        let (_dir, mut mbox) = open_temp();
        let loc = deliver(&mut mbox, b"Subject: x\n\n");
        mbox.sync().unwrap();
        let mut j = fs::OpenOptions::new()
            .append(true)
            .open(&mbox.journal_path)
            .unwrap();
        j.write_all(b"garbage line\nM 1P2N3 0 1P2N3Q0 0 10 abc\nB 1P2N3 0 5 0 0")
            .unwrap();
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        assert_eq!(fresh.recover(&loc).unwrap(), Recovered::Delivered);
        assert_eq!(fresh.recover("1P2N3Q0").unwrap(), Recovered::Missing);
    }

    #[test]
    fn invalid_locations_are_refused() {
        let (_dir, mut mbox) = open_temp();
        for bad in [
            "",
            "x",
            "1P2N3",
            "1P2N3Q",
            "1P2N3Qx",
            "../1P2N3Q1",
            "1P2N3Q1 2",
            "1N2P3Q4",
        ] {
            let err = mbox.deliver(bad, &info(), &mut &b"x"[..]).unwrap_err();
            assert!(matches!(err, DeliverError::Local { .. }), "{bad:?}");
            assert!(mbox.recover(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserve_is_unique_across_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10 {
            let mut mbox = Mbox::open(&path).unwrap();
            for _ in 0..100 {
                let loc = mbox.reserve().unwrap();
                check_location(&loc).unwrap();
                assert!(seen.insert(loc));
            }
        }
    }

    #[test]
    fn journal_is_compacted() {
        let (_dir, mut mbox) = open_temp();
        mbox.journal_compact_at = 4096;
        let mut locs = Vec::new();
        for i in 0..200 {
            locs.push(deliver(&mut mbox, format!("Subject: {i}\n\n").as_bytes()));
            mbox.sync().unwrap();
            assert!(fs::metadata(&mbox.journal_path).unwrap().len() < 4096 + 1024);
        }
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        // The newest are still known; the oldest were compacted away.
        assert_eq!(fresh.recover(&locs[199]).unwrap(), Recovered::Delivered);
        assert_eq!(fresh.recover(&locs[195]).unwrap(), Recovered::Delivered);
        assert_eq!(fresh.recover(&locs[0]).unwrap(), Recovered::Missing);
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 200);
        // Old batches are dropped by age as well.
        let mut old = Journal::parse(&fs::read(&mbox.journal_path).unwrap());
        assert!(!old.batches.is_empty());
        let text: String = old
            .batches
            .iter_mut()
            .map(|b| {
                b.time = 1000;
                b.serialize()
            })
            .collect::<String>()
            + &"x".repeat(5000)
            + "\n";
        fs::write(&mbox.journal_path, text).unwrap();
        let last = deliver(&mut mbox, b"Subject: newest\n\n");
        mbox.sync().unwrap();
        let kept = Journal::parse(&fs::read(&mbox.journal_path).unwrap());
        assert_eq!(kept.batches.len(), 1);
        assert!(kept.by_id.contains_key(&last));
    }
}
