//! Scripted-server mutation test: the real `mailpull` binary against the scripted POP3 server
//! (`tests/common/scripted.rs`), over many seeded mutations of a valid session.
//!
//! For each configuration (PIPELINING with AUTH PLAIN, or one command at a time with USER/PASS;
//! delete or keep mode) an honest run records the server's replies: greeting, CAPA, login,
//! UIDL and LIST listings, RETRs with their `UIDL n` sentinels, DELEs, QUIT. Each case then
//! picks one or two of those replies and mutates them (seeded, deterministic): byte flips,
//! inserted, deleted or duplicated lines, changed numbers, extra blocks, non-UTF-8 and overlong
//! lines, cuts and early closes. mailpull runs against a fresh server that sends the mutated
//! replies (the commands still take effect: a DELE marks, QUIT commits), then against the same
//! server without mutation. The oracles, for every case:
//! - no panic: the run exits with a code (never 101, 134 or 70) within a generous deadline;
//! - bounded memory: peak RSS under [`RSS_LIMIT_KIB`];
//! - nothing delivered that is not a whole server message: every Maildir file is one of the
//!   true messages, or the decoding of a mutated RETR reply that is itself a well-formed reply
//!   (the server did send that message), and no message is there twice; `tmp/` is empty;
//! - nothing deleted that was not durably delivered: at every DELE the message is already in
//!   the Maildir, and whatever left the server is in the Maildir;
//! - nothing recorded under a wrong key: the follow-up clean run exits 0 and leaves every
//!   message exactly once in the Maildir (a message recorded under another's unique id would
//!   be fetched again and show twice, or be missing), and the server empty in delete mode.
//!
//! One relaxation, the residual risk documented in `src/pop3/session.rs`: without pipelining
//! there is no `UIDL n` sentinel, so a mutated unique id in the UIDL listing is believed, and
//! that message is fetched again once the server lists its true id (it may then be there
//! twice, never lost).
//!
//! `cargo test` runs [`DEFAULT_CASES`] cases per configuration; `POP3_MUTATION_CASES=N` runs N
//! per configuration, `POP3_MUTATION_SEED=S` starts at another seed, `POP3_MUTATION_ONLY=C:S`
//! runs the single case of configuration C and seed S (as printed by a failure), and
//! `POP3_MUTATION_THREADS` sets the parallelism (default 2).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::run::{self, Sandbox};
use common::scripted::{
    self, Close, Config, Fault, Message, Scripted, Step, CAPA_FULL, CAPA_MINIMAL,
};

/// Cases per configuration under `cargo test`.
const DEFAULT_CASES: usize = 60;
/// A run must end within this, whatever the server does (the mutated run has `--timeout 1`).
const DEADLINE: Duration = Duration::from_secs(30);
/// Peak resident memory allowed for one run (the debug binary uses about 10–15 MiB).
const RSS_LIMIT_KIB: i64 = 96 * 1024;
/// Marks the DELE check's violations.
const NOT_DELIVERED: &str = "NOT DELIVERED";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Delete,
    Keep,
}

/// One server configuration and mode.
#[derive(Clone, Copy, Debug)]
struct Setup {
    capa: &'static [&'static str],
    mode: Mode,
}

impl Setup {
    fn pipelining(&self) -> bool {
        self.capa.contains(&"PIPELINING")
    }
}

const SETUPS: [Setup; 4] = [
    Setup {
        capa: CAPA_FULL,
        mode: Mode::Delete,
    },
    Setup {
        capa: CAPA_MINIMAL,
        mode: Mode::Delete,
    },
    Setup {
        capa: CAPA_FULL,
        mode: Mode::Keep,
    },
    Setup {
        capa: CAPA_MINIMAL,
        mode: Mode::Keep,
    },
];

// ---------------------------------------------------------------------------------------------
// The mailbox

