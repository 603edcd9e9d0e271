//! Recovery after a kill: whether a location holds a complete message, read from the journal
//! and, for a batch that was never committed, from the mbox itself under the locks (see
//! "Recovery" in the module documentation of [`super`]).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use super::journal::{check_location, read_journal, token_pid, Batch};
use super::Mbox;
use crate::deliver::{DeliverError, Recovered, BUFFER_SIZE};
use crate::fs::context;

/// Reads `len` bytes at `offset`.
pub(super) fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The SHA-256 of `len` bytes at `offset`, read in pieces.
fn hash_at(file: &File, offset: u64, len: u64) -> io::Result<String> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(BUFFER_SIZE as u64) as usize;
        file.read_exact_at(&mut buf[..n], offset + done)?;
        hash.update(&buf[..n]);
        done += n as u64;
    }
    Ok(hex::encode(hash.finalize()))
}

impl Mbox {
    /// [`Deliver::recover`](crate::deliver::Deliver::recover) for the mbox.
    pub(super) fn recover_location(&mut self, location: &str) -> Result<Recovered, DeliverError> {
        let token = check_location(location)
            .map_err(|e| self.local(e))?
            .to_string();
        if let Some(&r) = self.resolved.get(location) {
            return Ok(r);
        }
        if self.journal.is_none() {
            self.journal = Some(read_journal(&self.journal_path).map_err(|e| self.local(e))?);
        }
        let journal = self.journal.as_ref().expect("just loaded");
        // A staging file left by that run is of no use once none of its batches is pending.
        let pending = journal
            .batches
            .iter()
            .any(|b| b.token == token && !b.committed);
        let Some(&index) = journal.by_id.get(location) else {
            // Never journaled, so never written to the mbox.
            if !pending {
                self.remove_foreign_stage(&token);
            }
            return Ok(Recovered::Missing);
        };
        if journal.batches[index].committed {
            if !pending {
                self.remove_foreign_stage(&token);
            }
            return Ok(Recovered::Delivered);
        }
        self.resolve_batch(index).map_err(|e| self.local(e))?;
        Ok(self
            .resolved
            .get(location)
            .copied()
            .unwrap_or(Recovered::Missing))
    }

    /// Resolves an uncommitted batch under the locks: which of its messages are completely in
    /// the mbox, and removal of our own partial leftovers.
    fn resolve_batch(&mut self, index: usize) -> io::Result<()> {
        let batch = self.journal.as_ref().expect("journal loaded").batches[index].clone();
        let locked = self.lock()?;
        let file = &locked.file;
        let len = file.metadata()?.len();
        let mut msgs = batch.msgs.clone();
        msgs.sort_by_key(|m| m.offset);
        let mut complete = Vec::with_capacity(msgs.len());
        for m in &msgs {
            let ok = m.offset.checked_add(m.len).is_some_and(|end| end <= len)
                && hash_at(file, m.offset, m.len)? == m.sha;
            complete.push(ok);
        }
        if complete.iter().any(|&c| c) {
            // Written before the crash, perhaps not yet on disk: make it durable before the
            // ledger records it.
            file.sync_data()
                .map_err(|e| context(e, "cannot fsync", &self.path))?;
        }
        // Our leftover starts at the first incomplete message (the whole batch, padding
        // included, if that is the first), provided nothing after it is complete.
        let first_missing = complete.iter().position(|&c| !c);
        let cut = match first_missing {
            Some(0) => Some(batch.start),
            Some(i) if !complete[i..].iter().any(|&c| c) => Some(msgs[i].offset),
            _ => None,
        };
        if let Some(cut) = cut.filter(|&c| c < len) {
            if len <= batch.end && self.is_our_leftover(file, &batch, cut, len)? {
                file.set_len(cut)
                    .and_then(|_| file.sync_data())
                    .map_err(|e| context(e, "cannot truncate", &self.path))?;
                log::info!(
                    "removed {} bytes of an interrupted delivery from {}",
                    len - cut,
                    self.path.display()
                );
            } else {
                log::warn!(
                    "{}: {} bytes after offset {cut} may be a partial message from an \
                     interrupted delivery, but could not be verified as mailpull's own; \
                     left in place",
                    self.path.display(),
                    len - cut
                );
            }
        }
        drop(locked);
        for (m, ok) in msgs.iter().zip(complete) {
            let r = if ok {
                Recovered::Delivered
            } else {
                Recovered::Missing
            };
            self.resolved.insert(m.id.clone(), r);
        }
        self.remove_foreign_stage(&batch.token);
        Ok(())
    }

    /// Removes the staging file a dead run left behind. Never our own, nor one of another
    /// value in this process (the pid is part of the token).
    fn remove_foreign_stage(&self, token: &str) {
        if token != self.token && token_pid(token) != Some(std::process::id()) {
            let _ = fs::remove_file(self.stage_path(token));
        }
    }

