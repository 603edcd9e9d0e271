//! The cost of a run that finds nothing new — what a cron job or `watch` pays every few minutes
//! for years — and of the first full fetch, on a big mailbox, side by side with mpop (POP3S)
//! and fetchmail (IMAPS), against one private Dovecot in keep mode.
//!
//! Each tool first fetches the whole mailbox once into its own state directory (the "first
//! run" table: a full fetch, its peak RSS included), runs once more unmeasured (its steady
//! state: mailpull confirms its IMAP resume point), then runs again `MAILPULL_BENCH_RUNS` times
//! with nothing new on the server (the "no-op" table); the no-op runs of the tools alternate,
//! in turns that change order every round, so that a busy moment of this shared machine does
//! not fall on one tool only. Every run is
//! checked: the first delivers every message, a no-op delivers none.
//!
//! fetchmail runs without `fetchall`: it asks the server for the messages not yet `\Seen`,
//! which is cheap but misses mail another client has read; mailpull tracks exact UIDs.
//!
//! Run with `cargo bench --bench noop`. `MAILPULL_BENCH_MESSAGES` sets the number of messages
//! (default 100,000 of 1–20 KB, about 1 GB), `MAILPULL_BENCH_RUNS` the no-op runs per tool
//! (default 21: an IMAP no-op takes some 30 ms, of which the server's share varies by a few ms
//! from run to run), `MAILPULL_BENCH_PROTOCOLS` which protocols to measure (default `pop3,imap`).
//! `MAILPULL_BENCH_TOOLS` limits the tools (e.g. `mailpull,fetchmail`; default all installed).
//! fetchmail's first run is replaced by what it leaves behind — every message `\Seen` — since
//! its full fetch of 100,000 messages takes it well over 40 minutes on this machine; set
//! `MAILPULL_BENCH_FETCHMAIL_FULL=1` to measure it anyway.
//! With `MAILPULL_BENCH_HOLD=1` it keeps the server and the tools' state after the runs and
//! prints their command lines, so that a no-op run can be profiled by hand (`perf record`,
//! `strace -c`, `heaptrack`); Enter ends it.

mod common;
#[path = "../tests/common/dovecot.rs"]
mod dovecot;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use dovecot::{generated_message, Dovecot};

fn main() {
    // `cargo test --all-targets` runs this without --bench: do not spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("no-op benchmark: run it with `cargo bench --bench noop`");
        return;
    }
    let n: usize = env_num("MAILPULL_BENCH_MESSAGES", 100_000);
    let runs: usize = env_num("MAILPULL_BENCH_RUNS", 21).max(1);
    let protocols = std::env::var("MAILPULL_BENCH_PROTOCOLS").unwrap_or("pop3,imap".into());

    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(7);
    let mut total_bytes = 0u64;
    for i in 0..n {
        let m = generated_message(i as u64, rng.usize(1_000..20_000), &mut rng);
        total_bytes += m.len() as u64;
        d.add_message("alice", &m);
    }
    // The generated mailbox is written back before any tool runs, so that no first run pays
    // for it (ext4 makes an fsync wait for other files' dirty data too).
    let _ = Command::new("sync").status();
    println!(
        "mailbox: {n} messages, {:.1} MB on Dovecot (pop3s on 127.0.0.1:{}, imaps on \
         127.0.0.1:{}), keep mode, {runs} no-op runs per tool",
        total_bytes as f64 / 1e6,
        d.pop3s_port(),
        d.imaps_port()
    );
    let mailpull = PathBuf::from(env!("CARGO_BIN_EXE_mailpull"));
    let only = std::env::var("MAILPULL_BENCH_TOOLS").unwrap_or_default();
    let wanted = |name: &str| {
        let ok = only.is_empty() || only.split(',').any(|t| t == name);
        ok && (name == "mailpull" || which(name).is_some())
    };

    if protocols.contains("pop3") {
        let mut tools: Vec<Tool> = Vec::new();
        tools.push(Tool::new("mailpull", {
            let (b, d) = (mailpull.clone(), &d);
            Box::new(move |dir: &Path| mailpull_cmd(&b, d, Proto::Pop3, dir))
        }));
        if wanted("mpop") {
            tools.push(Tool::new("mpop", Box::new(|dir: &Path| mpop_cmd(&d, dir))));
        } else {
            println!("mpop: skipped (not installed or not asked for)");
        }
        compare("POP3 (pop3s)", &d, &mut tools, runs);
        hold(&tools);
    }
    if protocols.contains("imap") {
        // POP3's RETR set \Seen on every message; fetchmail's first run must find them unseen.
        d.doveadm(&[
            "flags", "remove", "-u", "alice", "\\Seen", "mailbox", "INBOX", "ALL",
        ]);
        let mut tools: Vec<Tool> = Vec::new();
        tools.push(Tool::new("mailpull", {
            let (b, d) = (mailpull.clone(), &d);
            Box::new(move |dir: &Path| mailpull_cmd(&b, d, Proto::Imap, dir))
        }));
        if wanted("fetchmail") {
            let mut t = Tool::new(
                "fetchmail",
                Box::new(|dir: &Path| fetchmail_cmd(&d, Proto::Imap, dir, false)),
            );
            if std::env::var_os("MAILPULL_BENCH_FETCHMAIL_FULL").is_none() {
                t.prime = Some(Box::new(|| {
                    d.doveadm(&[
                        "flags", "add", "-u", "alice", "\\Seen", "mailbox", "INBOX", "ALL",
                    ]);
                }));
            }
            tools.push(t);
        } else {
            println!("fetchmail: skipped (not installed or not asked for)");
        }
        compare("IMAP (imaps)", &d, &mut tools, runs);
        hold(&tools);
    }
}

