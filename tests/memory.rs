//! mailpull streams messages: fetching a 20 MB message from Dovecot must not hold it in memory.
//!
//! The child's peak RSS is read with wait4(2). On Linux a child's `ru_maxrss` also covers the
//! memory image it was spawned from (exec records the old image's high-water mark), so the
//! figure is `max(this test process's peak, mailpull's peak)`: an upper bound on mailpull's.
//! The test therefore never holds a big message in memory itself (it writes and checks the
//! message in a streaming fashion), measures in a single test so that nothing else runs in the
//! process meanwhile, and prints its own peak (`VmHWM`) next to the child's.
//!
//! `ru_maxrss` counts resident file-backed pages too: the binary's code, libcrypto, libssl and
//! libc make up about 10 MiB of it whatever the message (a debug build about 2 MiB more than a
//! release build). So the test asserts three things about the 20 MiB fetch: peak RSS grows by
//! less than [`MAX_GROWTH_KIB`] over a 10 KB fetch; peak *anonymous* memory (heap and stacks,
//! sampled from `/proc/PID/status` every 2 ms — a buffered message would show there for the
//! whole transfer) stays under [`MAX_ANON_KIB`]; and peak RSS, shared code included, stays
//! under [`MAX_RSS_KIB`].

mod common;

use std::fs::File;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};

use common::dovecot::Dovecot;
use common::measure::{sha256_file, status_kib, wait_sampling, Peak};
use common::run::{maildir_messages, tmp_count, Sandbox};

/// Peak anonymous memory (heap and stacks: what a buffered message would use) allowed while
/// fetching a 20 MiB message.
const MAX_ANON_KIB: i64 = 6 * 1024;
/// Peak resident set size, shared code pages included (the binary, libcrypto, libc: about
/// 10 MiB of a debug build), allowed while fetching a 20 MiB message.
const MAX_RSS_KIB: i64 = 20 * 1024;
/// How much more a 20 MiB message may cost than a 10 KB one.
const MAX_GROWTH_KIB: i64 = 2 * 1024;

const BIG: usize = 20 << 20;

/// Writes a message of about `size` bytes (CRLF lines, some dot-stuffable) to `w`, and
/// returns the SHA-256 of what mailpull must deliver (the same with LF line ends).
fn write_message(w: &mut dyn Write, size: usize, seed: u64) -> std::io::Result<[u8; 32]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut delivered = Sha256::new();
    let mut put = |w: &mut dyn Write, line: &[u8]| -> std::io::Result<usize> {
        w.write_all(line)?;
        w.write_all(b"\r\n")?;
        delivered.update(line);
        delivered.update(b"\n");
        Ok(line.len() + 2)
    };
    let mut n = 0;
    for h in [
        format!("From: big@example.org\r\nTo: alice@example.org\r\nSubject: {size} bytes"),
        format!("Message-ID: <{seed}.big@mailpull.test>"),
        String::new(),
    ] {
        for l in h.split("\r\n") {
            n += put(w, l.as_bytes())?;
        }
    }
    let mut line = Vec::with_capacity(80);
    while n < size {
        line.clear();
        if rng.u8(..) < 10 {
            line.push(b'.');
        }
        let len = rng.usize(20..76);
        while line.len() < len {
            line.push(b"abcdefghijklmnopqrstuvwxyz 0123456789"[rng.usize(..37)]);
        }
        n += put(w, &line)?;
    }
    Ok(delivered.finalize().into())
}

/// Puts one message of `size` bytes on a fresh Dovecot, fetches it over pop3s and returns
/// mailpull's peak RSS and peak anonymous memory in KiB (see the module doc), after checking
/// the delivery.
fn peak_rss_fetching(size: usize) -> Option<(i64, i64)> {
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
        .arg(d.pop3s_url("alice"))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .stdout(Stdio::null())
        .stderr(File::create(&errf).unwrap());
    // This process's own peak (`VmHWM`), which a spawned child's `ru_maxrss` can inherit.
    let parent_before = status_kib("/proc/self/status", "VmHWM").unwrap_or(0);
    let child = cmd.spawn().expect("spawn mailpull");
    let Peak {
        code,
        rss_kib: maxrss_kib,
        anon_kib,
    } = wait_sampling(child.id(), Duration::from_secs(300));
    // The child is reaped; std must not wait for it again.
    std::mem::forget(child);
    let stderr = std::fs::read_to_string(&errf).unwrap_or_default();
    assert_eq!(code, 0, "mailpull failed: {stderr}");

    let files: Vec<String> = maildir_messages(&sb.maildir()).into_keys().collect();
    assert_eq!(files.len(), 1, "expected one delivered message: {files:?}");
    let path = ["new", "cur"]
        .iter()
        .map(|s| sb.maildir().join(s).join(&files[0]))
        .find(|p| p.exists())
        .unwrap();
    assert!(sha256_file(&path) == want, "delivered message differs");
    assert_eq!(tmp_count(&sb.maildir()), 0);

    eprintln!(
        "fetching a {:.2} MiB message: mailpull peak RSS {maxrss_kib} KiB ({:.2} MiB), peak \
         anonymous memory {anon_kib} KiB; this test process's peak when spawning it: \
         {parent_before} KiB",
        size as f64 / 1048576.0,
        maxrss_kib as f64 / 1024.0
    );
    if parent_before >= maxrss_kib {
        eprintln!("  (the figure may be the test process's own peak: mailpull's is lower)");
    }
    Some((maxrss_kib, anon_kib))
}

/// One test (not two) so that nothing else runs, or panics, in this process while measuring:
/// a panic's backtrace alone raises the process's peak well above mailpull's.
#[test]
fn fetching_a_20_mb_message_stays_small() {
    let Some((small, _)) = peak_rss_fetching(10_000) else {
        return;
    };
    let Some((big, big_anon)) = peak_rss_fetching(BIG) else {
        return;
    };
    eprintln!(
        "peak RSS: {small} KiB for 10 KB, {big} KiB for 20 MiB: growth {} KiB",
        big - small
    );
    assert!(
        big - small < MAX_GROWTH_KIB,
        "fetching 20 MiB costs {} KiB more than fetching 10 KB: the message is not streamed",
        big - small
    );
    assert!(
        big_anon > 0 && big_anon < MAX_ANON_KIB,
        "peak anonymous memory {big_anon} KiB while fetching a 20 MiB message (limit \
         {MAX_ANON_KIB} KiB)"
    );
    assert!(
        big < MAX_RSS_KIB,
        "peak RSS {big} KiB ({:.2} MiB) >= {MAX_RSS_KIB} KiB while fetching a 20 MiB message \
         (it does stream: 10 KB takes {small} KiB)",
        big as f64 / 1024.0
    );
}
