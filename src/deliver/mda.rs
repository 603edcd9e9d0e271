//! Delivery through a mail delivery agent (MDA): a command such as `procmail -d %u` or
//! `/usr/lib/dovecot/deliver -f %F`, run through `sh -c` with the message on its standard input.
//!
//! # Command expansion
//!
//! In the command, `%F` is replaced by the envelope sender (from the message's first
//! `Return-Path:` header, angle brackets stripped; an empty string when the header is absent
//! or `<>` — unlike mbox's `MAILER-DAEMON`, because an MDA's `-f` option takes an address and
//! the empty reverse path is exactly what `<>` means), `%u` by the local user name, and `%%`
//! by `%`; any other `%` is left as it is. Values are quoted for the shell according to where
//! the placeholder stands in the command, so that no address can run anything:
//!
//! - outside quotes: wrapped in single quotes, `a'b@x` → `'a'\''b@x'`;
//! - inside single quotes (`'%F'`): each `'` becomes `'\''`;
//! - inside double quotes (`"%F"`): `\`, `"`, `$` and `` ` `` are escaped with a backslash.
//!
//! Control characters (including NUL and line breaks) are removed from the values first.
//! The header block is looked at only within its first 64 KiB; a `Return-Path:` beyond that
//! is not seen.
//!
//! # Running the command
//!
//! The message is first spooled completely (in memory up to 1 MiB, in an unlinked temporary
//! file beyond, so memory does not grow with its size). That way a download that breaks off
//! never hands a truncated message to the MDA (which would happily deliver it), and the
//! timeout measures the MDA alone, not the server. The command then runs in its own process
//! group; its standard input is fed from the spool by one thread while another keeps the last
//! 4 KiB of its standard error (so a chatty MDA can never block on a full pipe), and its
//! standard output is discarded.
//!
//! Exit status 0 means delivered. Any other status, death by a signal, or running past the
//! timeout (the whole process group is then killed with SIGKILL) is a
//! [`DeliverError::Rejected`] naming the command, what happened (`exited with status 1`,
//! `killed by signal 9 (SIGKILL)`, `timed out after 30 s`) and the end of its standard
//! error. Such a failure concerns this one message, which stays on the server; it does not stop
//! the run. Failing to start `sh` at all is a [`DeliverError::Local`].
//!
//! An MDA that exits 0 *without reading its whole input* (writing to it fails with EPIPE) is
//! treated as a failure: accepting a message without reading it is far more likely a broken
//! MDA or recipe than a deliberate discard, and treating it as delivered would lose the
//! message for good (it would be deleted from the server). A filter that really wants to drop
//! mail should read it (`cat > /dev/null`). Note that a pipe buffers 64 KiB: a message that
//! small may be written completely before the MDA exits, and then counts as delivered, since
//! that cannot be told apart from a real read. Which of the two happens to a
//! small message depends on timing, so a command that does not read its input is simply
//! wrong for delivery; real MDAs (procmail, maildrop, dovecot-lda) always read it all.
//!
//! # Durability and recovery
//!
//! The MDA owns durability: [`Deliver::sync`] does nothing. A delivery cannot be checked
//! afterwards, so [`Deliver::recover`] always answers [`Recovered::Missing`]: if mailpull is
//! killed after the MDA exited 0 but before the ledger recorded the message, the message is
//! fetched and delivered again on the next run. Never losing a message beats never doubling
//! one. The engine is meant to record MDA deliveries one at a time, which keeps this window
//! to the instant between the MDA's exit and one ledger write.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::spool::Spool;
use super::{Deliver, DeliverError, MessageInfo, Recovered};
use crate::command::{self, Finished};
use crate::fs::CopyError;

/// Per-process counter making tokens unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A mail delivery agent command.
pub struct Mda {
    command: String,
    timeout: Duration,
    local_user: String,
    token: String,
    next: u64,
}

