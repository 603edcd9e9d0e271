//! The mbox's locks: the dotlock `PATH.lock` (created with `O_EXCL`) and an fcntl write lock
//! on the mbox itself, so that mutt, procmail and Dovecot, which use both, are excluded. They
//! are held only while one batch is appended (steps 1 and 6 in the module documentation of
//! [`super`]).
//!
//! A dotlock older than five minutes, or naming a process of this host that no longer exists,
//! is stale and removed. If the fcntl lock is busy, the dotlock is released before retrying, so
//! a program taking the two locks in the other order cannot deadlock with us. Both are retried
//! with backoff until a timeout (one minute by default), then a clear error is returned. Flock
//! is not taken (on Linux it is independent of fcntl locks; the MTAs and readers that matter
//! take a dotlock or fcntl lock); dotlocks are created with `O_EXCL`, which is safe on local
//! file systems and NFSv3+.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{fcntl_lock, FlockOperation};
use rustix::io::Errno;
use rustix::process::{test_kill_process, Pid};

use super::Mbox;
use crate::fs::{context, open_or_create, private_file};

/// How long [`Mbox`] waits for the locks by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// A dotlock older than this is stale.
const LOCK_STALE_AFTER: Duration = Duration::from_secs(300);

/// A held dotlock; removed on drop.
struct Dotlock {
    path: PathBuf,
}

impl Drop for Dotlock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Both locks, and the mbox opened under them (closing it releases the fcntl lock).
pub(super) struct Locked {
    pub(super) file: File,
    /// Whether the mbox was created under this lock.
    pub(super) created: bool,
    // Dropped after `file`: the fcntl lock goes first, then the dotlock.
    _dotlock: Dotlock,
}

