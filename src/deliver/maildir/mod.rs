//! Maildir delivery (<https://cr.yp.to/proto/maildir.html>).
//!
//! [`Deliver::deliver`] writes a message completely to `tmp/NAME`. [`Deliver::sync`] then makes
//! the whole batch durable and visible: it fsyncs every written file, renames each to
//! `new/NAME`, and fsyncs `new/`. Only a complete, fsynced file is ever renamed into `new/`, so
//! a file in `new/` is always a whole message. Batching matters: on ext4 the fsync of each new
//! file forces a journal commit, and creating the next file waits for it; one batch pays for
//! one commit instead of one per message.
//!
//! The batch is made durable by one `syncfs(2)` where the kernel and the file system allow it,
//! by one fsync per file elsewhere (`durable.rs`). [`Deliver::sync_start`] does the same on a
//! background thread while the next batch is written; the batch counts as delivered only once
//! [`Deliver::sync_finished`] says so.
//!
//! Locations are the bare unique NAME; after a crash a NAME counts as delivered if `new/NAME`
//! or `cur/NAME[:2,flags]` exists (the user's mail reader may have moved it), and a leftover
//! `tmp/NAME` is removed. Written-but-unsynced files are removed when the `Maildir` is dropped.
//!
//! Names have the classic form `<secs>.M<usecs>P<pid>Q<counter>.<hostname>`, where the counter
//! is per process and `/` and `:` in the host name are written `\057` and `\072`. Files are
//! created with mode 0600 and directories this module creates with mode 0700. A message is
//! streamed through a 64 KiB buffer, so memory does not grow with its size.

mod durable;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Deliver, DeliverError, MessageInfo, Recovered, BUFFER_SIZE};
use crate::fs::{context, copy, create_private_dir, private_file, sync_dir, CopyError};

/// Per-process counter making names unique within one microsecond.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A Maildir on the local file system.
pub struct Maildir {
    root: PathBuf,
    /// The sanitized host name used in new names.
    hostname: String,
    /// Messages written to `tmp/` and not yet moved into `new/`.
    staged: Vec<Staged>,
    /// The batch being made durable in the background ([`Deliver::sync_start`]).
    syncing: Option<durable::Syncing>,
    pid: u32,
}

/// A message written to `tmp/`, waiting for [`Deliver::sync`].
pub(super) struct Staged {
    location: String,
    file: File,
}

impl Maildir {
    /// Opens the Maildir at `root`, creating `root`, `cur`, `new` and `tmp` (mode 0700) if missing.
    pub fn open(root: &Path) -> Result<Maildir, DeliverError> {
        let maildir = Maildir {
            root: root.to_path_buf(),
            hostname: sanitize_hostname(&hostname::get().unwrap_or_default()),
            staged: Vec::new(),
            syncing: None,
            pid: std::process::id(),
        };
        let mut created = false;
        if !root.is_dir() {
            created |= create_private_dir(root, true).map_err(|e| maildir.local(e))?;
            // Said once (the next run finds it), so that a typo in the path shows.
            log::warn!("creating Maildir {}", root.display());
        }
        for sub in ["cur", "new", "tmp"] {
            let dir = root.join(sub);
            if !dir.is_dir() {
                created |= create_private_dir(&dir, false).map_err(|e| maildir.local(e))?;
            }
        }
        if created {
            // Make the new directory entries durable before messages are delivered into them.
            sync_dir(root).map_err(|e| maildir.local(e))?;
        }
        Ok(maildir)
    }

    /// The Maildir's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn local(&self, source: io::Error) -> DeliverError {
        DeliverError::Local {
            target: self.describe(),
            source,
        }
    }

    /// A fresh name. The time, pid and per-process counter make it unique; creating the file
    /// with `O_EXCL` and refusing to overwrite in `new/` guard against the impossible anyway.
    fn fresh_name(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            self.pid,
            COUNTER.fetch_add(1, Ordering::Relaxed),
            self.hostname
        )
    }

    /// Writes `body` to `tmp/location`, returning the open file. The caller removes the
    /// temporary file on error.
    fn write_tmp(&self, tmp: &Path, body: &mut dyn Read) -> Result<(File, u64), CopyError> {
        let file = private_file()
            .write(true)
            .open(tmp)
            .map_err(|e| CopyError::Write(context(e, "cannot create", tmp)))?;
        let mut out = io::BufWriter::with_capacity(BUFFER_SIZE, file);
        let mut written = 0;
        copy(body, &mut out, &mut written).map_err(|f| match f {
            CopyError::Write(e) => CopyError::Write(context(e, "cannot write", tmp)),
            read => read,
        })?;
        let file = out
            .into_inner()
            .map_err(|e| CopyError::Write(context(e.into_error(), "cannot write", tmp)))?;
        Ok((file, written))
    }
}