impl Mda {
    /// `command` is run through `sh -c` for every message, after expanding `%F`, `%u` and `%%`
    /// (see the module documentation); it is killed after `timeout`. `local_user` is what `%u`
    /// stands for.
    pub fn new(command: String, timeout: Duration, local_user: String) -> Mda {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Mda {
            command,
            timeout,
            local_user,
            token: format!(
                "mda.{}.{}.{}",
                now.as_secs(),
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            next: 0,
        }
    }

    fn local(&self, source: io::Error) -> DeliverError {
        DeliverError::Local {
            target: self.describe(),
            source,
        }
    }

    fn rejected(&self, uid: &str, detail: String) -> DeliverError {
        let detail = if uid.is_empty() {
            detail
        } else {
            format!("message {uid}: {detail}")
        };
        DeliverError::Rejected {
            target: self.describe(),
            detail,
        }
    }

    /// Runs the command on the spooled message. `Ok(Err(detail))` is a rejection.
    fn run(&self, spool: Spool) -> io::Result<Result<(), String>> {
        let size = spool.len();
        let sender = spool.sender().unwrap_or_default();
        let command = expand(&self.command, &sender, self.local_user.as_bytes());
        let input = spool.into_reader()?;
        let Finished {
            status,
            fed,
            stderr,
        } = command::run(OsString::from_vec(command), input, &[], self.timeout)?;
        let stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!("; stderr: {stderr}")
        };
        let what = match status {
            None => format!("timed out after {}", command::seconds(self.timeout)),
            Some(status) if !status.success() => command::describe_status(status),
            Some(_) => match fed {
                Some((Ok(()), _)) => return Ok(Ok(())),
                Some((Err(CopyError::Read(e)), _)) => return Err(e),
                Some((Err(CopyError::Write(e)), written))
                    if e.kind() == io::ErrorKind::BrokenPipe =>
                {
                    format!(
                        "exited with status 0 without reading the whole message \
                         ({written} of {size} bytes)"
                    )
                }
                Some((Err(CopyError::Write(e)), written)) => format!(
                    "exited with status 0, but writing the message to it failed after \
                     {written} of {size} bytes: {e}"
                ),
                None => "exited with status 0 while its input was still held open \
                         (by a process it left behind)"
                    .to_string(),
            },
        };
        Ok(Err(format!("command `{}` {what}{stderr}", self.command)))
    }
}

/// Where a placeholder stands in a shell command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Quoting {
    None,
    Single,
    Double,
}

