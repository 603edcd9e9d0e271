//! Maildir delivery (<https://cr.yp.to/proto/maildir.html>).
//!
//! [`Deliver::deliver`] writes a message completely to `tmp/NAME`. [`Deliver::sync`] then makes
//! the whole batch durable and visible: it fsyncs every written file, renames each to
//! `new/NAME`, and fsyncs `new/`. Only a complete, fsynced file is ever renamed into `new/`, so
//! a file in `new/` is always a whole message. Batching matters: on ext4 the fsync of each new
//! file forces a journal commit, and creating the next file waits for it; one batch pays for
//! one commit instead of one per message.
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
//! Locations are the bare unique NAME; after a crash a NAME counts as delivered if `new/NAME`
//! or `cur/NAME[:2,flags]` exists (the user's mail reader may have moved it), and a leftover
//! `tmp/NAME` is removed. Written-but-unsynced files are removed when the `Maildir` is dropped.
//!
//! Names have the classic form `<secs>.M<usecs>P<pid>Q<counter>.<hostname>`, where the counter
//! is per process and `/` and `:` in the host name are written `\057` and `\072`. Files are
//! created with mode 0600 and directories this module creates with mode 0700. A message is
//! streamed through a 64 KiB buffer, so memory does not grow with its size.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Deliver, DeliverError, MessageInfo, Recovered};

/// The size of the copy buffer.
const BUFFER_SIZE: usize = 64 * 1024;

/// Per-process counter making names unique within one microsecond.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A Maildir on the local file system.
pub struct Maildir {
    root: PathBuf,
    /// The sanitized host name used in new names.
    hostname: String,
    /// Messages written to `tmp/` and not yet moved into `new/`.
    staged: Vec<Staged>,
    pid: u32,
}

/// A message written to `tmp/`, waiting for [`Deliver::sync`].
struct Staged {
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
            pid: std::process::id(),
        };
        let mut created = false;
        if !root.is_dir() {
            created |= create_dir(root, true).map_err(|e| maildir.local(e))?;
        }
        for sub in ["cur", "new", "tmp"] {
            let dir = root.join(sub);
            if !dir.is_dir() {
                created |= create_dir(&dir, false).map_err(|e| maildir.local(e))?;
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
    fn write_tmp(&self, tmp: &Path, body: &mut dyn Read) -> Result<(File, u64), Failure> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .map_err(|e| Failure::Write(context(e, "cannot create", tmp)))?;
        let mut out = io::BufWriter::with_capacity(BUFFER_SIZE, file);
        let written = copy(body, &mut out).map_err(|f| match f {
            Failure::Write(e) => Failure::Write(context(e, "cannot write", tmp)),
            read => read,
        })?;
        let file = out
            .into_inner()
            .map_err(|e| Failure::Write(context(e.into_error(), "cannot write", tmp)))?;
        Ok((file, written))
    }

    /// fsyncs the staged files and moves them into `new/`. On error, the staged files not yet
    /// moved are removed (the ledger still says `fetching` for them, so they are fetched again);
    /// those already moved are complete and will be found by recovery.
    fn commit_staged(&mut self) -> io::Result<()> {
        let staged = std::mem::take(&mut self.staged);
        let mut result = Ok(());
        match staged.first() {
            Some(first)
                if staged.len() >= SYNCFS_MIN_FILES
                    && syncfs_reports_errors()
                    && syncfs_is_trusted(&first.file) =>
            {
                if let Err(e) = rustix::fs::syncfs(&first.file) {
                    result = Err(context(
                        e.into(),
                        "cannot sync the file system of",
                        &self.root.join("tmp"),
                    ));
                }
            }
            _ => {
                for s in &staged {
                    if let Err(e) = s.file.sync_all() {
                        result = Err(context(
                            e,
                            "cannot fsync",
                            &self.root.join("tmp").join(&s.location),
                        ));
                        break;
                    }
                }
            }
        }
        let mut moved = 0;
        if result.is_ok() {
            for s in &staged {
                let tmp = self.root.join("tmp").join(&s.location);
                let new = self.root.join("new").join(&s.location);
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
            let _ = fs::remove_file(self.root.join("tmp").join(&s.location));
        }
        result
    }
}

impl Drop for Maildir {
    fn drop(&mut self) {
        // Never leave a message in tmp/ that the ledger does not know to be delivered.
        for s in self.staged.drain(..) {
            let _ = fs::remove_file(self.root.join("tmp").join(&s.location));
        }
    }
}

/// Why a copy failed: reading the message or writing the file.
#[derive(Debug)]
enum Failure {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `body` to `out` through a 64 KiB buffer, telling read errors from write errors.
fn copy(body: &mut dyn Read, out: &mut dyn Write) -> Result<u64, Failure> {
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut total: u64 = 0;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(Failure::Write)?;
        total += n as u64;
    }
}

/// Adds what was being done, and to which path, to an I/O error (keeping its kind).
fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Creates one directory with mode 0700; `Ok(false)` if it appeared meanwhile.
fn create_dir(dir: &Path, recursive: bool) -> io::Result<bool> {
    match fs::DirBuilder::new()
        .recursive(recursive)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(context(e, "cannot create directory", dir)),
    }
}