/// With `MAILPULL_BENCH_HOLD` set: prints each tool's command line and waits for Enter.
fn hold(tools: &[Tool]) {
    if std::env::var_os("MAILPULL_BENCH_HOLD").is_none() {
        return;
    }
    for t in tools {
        let cmd = (t.cmd)(t.state.path());
        let env: Vec<String> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}={:?}", k.to_string_lossy(), v?)))
            .collect();
        let args: Vec<String> = cmd.get_args().map(|a| format!("{a:?}")).collect();
        println!(
            "{}: env {} {:?} {}",
            t.name,
            env.join(" "),
            cmd.get_program(),
            args.join(" ")
        );
    }
    println!("holding the server; press Enter to go on");
    let _ = std::io::stdin().read_line(&mut String::new());
}

/// A tool, the command that runs it with its state in a directory, and that directory.
struct Tool<'a> {
    name: &'static str,
    cmd: Box<dyn Fn(&Path) -> Command + 'a>,
    state: tempfile::TempDir,
    /// Puts the tool's state where its first run would leave it, instead of that run.
    prime: Option<Box<dyn Fn() + 'a>>,
}

impl<'a> Tool<'a> {
    fn new(name: &'static str, cmd: Box<dyn Fn(&Path) -> Command + 'a>) -> Self {
        Tool {
            name,
            cmd,
            state: tempfile::tempdir().unwrap(),
            prime: None,
        }
    }

    fn run(&self, want: usize) -> Run {
        let dir = self.state.path();
        run_checked((self.cmd)(dir), dir, want)
    }
}

/// The first (full) run of every tool, then the no-op runs, alternating between the tools.
fn compare(title: &str, d: &Dovecot, tools: &mut [Tool], runs: usize) {
    let all = d.server_count("alice");
    let mut first = Vec::new();
    for t in tools.iter() {
        if let Some(prime) = &t.prime {
            eprintln!("{title}: {} primed (its first run not measured)", t.name);
            prime();
            continue;
        }
        eprintln!("{title}: {} fetches all {all} messages", t.name);
        let mut r = ToolResult::new(t.name, "");
        r.add(0, t.run(all));
        first.push(r);
    }
    // One unmeasured run each, so that every tool is in its steady state (mailpull confirms
    // the resume point the first run wrote with a second full listing).
    for t in tools.iter() {
        let r = t.run(0);
        if let Some(p) = r.problem {
            eprintln!("  {} settling run: {p}", t.name);
        }
    }
    // The first runs left up to gigabytes of dirty pages: written back now, not during the
    // no-op runs.
    let _ = Command::new("sync").status();
    eprintln!("{title}: no-op runs");
    let contenders = tools
        .iter()
        .map(|t| Contender {
            name: t.name,
            target: "",
            run: Box::new(move || t.run(0)),
        })
        .collect();
    let noop = run_alternating(runs, contenders);
    print_spread(&format!("{title}: first run, full fetch"), &first);
    print_spread(&format!("{title}: no-op re-run, nothing new"), &noop);
}