    /// Whether the mbox bytes `[cut, len)` are exactly what the batch was writing there,
    /// according to its staging file.
    fn is_our_leftover(&self, file: &File, batch: &Batch, cut: u64, len: u64) -> io::Result<bool> {
        let stage_path = self.stage_path(&batch.token);
        let stage = match File::open(&stage_path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(context(e, "cannot open", &stage_path)),
        };
        let data_start = batch.start + u64::from(batch.pad);
        let stage_len = stage.metadata()?.len();
        if len > data_start && len - data_start > stage_len {
            return Ok(false);
        }
        let mut pos = cut;
        if batch.pad && pos < data_start {
            if read_at(file, pos, 1)? != b"\n" {
                return Ok(false);
            }
            pos = data_start;
        }
        let mut a = vec![0u8; BUFFER_SIZE];
        let mut b = vec![0u8; BUFFER_SIZE];
        while pos < len {
            let n = (len - pos).min(BUFFER_SIZE as u64) as usize;
            file.read_exact_at(&mut a[..n], pos)?;
            stage.read_exact_at(&mut b[..n], pos - data_start)?;
            if a[..n] != b[..n] {
                return Ok(false);
            }
            pos += n as u64;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::append::Fault;
    use super::super::tests::{deliver, info, open_temp};
    use super::*;
    use crate::deliver::mbox::format::parse_mboxrd;
    use crate::deliver::mbox::hidden_sibling;
    use crate::deliver::Deliver;
    use std::collections::HashMap;
    use std::io::Write;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;

    /// Delivers three messages, then "kills" the process at `fault`, and recovers with a new
    /// value. Returns (before, locations, results, mbox bytes after recovery).
    fn crash_and_recover(
        fault: Fault,
        between: Option<&[u8]>,
    ) -> (Vec<u8>, Vec<u8>, Vec<Recovered>, tempfile::TempDir) {
        let (dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: earlier\n\nkept\n");
        mbox.sync().unwrap();
        let before = fs::read(mbox.path()).unwrap();
        let locs: Vec<String> = (0..3)
            .map(|i| {
                let body = format!("Subject: {i}\n\nFrom body {i}\n{}\n", "z".repeat(1000 * i));
                deliver(&mut mbox, body.as_bytes())
            })
            .collect();
        mbox.fault = Some(fault);
        assert!(mbox.sync().is_err());
        let path = mbox.path().to_path_buf();
        // kill -9: no destructor runs. (The simulated crash released the locks, as the
        // kernel and the stale-lock check would.)
        std::mem::forget(mbox);
        let crashed = fs::read(&path).unwrap();
        if let Some(extra) = between {
            let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(extra).unwrap();
        }
        let mut fresh = Mbox::open(&path).unwrap();
        let results: Vec<Recovered> = locs.iter().map(|l| fresh.recover(l).unwrap()).collect();
        // Asking again gives the same answers.
        let again: Vec<Recovered> = locs.iter().map(|l| fresh.recover(l).unwrap()).collect();
        assert_eq!(results, again);
        let mut third = Mbox::open(&path).unwrap();
        let again: Vec<Recovered> = locs.iter().map(|l| third.recover(l).unwrap()).collect();
        assert_eq!(results, again);
        let _ = before;
        (crashed, fs::read(&path).unwrap(), results, dir)
    }

    /// Checks the promise: every message is either Delivered and completely in the mbox
    /// exactly once, or Missing and not in it at all.
    fn check_promise(after: &[u8], results: &[Recovered], extra: usize) {
        let parsed = parse_mboxrd(after);
        assert_eq!(parsed[0].1, b"Subject: earlier\n\nkept\n");
        let delivered = results
            .iter()
            .filter(|&&r| r == Recovered::Delivered)
            .count();
        assert_eq!(parsed.len(), 1 + delivered + extra, "{parsed:?}");
        for (i, r) in results.iter().enumerate() {
            let body = format!("Subject: {i}\n\nFrom body {i}\n{}\n", "z".repeat(1000 * i));
            let n = parsed.iter().filter(|(_, m)| *m == body.as_bytes()).count();
            match r {
                Recovered::Delivered => assert_eq!(n, 1, "message {i}"),
                Recovered::Missing => {
                    assert_eq!(n, 0, "message {i}");
                    let head = format!("Subject: {i}\n");
                    assert!(
                        !parsed.iter().any(|(_, m)| m.starts_with(head.as_bytes())),
                        "partial message {i} left"
                    );
                }
            }
        }
    }

    #[test]
    fn crash_after_intent_recovers_missing() {
        let (crashed, after, results, _d) = crash_and_recover(Fault::CrashAfterIntent, None);
        assert_eq!(crashed, after);
        assert_eq!(results, [Recovered::Missing; 3]);
        check_promise(&after, &results, 0);
    }

    #[test]
    fn crash_mid_append_keeps_complete_and_removes_partial() {
        // The From line and first message are about 80 bytes; the second ends near 1150.
        for cut in [0u64, 1, 30, 79, 80, 81, 500, 1200, 2000, 3180] {
            let (crashed, after, results, _d) =
                crash_and_recover(Fault::CrashAfterAppend(cut), None);
            check_promise(&after, &results, 0);
            assert!(after.len() <= crashed.len(), "cut {cut}");
            let delivered = results
                .iter()
                .filter(|&&r| r == Recovered::Delivered)
                .count();
            assert!(delivered < 3 || cut >= 3180, "cut {cut}: {results:?}");
            // The complete ones are a prefix of the batch.
            let first_missing = results.iter().position(|&r| r == Recovered::Missing);
            if let Some(i) = first_missing {
                assert!(results[i..].iter().all(|&r| r == Recovered::Missing));
            }
        }
    }

    #[test]
    fn crash_before_commit_finds_all_delivered() {
        let (crashed, after, results, _d) = crash_and_recover(Fault::CrashBeforeCommit, None);
        assert_eq!(crashed, after);
        assert_eq!(results, [Recovered::Delivered; 3]);
        check_promise(&after, &results, 0);
    }

    #[test]
    fn crash_then_foreign_append_is_never_removed() {
        let foreign = b"From other@x Thu Jan  1 00:00:00 1970\nSubject: foreign\n\nhi\n\n";
        let (_crashed, after, results, _d) =
            crash_and_recover(Fault::CrashAfterAppend(1500), Some(foreign));
        // The first two messages (about 1150 bytes) are complete; the partial third is
        // followed by foreign mail, so it cannot be proven ours and stays (a garbage fragment,
        // but no loss).
        assert_eq!(
            results,
            [
                Recovered::Delivered,
                Recovered::Delivered,
                Recovered::Missing
            ]
        );
        assert!(after.windows(10).any(|w| w == b"Subject: 2"));
        assert!(after.ends_with(foreign));
        // With everything complete, foreign mail after it does not matter either.
        let (_c, after, results, _d) = crash_and_recover(Fault::CrashBeforeCommit, Some(foreign));
        assert_eq!(results, [Recovered::Delivered; 3]);
        assert!(after.ends_with(foreign));
        check_promise(&after, &results, 1);
    }

    /// The child side of [`kill9_never_loses_or_doubles`]: delivers batches forever, writing
    /// each location to a ledger file (fsynced) before delivering it, and `D location` after
    /// the batch is synced — as the engine does with the real ledger.
    #[test]
    #[ignore = "run by kill9_never_loses_or_doubles as a child process"]
    fn kill9_child() {
        let Some(dir) = std::env::var_os("MAILPULL_KILL9_DIR") else {
            return;
        };
        let dir = PathBuf::from(dir);
        let mut ledger = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("ledger"))
            .unwrap();
        let mut mbox = Mbox::open(&dir.join("inbox")).unwrap();
        let mut rng = fastrand::Rng::new();
        loop {
            let n = rng.usize(1..5);
            let locs: Vec<String> = (0..n).map(|_| mbox.reserve().unwrap()).collect();
            let text: String = locs.iter().map(|l| format!("R {l}\n")).collect();
            ledger.write_all(text.as_bytes()).unwrap();
            ledger.sync_data().unwrap();
            for loc in &locs {
                mbox.deliver(loc, &info(), &mut &kill9_body(loc)[..])
                    .unwrap();
            }
            mbox.sync().unwrap();
            let text: String = locs.iter().map(|l| format!("D {l}\n")).collect();
            ledger.write_all(text.as_bytes()).unwrap();
        }
    }

    /// A message naming its location, of a size derived from it (up to ~300 KB).
    fn kill9_body(loc: &str) -> Vec<u8> {
        let n: usize = loc.bytes().map(|b| b as usize).sum::<usize>() * 7919 % 300_000;
        let mut body =
            format!("Return-Path: <k@x>\nSubject: {loc}\n\nFrom the start\n").into_bytes();
        body.extend(std::iter::repeat_n(b'k', n));
        body.push(b'\n');
        body
    }

    #[test]
    fn kill9_never_loses_or_doubles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        let mut rng = fastrand::Rng::new();
        // Location → whether it is in the mbox (delivered) or not (missing).
        let mut resolved: HashMap<String, bool> = HashMap::new();
        // Recovered missing, recovered delivered, partial leftovers removed.
        let mut stats = [0usize; 3];
        for round in 0..12 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "deliver::mbox::recover::tests::kill9_child",
                    "--ignored",
                ])
                .env("MAILPULL_KILL9_DIR", dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.u64(30..250)));
            child.kill().unwrap();
            child.wait().unwrap();
            // Recover what the ledger left "fetching", as the engine does.
            let ledger = fs::read_to_string(dir.path().join("ledger")).unwrap_or_default();
            let mut pending: Vec<String> = Vec::new();
            for line in ledger.lines() {
                match line.split_once(' ') {
                    Some(("R", l)) if !resolved.contains_key(l) => pending.push(l.to_string()),
                    Some(("D", l)) => {
                        pending.retain(|p| p != l);
                        resolved.insert(l.to_string(), true);
                    }
                    _ => {}
                }
            }
            let len_before = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let mut mbox = Mbox::open(&path).unwrap();
            for loc in pending {
                let r = mbox.recover(&loc).unwrap();
                stats[usize::from(r == Recovered::Delivered)] += 1;
                resolved.insert(loc, r == Recovered::Delivered);
            }
            if fs::metadata(&path).unwrap().len() < len_before {
                stats[2] += 1;
            }
            drop(mbox);
            // Every message is there exactly once, or not at all; nothing partial.
            let data = fs::read(&path).unwrap();
            let parsed = parse_mboxrd(&data);
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (sender, msg) in &parsed {
                assert_eq!(sender, "k@x");
                let subject = String::from_utf8_lossy(&msg[..msg.len().min(200)])
                    .lines()
                    .nth(1)
                    .and_then(|l| l.strip_prefix("Subject: "))
                    .unwrap()
                    .to_string();
                assert!(
                    *msg == kill9_body(&subject),
                    "round {round}: {subject} damaged ({} bytes)",
                    msg.len()
                );
                *seen.entry(subject).or_default() += 1;
            }
            for (loc, &delivered) in &resolved {
                let count = seen.get(loc).copied().unwrap_or(0);
                assert_eq!(count, usize::from(delivered), "round {round}: {loc}");
            }
            assert!(
                seen.keys().all(|l| resolved.contains_key(l)),
                "round {round}"
            );
        }
        let delivered = resolved.values().filter(|&&d| d).count();
        assert!(delivered > 0, "the child never delivered anything");
        eprintln!(
            "kill9: {delivered} delivered; at recovery {} missing, {} delivered; \
             {} partial leftovers removed",
            stats[0], stats[1], stats[2]
        );
    }

    #[test]
    fn committed_batches_survive_mailbox_rewrites() {
        let (_dir, mut mbox) = open_temp();
        let loc = deliver(&mut mbox, b"Subject: x\n\n");
        mbox.sync().unwrap();
        // The user deletes everything with their mail reader before the ledger was updated.
        fs::write(mbox.path(), b"").unwrap();
        let mut fresh = Mbox::open(mbox.path()).unwrap();
        assert_eq!(fresh.recover(&loc).unwrap(), Recovered::Delivered);
        let unknown = format!("{}Q99", fresh.token);
        assert_eq!(fresh.recover(&unknown).unwrap(), Recovered::Missing);
    }

    #[test]
    fn orphan_staging_files_are_cleaned_up() {
        let (_dir, mbox) = open_temp();
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let empty_dead = mbox.stage_path(&format!("1P{dead}N1"));
        let full_dead = mbox.stage_path(&format!("1P{dead}N2"));
        let empty_live = mbox.stage_path(&format!("1P{}N3", std::process::id()));
        fs::write(&empty_dead, b"").unwrap();
        fs::write(&full_dead, b"needed by recovery").unwrap();
        fs::write(&empty_live, b"").unwrap();
        let name = empty_dead
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(".inbox.mailpull-stage."), "{name}");
        Mbox::open(mbox.path()).unwrap();
        assert!(!empty_dead.exists());
        assert!(full_dead.exists());
        assert!(empty_live.exists());
        // Recovery of a committed batch of a dead run removes its staging file.
        let (dir2, mut other) = open_temp();
        let loc = deliver(&mut other, b"Subject: x\n\n");
        other.sync().unwrap();
        let token = other.token.clone();
        let path = other.path().to_path_buf();
        std::mem::forget(other);
        // Pretend it was another process: rename its journal entries to a dead pid.
        let dead_token = format!("1P{dead}N9");
        let journal = hidden_sibling(&path, ".mailpull-journal");
        let text = fs::read_to_string(&journal)
            .unwrap()
            .replace(&token, &dead_token);
        fs::write(&journal, text).unwrap();
        let stage = hidden_sibling(&path, &format!(".mailpull-stage.{dead_token}"));
        fs::write(&stage, b"leftover").unwrap();
        let dead_loc = loc.replace(&token, &dead_token);
        let mut fresh = Mbox::open(&path).unwrap();
        assert_eq!(fresh.recover(&dead_loc).unwrap(), Recovered::Delivered);
        assert!(!stage.exists());
        drop(dir2);
    }
}
