//! File-system and stream helpers that the storage (delivery targets, the ledger) and the
//! commands share: private files and directories, fsync of a directory, the directory a path
//! lies in, errors that name their path, and a copy that tells a failing reader from a failing
//! writer. Imports nothing of mailpull's, so every layer may use it.
//!
//! Everything mailpull creates on disk reveals what mail a user receives: files are created
//! with mode 0600 and directories with mode 0700 ([`private_file`], [`create_private_dir`]);
//! existing ones keep their permissions.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The size of [`copy`]'s buffer.
const BUFFER_SIZE: usize = 64 * 1024;

/// Adds what was being done, and to which path, to an I/O error (keeping its kind):
/// `cannot create /home/alice/Maildir/tmp/…: No space left on device`.
pub fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// The directory `path` lies in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, making creations and renames in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context(e, "cannot fsync directory", dir))
}

/// Options that create a new file only its owner may read and write (mode 0600), failing with
/// [`io::ErrorKind::AlreadyExists`] if the path exists; the caller adds read, write or append.
pub fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create_new(true).mode(0o600);
    options
}

/// Opens `path` with `options` (from [`private_file`], with read, write or append set),
/// creating it if it does not exist, or else opening the existing file with the same access.
/// Returns the file and whether it was created.
pub fn open_or_create(path: &Path, options: &OpenOptions) -> io::Result<(File, bool)> {
    match options.open(path) {
        Ok(f) => return Ok((f, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(context(e, "cannot create", path)),
    }
    let f = options
        .clone()
        .create_new(false)
        .open(path)
        .map_err(|e| context(e, "cannot open", path))?;
    Ok((f, false))
}

/// Creates the missing directory `dir` (with its missing parents if `recursive`) with mode
/// 0700. Returns whether it was created: `Ok(false)` if another process created it meanwhile
/// (a recursive create of a directory that exists succeeds: callers look first).
pub fn create_private_dir(dir: &Path, recursive: bool) -> io::Result<bool> {
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

/// Why a copy failed: reading its source (for a message: the server) or writing it out.
#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` to `to` through a 64 KiB buffer until `from` ends, adding the number of bytes
/// written to `copied` as it goes (so that it tells how far a failed copy got). Interrupted
/// reads are retried.
pub fn copy(from: &mut dyn Read, to: &mut dyn Write, copied: &mut u64) -> Result<(), CopyError> {
    let mut buf = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
        *copied += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A reader that fails at once.
    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
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

    #[test]
    fn copy_tells_write_errors_from_read_errors() {
        let mut out = Full { ok: 100_000 };
        let mut copied = 0;
        match copy(&mut io::repeat(b'x').take(1_000_000), &mut out, &mut copied) {
            Err(CopyError::Write(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOSPC)),
            other => panic!("expected a write failure, got {other:?}"),
        }
        assert!(copied <= 100_000, "{copied}");
        let mut copied = 0;
        let mut broken = (&[b'a'; 10][..]).chain(Failing);
        match copy(&mut broken, &mut io::sink(), &mut copied) {
            Err(CopyError::Read(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected a read failure, got {other:?}"),
        }
        assert_eq!(copied, 10);
        let mut sink = Vec::new();
        let mut copied = 0;
        copy(&mut &b"abc"[..], &mut sink, &mut copied).unwrap();
        assert_eq!(copied, 3);
        assert_eq!(sink, b"abc");
    }

    #[test]
    fn parent_dir_of_a_bare_name_is_the_current_directory() {
        assert_eq!(parent_dir(Path::new("inbox")), Path::new("."));
        assert_eq!(parent_dir(Path::new("mail/inbox")), Path::new("mail"));
        assert_eq!(parent_dir(Path::new("/inbox")), Path::new("/"));
        assert_eq!(parent_dir(Path::new("/")), Path::new("."));
    }

    #[test]
    fn private_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let deep = dir.path().join("a/b");
        assert!(create_private_dir(&deep, true).unwrap());
        assert!(!create_private_dir(&deep, false).unwrap());
        assert_eq!(mode(&deep), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        let file = deep.join("f");
        let (mut f, created) = open_or_create(&file, private_file().append(true)).unwrap();
        assert!(created);
        f.write_all(b"x").unwrap();
        assert_eq!(mode(&file), 0o600);
        let err = private_file().write(true).open(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let (mut f, created) = open_or_create(&file, private_file().append(true)).unwrap();
        assert!(!created);
        f.write_all(b"y").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"xy");
        // A file where a directory should be is an error naming the path.
        let err = create_private_dir(&file, false).unwrap_err();
        assert!(err.to_string().contains("cannot create directory"), "{err}");
        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
        let err = open_or_create(&deep.join("missing/f"), private_file().append(true));
        assert!(err.unwrap_err().to_string().contains("cannot create"));
        sync_dir(&deep).unwrap();
        assert!(sync_dir(&deep.join("missing")).is_err());
    }
}
