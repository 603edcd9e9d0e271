//! What the benchmarks share: running a tool as a child process and measuring its wall time,
//! CPU time and peak RSS; printing the figures side by side; and the command lines (and
//! configuration files) of mailpull, mpop and fetchmail against the private Dovecot.
//!
//! Each tool keeps its state (ledger, uidls file, fetchids, delivered mail) in a directory the
//! caller chooses: a fresh one per run measures a full fetch, the same one again a no-op.

#![allow(dead_code)] // each benchmark uses part of it

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dovecot::Dovecot;

/// The protocol a tool is measured with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Pop3,
    Imap,
}

pub fn print_table(title: &str, results: &[ToolResult], n: usize, total_bytes: u64) {
    println!();
    println!("{title}");
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>10}  {:<8} delivers to",
        "tool", "best s", "median s", "cpu s", "msg/s", "MB/s", "peak RSS", "check"
    );
    for r in results {
        let best = r.best();
        println!(
            "{:<10} {:>8.3} {:>8.3} {:>8.2} {:>9.0} {:>8.1} {:>7.1} MiB  {:<8} {}",
            r.name,
            best.as_secs_f64(),
            r.median().as_secs_f64(),
            r.cpus
                .iter()
                .map(|(u, s)| u + s)
                .fold(f64::INFINITY, f64::min),
            n as f64 / best.as_secs_f64(),
            total_bytes as f64 / 1e6 / best.as_secs_f64(),
            r.max_rss_kib as f64 / 1024.0,
            if r.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            },
            r.target
        );
    }
    for r in results {
        for p in &r.problems {
            println!("{}: {p}", r.name);
        }
    }
}

/// Prints `a/b` time ratios (best and median runs) for the pairs whose tools both ran.
pub fn print_ratios(results: &[ToolResult], pairs: &[(&str, &str)]) {
    let get = |name: &str| results.iter().find(|r| r.name == name);
    for (a, b) in pairs {
        if let (Some(x), Some(y)) = (get(a), get(b)) {
            println!(
                "{a}/{b} time ratio (best): {:.2}  (median: {:.2})",
                x.best().as_secs_f64() / y.best().as_secs_f64(),
                x.median().as_secs_f64() / y.median().as_secs_f64()
            );
        }
    }
}

pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One measured run: wall time, peak RSS of the child, and a problem if any.
pub struct Run {
    pub wall: Duration,
    /// User and system CPU seconds of the tool.
    pub cpu: (f64, f64),
    pub max_rss_kib: i64,
    pub problem: Option<String>,
}

pub struct ToolResult {
    pub name: &'static str,
    pub target: &'static str,
    pub walls: Vec<Duration>,
    pub cpus: Vec<(f64, f64)>,
    pub max_rss_kib: i64,
    pub problems: Vec<String>,
}

impl ToolResult {
    pub fn best(&self) -> Duration {
        self.walls.iter().copied().min().unwrap_or_default()
    }
    pub fn median(&self) -> Duration {
        let mut w = self.walls.clone();
        w.sort();
        w.get(w.len() / 2).copied().unwrap_or_default()
    }

    pub fn new(name: &'static str, target: &'static str) -> ToolResult {
        ToolResult {
            name,
            target,
            walls: Vec::new(),
            cpus: Vec::new(),
            max_rss_kib: 0,
            problems: Vec::new(),
        }
    }

    /// Records the tool's `i`-th run (from 0) and logs it on stderr.
    pub fn add(&mut self, i: usize, run: Run) {
        eprintln!(
            "  {} run {}: {:.3} s, CPU {:.2} s user + {:.2} s system, peak RSS {} KiB{}",
            self.name,
            i + 1,
            run.wall.as_secs_f64(),
            run.cpu.0,
            run.cpu.1,
            run.max_rss_kib,
            run.problem
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        );
        self.walls.push(run.wall);
        self.cpus.push(run.cpu);
        self.max_rss_kib = self.max_rss_kib.max(run.max_rss_kib);
        if let Some(p) = run.problem {
            self.problems.push(format!("run {}: {p}", i + 1));
        }
    }
}