/// Expands `%F` (sender), `%u` (user) and `%%` in `template`, quoting the values for the
/// shell according to the quoting in effect at each placeholder.
fn expand(template: &str, sender: &[u8], user: &[u8]) -> Vec<u8> {
    let t = template.as_bytes();
    let mut out = Vec::with_capacity(t.len() + sender.len() + user.len() + 8);
    let mut quoting = Quoting::None;
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        if c == b'%' && i + 1 < t.len() {
            let value = match t[i + 1] {
                b'F' => Some(sender),
                b'u' => Some(user),
                b'%' => {
                    out.push(b'%');
                    i += 2;
                    continue;
                }
                _ => None,
            };
            if let Some(value) = value {
                quote(quoting, value, &mut out);
                i += 2;
                continue;
            }
        }
        match (quoting, c) {
            (Quoting::None | Quoting::Double, b'\\') if i + 1 < t.len() => {
                out.extend_from_slice(&t[i..i + 2]);
                i += 2;
                continue;
            }
            (Quoting::None, b'\'') => quoting = Quoting::Single,
            (Quoting::None, b'"') => quoting = Quoting::Double,
            (Quoting::Single, b'\'') | (Quoting::Double, b'"') => quoting = Quoting::None,
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Appends `value`, without control characters, quoted for the context.
fn quote(quoting: Quoting, value: &[u8], out: &mut Vec<u8>) {
    let clean = value.iter().copied().filter(|&c| c >= b' ' && c != 0x7f);
    match quoting {
        Quoting::None => {
            out.push(b'\'');
            for c in clean {
                if c == b'\'' {
                    out.extend_from_slice(b"'\\''");
                } else {
                    out.push(c);
                }
            }
            out.push(b'\'');
        }
        Quoting::Single => {
            for c in clean {
                if c == b'\'' {
                    out.extend_from_slice(b"'\\''");
                } else {
                    out.push(c);
                }
            }
        }
        Quoting::Double => {
            for c in clean {
                if matches!(c, b'\\' | b'"' | b'$' | b'`') {
                    out.push(b'\\');
                }
                out.push(c);
            }
        }
    }
}

impl Deliver for Mda {
    fn reserve(&mut self) -> io::Result<String> {
        let location = format!("{}.{}", self.token, self.next);
        self.next += 1;
        Ok(location)
    }

    /// Spools the message, then runs the command on it. Returns the message size.
    fn deliver(
        &mut self,
        _location: &str,
        info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError> {
        let spool = match Spool::fill(body) {
            Ok(spool) => spool,
            Err(CopyError::Read(e)) => return Err(DeliverError::Body(e)),
            Err(CopyError::Write(e)) => return Err(self.local(e)),
        };
        let size = spool.len();
        match self.run(spool) {
            Ok(Ok(())) => Ok(size),
            Ok(Err(detail)) => Err(self.rejected(&info.uid, detail)),
            Err(e) => Err(self.local(e)),
        }
    }

    /// Nothing to do: the MDA made the message durable before it exited 0.
    fn sync(&mut self) -> Result<(), DeliverError> {
        Ok(())
    }

    /// An MDA delivery cannot be checked: the message is fetched again (see the module
    /// documentation).
    fn recover(&mut self, _location: &str) -> Result<Recovered, DeliverError> {
        Ok(Recovered::Missing)
    }

    fn describe(&self) -> String {
        format!("MDA `{}`", self.command)
    }

    fn verifiable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::STDERR_TAIL;
    use std::fs;
    use std::path::Path;
    use std::time::Instant;

    fn info() -> MessageInfo {
        MessageInfo {
            uid: "uidl-7".into(),
            size: 0,
        }
    }

    fn mda(command: &str) -> Mda {
        Mda::new(command.to_string(), Duration::from_secs(10), "alice".into())
    }

    fn sh_quote(p: &Path) -> String {
        let mut out = Vec::new();
        quote(Quoting::None, p.as_os_str().as_encoded_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn run_ok(m: &mut Mda, body: &[u8]) -> u64 {
        let loc = m.reserve().unwrap();
        m.deliver(&loc, &info(), &mut &body[..]).unwrap()
    }

    fn run_err(m: &mut Mda, body: &[u8]) -> DeliverError {
        let loc = m.reserve().unwrap();
        m.deliver(&loc, &info(), &mut &body[..]).unwrap_err()
    }

    fn rejected_detail(err: &DeliverError) -> &str {
        match err {
            DeliverError::Rejected { detail, .. } => detail,
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn expansion_quotes_for_each_context() {
        let e = |t: &str, f: &str| String::from_utf8(expand(t, f.as_bytes(), b"bob")).unwrap();
        assert_eq!(e("deliver -f %F", "a'b@x"), r"deliver -f 'a'\''b@x'");
        assert_eq!(e("deliver -f %F -d %u", ""), "deliver -f '' -d 'bob'");
        assert_eq!(e("x '%F' y", "a'b"), r"x 'a'\''b' y");
        assert_eq!(e(r#"x "%F" y"#, r#"$a`b"c\d"#), r#"x "\$a\`b\"c\\d" y"#);
        assert_eq!(e("100%% %x %", "s"), "100% %x %");
        assert_eq!(e(r"a\'%F", "s"), r"a\''s'");
        assert_eq!(e(r#"'"' %F"#, "s"), r#"'"' 's'"#);
        assert_eq!(e(r#""\"" %F"#, "s"), r#""\"" 's'"#);
        assert_eq!(e("%F", "a\nb\0c\x7f"), "'abc'");
        assert_eq!(e("%u%F", "s"), "'bob''s'");
    }

    #[test]
    fn cat_delivers_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut m = mda(&format!("cat > {}", sh_quote(&out)));
        let mut body = b"Return-Path: <a@b>\nSubject: hi\n\nFrom here\n".to_vec();
        body.extend((0..300_000u32).map(|i| (i % 256) as u8));
        assert_eq!(run_ok(&mut m, &body), body.len() as u64);
        assert_eq!(fs::read(&out).unwrap(), body);
        m.sync().unwrap();
        let loc = m.reserve().unwrap();
        assert_eq!(m.recover(&loc).unwrap(), Recovered::Missing);
        assert!(m.describe().starts_with("MDA `cat > "), "{}", m.describe());
        // Empty message.
        assert_eq!(run_ok(&mut m, b""), 0);
        assert_eq!(fs::read(&out).unwrap(), b"");
    }

    #[test]
    fn hostile_senders_never_run_anything() {
        let dir = tempfile::tempdir().unwrap();
        let pwned = dir.path().join("PWNED");
        let p = pwned.display().to_string();
        let out = dir.path().join("out");
        let senders = [
            "a'b@x".to_string(),
            format!("$(touch {p})@x"),
            format!("`touch {p}`@x"),
            format!("a b; touch {p}; @x"),
            format!("'; touch {p}; '@x"),
            format!("\"; touch {p}; \"@x"),
            format!("'$(touch {p})'\"`touch {p}`\"\\@x"),
            "*".to_string(),
        ];
        let o = sh_quote(&out);
        let commands = [
            format!("cat > /dev/null; printf '%s\\n' %F %u > {o}"),
            format!("cat > /dev/null; printf '%s\\n' '%F' '%u' > {o}"),
            format!("cat > /dev/null; printf '%s\\n' \"%F\" \"%u\" > {o}"),
            format!("cat > /dev/null; printf '%s\\n' x%Fy \"%u\" > {o}"),
        ];
        let mut m = Mda::new(
            String::new(),
            Duration::from_secs(10),
            "al'ice $(id)".into(),
        );
        for command in &commands {
            m.command = command.clone();
            for sender in &senders {
                let body = format!("Return-Path: <{sender}>\nSubject: x\n\nbody\n");
                run_ok(&mut m, body.as_bytes());
                assert!(!pwned.exists(), "{command} with {sender} ran something");
                let printed = fs::read_to_string(&out).unwrap();
                let expected = if command.contains("x%Fy") {
                    format!("x{sender}y\nal'ice $(id)\n")
                } else {
                    format!("{sender}\nal'ice $(id)\n")
                };
                assert_eq!(printed, expected, "{command} with {sender}");
            }
        }
        // No Return-Path, and <>: an empty argument.
        m.command = format!("cat > /dev/null; printf '[%s]' %F > {o}");
        run_ok(&mut m, b"Subject: x\n\n");
        assert_eq!(fs::read_to_string(&out).unwrap(), "[]");
        run_ok(&mut m, b"Return-Path: <>\n\n");
        assert_eq!(fs::read_to_string(&out).unwrap(), "[]");
    }

    #[test]
    fn failure_status_is_rejected_with_stderr() {
        let mut m = mda("cat > /dev/null; echo 'no such user' >&2; exit 1");
        let err = run_err(&mut m, b"Subject: x\n\n");
        assert!(!err.is_fatal());
        let text = err.to_string();
        let detail = rejected_detail(&err);
        assert!(detail.contains("exited with status 1"), "{detail}");
        assert!(detail.contains("no such user"), "{detail}");
        assert!(detail.contains("echo 'no such user'"), "{detail}");
        assert!(text.contains("uidl-7"), "{text}");
        // Temporary failure (EX_TEMPFAIL) is reported the same way.
        let err = run_err(&mut mda("exit 75"), b"x");
        assert!(rejected_detail(&err).contains("status 75"));
    }

    #[test]
    fn death_by_signal_is_rejected() {
        let err = run_err(&mut mda("kill -9 $$"), b"Subject: x\n\n");
        let detail = rejected_detail(&err);
        assert!(detail.contains("killed by signal 9 (SIGKILL)"), "{detail}");
    }

    /// Processes of group `pgid` that are still running (zombies do not count).
    fn live_members(pgid: i32) -> Vec<i32> {
        let mut live = Vec::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
                live.push(pid);
            }
        }
        live
    }

    #[test]
    fn timeout_kills_the_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let command = format!("echo $$ > {}; sleep 60 & sleep 60", sh_quote(&pidfile));
        let mut m = Mda::new(command, Duration::from_secs(1), "alice".into());
        let start = Instant::now();
        let err = run_err(&mut m, b"Subject: x\n\n");
        let took = start.elapsed();
        assert!(took < Duration::from_millis(2500), "{took:?}");
        assert!(took >= Duration::from_millis(900), "{took:?}");
        let detail = rejected_detail(&err);
        assert!(detail.contains("timed out after 1 s"), "{detail}");
        let pgid: i32 = fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !live_members(pgid).is_empty() {
            assert!(
                Instant::now() < deadline,
                "still running: {:?}",
                live_members(pgid)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn exit_zero_without_reading_input() {
        // Larger than any pipe buffer: the MDA cannot have read it.
        let big = vec![b'x'; 4 << 20];
        let err = run_err(&mut mda("true"), &big);
        let detail = rejected_detail(&err);
        assert!(
            detail.contains("without reading the whole message"),
            "{detail}"
        );
        assert!(
            detail.contains(&format!("of {} bytes", big.len())),
            "{detail}"
        );
        // A small message may fit into the pipe before the MDA exits: then it cannot be told
        // apart from a real read and counts as delivered. Either outcome is accepted here.
        let mut m = mda("true");
        let loc = m.reserve().unwrap();
        match m.deliver(&loc, &info(), &mut &b"Subject: x\n\n"[..]) {
            Ok(n) => assert_eq!(n, 12),
            Err(e) => assert!(rejected_detail(&e).contains("without reading")),
        }
        // Exiting non-zero without reading reports the status.
        let err = run_err(&mut mda("exit 3"), &big);
        assert!(rejected_detail(&err).contains("exited with status 3"));
    }

    #[test]
    fn large_messages_are_streamed() {
        let size = 20 * 1024 * 1024 + 3;
        let mut m = mda("cat > /dev/null");
        let loc = m.reserve().unwrap();
        let mut body = io::repeat(b'y').take(size);
        assert_eq!(m.deliver(&loc, &info(), &mut body).unwrap(), size);
    }

    #[test]
    fn stderr_is_captured_and_bounded() {
        let mut m = mda(
            "cat > /dev/null; i=0; while [ $i -lt 3000 ]; do echo \"line $i of noise\" >&2; \
             i=$((i+1)); done; echo LAST >&2; exit 2",
        );
        let err = run_err(&mut m, &vec![b'z'; 200_000]);
        let detail = rejected_detail(&err);
        assert!(detail.contains("exited with status 2"), "{detail}");
        assert!(detail.ends_with("LAST"), "{detail}");
        assert!(detail.contains("; stderr: …"), "{detail}");
        assert!(detail.len() < STDERR_TAIL + 400, "{}", detail.len());
    }

    #[test]
    fn broken_body_never_starts_the_mda() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(b'a');
                self.0 -= n;
                Ok(n)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let mut m = mda(&format!("cat > {}", sh_quote(&marker)));
        let loc = m.reserve().unwrap();
        let err = m
            .deliver(&loc, &info(), &mut Broken(3_000_000))
            .unwrap_err();
        assert!(matches!(err, DeliverError::Body(_)), "{err:?}");
        assert!(!marker.exists());
    }

    #[test]
    fn reserve_is_unique() {
        let mut a = mda("true");
        let mut b = mda("true");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            assert!(seen.insert(a.reserve().unwrap()));
            assert!(seen.insert(b.reserve().unwrap()));
        }
    }
}
