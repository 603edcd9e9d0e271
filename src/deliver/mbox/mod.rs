//! mbox delivery, in the mboxrd flavour (appending to one file shared with mail readers and
//! other delivery agents).
//!
//! # Format
//!
//! Each message is preceded by `From SENDER DATE\n`, where SENDER is the envelope sender taken
//! from the message's `Return-Path:` header (angle brackets stripped; `MAILER-DAEMON` when the
//! header is absent or `<>`) and DATE is the delivery time in UTC in `asctime` form
//! (`Mon Jan  1 00:00:00 2024`). Every line matching `^>*From ` gets one more `>` (mboxrd
//! quoting, which a reader reverses exactly). The message ends with its own final newline (one
//! is added if it has none) followed by one empty line. Only the header block, at most 64 KiB,
//! is buffered to find `Return-Path:`; the rest is streamed and quoted by a small state machine
//! that carries at most five bytes across buffer boundaries. The same encoder (`write_mboxrd`)
//! serves the stdout target.
//!
//! # Delivery, durability and locking
//!
//! [`Deliver::deliver`] does not touch the mbox: it encodes the message into a private
//! *staging file* next to it (`.NAME.mailpull-stage.TOKEN` for an mbox named NAME, mode 0600),
//! remembering the message's offset, length and SHA-256 there. [`Deliver::sync`] then appends
//! the whole batch:
//!
//! 1. take the dotlock `PATH.lock` (created with `O_EXCL`) and then an fcntl write lock on the
//!    freshly opened mbox (so mutt, procmail and Dovecot, which use both, are excluded);
//! 2. note the mbox length `START` (and whether a `\n` must be added because the file does not
//!    end with one);
//! 3. append an *intent* to the journal `.NAME.mailpull-journal` — one `B` line for the batch
//!    and one `M` line per message: its location, absolute offset, length and SHA-256 — and
//!    fsync the journal;
//! 4. append the staged bytes to the mbox and fsync it (on any error the mbox is truncated
//!    back to `START` and fsynced, so it never keeps a partial message);
//! 5. append a `C` (commit) line to the journal and fsync it;
//! 6. release both locks.
//!
//! The locks are therefore held only while one batch is copied and fsynced — never while a
//! message is being downloaded, so a slow server does not keep a mail reader waiting. A dotlock
//! older than five minutes, or naming a process of this host that no longer exists, is stale
//! and removed. If the fcntl lock is busy, the dotlock is released before retrying, so a program
//! taking the two locks in the other order cannot deadlock with us. Both are retried with
//! backoff until a timeout (one minute by default), then a clear error is returned.
//!
//! # Recovery: why a kill at any instant neither loses nor doubles a message
//!
//! Locations are `TOKENQn` (TOKEN is unique per [`Mbox`] value: time, pid and a counter).
//! [`Deliver::recover`] reads the journal:
//!
//! - The location has no `M` line: the batch never reached step 3, and nothing of it was
//!   written to the mbox (the mbox is written only after the intent is durable) → `Missing`.
//! - Its batch has a `C` line: the data was fsynced before the commit line was written →
//!   `Delivered`, whatever the user has done with the mailbox since.
//! - Its batch has no `C` line (killed during steps 3–5): under the locks, each message of the
//!   batch is looked up at its recorded offset; if the bytes there have the recorded length and
//!   SHA-256, the message is completely in the mbox → `Delivered` (after an fsync); otherwise →
//!   `Missing`. Bytes left after the last complete message are removed (truncated) only if they
//!   are, byte for byte, a prefix of what the staging file says we were writing; anything else
//!   (another program appended after the crash) is left alone with a warning, because removing
//!   another program's mail would be a loss.
//!
//! So a message is `Delivered` only if it is completely in the mbox, and when it is complete it
//! is found (it was either committed or is at its recorded offset), so it is not fetched twice.
//! The one residual case: killed during steps 4–5 *and* the mailbox rewritten by a mail reader
//! before the next run (so offsets moved): the message is fetched again (a duplicate, never a
//! loss).
//!
//! The journal is compacted when it grows beyond 1 MiB: batches older than 14 days are dropped,
//! and then the oldest batches until it is under 512 KiB (several thousand messages). A
//! committed batch is needed only if the process was killed between the commit and the
//! ledger's own commit, and the next run of that account recovers it first thing; it could be
//! compacted away only if that run comes after 14 days or after thousands of other deliveries
//! into the same mbox (the message would then be fetched again — a duplicate, never a loss).
//!
//! Staged but unsynced messages are discarded when the [`Mbox`] is dropped (they were never in
//! the mbox, and the ledger does not consider them delivered). The journal and staging files
//! start with a dot so that mail readers listing the directory as folders do not show them;
//! recovery removes the staging file of a resolved run, and [`Mbox::open`] removes empty ones
//! left by processes that no longer exist. Files are created with mode 0600,
//! a missing parent directory with mode 0700. Flock is not taken (on Linux it is independent of
//! fcntl locks; the MTAs and readers that matter take a dotlock or fcntl lock); dotlocks are
//! created with `O_EXCL`, which is safe on local file systems and NFSv3+.
//!
//! # Files
//!
//! This file holds the [`Mbox`] value and its [`Deliver`] implementation; `format.rs` the
//! mboxrd encoding (shared with the stdout target), `append.rs` staging messages and appending
//! a batch (steps 1–6), `lock.rs` the dotlock and the fcntl lock it takes, `journal.rs` the
//! journal's format, parsing and compaction, and `recover.rs` the recovery described above.