/// A tool to measure: its name, where it delivers, and one run of it.
pub struct Contender<'a> {
    pub name: &'static str,
    pub target: &'static str,
    pub run: Box<dyn FnMut() -> Run + 'a>,
}

/// `runs` rounds in which every tool runs once, in an order that turns around every round, so
/// that a busy or a quiet moment of this shared machine (or of the server's caches) does not
/// fall on one tool only.
pub fn run_alternating(runs: usize, mut tools: Vec<Contender<'_>>) -> Vec<ToolResult> {
    let mut results: Vec<ToolResult> = tools
        .iter()
        .map(|t| ToolResult::new(t.name, t.target))
        .collect();
    for i in 0..runs {
        let mut order: Vec<usize> = (0..tools.len()).collect();
        if i % 2 == 1 {
            order.reverse();
        }
        for k in order {
            let run = (tools[k].run)();
            results[k].add(i, run);
        }
    }
    results
}

/// Spawns `cmd` (stdout/stderr to files in `dir`, environment cleared but for PATH and what
/// `cmd` sets) and returns (wall time, peak RSS in KiB, (user, system) CPU seconds, exit code,
/// stderr).
///
/// The peak RSS comes from GNU time (`/usr/bin/time -f %M`) when installed: a child's
/// `ru_maxrss` also covers the memory image it was spawned from, so a child spawned directly
/// from this (bigger) process could show this process's peak instead of its own; GNU time is
/// small and forks the tool itself. Without it, wait4 on the direct child gives an upper bound.
pub fn measure(cmd: Command, dir: &Path) -> (Duration, i64, (f64, f64), i32, String) {
    let errf = dir.join("bench-stderr");
    let rssf = dir.join("bench-rss");
    let gnu_time = Path::new("/usr/bin/time");
    let mut w = if gnu_time.is_file() {
        let mut w = Command::new(gnu_time);
        w.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rssf)
            .arg(cmd.get_program());
        w
    } else {
        Command::new(cmd.get_program())
    };
    w.args(cmd.get_args())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    w.stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("bench-stdout")).unwrap())
        .stderr(std::fs::File::create(&errf).unwrap());
    // Write out what earlier runs left in the page cache, so that no run pays for another's
    // data when it makes its own durable.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let start = Instant::now();
    let child = w.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain syscall with valid out-pointers; the child is reaped here, not by std.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let err = std::fs::read_to_string(&errf).unwrap_or_default();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let mut rss = ru.ru_maxrss;
    let mut cpu = (secs(ru.ru_utime), secs(ru.ru_stime));
    if let Some(l) = std::fs::read_to_string(&rssf)
        .ok()
        .and_then(|s| s.lines().last().map(str::to_owned))
    {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [m, u, s] = f[..] {
            if let (Ok(m), Ok(u), Ok(s)) = (m.parse(), u.parse::<f64>(), s.parse::<f64>()) {
                rss = m;
                cpu = (u, s);
            }
        }
    }
    (wall, rss, cpu, code, err)
}

pub fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

pub fn check(code: i32, err: &str, got: usize, want: usize) -> Option<String> {
    if code != 0 {
        Some(format!("exit {code}: {}", err.trim()))
    } else if got != want {
        Some(format!("delivered {got} of {want} messages"))
    } else {
        None
    }
}

/// mailpull in keep mode into `dir/Maildir`, its ledger in `dir`.
pub fn mailpull_cmd(bin: &Path, d: &Dovecot, proto: Proto, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("HOME", dir)
        .env("MAILPULL_PASSWORD", "secret")
        .env("MAILPULL_LEDGER", dir.join("ledger.sqlite"))
        .arg("fetch")
        .arg(match proto {
            Proto::Pop3 => d.pop3s_url("alice"),
            Proto::Imap => d.imaps_url("alice"),
        })
        .arg("--maildir")
        .arg(dir.join("Maildir"))
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .arg("--keep")
        .arg("--quiet");
    cmd
}