/// A batch of at least this many files is synced with one `syncfs` (see the module docs).
const SYNCFS_MIN_FILES: usize = 4;

/// Whether `syncfs(2)` reports write-back errors: Linux 5.8 or later.
fn syncfs_reports_errors() -> bool {
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
fn syncfs_is_trusted(file: &File) -> bool {
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

/// fsyncs a directory, making renames and creations in it durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(e, "cannot fsync directory", dir))
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
                    Failure::Read(e) => DeliverError::Body(e),
                    Failure::Write(e) => {
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
        self.commit_staged().map_err(|e| self.local(e))?;
        sync_dir(&self.root.join("new")).map_err(|e| self.local(e))
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
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn info() -> MessageInfo {
        MessageInfo {
            uid: "uidl-1".into(),
            size: 0,
        }
    }

    fn open_temp() -> (tempfile::TempDir, Maildir) {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::open(&dir.path().join("Maildir")).unwrap();
        (dir, md)
    }

    /// Yields `ok` bytes, then fails.
    struct Broken {
        ok: usize,
    }

    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
            }
            let n = buf.len().min(self.ok).min(1000);
            buf[..n].fill(b'a');
            self.ok -= n;
            Ok(n)
        }
    }

    /// Accepts `ok` bytes, then fails.
    struct Full {
        ok: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.ok);
            self.ok -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Fails with `Interrupted` every other call.
    struct Jumpy<R> {
        inner: R,
        flip: bool,
    }

    impl<R: Read> Read for Jumpy<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.flip = !self.flip;
            if self.flip {
                Err(io::Error::from(io::ErrorKind::Interrupted))
            } else {
                self.inner.read(buf)
            }
        }
    }

    #[test]
    fn open_creates_private_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("deep/Maildir");
        let md = Maildir::open(&root).unwrap();
        assert_eq!(md.root(), root);
        assert_eq!(md.describe(), format!("Maildir {}", root.display()));
        for sub in ["", "cur", "new", "tmp"] {
            let meta = fs::metadata(root.join(sub)).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.permissions().mode() & 0o077, 0, "{sub}");
        }
        // Opening again is fine, and existing permissions are left alone.
        fs::set_permissions(root.join("cur"), fs::Permissions::from_mode(0o750)).unwrap();
        Maildir::open(&root).unwrap();
        let mode = fs::metadata(root.join("cur")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o750);
    }

    #[test]
    fn open_completes_a_partial_maildir() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("cur")).unwrap();
        Maildir::open(dir.path()).unwrap();
        assert_eq!(listing(dir.path()), ["cur", "new", "tmp"]);
    }

    #[test]
    fn open_fails_on_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        fs::write(&root, b"x").unwrap();
        let err = Maildir::open(&root).err().unwrap();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
        assert!(err.to_string().contains("Maildir"), "{err}");
        fs::remove_file(&root).unwrap();
        fs::create_dir(&root).unwrap();
        fs::write(root.join("new"), b"x").unwrap();
        let err = Maildir::open(&root).err().unwrap();
        assert!(err.to_string().contains("new"), "{err}");
    }

    #[test]
    fn deliver_writes_exact_bytes_into_new() {
        let (_dir, mut md) = open_temp();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let loc = md.reserve().unwrap();
        let n = md.deliver(&loc, &info(), &mut &body[..]).unwrap();
        md.sync().unwrap();
        assert_eq!(n, body.len() as u64);
        let path = md.root().join("new").join(&loc);
        assert_eq!(fs::read(&path).unwrap(), body);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(listing(&md.root().join("tmp")).is_empty());
        assert_eq!(listing(&md.root().join("new")), [loc]);
    }

    /// Batches below and above [`SYNCFS_MIN_FILES`] (per-file fsync, one syncfs where the
    /// kernel and file system allow it) both end with every message whole in new/.
    #[test]
    fn batches_of_every_size_end_in_new() {
        for n in [1, SYNCFS_MIN_FILES - 1, SYNCFS_MIN_FILES, 40] {
            let (dir, mut md) = open_temp();
            let mut want = std::collections::BTreeMap::new();
            for i in 0..n {
                let body = format!("Subject: {i}\n\n{}\n", "x".repeat(i * 100)).into_bytes();
                let loc = md.reserve().unwrap();
                md.deliver(&loc, &info(), &mut &body[..]).unwrap();
                want.insert(loc, body);
            }
            assert!(
                listing(&md.root().join("new")).is_empty(),
                "visible before sync"
            );
            md.sync().unwrap();
            for (loc, body) in &want {
                assert_eq!(&fs::read(md.root().join("new").join(loc)).unwrap(), body);
            }
            assert!(listing(&md.root().join("tmp")).is_empty());
            let file = File::open(dir.path()).unwrap();
            eprintln!(
                "batch of {n}: syncfs {}",
                if n >= SYNCFS_MIN_FILES && syncfs_reports_errors() && syncfs_is_trusted(&file) {
                    "used"
                } else {
                    "not used"
                }
            );
        }
    }

    #[test]
    fn deliver_empty_and_interrupted_bodies() {
        let (_dir, mut md) = open_temp();
        let loc = md.reserve().unwrap();
        assert_eq!(md.deliver(&loc, &info(), &mut io::empty()).unwrap(), 0);
        md.sync().unwrap();
        assert_eq!(fs::read(md.root().join("new").join(&loc)).unwrap(), b"");
        let loc = md.reserve().unwrap();
        let mut body = Jumpy {
            inner: &b"Subject: hi\n\nbody\n"[..],
            flip: false,
        };
        assert_eq!(md.deliver(&loc, &info(), &mut body).unwrap(), 18);
    }

    #[test]
    fn deliver_streams_large_messages() {
        let (_dir, mut md) = open_temp();
        let loc = md.reserve().unwrap();
        let size = 20 * 1024 * 1024 + 7;
        let mut body = io::repeat(b'x').take(size);
        assert_eq!(md.deliver(&loc, &info(), &mut body).unwrap(), size);
        md.sync().unwrap();
        let len = fs::metadata(md.root().join("new").join(&loc))
            .unwrap()
            .len();
        assert_eq!(len, size);
    }

    #[test]
    fn body_error_leaves_nothing() {
        let (_dir, mut md) = open_temp();
        let loc = md.reserve().unwrap();
        let err = md
            .deliver(&loc, &info(), &mut Broken { ok: 150_000 })
            .unwrap_err();
        match &err {
            DeliverError::Body(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected Body, got {other:?}"),
        }
        assert!(!err.is_fatal());
        assert!(listing(&md.root().join("tmp")).is_empty());
        assert!(listing(&md.root().join("new")).is_empty());
    }

    #[test]
    fn create_failure_is_local_and_leaves_nothing() {
        let (_dir, mut md) = open_temp();
        let tmp = md.root().join("tmp");
        fs::remove_dir(&tmp).unwrap();
        fs::write(&tmp, b"not a directory").unwrap();
        let loc = md.reserve().unwrap();
        let err = md.deliver(&loc, &info(), &mut &b"hello\n"[..]).unwrap_err();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
        assert!(err.is_fatal());
        let text = err.to_string();
        assert!(text.contains("uidl-1") && text.contains("tmp"), "{text}");
        assert!(listing(&md.root().join("new")).is_empty());
        assert_eq!(fs::read(&tmp).unwrap(), b"not a directory");
    }

    #[test]
    fn rename_failure_is_local_and_removes_tmp() {
        let (_dir, mut md) = open_temp();
        let new = md.root().join("new");
        fs::remove_dir(&new).unwrap();
        fs::write(&new, b"not a directory").unwrap();
        let loc = md.reserve().unwrap();
        // The rename happens when the batch is synced.
        md.deliver(&loc, &info(), &mut &b"hello\n"[..]).unwrap();
        let err = md.sync().unwrap_err();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
        assert!(listing(&md.root().join("tmp")).is_empty());
        assert_eq!(fs::read(&new).unwrap(), b"not a directory");
    }

    #[test]
    fn existing_message_is_never_overwritten() {
        let (_dir, mut md) = open_temp();
        let loc = md.reserve().unwrap();
        md.deliver(&loc, &info(), &mut &b"first"[..]).unwrap();
        md.sync().unwrap();
        md.deliver(&loc, &info(), &mut &b"second"[..]).unwrap();
        let err = md.sync().unwrap_err();
        assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
        assert_eq!(
            fs::read(md.root().join("new").join(&loc)).unwrap(),
            b"first"
        );
        assert!(listing(&md.root().join("tmp")).is_empty());
    }

    #[test]
    fn copy_tells_write_errors_from_read_errors() {
        let mut out = Full { ok: 100_000 };
        match copy(&mut io::repeat(b'x').take(1_000_000), &mut out) {
            Err(Failure::Write(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOSPC)),
            other => panic!("expected a write failure, got {other:?}"),
        }
        match copy(&mut Broken { ok: 10 }, &mut io::sink()) {
            Err(Failure::Read(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected a read failure, got {other:?}"),
        }
        let mut sink = Vec::new();
        assert_eq!(copy(&mut &b"abc"[..], &mut sink).unwrap(), 3);
        assert_eq!(sink, b"abc");
    }

    #[test]
    fn invalid_locations_are_refused() {
        let (_dir, mut md) = open_temp();
        for bad in ["", ".", "..", "../x", "a/b", "a:2,S"] {
            let err = md.deliver(bad, &info(), &mut &b"x"[..]).unwrap_err();
            assert!(matches!(err, DeliverError::Local { .. }), "{bad:?}");
            assert!(md.recover(bad).is_err(), "{bad:?}");
        }
        assert!(listing(&md.root().join("new")).is_empty());
    }

    #[test]
    fn recover_finds_new_and_cur() {
        let (_dir, mut md) = open_temp();
        let root = md.root().to_path_buf();

        let in_new = md.reserve().unwrap();
        md.deliver(&in_new, &info(), &mut &b"a"[..]).unwrap();
        md.sync().unwrap();
        assert_eq!(md.recover(&in_new).unwrap(), Recovered::Delivered);

        let seen = md.reserve().unwrap();
        fs::write(root.join("cur").join(format!("{seen}:2,S")), b"x").unwrap();
        assert_eq!(md.recover(&seen).unwrap(), Recovered::Delivered);

        let plain = md.reserve().unwrap();
        fs::write(root.join("cur").join(format!("{plain}:2,")), b"x").unwrap();
        assert_eq!(md.recover(&plain).unwrap(), Recovered::Delivered);

        let bare = md.reserve().unwrap();
        fs::write(root.join("cur").join(&bare), b"x").unwrap();
        assert_eq!(md.recover(&bare).unwrap(), Recovered::Delivered);

        let missing = md.reserve().unwrap();
        assert_eq!(md.recover(&missing).unwrap(), Recovered::Missing);

        // A longer name sharing the prefix does not count.
        let prefix = md.reserve().unwrap();
        fs::write(root.join("cur").join(format!("{prefix}x:2,S")), b"x").unwrap();
        assert_eq!(md.recover(&prefix).unwrap(), Recovered::Missing);
    }

    #[test]
    fn recover_removes_tmp_leftover() {
        let (_dir, mut md) = open_temp();
        let loc = md.reserve().unwrap();
        let tmp = md.root().join("tmp").join(&loc);
        fs::write(&tmp, b"partial").unwrap();
        assert_eq!(md.recover(&loc).unwrap(), Recovered::Missing);
        assert!(!tmp.exists());

        // A leftover next to a complete copy: the copy wins, the leftover goes.
        let loc = md.reserve().unwrap();
        md.deliver(&loc, &info(), &mut &b"whole"[..]).unwrap();
        md.sync().unwrap();
        let tmp = md.root().join("tmp").join(&loc);
        fs::write(&tmp, b"wh").unwrap();
        assert_eq!(md.recover(&loc).unwrap(), Recovered::Delivered);
        assert!(!tmp.exists());
        assert_eq!(
            fs::read(md.root().join("new").join(&loc)).unwrap(),
            b"whole"
        );

        // The location can be delivered again after recovery said Missing.
        let loc = md.reserve().unwrap();
        fs::write(md.root().join("tmp").join(&loc), b"partial").unwrap();
        assert_eq!(md.recover(&loc).unwrap(), Recovered::Missing);
        md.deliver(&loc, &info(), &mut &b"again"[..]).unwrap();
        md.sync().unwrap();
        assert_eq!(md.recover(&loc).unwrap(), Recovered::Delivered);
    }

    #[test]
    fn unsynced_messages_are_invisible_and_removed_on_drop() {
        let (dir, mut md) = open_temp();
        let root = md.root().to_path_buf();
        let synced = md.reserve().unwrap();
        md.deliver(&synced, &info(), &mut &b"kept"[..]).unwrap();
        md.sync().unwrap();
        let pending = md.reserve().unwrap();
        md.deliver(&pending, &info(), &mut &b"not yet"[..]).unwrap();
        // Written, but not delivered until sync: a crash now must not count it.
        assert_eq!(listing(&root.join("new")), std::slice::from_ref(&synced));
        assert_eq!(md.recover(&pending).unwrap(), Recovered::Missing);
        let again = md.reserve().unwrap();
        md.deliver(&again, &info(), &mut &b"dropped"[..]).unwrap();
        drop(md);
        assert!(listing(&root.join("tmp")).is_empty());
        assert_eq!(listing(&root.join("new")), [synced]);
        drop(dir);
    }

    #[test]
    fn reserve_gives_distinct_wellformed_names() {
        let (_dir, mut md) = open_temp();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let name = md.reserve().unwrap();
            assert!(!name.contains(':') && !name.contains('/'), "{name}");
            assert!(seen.insert(name));
        }
        let name = seen.iter().next().unwrap();
        let (secs, rest) = name.split_once(".M").unwrap();
        assert!(secs.parse::<u64>().is_ok(), "{name}");
        let (usecs, rest) = rest.split_once('P').unwrap();
        assert!(usecs.parse::<u32>().unwrap() < 1_000_000, "{name}");
        let (pid, rest) = rest.split_once('Q').unwrap();
        assert_eq!(pid.parse::<u32>().unwrap(), std::process::id());
        let (counter, host) = rest.split_once('.').unwrap();
        assert!(counter.parse::<u64>().is_ok(), "{name}");
        assert!(!host.is_empty());
    }

    #[test]
    fn reserve_is_unique_across_threads() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let mut md = Maildir::open(&root).unwrap();
                    (0..2000).map(|_| md.reserve().unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for name in h.join().unwrap() {
                assert!(all.insert(name));
            }
        }
        assert_eq!(all.len(), 8000);
    }

    #[test]
    fn hostname_is_sanitized() {
        assert_eq!(sanitize_hostname(OsStr::new("a/b:c")), "a\\057b\\072c");
        assert_eq!(sanitize_hostname(OsStr::new("")), "localhost");
        assert_eq!(sanitize_hostname(OsStr::new("host\n")), "host");
        assert_eq!(
            sanitize_hostname(OsStr::new("mx.example.org")),
            "mx.example.org"
        );
    }
}