/// Tries to take an fcntl write lock on the whole file. `Ok(false)` if another process holds
/// a conflicting lock.
fn try_fcntl_lock(file: &File) -> io::Result<bool> {
    loop {
        // fcntl(F_SETLK) with F_WRLCK from offset 0 to the end of the file, however it grows:
        // a POSIX record lock, the one mutt, procmail and Dovecot take (not flock).
        match fcntl_lock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN | Errno::ACCESS) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether `pid` certainly names no process on this host.
pub(super) fn process_is_gone(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // kill(pid, 0): sends nothing, only checks whether the process exists.
    test_kill_process(pid) == Err(Errno::SRCH)
}

impl Mbox {
    /// Takes the dotlock and the fcntl lock, waiting with backoff up to the timeout.
    pub(super) fn lock(&self) -> io::Result<Locked> {
        let deadline = crate::time::later(Instant::now(), self.lock_timeout);
        let mut backoff = Duration::from_millis(5);
        loop {
            let why = match self.try_dotlock()? {
                None => format!("{} is held by another program", self.lock_path.display()),
                Some(dotlock) => {
                    let (file, created) = self.open_for_append()?;
                    if try_fcntl_lock(&file)
                        .map_err(|e| context(e, "cannot lock (fcntl)", &self.path))?
                    {
                        // The file may have been replaced (renamed over) while we waited.
                        let same = match fs::metadata(&self.path) {
                            Ok(m) => {
                                let f = file.metadata()?;
                                m.dev() == f.dev() && m.ino() == f.ino()
                            }
                            Err(_) => false,
                        };
                        if same {
                            return Ok(Locked {
                                file,
                                created,
                                _dotlock: dotlock,
                            });
                        }
                        continue;
                    }
                    // Release the dotlock while waiting, so that a program taking the locks
                    // in the other order is not deadlocked.
                    drop(file);
                    drop(dotlock);
                    format!(
                        "{} is locked (fcntl) by another program",
                        self.path.display()
                    )
                }
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "gave up waiting for the lock after {} s: {why}",
                        self.lock_timeout.as_secs_f64()
                    ),
                ));
            }
            std::thread::sleep(backoff.min(deadline - now));
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Opens the mbox for reading and appending, creating it if it vanished meanwhile; tells
    /// whether it was created.
    fn open_for_append(&self) -> io::Result<(File, bool)> {
        open_or_create(&self.path, private_file().read(true).append(true))
    }

    /// Creates the dotlock; `None` if another holds it (a stale one is removed first).
    fn try_dotlock(&self) -> io::Result<Option<Dotlock>> {
        for _ in 0..2 {
            match private_file().write(true).open(&self.lock_path) {
                Ok(mut f) => {
                    let lock = Dotlock {
                        path: self.lock_path.clone(),
                    };
                    // Dovecot's format; the content is informational.
                    let _ = writeln!(f, "{}:{}", std::process::id(), self.hostname);
                    return Ok(Some(lock));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !self.remove_stale_dotlock()? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(context(e, "cannot create lock file", &self.lock_path)),
            }
        }
        Ok(None)
    }

    /// Removes the dotlock if it is stale: older than [`LOCK_STALE_AFTER`], or naming a
    /// process of this host that does not exist. Returns whether it was removed.
    fn remove_stale_dotlock(&self) -> io::Result<bool> {
        let meta = match fs::symlink_metadata(&self.lock_path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(context(e, "cannot examine", &self.lock_path)),
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        let mut stale = age > LOCK_STALE_AFTER;
        if !stale && meta.len() < 256 {
            let content = fs::read_to_string(&self.lock_path).unwrap_or_default();
            if let Some((pid, host)) = content.trim_end().split_once(':') {
                if host == self.hostname && !self.hostname.is_empty() {
                    if let Ok(pid) = pid.parse::<u32>() {
                        stale = process_is_gone(pid);
                    }
                }
            }
        }
        if !stale {
            return Ok(false);
        }
        // Remove it only if it is still the file we judged (narrowing the race with another
        // process that removed it and took a fresh lock meanwhile).
        match fs::symlink_metadata(&self.lock_path) {
            Ok(now) if now.ino() == meta.ino() && now.mtime() == meta.mtime() => {
                log::warn!("removing stale lock file {}", self.lock_path.display());
                match fs::remove_file(&self.lock_path) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                    Err(e) => Err(context(e, "cannot remove stale lock file", &self.lock_path)),
                }
            }
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(context(e, "cannot examine", &self.lock_path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{deliver, open_temp, python3};
    use super::*;
    use crate::deliver::mbox::format::parse_mboxrd;
    use crate::deliver::{Deliver, DeliverError, Recovered};
    use std::process::Command;

    #[test]
    fn sync_waits_for_a_dotlock() {
        let (_dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: x\n\n");
        let lock = mbox.lock_path.clone();
        fs::write(&lock, b"").unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            fs::remove_file(&lock).unwrap();
        });
        let start = Instant::now();
        mbox.sync().unwrap();
        let waited = start.elapsed();
        holder.join().unwrap();
        assert!(waited >= Duration::from_millis(290), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 1);
        assert!(!mbox.lock_path.exists());
    }

    #[test]
    fn lock_timeout_is_a_clear_error() {
        let (_dir, mbox) = open_temp();
        let mut mbox = mbox.with_lock_timeout(Duration::from_millis(200));
        let loc = deliver(&mut mbox, b"Subject: x\n\n");
        fs::write(&mbox.lock_path, b"").unwrap();
        let err = mbox.sync().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("lock") && text.contains("inbox.lock"),
            "{text}"
        );
        match &err {
            DeliverError::Local { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::TimedOut)
            }
            other => panic!("{other:?}"),
        }
        // The lock file is not ours: it stays. Nothing was written.
        assert!(mbox.lock_path.exists());
        assert_eq!(fs::metadata(mbox.path()).unwrap().len(), 0);
        fs::remove_file(&mbox.lock_path).unwrap();
        assert_eq!(mbox.recover(&loc).unwrap(), Recovered::Missing);
    }

    #[test]
    fn stale_dotlocks_are_removed() {
        let (_dir, mbox) = open_temp();
        // No waiting at all: the first attempt must find the dotlock stale, remove it and take
        // the locks (a wait of any length would time out at once). Not a timed assertion, so
        // a loaded machine cannot make it fail.
        let mut mbox = mbox.with_lock_timeout(Duration::ZERO);
        // Old.
        deliver(&mut mbox, b"Subject: 1\n\n");
        fs::write(&mbox.lock_path, b"").unwrap();
        let old = SystemTime::now() - Duration::from_secs(600);
        File::options()
            .write(true)
            .open(&mbox.lock_path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        mbox.sync().unwrap();
        // Naming a dead process of this host.
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        deliver(&mut mbox, b"Subject: 2\n\n");
        fs::write(&mbox.lock_path, format!("{dead}:{}\n", mbox.hostname)).unwrap();
        mbox.sync().unwrap();
        // Naming a live process (ours): honoured.
        deliver(&mut mbox, b"Subject: 3\n\n");
        fs::write(
            &mbox.lock_path,
            format!("{}:{}\n", std::process::id(), mbox.hostname),
        )
        .unwrap();
        let mut mbox = mbox.with_lock_timeout(Duration::from_millis(100));
        assert!(mbox.sync().is_err());
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 2);
    }

    #[test]
    fn sync_waits_for_an_fcntl_lock() {
        if !python3() {
            eprintln!("python3 not available; skipped");
            return;
        }
        let (dir, mut mbox) = open_temp();
        deliver(&mut mbox, b"Subject: x\n\n");
        let ready = dir.path().join("ready");
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(
                "import fcntl, sys, time\n\
                 f = open(sys.argv[1], 'a')\n\
                 fcntl.lockf(f, fcntl.LOCK_EX)\n\
                 open(sys.argv[2], 'w').close()\n\
                 time.sleep(0.5)\n",
            )
            .arg(mbox.path())
            .arg(&ready)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "python did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        let start = Instant::now();
        mbox.sync().unwrap();
        let waited = start.elapsed();
        child.wait().unwrap();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert_eq!(parse_mboxrd(&fs::read(mbox.path()).unwrap()).len(), 1);
    }

    #[test]
    fn concurrent_writers_do_not_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox");
        Mbox::open(&path).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut mbox = Mbox::open(&path).unwrap();
                    for i in 0..20 {
                        let body = format!("Subject: {t}-{i}\n\n{}\n", "From x\n".repeat(500));
                        deliver(&mut mbox, body.as_bytes());
                        if i % 3 == 0 {
                            mbox.sync().unwrap();
                        }
                    }
                    mbox.sync().unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let parsed = parse_mboxrd(&fs::read(&path).unwrap());
        assert_eq!(parsed.len(), 80);
        for (_, m) in &parsed {
            assert!(m.ends_with(format!("{}\n", "From x\n".repeat(500)).as_bytes()));
        }
    }
}
