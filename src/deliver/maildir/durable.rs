//! Making a batch of messages written to `tmp/` durable before they are renamed into `new/`:
//! one `syncfs(2)` for the whole batch where that is known to suffice, an fsync of each file
//! otherwise.
//!
//! On Linux 5.8 and later a batch of several files is made durable with one `syncfs(2)` on the
//! Maildir's file system instead of one fsync per file: every fsync ends in a flush of the
//! disk's write cache, and a batch of 256 messages would pay 256 of them where one does. Since
//! 5.8, `syncfs` reports a write-back error of any file on the file system that happened after
//! the descriptor it is given was opened; it is given the batch's first file, so an error
//! writing any message of the batch fails the batch, as per-file fsyncs would. (Before 5.8 it
//! reported nothing, so older kernels keep the per-file fsyncs.) The cost is that `syncfs` also
//! writes out other programs' pending data on the same file system. It is used only on local
//! file systems whose `syncfs` is known to make data durable (ext4, XFS, Btrfs, tmpfs); on any
//! other (NFS, FUSE, …) every file is fsynced.
//!
//! [`commit`] is the whole of a batch's sync: durable files, renamed into `new/`, `new/`
//! synced. [`start`] runs it on a background thread (one per batch, at most one at a time),
//! so that the next batch downloads meanwhile; the engine records the batch, and releases its
//! deletions, only once [`Syncing::wait`] returned `Ok`.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::Staged;
use crate::fs::{context, sync_dir};

/// A batch being made durable and visible on a background thread.
pub(super) struct Syncing {
    handle: JoinHandle<io::Result<()>>,
}

impl Syncing {
    /// Whether the thread is done (its result waits for [`Syncing::wait`]).
    pub fn finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The batch's result, once the thread is done.
    pub fn wait(self) -> io::Result<()> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread syncing the batch panicked")))
    }
}

/// Runs [`commit`] for `staged` on a background thread.
pub(super) fn start(root: PathBuf, staged: Vec<Staged>) -> io::Result<Syncing> {
    let handle = std::thread::Builder::new()
        .name("maildir-sync".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            test_delay();
            commit(&root, staged)
        })?;
    Ok(Syncing { handle })
}

/// Test hook (debug builds only): `MAILPULL_TEST_SYNC_DELAY_MS=N` holds every background
/// sync back N ms before it starts, so that tests can show that nothing is recorded or deleted
/// before a batch is durable.
#[cfg(debug_assertions)]
fn test_delay() {
    if let Some(ms) = std::env::var("MAILPULL_TEST_SYNC_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(not(debug_assertions))]
fn test_delay() {}

/// Makes the staged files durable, moves them into `new/` and syncs `new/`. On error, the
/// staged files not yet moved are removed (the ledger still says `fetching` for them, so they
/// are fetched again); those already moved are complete and will be found by recovery.
pub(super) fn commit(root: &Path, staged: Vec<Staged>) -> io::Result<()> {
    let tmp_dir = root.join("tmp");
    let new_dir = root.join("new");
    let mut result = make_durable(&staged, &tmp_dir);
    let mut moved = 0;
    if result.is_ok() {
        for s in &staged {
            let tmp = tmp_dir.join(&s.location);
            let new = new_dir.join(&s.location);
            // rename() would silently replace an existing message; names are unique, but check.
            if new.symlink_metadata().is_ok() {
                result = Err(context(
                    io::Error::from(io::ErrorKind::AlreadyExists),
                    "refusing to overwrite",
                    &new,
                ));
                break;
            }
            if let Err(e) = fs::rename(&tmp, &new) {
                result = Err(context(
                    e,
                    &format!("cannot move {} to", tmp.display()),
                    &new,
                ));
                break;
            }
            moved += 1;
        }
    }
    for s in &staged[moved..] {
        let _ = fs::remove_file(tmp_dir.join(&s.location));
    }
    result?;
    sync_dir(&new_dir)
}

/// A batch of at least this many files is synced with one `syncfs` (see the module docs).
pub(super) const SYNCFS_MIN_FILES: usize = 4;

/// Makes the staged files (in `tmp`) durable, by one `syncfs` or one fsync each. An error
/// names the file, or the directory whose file system could not be synced.
pub(super) fn make_durable(staged: &[Staged], tmp: &Path) -> io::Result<()> {
    match staged.first() {
        Some(first)
            if staged.len() >= SYNCFS_MIN_FILES
                && syncfs_reports_errors()
                && syncfs_is_trusted(&first.file) =>
        {
            rustix::fs::syncfs(&first.file)
                .map_err(|e| context(e.into(), "cannot sync the file system of", tmp))
        }
        _ => {
            for s in staged {
                s.file
                    .sync_all()
                    .map_err(|e| context(e, "cannot fsync", &tmp.join(&s.location)))?;
            }
            Ok(())
        }
    }
}

/// Whether `syncfs(2)` reports write-back errors: Linux 5.8 or later.
pub(super) fn syncfs_reports_errors() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        let release = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        kernel_at_least(&release, (5, 8))
    })
}

/// Whether the file system holding `file` is one whose `syncfs` is known to make everything
/// on it durable (local, journalled or copy-on-write, or memory).
pub(super) fn syncfs_is_trusted(file: &File) -> bool {
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    const TMPFS: i64 = 0x0102_1994;
    let Ok(st) = rustix::fs::fstatfs(file) else {
        return false;
    };
    #[allow(clippy::unnecessary_cast)]
    let kind = st.f_type as i64;
    matches!(kind, EXT4 | XFS | BTRFS | TMPFS)
}

/// Whether a kernel release such as `6.1.0-18-amd64` is at least `want` (major, minor).
fn kernel_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= want,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert!(kernel_at_least("5.8.0", (5, 8)));
        assert!(kernel_at_least("6.18.44-fc-v595", (5, 8)));
        assert!(kernel_at_least("5.10.0-18-amd64", (5, 8)));
        assert!(!kernel_at_least("5.7.19", (5, 8)));
        assert!(!kernel_at_least("4.19.0-21-amd64", (5, 8)));
        assert!(!kernel_at_least("garbage", (5, 8)));
    }
}
