//! Running a user's command (an MDA, a filter) through `sh -c` with data on its standard input,
//! a deadline, and a bounded capture of its standard error.
//!
//! The command runs in its own process group, so that a timeout can kill everything it
//! started. One thread feeds its standard input, another keeps the last [`STDERR_TAIL`] bytes
//! of its standard error (a chatty command can never block on a full pipe); its standard
//! output is discarded. Interpreting the result (what success means) is the caller's job.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

use crate::fs::{copy, CopyError};

/// How much of the command's standard error is kept for the error message.
pub const STDERR_TAIL: usize = 4096;
/// After the command exits, how long to wait for its pipes to be done with.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// How a command ended.
pub(crate) struct Finished {
    /// Its exit status; `None` if it ran past the deadline (its process group was killed).
    pub status: Option<ExitStatus>,
    /// How feeding its input went and how many bytes it took; `None` if something it left
    /// behind still held its input open without reading.
    pub(crate) fed: Option<(Result<(), CopyError>, u64)>,
    /// The end of its standard error, trimmed.
    pub stderr: String,
}

/// Runs `command` through `/bin/sh -c` with `input` on its standard input and `env` added to
/// its environment; kills its process group after `timeout`. An error means `sh` could not be
/// started (or waited for).
pub(crate) fn run(
    command: OsString,
    mut input: Box<dyn Read + Send>,
    env: &[(&str, &OsStr)],
    timeout: Duration,
) -> io::Result<Finished> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run /bin/sh: {e}")))?;
    // The command leads the process group it was started in (`process_group(0)`).
    let group = Pid::from_child(&child);
    let kill_group = || {
        let _ = kill_process_group(group, Signal::KILL);
    };

    let mut stdin = child.stdin.take().expect("piped");
    let (in_tx, in_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut written: u64 = 0;
        let result = copy(&mut input, &mut stdin, &mut written);
        drop(stdin);
        let _ = in_tx.send((result, written));
    });
    let mut stderr = child.stderr.take().expect("piped");
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = err_tx.send(read_tail(&mut stderr, STDERR_TAIL));
    });

    let deadline = crate::time::later(Instant::now(), timeout);
    let mut pause = Duration::from_millis(1);
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => {
                kill_group();
                let _ = child.wait();
                return Err(e);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    };

    let fed = match in_rx.recv_timeout(PIPE_GRACE) {
        Ok(fed) => Some(fed),
        Err(_) => {
            // Something left behind still holds its input open without reading.
            kill_group();
            None
        }
    };
    let stderr = err_rx.recv_timeout(PIPE_GRACE).unwrap_or_default();
    Ok(Finished {
        status,
        fed,
        stderr,
    })
}

/// A duration for messages: `30 s`, `1.5 s`.
pub fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGHUP => " (SIGHUP)",
            libc::SIGINT => " (SIGINT)",
            libc::SIGQUIT => " (SIGQUIT)",
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGPIPE => " (SIGPIPE)",
            libc::SIGTERM => " (SIGTERM)",
            _ => "",
        };
        return format!("killed by signal {sig}{name}");
    }
    format!("ended with {status}")
}

/// Reads `r` to its end, keeping only the last `keep` bytes; returned as trimmed text, with
/// `…` in front if something was dropped.
fn read_tail(r: &mut dyn Read, keep: usize) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut dropped = false;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                    dropped = true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
        dropped = true;
    }
    let text = String::from_utf8_lossy(&tail);
    let text = text.trim();
    if dropped {
        format!("…{text}")
    } else {
        text.to_string()
    }
}

/// Runs a password command (`sh -c CMD`, stdin and stderr left to the user, e.g. for a
/// `pass` or `gpg` prompt) and returns the first line of its output. `what` names the command
/// in errors ("password command", "SMTP password command").
pub(crate) fn password_from(cmd: &str, what: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run the {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("the {what} `{cmd}` failed ({})", out.status));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| format!("the {what} `{cmd}` printed something that is not UTF-8"))?;
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        return Err(format!(
            "the {what} `{cmd}` printed no password (its first line is empty)"
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_descriptions() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(
            describe_status(ExitStatus::from_raw(1 << 8)),
            "exited with status 1"
        );
        assert_eq!(
            describe_status(ExitStatus::from_raw(libc::SIGTERM)),
            "killed by signal 15 (SIGTERM)"
        );
        let mut long = io::repeat(b'e').take(10_000);
        let tail = read_tail(&mut long, 100);
        assert_eq!(tail, format!("…{}", "e".repeat(100)));
        assert_eq!(read_tail(&mut &b"  short\n"[..], 100), "short");
    }
}
