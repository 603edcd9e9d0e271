//! Measuring a child process: its peak memory (wait4's `ru_maxrss`, and `RssAnon` sampled from
//! `/proc` while it runs) and the hash of a delivered file, without reading it whole.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A `KEY:   123 kB` field of a `/proc/.../status` file, in KiB.
pub fn status_kib(path: &str, key: &str) -> Option<i64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What a finished child cost.
pub struct Peak {
    /// Exit code, or minus the signal that killed it.
    pub code: i32,
    /// `ru_maxrss` from wait4, KiB.
    pub rss_kib: i64,
    /// Highest `RssAnon` sampled, KiB.
    pub anon_kib: i64,
}

/// Reaps `pid` with wait4, sampling its `RssAnon` every 2 ms meanwhile (a buffered message
/// would show there for the whole transfer); kills it and panics after `limit`.
pub fn wait_sampling(pid: u32, limit: Duration) -> Peak {
    let pid = pid as libc::pid_t;
    let status_file = format!("/proc/{pid}/status");
    let start = Instant::now();
    let mut anon_kib = 0;
    loop {
        if let Some(a) = status_kib(&status_file, "RssAnon") {
            anon_kib = anon_kib.max(a);
        }
        let mut status: libc::c_int = 0;
        // SAFETY: plain syscall with valid out-pointers.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -libc::WTERMSIG(status)
            };
            return Peak {
                code,
                rss_kib: ru.ru_maxrss,
                anon_kib,
            };
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > limit {
            // SAFETY: the child has not been reaped, so the pid is still ours.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut ru);
            }
            panic!("mailpull did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SHA-256 of a file, read in 64 KiB pieces.
pub fn sha256_file(p: &Path) -> [u8; 32] {
    let mut f = File::open(p).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf).unwrap() {
            0 => return h.finalize().into(),
            n => h.update(&buf[..n]),
        }
    }
}