/// Five messages of distinct sizes (two of them close), with lines that need dot-stuffing, a
/// lone `.` line, a line that reads like a status line inside a body, 8-bit bytes and a long
/// line. Every reply stays well under 64 KiB even with a copied block appended, so that a reply
/// and what the server appended to it arrive together.
fn messages() -> Vec<Message> {
    let head = |i: usize, subject: &str| {
        format!(
            "From: Bob <bob@example.org>\r\nTo: Alice <alice@example.org>\r\nSubject: {subject}\r\n\
             Message-ID: <mut-{i}@scripted.test>\r\n\r\n"
        )
    };
    let text = |n: usize, seed: usize| {
        let mut s = String::new();
        let mut i = seed;
        while s.len() < n {
            match i % 23 {
                0 => s.push_str(".a line that starts with a dot\r\n"),
                7 => s.push_str(".\r\n"),
                11 => s.push_str("..\r\n"),
                _ => s.push_str(&format!("line {i} of the body, with some words in it\r\n")),
            }
            i += 1;
        }
        s
    };
    let mut m3 = head(3, "dots and bytes").into_bytes();
    m3.extend_from_slice(text(9000, 3).as_bytes());
    m3.extend_from_slice(b"+OK 12 octets but not a status line here\r\ncaf\xc3\xa9 \xff\xfe\r\n");
    vec![
        Message::new("m1-uid", format!("{}Short.\r\n", head(1, "one"))),
        Message::new("m2-uid", format!("{}{}", head(2, "two"), text(2500, 2))),
        Message::new("m3-uid", m3),
        Message::new(
            "m4-uid",
            format!("{}{}\r\nend\r\n", head(4, "long line"), "x".repeat(1500)),
        ),
        Message::new("m5-uid", format!("{}{}", head(5, "five"), text(16_000, 5))),
    ]
}

/// What mailpull delivers for each unique id, by default.
fn truth(msgs: &[Message]) -> BTreeMap<String, Vec<u8>> {
    msgs.iter()
        .map(|m| (m.uidl.clone(), run::expected_delivery(&m.raw)))
        .collect()
}

