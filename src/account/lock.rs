//! The per-mailbox lock: one run at a time per mailbox identity (protocol, host, user — not the
//! port or TLS mode), across processes (`flock` on a file beside the ledger) and across the
//! accounts of one run (two folders of one IMAP user take turns). Holding an [`AccountLock`] is
//! what allows a login (see the module doc of [`crate::account`]).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::engine::EngineError;
use crate::ledger::AccountKey;

/// The lock file of a mailbox: beside the ledger, so that every run sharing a ledger excludes
/// the others for the same mailbox. It is named after the mailbox's identity (protocol, host,
/// user: see `ledger::AccountKey`), not the port or TLS mode, so that a `pop3s://` run and a
/// `pop3://` run of one mailbox wait for each other.
pub fn lock_path(ledger: &Path, key: &AccountKey) -> PathBuf {
    let dir = ledger
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("locks");
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let digest = Sha256::digest(format!("{}\0{}\0{}", key.protocol, key.host, key.user));
    dir.join(format!(
        "{}-{}@{}-{}.lock",
        key.protocol,
        clean(&key.user),
        clean(&key.host),
        &hex::encode(digest)[..8]
    ))
}

/// The lock files this process holds, so that two accounts of one run that read the same
/// mailbox (different IMAP folders of one user) take turns instead of failing after
/// `--lock-wait` as if another mailpull held it.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static RELEASED: std::sync::Condvar = std::sync::Condvar::new();

/// A mailbox's lock: the locked file, and this process's claim on it. Dropping it releases both.
pub struct AccountLock {
    file: File,
    path: PathBuf,
}

impl Drop for AccountLock {
    fn drop(&mut self) {
        // Unlock before another thread of this run may try: the file closes only after this.
        let _ = self.file.unlock();
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|p| p != &self.path);
        RELEASED.notify_all();
    }
}

/// Takes the mailbox's lock, waiting up to `wait` for another run to finish (and, without a
/// limit, for another account of this run that reads the same mailbox).
pub fn lock_account(
    ledger: &Path,
    key: &AccountKey,
    wait: Duration,
) -> anyhow::Result<AccountLock> {
    let path = lock_path(ledger, key);
    {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains(&path) {
            log::info!("waiting for the other account of this run that reads {key}");
        }
        while held.contains(&path) {
            held = RELEASED.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.push(path.clone());
    }
    let release = |e: anyhow::Error| {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|p| p != &path);
        RELEASED.notify_all();
        e
    };
    let file = lock_file(&path, key, wait).map_err(release)?;
    Ok(AccountLock { file, path })
}

/// Opens and `flock`s the lock file, waiting up to `wait` for another process.
fn lock_file(path: &Path, key: &AccountKey, wait: Duration) -> anyhow::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the lock directory {}", dir.display()))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    return Err(EngineError::Busy(format!(
                        "another mailpull is fetching {}@{} (lock {}); gave up after {} s — \
                         try again later",
                        key.user,
                        key.host,
                        path.display(),
                        wait.as_secs()
                    ))
                    .into());
                }
                if !announced {
                    log::info!(
                        "waiting for another mailpull fetching {}@{}",
                        key.user,
                        key.host
                    );
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::Error(e)) => {
                return Err(anyhow::Error::new(e).context(format!("cannot lock {}", path.display())))
            }
        }
    }
}