mod append;
pub(super) mod format;
mod journal;
mod lock;
mod recover;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(test)]
use append::Fault;
use append::{Stage, Staged};
use journal::{check_location, token_pid, valid_token, Journal, JOURNAL_COMPACT_AT};
use lock::process_is_gone;

use super::{Deliver, DeliverError, MessageInfo, Recovered};
use crate::fs::{context, create_private_dir, parent_dir, private_file, sync_dir, CopyError};
pub use journal::reparse_journal;
pub use lock::DEFAULT_LOCK_TIMEOUT;

/// Per-process counter making tokens unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `.NAME` + `suffix` next to `path` (whose file name is NAME).
fn hidden_sibling(path: &Path, suffix: &str) -> PathBuf {
    match path.file_name() {
        Some(name) => {
            let mut s = OsString::from(".");
            s.push(name);
            s.push(suffix);
            parent_dir(path).join(s)
        }
        None => with_suffix(path, suffix),
    }
}

/// An mbox file (mboxrd) on the local file system.
pub struct Mbox {
    path: PathBuf,
    lock_path: PathBuf,
    journal_path: PathBuf,
    /// Unique per value: `<secs>P<pid>N<counter>`.
    token: String,
    next_location: u64,
    next_batch: u64,
    stage: Option<Stage>,
    staged: Vec<Staged>,
    lock_timeout: Duration,
    /// The host name written into dotlocks (`pid:host`).
    hostname: String,
    /// The journal, read once for recovery.
    journal: Option<Journal>,
    /// Locations of uncommitted batches already resolved by recovery.
    resolved: HashMap<String, Recovered>,
    /// A failed sync could not take its partial data back out of the mbox: the staging file
    /// must stay for recovery, and no more messages are accepted.
    poisoned: bool,
    journal_compact_at: u64,
    #[cfg(test)]
    fault: Option<Fault>,
}

