//! Runs the real `mailpull` binary with a clean environment rooted in a temp dir, and inspects
//! Maildirs.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mailpull"))
}

/// A sandbox: a temp dir with a fake HOME (so nothing touches the user's files), a Maildir
/// path and a ledger path.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("mailpull-test")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    pub fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.sqlite")
    }

    /// A `mailpull` command with an empty environment but for PATH, a sandboxed HOME and XDG
    /// dirs, `--ledger` pointing into the sandbox, and `MAILPULL_PASSWORD` if given.
    pub fn cmd(&self, password: Option<&str>) -> Command {
        let mut c = Command::new(bin());
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("XDG_DATA_HOME", self.home().join(".local/share"))
            .env("MAILPULL_LEDGER", self.ledger())
            .stdin(Stdio::null());
        if let Some(p) = password {
            c.env("MAILPULL_PASSWORD", p);
        }
        c
    }
}

/// Runs a command to completion, killing it (and failing the test) if it takes longer than
/// `limit`: mailpull must never hang. Output is read while it runs, so a chatty run cannot
/// block on a full pipe.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn mailpull");
    wait_with_limit(child, limit)
}

/// Waits for a spawned child with a time limit, reading its piped stdout and stderr
/// meanwhile; panics (after killing it) when the limit is exceeded.
pub fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait().unwrap() {
            Some(status) => break status,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err.join().unwrap_or_default();
                panic!(
                    "mailpull did not finish within {limit:?}; stderr:\n{}",
                    String::from_utf8_lossy(&stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// The exit code of a finished command (panics on death by signal).
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by signal: {:?}", out.status))
}

/// The contents of every message in a Maildir (`new/` and `cur/`), keyed by file name.
pub fn maildir_messages(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    out
}

/// Number of files in the Maildir's `tmp/` (must be 0 after any run, even a failed one).
pub fn tmp_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("tmp"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

/// The delivered message bodies as a sorted list (for multiset comparisons).
pub fn sorted_bodies(root: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = maildir_messages(root).into_values().collect();
    v.sort();
    v
}

/// What mailpull should deliver for a message stored on the server as `raw`: line ends become
/// LF, and a missing final newline is added (POP3 cannot express its absence).
pub fn expected_delivery(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}
