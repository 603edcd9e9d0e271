//! mailpull streams IMAP literals: fetching a 20 MiB message from Dovecot over imaps must not
//! hold it in memory.
//!
//! The method is that of `tests/memory.rs` (see its documentation for the details): the
//! child's peak RSS comes from wait4(2) (an upper bound, since it also covers the image the
//! child was spawned from, so this test never holds a big message itself), and its peak
//! *anonymous* memory (heap and stacks) is sampled from `/proc/PID/status` every 2 ms. The test
//! asserts that the 20 MiB fetch costs less than [`MAX_GROWTH_KIB`] more peak RSS than a 10 KB
//! fetch, and that its peak anonymous memory stays under [`MAX_ANON_KIB`].

mod common;

use std::fs::File;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};

use common::dovecot::Dovecot;
use common::measure::{sha256_file, status_kib, wait_sampling, Peak};
use common::run::{maildir_messages, tmp_count, Sandbox};

/// Peak anonymous memory allowed while fetching a 20 MiB message.
const MAX_ANON_KIB: i64 = 6 * 1024;
/// How much more peak RSS a 20 MiB message may cost than a 10 KB one.
const MAX_GROWTH_KIB: i64 = 2 * 1024;

const BIG: usize = 20 << 20;
const SMALL: usize = 10_000;

/// Streams a message of about `size` bytes with CRLF line ends (and some lines that look like
/// IMAP protocol) to `w`; returns the SHA-256 of what mailpull must deliver (LF line ends).
fn write_message(w: &mut dyn Write, size: usize, seed: u64) -> std::io::Result<[u8; 32]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut want = Sha256::new();
    let mut written = 0;
    let mut line = |w: &mut dyn Write, l: &[u8]| -> std::io::Result<usize> {
        w.write_all(l)?;
        w.write_all(b"\r\n")?;
        want.update(l);
        want.update(b"\n");
        Ok(l.len() + 2)
    };
    let headers = format!(
        "From: big@example.org\nTo: alice@example.org\nSubject: {size} bytes\n\
         Message-ID: <{seed}.big@mailpull.test>\n"
    );
    for h in headers.lines() {
        written += line(w, h.as_bytes())?;
    }
    written += line(w, b"")?;
    let mut l = Vec::with_capacity(80);
    while written < size {
        l.clear();
        match rng.u8(..) {
            0..=3 => l.extend_from_slice(b"* 1 FETCH (BODY[] {1000}"),
            4..=7 => l.extend_from_slice(b"A0003 OK done"),
            _ => {
                let len = rng.usize(20..76);
                while l.len() < len {
                    l.push(b"abcdefghijklmnopqrstuvwxyz 0123456789."[rng.usize(..38)]);
                }
            }
        }
        written += line(w, &l)?;
    }
    Ok(want.finalize().into())
}

/// Puts one message of `size` bytes on a fresh Dovecot, fetches it over imaps, checks the
/// delivery and returns what the fetch cost.
fn fetch_one(size: usize) -> Option<Peak> {
    let d = Dovecot::start()?;
    let mut want = [0u8; 32];
    d.add_message_with("alice", |w| {
        want = write_message(w, size, size as u64)?;
        Ok(())
    });
    let sb = Sandbox::new();
    let errf = sb.path().join("stderr");
    let mut cmd = sb.cmd(Some("secret"));
    cmd.arg("fetch")
        .arg(d.imaps_url("alice"))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .stdout(Stdio::null())
        .stderr(File::create(&errf).unwrap());
    let own_hwm = status_kib("/proc/self/status", "VmHWM").unwrap_or(0);
    let child = cmd.spawn().expect("spawn mailpull");
    let peak = wait_sampling(child.id(), Duration::from_secs(300));
    // Reaped above: std must not wait for it again.
    std::mem::forget(child);
    assert_eq!(
        peak.code,
        0,
        "mailpull failed: {}",
        std::fs::read_to_string(&errf).unwrap_or_default()
    );

    let names: Vec<String> = maildir_messages(&sb.maildir()).into_keys().collect();
    assert_eq!(names.len(), 1, "expected one delivered message: {names:?}");
    let path = ["new", "cur"]
        .iter()
        .map(|s| sb.maildir().join(s).join(&names[0]))
        .find(|p| p.exists())
        .unwrap();
    assert!(sha256_file(&path) == want, "delivered message differs");
    assert_eq!(tmp_count(&sb.maildir()), 0);
    assert_eq!(d.server_count("alice"), 1, "keep mode removed the message");
    eprintln!(
        "imaps, a {:.2} MiB message: mailpull peak RSS {} KiB, peak anonymous {} KiB \
         (this test process's peak when spawning it: {own_hwm} KiB)",
        size as f64 / 1048576.0,
        peak.rss_kib,
        peak.anon_kib
    );
    Some(peak)
}

/// One test, so that nothing else runs in this process while measuring.
#[test]
fn fetching_a_20_mb_message_over_imaps_stays_small() {
    let Some(small) = fetch_one(SMALL) else {
        return;
    };
    let Some(big) = fetch_one(BIG) else { return };
    let growth = big.rss_kib - small.rss_kib;
    eprintln!(
        "peak RSS: {} KiB for 10 KB, {} KiB for 20 MiB: growth {growth} KiB; peak anonymous \
         {} KiB and {} KiB",
        small.rss_kib, big.rss_kib, small.anon_kib, big.anon_kib
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "fetching 20 MiB over IMAP costs {growth} KiB more than 10 KB: the literal is not streamed"
    );
    assert!(
        big.anon_kib > 0 && big.anon_kib < MAX_ANON_KIB,
        "peak anonymous memory {} KiB while fetching a 20 MiB message over IMAP (limit \
         {MAX_ANON_KIB} KiB)",
        big.anon_kib
    );
}