/// The message a well-formed RETR reply carries, decoded as a client must: a `+OK` status
/// line, the lines up to a line that is `.` (one leading dot of `..` removed, CRLF or LF line
/// ends, delivered as LF), and nothing after it. `None` for anything else.
fn decode_reply(reply: &[u8]) -> Option<Vec<u8>> {
    let nl = reply.iter().position(|&b| b == b'\n')?;
    let status = reply[..nl].strip_suffix(b"\r").unwrap_or(&reply[..nl]);
    let ok = status.len() >= 3
        && status[..3].eq_ignore_ascii_case(b"+OK")
        && (status.len() == 3 || status[3] == b' ');
    if !ok {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = nl + 1;
    loop {
        let end = pos + reply[pos..].iter().position(|&b| b == b'\n')?;
        let mut line = &reply[pos..end];
        line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = end + 1;
        if line == b"." {
            return (pos == reply.len()).then_some(out);
        }
        if line.starts_with(b"..") {
            line = &line[1..];
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// A recorded reply: its step and bytes.
type Reply = (Step, Vec<u8>);

/// One case: the faults for the mutated run and what they allow.
struct Case {
    describe: String,
    faults: Vec<Fault>,
    /// Contents a unique id may be delivered with besides its true one (a mutated RETR reply
    /// that is still a well-formed reply).
    also: BTreeMap<String, Vec<u8>>,
    /// The UIDL listing was mutated.
    listing: bool,
    /// The CAPA reply was mutated (it may have lost PIPELINING).
    capa: bool,
}

/// Splits into lines, each with its line end.
fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    b.split_inclusive(|&c| c == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn pick<'a, T>(rng: &mut fastrand::Rng, v: &'a [T]) -> &'a T {
    &v[rng.usize(..v.len())]
}

/// A line to insert: something a server might plausibly send at the wrong time, or garbage.
fn some_line(rng: &mut fastrand::Rng, transcript: &[Reply], msgs: &[Message]) -> Vec<u8> {
    let m = rng.usize(..msgs.len());
    match rng.u8(..8) {
        0 => b"+OK\r\n".to_vec(),
        1 => format!("+OK {} {}\r\n", m + 1, msgs[m].uidl).into_bytes(),
        2 => b"-ERR oops\r\n".to_vec(),
        3 => b".\r\n".to_vec(),
        4 => b"\r\n".to_vec(),
        5 => b"\xff\xfe\r\n".to_vec(),
        6 => format!("+OK {} octets\r\n", msgs[m].raw.len()).into_bytes(),
        _ => {
            let (_, other) = pick(rng, transcript);
            let l = lines(other);
            pick(rng, &l).clone()
        }
    }
}

/// Mutates `bytes` once; returns what was done.
fn mutate(
    rng: &mut fastrand::Rng,
    bytes: &mut Vec<u8>,
    transcript: &[Reply],
    msgs: &[Message],
) -> String {
    let mut ls = lines(bytes);
    let what = match rng.u8(..9) {
        0 | 1 if !bytes.is_empty() => {
            let i = rng.usize(..bytes.len());
            let x = rng.u8(1..);
            bytes[i] ^= x;
            return format!("flip byte {i} ^ {x:#04x}");
        }
        2 => {
            let at = rng.usize(..=ls.len());
            let line = some_line(rng, transcript, msgs);
            let shown = String::from_utf8_lossy(&line).trim_end().to_string();
            ls.insert(at, line);
            format!("insert line {at} {shown:?}")
        }
        3 if !ls.is_empty() => {
            let at = rng.usize(..ls.len());
            ls.remove(at);
            format!("delete line {at}")
        }
        4 if !ls.is_empty() => {
            let at = rng.usize(..ls.len());
            let l = ls[at].clone();
            ls.insert(at, l);
            format!("duplicate line {at}")
        }
        5 => {
            // A run of digits gets another value.
            let text = bytes.clone();
            let runs: Vec<(usize, usize)> = {
                let mut v = Vec::new();
                let mut i = 0;
                while i < text.len() {
                    if text[i].is_ascii_digit() {
                        let s = i;
                        while i < text.len() && text[i].is_ascii_digit() {
                            i += 1;
                        }
                        v.push((s, i));
                    } else {
                        i += 1;
                    }
                }
                v
            };
            if runs.is_empty() {
                return mutate(rng, bytes, transcript, msgs);
            }
            let (s, e) = *pick(rng, &runs);
            let old: u128 = std::str::from_utf8(&text[s..e])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let new = match rng.u8(..7) {
                0 => "0".to_string(),
                1 => (old + 1).to_string(),
                2 => old.saturating_sub(1).to_string(),
                3 => "4294967295".to_string(),
                4 => "18446744073709551616".to_string(),
                5 => (old * 1000).to_string(),
                _ => rng.u32(..1_000_000).to_string(),
            };
            bytes.splice(s..e, new.bytes());
            return format!("number at {s}: {old} -> {new}");
        }
        6 => {
            let block = if rng.bool() {
                b"+OK extra\r\nsome text\r\n.\r\n".to_vec()
            } else {
                // A copy of another multi-line reply (RETR, listing, CAPA).
                let multi: Vec<&Reply> = transcript
                    .iter()
                    .filter(|(_, b)| b.ends_with(b".\r\n"))
                    .collect();
                pick(rng, &multi).1.clone()
            };
            let at = if rng.bool() {
                ls.len()
            } else {
                rng.usize(..=ls.len())
            };
            ls.insert(at, block);
            format!("extra block at line {at}")
        }
        7 => {
            let n = rng.usize(10_000..120_000);
            let at = rng.usize(..=ls.len());
            let mut l = vec![b'A'; n];
            l.extend_from_slice(b"\r\n");
            ls.insert(at, l);
            format!("a {n}-byte line at line {at}")
        }
        _ => {
            // Not UTF-8 where the status line starts.
            let at = rng.usize(..=bytes.len().min(6));
            bytes.splice(at..at, [0xffu8, 0xfe]);
            return format!("\\xff\\xfe at byte {at}");
        }
    };
    *bytes = ls.concat();
    what
}

/// Builds case `seed` from a configuration's recorded replies.
fn make_case(seed: u64, transcript: &[Reply], msgs: &[Message]) -> Case {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut case = Case {
        describe: String::new(),
        faults: Vec::new(),
        also: BTreeMap::new(),
        listing: false,
        capa: false,
    };
    let count = if rng.u8(..4) == 0 { 2 } else { 1 };
    let mut used: Vec<usize> = Vec::new();
    for _ in 0..count {
        let i = rng.usize(..transcript.len());
        if used.contains(&i) {
            continue;
        }
        used.push(i);
        let (step, original) = &transcript[i];
        let close = if rng.bool() { Close::Fin } else { Close::Rst };
        let roll = rng.u8(..20);
        let what = if roll == 0 {
            // Close instead of answering.
            case.faults.push(match step {
                Step::Greeting => Fault::CutAfter(Step::Connect, close),
                s => Fault::CutBefore(s.clone(), close),
            });
            format!("close ({close:?}) instead of the reply")
        } else if roll == 1 && !original.is_empty() {
            // Cut the reply short, then close.
            let at = rng.usize(..original.len());
            case.faults
                .push(Fault::ReplaceReply(step.clone(), original[..at].to_vec()));
            case.faults.push(Fault::CutAfter(step.clone(), close));
            format!("cut after {at} of {} bytes ({close:?})", original.len())
        } else {
            let mut bytes = original.clone();
            let mut what = mutate(&mut rng, &mut bytes, transcript, msgs);
            if rng.u8(..5) == 0 {
                what.push_str(", ");
                what.push_str(&mutate(&mut rng, &mut bytes, transcript, msgs));
            }
            if let Step::Reply(k, n) = step {
                if k.eq_ignore_ascii_case("RETR") {
                    if let Some(content) = decode_reply(&bytes) {
                        case.also.insert(msgs[*n - 1].uidl.clone(), content);
                    }
                }
                case.listing |= k.eq_ignore_ascii_case("UIDL") && *n == 1;
                case.capa |= k.eq_ignore_ascii_case("CAPA");
            }
            case.faults.push(Fault::ReplaceReply(step.clone(), bytes));
            what
        };
        case.describe.push_str(&format!("[{step:?}: {what}] "));
    }
    case
}

// ---------------------------------------------------------------------------------------------
// Running mailpull

/// A finished run.
struct Ran {
    status: ExitStatus,
    output: Output,
    rss_kib: i64,
    elapsed: Duration,
    timed_out: bool,
}

impl Ran {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `cmd`, reading its output meanwhile; kills it after [`DEADLINE`] (and says so).
#[allow(clippy::zombie_processes)] // the child is reaped with wait4, not Child::wait
fn run_cmd(mut cmd: Command) -> Ran {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mailpull");
    let pump = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = pump(Box::new(child.stdout.take().unwrap()));
    let stderr = pump(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: our own child's pid, valid out-pointers; the child is reaped only here.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > DEADLINE && !timed_out {
            timed_out = true;
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ran {
        status: ExitStatus::from_raw(status),
        output: Output {
            status: ExitStatus::from_raw(status),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        rss_kib: usage.ru_maxrss,
        elapsed: start.elapsed(),
        timed_out,
    }
}

/// `mailpull -v fetch --timeout SECS` against `server` into the sandbox's Maildir.
fn fetch(sandbox: &Sandbox, server: &Scripted, mode: Mode, timeout: u32) -> Ran {
    let mut cmd = sandbox.cmd(Some(scripted::PASSWORD));
    cmd.arg("-v")
        .arg("fetch")
        .arg(server.url())
        .arg("--maildir")
        .arg(sandbox.maildir())
        .args(["--timeout", &timeout.to_string(), "--insecure-no-tls"]);
    if mode == Mode::Keep {
        cmd.arg("--keep");
    }
    run_cmd(cmd)
}

/// The Maildir's messages (new/ and cur/), each mapped to the unique id whose acceptable
/// content it is; an error for a file that is no message's.
fn delivered(
    maildir: &Path,
    truth: &BTreeMap<String, Vec<u8>>,
    also: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, usize>, String> {
    if run::tmp_count(maildir) != 0 {
        return Err("files left in Maildir/tmp".into());
    }
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for (name, bytes) in run::maildir_messages(maildir) {
        let uid = truth
            .iter()
            .chain(also.iter())
            .find(|(_, want)| **want == bytes)
            .map(|(u, _)| u.clone());
        match uid {
            Some(u) => *found.entry(u).or_insert(0) += 1,
            None => {
                let prefix_of: Vec<&String> = truth
                    .iter()
                    .filter(|(_, w)| w.starts_with(&bytes))
                    .map(|(u, _)| u)
                    .collect();
                return Err(format!(
                    "{name} ({} bytes) is no server message{}: {:?}",
                    bytes.len(),
                    if prefix_of.is_empty() {
                        String::new()
                    } else {
                        format!(" (a truncated copy of {prefix_of:?})")
                    },
                    String::from_utf8_lossy(&bytes[..bytes.len().min(120)])
                ));
            }
        }
    }
    Ok(found)
}

/// The DELE check: the message must be in the Maildir, as its true or an allowed content.
fn dele_check(
    maildir: PathBuf,
    truth: BTreeMap<String, Vec<u8>>,
    also: BTreeMap<String, Vec<u8>>,
) -> scripted::DeleCheck {
    Arc::new(move |uidl: &String| {
        let wants: Vec<&Vec<u8>> = [truth.get(uidl), also.get(uidl)]
            .into_iter()
            .flatten()
            .collect();
        if wants.iter().any(|w| common::fault::in_maildir(&maildir, w)) {
            Ok(())
        } else {
            Err(format!(
                "{NOT_DELIVERED}: DELE before the message was in the Maildir"
            ))
        }
    })
}

/// Runs one case; `Err` describes the broken oracle.
fn run_case(setup: Setup, transcript: &[Reply], seed: u64) -> Result<i32, String> {
    let msgs = messages();
    let truth = truth(&msgs);
    let case = make_case(seed, transcript, &msgs);
    let sandbox = Sandbox::new();
    let config = Config::with_capa(setup.capa);
    let server = Scripted::with_config(config, msgs.clone());
    server.set_delete_check(dele_check(
        sandbox.maildir(),
        truth.clone(),
        case.also.clone(),
    ));
    for f in &case.faults {
        server.fault_next(f.clone());
    }
    let context = |what: &str, ran: &Ran| {
        format!(
            "{what}\ncase: {}\nexit {:?} after {:?}, peak RSS {} KiB\nstderr:\n{}",
            case.describe,
            ran.status,
            ran.elapsed,
            ran.rss_kib,
            ran.stderr()
        )
    };

    // The mutated run.
    // A short timeout: a mutation that leaves mailpull waiting for a reply costs a second.
    let r1 = fetch(&sandbox, &server, setup.mode, 1);
    server.wait_idle(Duration::from_secs(20));
    if r1.timed_out {
        return Err(context("the run did not end within the deadline", &r1));
    }
    let Some(code) = r1.status.code() else {
        return Err(context("killed by a signal", &r1));
    };
    if [101, 134, 70].contains(&code) {
        return Err(context("panic or abort", &r1));
    }
    if r1.rss_kib > RSS_LIMIT_KIB {
        return Err(context("too much memory", &r1));
    }
    let stats = server.stats();
    if let Some(v) = stats.violations.iter().find(|v| v.contains(NOT_DELIVERED)) {
        return Err(context(&format!("deleted before delivery: {v}"), &r1));
    }
    if stats.connections != 1 || stats.logins + stats.failed_logins > 1 {
        return Err(context("more than one connection or login", &r1));
    }
    let d1 = delivered(&sandbox.maildir(), &truth, &case.also).map_err(|e| context(&e, &r1))?;
    if let Some((u, _)) = d1.iter().find(|(_, n)| **n > 1) {
        return Err(context(&format!("{u} delivered twice"), &r1));
    }
    let on_server: Vec<String> = server.uidls();
    for m in &msgs {
        if !on_server.contains(&m.uidl) && !d1.contains_key(&m.uidl) {
            return Err(context(
                &format!("{} left the server undelivered", m.uidl),
                &r1,
            ));
        }
    }
    if setup.mode == Mode::Keep && (on_server.len() != msgs.len() || !stats.deleted.is_empty()) {
        return Err(context("keep mode deleted", &r1));
    }

    // The clean run: every message exactly once, none lost.
    let r2 = fetch(&sandbox, &server, setup.mode, 20);
    server.wait_idle(Duration::from_secs(20));
    if r2.timed_out || r2.status.code() != Some(0) {
        return Err(context(
            &format!("the clean run failed ({:?}):\n{}", r2.status, r2.stderr()),
            &r1,
        ));
    }
    let stats = server.stats();
    if let Some(v) = stats.violations.iter().find(|v| v.contains(NOT_DELIVERED)) {
        return Err(context(
            &format!("clean run: deleted before delivery: {v}"),
            &r1,
        ));
    }
    let d2 = delivered(&sandbox.maildir(), &truth, &case.also).map_err(|e| context(&e, &r1))?;
    // Without the sentinel a mutated unique id in the listing is believed (see the module
    // documentation).
    let rekey_allowed = case.listing && (!setup.pipelining() || case.capa);
    for m in &msgs {
        let n = d2.get(&m.uidl).copied().unwrap_or(0);
        let ok = n == 1 || (rekey_allowed && n == 2);
        if !ok {
            return Err(context(
                &format!(
                    "after the clean run {} is in the Maildir {n} times (recorded under a wrong \
                     key?)\nclean run stderr:\n{}",
                    m.uidl,
                    r2.stderr()
                ),
                &r1,
            ));
        }
    }
    let left = server.uidls();
    match setup.mode {
        Mode::Delete if !left.is_empty() => {
            return Err(context(
                &format!("the clean run left {left:?} on the server"),
                &r1,
            ))
        }
        Mode::Keep if left.len() != msgs.len() => {
            return Err(context("keep mode deleted in the clean run", &r1))
        }
        _ => {}
    }
    Ok(code)
}

/// The honest session's replies for a configuration (connection 1 of a recording server).
fn transcript(setup: Setup) -> Vec<Reply> {
    let msgs = messages();
    let sandbox = Sandbox::new();
    let config = Config::with_capa(setup.capa);
    let server = Scripted::with_config(config, msgs.clone());
    server.record_replies(true);
    let r = fetch(&sandbox, &server, setup.mode, 20);
    server.wait_idle(Duration::from_secs(20));
    assert_eq!(r.status.code(), Some(0), "honest run\n{}", r.stderr());
    let stats = server.stats();
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
    let replies: Vec<Reply> = stats
        .replies
        .into_iter()
        .filter(|(c, ..)| *c == 1)
        .map(|(_, s, b)| (s, b))
        .collect();
    // Greeting, CAPA, login, UIDL, LIST, then per message RETR (+ sentinel), DELEs, QUIT.
    let retr = replies
        .iter()
        .filter(|(s, _)| matches!(s, Step::Reply(k, _) if *k == "RETR"))
        .count();
    assert_eq!(retr, msgs.len(), "{replies:?}");
    replies
}

fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn pop3_session_survives_mutated_transcripts() {
    let per_setup = env_num("POP3_MUTATION_CASES").unwrap_or(DEFAULT_CASES as u64);
    let first_seed = env_num("POP3_MUTATION_SEED").unwrap_or(1);
    let threads = env_num("POP3_MUTATION_THREADS").unwrap_or(2).max(1) as usize;
    let only: Option<(usize, u64)> = std::env::var("POP3_MUTATION_ONLY").ok().map(|v| {
        let (c, s) = v.split_once(':').expect("POP3_MUTATION_ONLY=CONFIG:SEED");
        (c.parse().unwrap(), s.parse().unwrap())
    });
    let transcripts: Vec<Vec<Reply>> = SETUPS.iter().map(|s| transcript(*s)).collect();
    let mut jobs: Vec<(usize, u64)> = Vec::new();
    match only {
        Some(job) => jobs.push(job),
        None => {
            for seed in first_seed..first_seed + per_setup {
                for c in 0..SETUPS.len() {
                    jobs.push((c, seed));
                }
            }
        }
    }
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let codes: Mutex<BTreeMap<i32, usize>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(c, seed)) = jobs.get(i) else {
                    return;
                };
                match run_case(SETUPS[c], &transcripts[c], seed) {
                    Ok(code) => *codes.lock().unwrap().entry(code).or_insert(0) += 1,
                    Err(e) => failures.lock().unwrap().push(format!(
                        "POP3_MUTATION_ONLY={c}:{seed} ({:?}): {e}",
                        SETUPS[c]
                    )),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    for f in failures.iter().take(40) {
        eprintln!(
            "FAILED {}",
            f.lines().take(2).collect::<Vec<_>>().join(" | ")
        );
    }
    eprintln!(
        "pop3 mutation: {} cases in {:?}, exit codes {:?}, {} failed",
        jobs.len(),
        start.elapsed(),
        codes.into_inner().unwrap(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed; the first:\n{}",
        failures.len(),
        jobs.len(),
        failures[0]
    );
}

/// The oracle's decoder itself.
#[test]
fn decode_reply_accepts_only_whole_replies() {
    assert_eq!(
        decode_reply(b"+OK 5 octets\r\na\r\n..b\r\n.\r\n").as_deref(),
        Some(&b"a\n.b\n"[..])
    );
    assert_eq!(decode_reply(b"+OK\r\n.\r\n").as_deref(), Some(&b""[..]));
    assert!(decode_reply(b"+OK\r\na\r\n.\r\nmore").is_none());
    assert!(decode_reply(b"+OK\r\na\r\n").is_none());
    assert!(decode_reply(b"-ERR\r\n.\r\n").is_none());
    assert!(decode_reply(b"+OKAY\r\n.\r\n").is_none());
    let m = &messages()[2];
    let mut reply = format!("+OK {} octets\r\n", m.raw.len()).into_bytes();
    reply.extend_from_slice(&m.wire_data());
    reply.extend_from_slice(b".\r\n");
    assert_eq!(
        decode_reply(&reply).unwrap(),
        run::expected_delivery(&m.raw)
    );
}