/// mpop in keep mode with `only_new` (its uidls file in `dir`) into `dir/Maildir`.
pub fn mpop_cmd(d: &Dovecot, dir: &Path) -> Command {
    let maildir = dir.join("Maildir");
    for s in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(s)).unwrap();
    }
    let rc = dir.join("mpoprc");
    std::fs::write(
        &rc,
        format!(
            "defaults\n\
             account default\n\
             host 127.0.0.1\n\
             port {}\n\
             tls on\n\
             tls_starttls off\n\
             tls_trust_file {}\n\
             auth user\n\
             user alice\n\
             passwordeval echo secret\n\
             keep on\n\
             only_new on\n\
             delivery maildir {}\n\
             uidls_file {}\n",
            d.pop3s_port(),
            d.ca_file().display(),
            maildir.display(),
            dir.join("uidls").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("mpop");
    cmd.env("HOME", dir).arg("-C").arg(&rc).arg("-q");
    cmd
}

/// fetchmail in keep mode over pop3s or imaps, each message to `cat > dir/out/msg.PID`.
/// With `fetchall` every run downloads everything; without it fetchmail asks the server for
/// the messages it has not seen (IMAP: not `\Seen`).
pub fn fetchmail_cmd(d: &Dovecot, proto: Proto, dir: &Path, fetchall: bool) -> Command {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll 127.0.0.1 with proto {proto} port {port}\n\
             \x20 user \"alice\" there with password \"secret\" is \"root\" here\n\
             \x20 ssl sslcertck sslcertfile \"{cert}\" sslcommonname \"localhost\"\n\
             \x20 keep{all}\n\
             \x20 mda \"cat > {out}/msg.$$\"\n",
            proto = match proto {
                Proto::Pop3 => "POP3",
                Proto::Imap => "IMAP",
            },
            port = match proto {
                Proto::Pop3 => d.pop3s_port(),
                Proto::Imap => d.imaps_port(),
            },
            all = if fetchall { " fetchall" } else { "" },
            cert = d.ca_file().display(),
            out = out.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("fetchmail");
    cmd.env("HOME", dir)
        .env("FETCHMAILHOME", dir)
        .arg("-f")
        .arg(&rc)
        .arg("--nosyslog")
        .arg("--silent")
        .arg("--pidfile")
        .arg(dir.join("pid"));
    cmd
}

/// Messages a tool has delivered into `dir` so far (its Maildir, or fetchmail's `out/`).
pub fn delivered(dir: &Path) -> usize {
    let md = dir.join("Maildir");
    count_files(&md.join("new")) + count_files(&md.join("cur")) + count_files(&dir.join("out"))
}

/// Runs `cmd` (state in `dir`) and checks that it exits 0 having delivered `want` more
/// messages than were in `dir` before.
/// fetchmail's exit code 1 means "no mail", which is what a no-op run should find.
pub fn run_checked(cmd: Command, dir: &Path, want: usize) -> Run {
    let before = delivered(dir);
    let no_mail_is_1 = cmd.get_program() == "fetchmail" && want == 0;
    let (wall, rss, cpu, mut code, err) = measure(cmd, dir);
    if no_mail_is_1 && code == 1 {
        code = 0;
    }
    let got = delivered(dir) - before;
    Run {
        wall,
        cpu,
        max_rss_kib: rss,
        problem: check(code, &err, got, want),
    }
}

/// Prints min–median–max wall and CPU time and the peak RSS of each tool.
pub fn print_spread(title: &str, results: &[ToolResult]) {
    fn spread(mut v: Vec<f64>) -> String {
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => "-".into(),
            1 => format!("{:.3}", v[0]),
            k => format!("{:.3}–{:.3}–{:.3}", v[0], v[k / 2], v[k - 1]),
        }
    }
    println!();
    println!("{title}");
    println!(
        "{:<10} {:>22} {:>22} {:>12}  check",
        "tool", "wall s (min–med–max)", "CPU s (min–med–max)", "peak RSS"
    );
    for r in results {
        println!(
            "{:<10} {:>22} {:>22} {:>8.1} MiB  {}",
            r.name,
            spread(r.walls.iter().map(Duration::as_secs_f64).collect()),
            spread(r.cpus.iter().map(|(u, s)| u + s).collect()),
            r.max_rss_kib as f64 / 1024.0,
            if r.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            },
        );
    }
    for r in results {
        for p in &r.problems {
            println!("{}: {p}", r.name);
        }
    }
}
