//! Tests of Maildir delivery.

use super::durable::{syncfs_is_trusted, syncfs_reports_errors, SYNCFS_MIN_FILES};
use super::*;
use std::collections::HashSet;
use std::io::Read;
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