impl Mbox {
    /// Opens the mbox at `path`, creating it (mode 0600) and its parent directory (mode 0700)
    /// if missing.
    pub fn open(path: &Path) -> Result<Mbox, DeliverError> {
        let hostname = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mbox = Mbox {
            path: path.to_path_buf(),
            lock_path: with_suffix(path, ".lock"),
            journal_path: hidden_sibling(path, ".mailpull-journal"),
            token: format!(
                "{}P{}N{}",
                crate::time::unix_now(),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            next_location: 0,
            next_batch: 0,
            stage: None,
            staged: Vec::new(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            hostname: hostname.replace([':', '\n', ' '], "_"),
            journal: None,
            resolved: HashMap::new(),
            poisoned: false,
            journal_compact_at: JOURNAL_COMPACT_AT,
            #[cfg(test)]
            fault: None,
        };
        mbox.create().map_err(|e| mbox.local(e))?;
        mbox.remove_orphan_stages();
        Ok(mbox)
    }

    /// How long to wait for the locks before giving up (default [`DEFAULT_LOCK_TIMEOUT`]).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Mbox {
        self.lock_timeout = timeout;
        self
    }

    /// The mbox file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn create(&self) -> io::Result<()> {
        let dir = parent_dir(&self.path);
        let created_dir = !dir.is_dir() && create_private_dir(dir, true)?;
        let created = match private_file().append(true).open(&self.path) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(context(e, "cannot create", &self.path)),
        };
        let meta =
            fs::metadata(&self.path).map_err(|e| context(e, "cannot examine", &self.path))?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", self.path.display()),
            ));
        }
        if created || created_dir {
            sync_dir(dir)?;
            if created_dir {
                if let Some(up) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    let _ = sync_dir(up);
                }
            }
        }
        Ok(())
    }

    fn local(&self, source: io::Error) -> DeliverError {
        DeliverError::Local {
            target: self.describe(),
            source,
        }
    }

    fn stage_path(&self, token: &str) -> PathBuf {
        hidden_sibling(&self.path, &format!(".mailpull-stage.{token}"))
    }

    /// Best effort: removes empty staging files of processes that no longer exist (left by a
    /// kill after their last batch; a non-empty one may still be needed by recovery).
    fn remove_orphan_stages(&self) {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let prefix = format!(".{name}.mailpull-stage.");
        let Ok(entries) = fs::read_dir(parent_dir(&self.path)) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(token) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let Some(pid) = token_pid(token).filter(|_| valid_token(token)) else {
                continue;
            };
            let empty = entry.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
            if empty && pid != std::process::id() && process_is_gone(pid) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

impl Drop for Mbox {
    fn drop(&mut self) {
        // Staged messages were never in the mbox; the ledger does not count them.
        if let Some(stage) = self.stage.take() {
            if !self.poisoned {
                let _ = fs::remove_file(&stage.path);
            }
        }
    }
}

impl Deliver for Mbox {
    fn reserve(&mut self) -> io::Result<String> {
        let location = format!("{}Q{}", self.token, self.next_location);
        self.next_location += 1;
        Ok(location)
    }

    /// Encodes the message into the staging file; the mbox itself is written by
    /// [`Deliver::sync`]. Returns the size of the message (not of its mbox encoding).
    fn deliver(
        &mut self,
        location: &str,
        info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError> {
        check_location(location).map_err(|e| self.local(e))?;
        if self.poisoned {
            return Err(self.local(io::Error::other(
                "an earlier failure left a partial batch in the mbox; run again to recover it",
            )));
        }
        match self.stage(location, body) {
            Ok((staged, size)) => {
                self.staged.push(staged);
                Ok(size)
            }
            Err(CopyError::Read(e)) => Err(DeliverError::Body(e)),
            Err(CopyError::Write(e)) => {
                let e = if info.uid.is_empty() {
                    e
                } else {
                    io::Error::new(e.kind(), format!("message {}: {e}", info.uid))
                };
                Err(self.local(e))
            }
        }
    }

    fn sync(&mut self) -> Result<(), DeliverError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        self.journal = None;
        let result = self.append_batch();
        #[cfg(test)]
        if result.is_err()
            && matches!(
                self.fault,
                Some(Fault::CrashAfterIntent)
                    | Some(Fault::CrashAfterAppend(_))
                    | Some(Fault::CrashBeforeCommit)
            )
        {
            // A simulated kill: nothing is cleaned up (the caller forgets the value).
            return result.map_err(|e| self.local(e));
        }
        if self.poisoned {
            // Keep the staging file as it is, for recovery.
            self.staged.clear();
        } else {
            self.reset_stage();
        }
        result.map_err(|e| self.local(e))
    }

    /// Reads the journal, and for a batch that was never committed, the mbox itself
    /// (`recover.rs`).
    fn recover(&mut self, location: &str) -> Result<Recovered, DeliverError> {
        self.recover_location(location)
    }

    fn describe(&self) -> String {
        format!("mbox {}", self.path.display())
    }
}
