//! Tests of the mbox target as a whole, and the helpers the tests of its parts share.

use super::format::parse_mboxrd;
use super::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

pub(super) fn info() -> MessageInfo {
    MessageInfo {
        uid: "uidl-1".into(),
        size: 0,
    }
}

pub(super) fn open_temp() -> (tempfile::TempDir, Mbox) {
    let dir = tempfile::tempdir().unwrap();
    let mbox = Mbox::open(&dir.path().join("mail/inbox")).unwrap();
    (dir, mbox)
}

pub(super) fn deliver(mbox: &mut Mbox, body: &[u8]) -> String {
    let loc = mbox.reserve().unwrap();
    let n = mbox.deliver(&loc, &info(), &mut &body[..]).unwrap();
    assert_eq!(n, body.len() as u64);
    loc
}

pub(super) fn with_newline(m: &[u8]) -> Vec<u8> {
    let mut m = m.to_vec();
    if !m.is_empty() && !m.ends_with(b"\n") {
        m.push(b'\n');
    }
    m
}

pub(super) fn python3() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("import mailbox")
        .status()
        .is_ok_and(|s| s.success())
}

/// Tricky messages: quoting at every depth, at the very start, split across reads, no
/// final newline, Return-Path variants.
pub(super) fn samples() -> Vec<(Vec<u8>, &'static str)> {
    vec![
        (
            b"Return-Path: <alice@example.org>\nSubject: one\n\nFrom here\n>From there\n>>From everywhere\n>>>From x\nFrom\nFromage\n>From\n> From x\n".to_vec(),
            "alice@example.org",
        ),
        (b"Subject: no return path\n\nbody without final newline".to_vec(), "MAILER-DAEMON"),
        (b"Return-Path: <>\nSubject: bounce\n\nFrom the daemon\n\n\n".to_vec(), "MAILER-DAEMON"),
        (b"From someone@else Mon Jan  1 00:00:00 2024\nreturn-path:\n  <folded@example.org>\n\n>From \nFrom ".to_vec(), "folded@example.org"),
        (b"Return-Path: bare@example.org (comment)\n\n".to_vec(), "bare@example.org"),
        (b"Return-Path: <we ird@example.org>\n\nx\n".to_vec(), "we_ird@example.org"),
        (b"".to_vec(), "MAILER-DAEMON"),
        (b"\n".to_vec(), "MAILER-DAEMON"),
    ]
}

#[test]
fn open_creates_private_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/inbox");
    let mbox = Mbox::open(&path).unwrap();
    assert_eq!(mbox.path(), path);
    assert_eq!(mbox.describe(), format!("mbox {}", path.display()));
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    // Existing content and permissions are left alone.
    fs::write(&path, b"From x Thu Jan  1 00:00:00 1970\n\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    Mbox::open(&path).unwrap();
    assert_eq!(mode(&path), 0o640);
    assert_eq!(fs::metadata(&path).unwrap().len(), 33);
    // A directory is not an mbox.
    let err = Mbox::open(dir.path()).err().unwrap();
    assert!(matches!(err, DeliverError::Local { .. }), "{err:?}");
}

#[test]
fn round_trip_through_our_reader() {
    let (_dir, mut mbox) = open_temp();
    let samples = samples();
    for (body, _) in &samples {
        deliver(&mut mbox, body);
    }
    // Nothing reaches the mbox before sync.
    assert_eq!(fs::metadata(mbox.path()).unwrap().len(), 0);
    mbox.sync().unwrap();
    let data = fs::read(mbox.path()).unwrap();
    let parsed = parse_mboxrd(&data);
    assert_eq!(parsed.len(), samples.len());
    for ((sender, msg), (body, expected_sender)) in parsed.iter().zip(&samples) {
        assert_eq!(sender, expected_sender);
        assert_eq!(
            *msg,
            with_newline(body),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A second batch appends.
    deliver(&mut mbox, b"Subject: later\n\nFrom again\n");
    mbox.sync().unwrap();
    let parsed = parse_mboxrd(&fs::read(mbox.path()).unwrap());
    assert_eq!(parsed.len(), samples.len() + 1);
    assert_eq!(parsed.last().unwrap().1, b"Subject: later\n\nFrom again\n");
    // The staging file is emptied, not kept growing; the lock is gone.
    assert_eq!(fs::metadata(mbox.stage_path(&mbox.token)).unwrap().len(), 0);
    assert!(!mbox.lock_path.exists());
}

#[test]
fn python_mailbox_reads_the_file() {
    if !python3() {
        eprintln!("python3 not available; skipped");
        return;
    }
    let (dir, mut mbox) = open_temp();
    // Something another program wrote, without a final newline: we must start on a new
    // line.
    fs::write(
        mbox.path(),
        b"From old@x Thu Jan  1 00:00:00 1970\nSubject: old\n\nold body",
    )
    .unwrap();
    let samples = samples();
    for (body, _) in &samples {
        deliver(&mut mbox, body);
    }
    mbox.sync().unwrap();
    // Python's mailbox.mbox splits at every line starting with "From " and drops the empty
    // line before it; it does not unquote. We compare its raw message bytes (without the
    // From line) after removing one ">" from lines matching ^>+From , and its From line.
    let out_dir = dir.path().join("py");
    fs::create_dir(&out_dir).unwrap();
    let script = r#"
import mailbox, sys, os
box = mailbox.mbox(sys.argv[1], create=False)
for i, key in enumerate(box.keys()):
    with open(os.path.join(sys.argv[2], "%d.msg" % i), "wb") as f:
        f.write(box.get_bytes(key))
    with open(os.path.join(sys.argv[2], "%d.from" % i), "wb") as f:
        f.write(box.get_message(key).get_from().encode())
"#;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(mbox.path())
        .arg(&out_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let unquote = |m: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        for line in m.split_inclusive(|&c| c == b'\n') {
            let gt = line.iter().take_while(|&&c| c == b'>').count();
            if gt > 0 && line[gt..].starts_with(b"From ") {
                out.extend_from_slice(&line[1..]);
            } else {
                out.extend_from_slice(line);
            }
        }
        out
    };
    let read = |name: String| fs::read(out_dir.join(name)).unwrap();
    assert_eq!(read("0.msg".into()), b"Subject: old\n\nold body\n");
    for (i, (body, sender)) in samples.iter().enumerate() {
        let raw = read(format!("{}.msg", i + 1));
        assert_eq!(unquote(&raw), with_newline(body), "message {i}");
        let from = String::from_utf8(read(format!("{}.from", i + 1))).unwrap();
        assert!(from.starts_with(&format!("{sender} ")), "{from}");
    }
    assert!(!out_dir.join(format!("{}.msg", samples.len() + 1)).exists());
}

/// Yields `ok` bytes of a message with From lines, then fails.
pub(super) struct Broken {
    pub(super) ok: usize,
}

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        }
        let line = b"From the server\n";
        let n = buf.len().min(self.ok).min(line.len());
        buf[..n].copy_from_slice(&line[..n]);
        self.ok -= n;
        Ok(n)
    }
}