impl Drop for Maildir {
    fn drop(&mut self) {
        // A batch in flight ends either in new/ (found by recovery) or removed.
        if let Some(job) = self.syncing.take() {
            let _ = job.wait();
        }
        // Never leave a message in tmp/ that the ledger does not know to be delivered.
        for s in self.staged.drain(..) {
            let _ = fs::remove_file(self.root.join("tmp").join(&s.location));
        }
    }
}

/// The host name as it may appear in a Maildir name.
fn sanitize_hostname(raw: &OsStr) -> String {
    let raw = raw.to_string_lossy();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push_str("localhost");
    }
    out
}

/// Refuses locations that are not a plain Maildir name (they come from the ledger, which a
/// damaged or edited file could fill with anything).
fn check_location(location: &str) -> io::Result<()> {
    let bad = location.is_empty()
        || location == "."
        || location == ".."
        || location.contains(['/', ':', '\0']);
    if bad {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid Maildir location {location:?}"),
        ))
    } else {
        Ok(())
    }
}

fn exists(path: &Path) -> io::Result<bool> {
    match path.symlink_metadata() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(context(e, "cannot examine", path)),
    }
}

impl Deliver for Maildir {
    fn reserve(&mut self) -> io::Result<String> {
        Ok(self.fresh_name())
    }

    fn deliver(
        &mut self,
        location: &str,
        info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError> {
        check_location(location).map_err(|e| self.local(e))?;
        let tmp = self.root.join("tmp").join(location);
        match self.write_tmp(&tmp, body) {
            Ok((file, written)) => {
                self.staged.push(Staged {
                    location: location.to_string(),
                    file,
                });
                Ok(written)
            }
            Err(failure) => {
                // Best effort: never leave a partial message behind. Reserved names are
                // unique, so whatever sits at tmp/<location> is a leftover of this location.
                let _ = fs::remove_file(&tmp);
                Err(match failure {
                    CopyError::Read(e) => DeliverError::Body(e),
                    CopyError::Write(e) => {
                        let e = if info.uid.is_empty() {
                            e
                        } else {
                            io::Error::new(e.kind(), format!("message {}: {e}", info.uid))
                        };
                        self.local(e)
                    }
                })
            }
        }
    }

    fn sync(&mut self) -> Result<(), DeliverError> {
        self.sync_finished(true)?;
        let staged = std::mem::take(&mut self.staged);
        durable::commit(&self.root, staged).map_err(|e| self.local(e))
    }

    fn sync_start(&mut self) -> Result<(), DeliverError> {
        self.sync_finished(true)?;
        if self.staged.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(&mut self.staged);
        self.syncing = Some(durable::start(self.root.clone(), staged).map_err(|e| self.local(e))?);
        Ok(())
    }

    fn sync_finished(&mut self, wait: bool) -> Result<bool, DeliverError> {
        match self.syncing.take() {
            None => Ok(true),
            Some(job) if !wait && !job.finished() => {
                self.syncing = Some(job);
                Ok(false)
            }
            Some(job) => job.wait().map(|()| true).map_err(|e| self.local(e)),
        }
    }

    fn recover(&mut self, location: &str) -> Result<Recovered, DeliverError> {
        check_location(location).map_err(|e| self.local(e))?;
        let tmp = self.root.join("tmp").join(location);
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.local(context(e, "cannot remove", &tmp))),
        }

        let new_dir = self.root.join("new");
        let cur_dir = self.root.join("cur");
        let found_in = if exists(&new_dir.join(location)).map_err(|e| self.local(e))? {
            Some(new_dir)
        } else if exists(&cur_dir.join(format!("{location}:2,"))).map_err(|e| self.local(e))?
            || exists(&cur_dir.join(location)).map_err(|e| self.local(e))?
            || in_cur(&cur_dir, location).map_err(|e| self.local(e))?
        {
            Some(cur_dir)
        } else {
            None
        };
        match found_in {
            Some(dir) => {
                // The rename may not have reached the disk before the crash: make it durable
                // before the ledger records the message as delivered.
                sync_dir(&dir).map_err(|e| self.local(e))?;
                Ok(Recovered::Delivered)
            }
            None => Ok(Recovered::Missing),
        }
    }

    fn describe(&self) -> String {
        format!("Maildir {}", self.root.display())
    }
}

/// Whether `cur/` holds `location` or `location:<info>`.
fn in_cur(cur: &Path, location: &str) -> io::Result<bool> {
    let entries = fs::read_dir(cur).map_err(|e| context(e, "cannot list", cur))?;
    for entry in entries {
        let entry = entry.map_err(|e| context(e, "cannot list", cur))?;
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if let Some(rest) = name.strip_prefix(location.as_bytes()) {
            if rest.is_empty() || rest[0] == b':' {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
