//! Throughput benchmark against a private Dovecot, on one generated mailbox, in keep mode (so
//! the mailbox is reused; every run starts with a fresh ledger and Maildir):
//! - over pop3s: mailpull, mpop and fetchmail (if installed), and a minimal pipelined "wire"
//!   reader (every RETR in one write) that discards the bytes;
//! - over imaps: mailpull, fetchmail (`proto IMAP`, if installed), and a wire reader (LOGIN,
//!   EXAMINE, one `UID FETCH 1:* BODY.PEEK[]`, literals discarded).
//!
//! The wire readers are the best any client can do on this server.
//!
//! Run with `cargo bench --bench pop3` (or run the built binary with `--bench`).
//! `MAILPULL_BENCH_MESSAGES` sets the number of messages (default 2000, about 70 MB);
//! `MAILPULL_BENCH_RUNS` the runs per tool (default 3); `MAILPULL_BENCH_PROTOCOLS` which
//! protocols to measure (default `pop3,imap`). Peak RSS is measured through GNU time when
//! `/usr/bin/time` exists (see `measure`).

#[path = "../tests/common/dovecot.rs"]
mod dovecot;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dovecot::{generated_message, Dovecot};

/// The environment variable that turns this program into the wire client (in a child process,
/// so that its peak RSS is measured like the others').
const WIRE_ENV: &str = "MAILPULL_BENCH_WIRE";

fn main() {
    if let Ok(spec) = std::env::var(WIRE_ENV) {
        wire_client(&spec);
        return;
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it, and should
    // not spend minutes benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        println!("pop3/imap benchmark: run it with `cargo bench --bench pop3`");
        return;
    }
    let n: usize = env_num("MAILPULL_BENCH_MESSAGES", 2000);
    let runs: usize = env_num("MAILPULL_BENCH_RUNS", 3).max(1);

    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(42);
    let mut total_bytes = 0u64;
    for i in 0..n {
        let r = rng.u32(0..100);
        let size = if r < 85 {
            rng.usize(2_000..20_000)
        } else if r < 97 {
            rng.usize(20_000..100_000)
        } else {
            rng.usize(100_000..1_000_000)
        };
        let m = generated_message(i as u64, size, &mut rng);
        total_bytes += m.len() as u64;
        d.add_message("alice", &m);
    }
    let protocols = std::env::var("MAILPULL_BENCH_PROTOCOLS").unwrap_or("pop3,imap".into());
    println!(
        "mailbox: {n} messages, {:.1} MB on Dovecot (pop3s on 127.0.0.1:{}, imaps on \
         127.0.0.1:{}), {runs} runs per tool",
        total_bytes as f64 / 1e6,
        d.pop3s_port(),
        d.imaps_port()
    );
    let mailpull = PathBuf::from(env!("CARGO_BIN_EXE_mailpull"));
    if protocols.contains("pop3") {
        // Warm-up: let Dovecot build its index and uidlist, and fill the page cache.
        let _ = bench_wire(&d, n, Proto::Pop3);
        let mut results: Vec<ToolResult> = Vec::new();
        results.push(run_tool("mailpull", "Maildir (new/)", runs, n, || {
            bench_mailpull(&mailpull, &d, Proto::Pop3)
        }));
        if which("mpop").is_some() {
            results.push(run_tool("mpop", "Maildir (new/)", runs, n, || {
                bench_mpop(&d)
            }));
        } else {
            println!("mpop not installed: skipped");
        }
        if which("fetchmail").is_some() {
            results.push(run_tool(
                "fetchmail",
                "mda `cat > FILE` per message",
                runs,
                n,
                || bench_fetchmail(&d, Proto::Pop3),
            ));
        } else {
            println!("fetchmail not installed: skipped");
        }
        results.push(run_tool("wire", "discarded", runs, n, || {
            bench_wire(&d, n, Proto::Pop3)
        }));
        print_table("POP3 (pop3s)", &results, n, total_bytes);
        print_ratios(
            &results,
            &[
                ("mailpull", "wire"),
                ("mailpull", "mpop"),
                ("mailpull", "fetchmail"),
            ],
        );
    }
    if protocols.contains("imap") {
        let _ = bench_wire(&d, n, Proto::Imap);
        let mut results: Vec<ToolResult> = Vec::new();
        results.push(run_tool("mailpull", "Maildir (new/)", runs, n, || {
            bench_mailpull(&mailpull, &d, Proto::Imap)
        }));
        if which("fetchmail").is_some() {
            results.push(run_tool(
                "fetchmail",
                "mda `cat > FILE` per message",
                runs,
                n,
                || bench_fetchmail(&d, Proto::Imap),
            ));
        } else {
            println!("fetchmail not installed: skipped");
        }
        results.push(run_tool("wire", "discarded", runs, n, || {
            bench_wire(&d, n, Proto::Imap)
        }));
        print_table("IMAP (imaps, keep mode)", &results, n, total_bytes);
        print_ratios(&results, &[("mailpull", "wire"), ("fetchmail", "mailpull")]);
    }
}

/// The protocol a tool is measured with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Pop3,
    Imap,
}

fn print_table(title: &str, results: &[ToolResult], n: usize, total_bytes: u64) {
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
fn print_ratios(results: &[ToolResult], pairs: &[(&str, &str)]) {
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

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One measured run: wall time, peak RSS of the child, and a problem if any.
struct Run {
    wall: Duration,
    /// User and system CPU seconds of the tool.
    cpu: (f64, f64),
    max_rss_kib: i64,
    problem: Option<String>,
}

struct ToolResult {
    name: &'static str,
    target: &'static str,
    walls: Vec<Duration>,
    cpus: Vec<(f64, f64)>,
    max_rss_kib: i64,
    problems: Vec<String>,
}

impl ToolResult {
    fn best(&self) -> Duration {
        self.walls.iter().copied().min().unwrap_or_default()
    }
    fn median(&self) -> Duration {
        let mut w = self.walls.clone();
        w.sort();
        w.get(w.len() / 2).copied().unwrap_or_default()
    }
}

fn run_tool(
    name: &'static str,
    target: &'static str,
    runs: usize,
    _n: usize,
    mut f: impl FnMut() -> Run,
) -> ToolResult {
    let mut r = ToolResult {
        name,
        target,
        walls: Vec::new(),
        cpus: Vec::new(),
        max_rss_kib: 0,
        problems: Vec::new(),
    };
    for i in 0..runs {
        let run = f();
        eprintln!(
            "  {name} run {}: {:.3} s, CPU {:.2} s user + {:.2} s system, peak RSS {} KiB{}",
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
        r.walls.push(run.wall);
        r.cpus.push(run.cpu);
        r.max_rss_kib = r.max_rss_kib.max(run.max_rss_kib);
        if let Some(p) = run.problem {
            r.problems.push(format!("run {}: {p}", i + 1));
        }
    }
    r
}

/// Spawns `cmd` (stdout/stderr to files in `dir`, environment cleared but for PATH and what
/// `cmd` sets) and returns (wall time, peak RSS in KiB, (user, system) CPU seconds, exit code,
/// stderr).
///
/// The peak RSS comes from GNU time (`/usr/bin/time -f %M`) when installed: a child's
/// `ru_maxrss` also covers the memory image it was spawned from, so a child spawned directly
/// from this (bigger) process could show this process's peak instead of its own; GNU time is
/// small and forks the tool itself. Without it, wait4 on the direct child gives an upper bound.
fn measure(cmd: Command, dir: &Path) -> (Duration, i64, (f64, f64), i32, String) {
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

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn check(code: i32, err: &str, got: usize, want: usize) -> Option<String> {
    if code != 0 {
        Some(format!("exit {code}: {}", err.trim()))
    } else if got != want {
        Some(format!("delivered {got} of {want} messages"))
    } else {
        None
    }
}

fn bench_mailpull(bin: &Path, d: &Dovecot, proto: Proto) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("Maildir");
    let mut cmd = Command::new(bin);
    cmd.env("HOME", tmp.path())
        .env("MAILPULL_PASSWORD", "secret")
        .env("MAILPULL_LEDGER", tmp.path().join("ledger.sqlite"))
        .arg("fetch")
        .arg(match proto {
            Proto::Pop3 => d.pop3s_url("alice"),
            Proto::Imap => d.imaps_url("alice"),
        })
        .arg("--maildir")
        .arg(&maildir)
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .arg("--keep")
        .arg("--quiet");
    let (wall, rss, cpu, code, err) = measure(cmd, tmp.path());
    let got = count_files(&maildir.join("new")) + count_files(&maildir.join("cur"));
    Run {
        wall,
        cpu,
        max_rss_kib: rss,
        problem: check(code, &err, got, d.server_count("alice")),
    }
}

fn bench_mpop(d: &Dovecot) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("Maildir");
    for s in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(s)).unwrap();
    }
    let rc = tmp.path().join("mpoprc");
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
            tmp.path().join("uidls").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("mpop");
    cmd.env("HOME", tmp.path()).arg("-C").arg(&rc).arg("-q");
    let (wall, rss, cpu, code, err) = measure(cmd, tmp.path());
    let got = count_files(&maildir.join("new")) + count_files(&maildir.join("cur"));
    Run {
        wall,
        cpu,
        max_rss_kib: rss,
        problem: check(code, &err, got, d.server_count("alice")),
    }
}

/// fetchmail in keep mode (`fetchall`, so that every run downloads everything), over pop3s or
/// imaps.
fn bench_fetchmail(d: &Dovecot, proto: Proto) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rc = tmp.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll 127.0.0.1 with proto {proto} port {port}\n\
             \x20 user \"alice\" there with password \"secret\" is \"root\" here\n\
             \x20 ssl sslcertck sslcertfile \"{cert}\" sslcommonname \"localhost\"\n\
             \x20 keep fetchall\n\
             \x20 mda \"cat > {out}/msg.$$\"\n",
            proto = match proto {
                Proto::Pop3 => "POP3",
                Proto::Imap => "IMAP",
            },
            port = match proto {
                Proto::Pop3 => d.pop3s_port(),
                Proto::Imap => d.imaps_port(),
            },
            cert = d.ca_file().display(),
            out = out.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = Command::new("fetchmail");
    cmd.env("HOME", tmp.path())
        .env("FETCHMAILHOME", tmp.path())
        .arg("-f")
        .arg(&rc)
        .arg("--nosyslog")
        .arg("--silent")
        .arg("--pidfile")
        .arg(tmp.path().join("pid"));
    let (wall, rss, cpu, code, err) = measure(cmd, tmp.path());
    Run {
        wall,
        cpu,
        max_rss_kib: rss,
        problem: check(code, &err, count_files(&out), d.server_count("alice")),
    }
}

fn bench_wire(d: &Dovecot, n: usize, proto: Proto) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    let spec = match proto {
        Proto::Pop3 => format!("pop3|{}|{}|{n}", d.pop3s_port(), d.ca_file().display()),
        Proto::Imap => format!("imap|{}|{}|{n}", d.imaps_port(), d.ca_file().display()),
    };
    cmd.env(WIRE_ENV, spec);
    let (wall, rss, cpu, code, err) = measure(cmd, tmp.path());
    let got: usize = std::fs::read_to_string(tmp.path().join("bench-stdout"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Run {
        wall,
        cpu,
        max_rss_kib: rss,
        problem: check(code, &err, got, n),
    }
}

/// The wire client (`PROTO|PORT|CA_FILE|N`): prints the number of messages read.
fn wire_client(spec: &str) {
    let mut parts = spec.split('|');
    let proto = parts.next().unwrap();
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let ca = parts.next().unwrap();
    let n: usize = parts.next().unwrap().parse().unwrap();

    let pem = std::fs::read(ca).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let s = connector.connect("localhost", tcp).unwrap();
    match proto {
        "pop3" => wire_pop3(s, n),
        "imap" => wire_imap(s),
        _ => panic!("unknown protocol {proto}"),
    }
}

/// POP3: USER/PASS, every RETR pipelined in one write, responses scanned for their terminator
/// and discarded.
fn wire_pop3(mut s: Tls, n: usize) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut have = 0usize;
    let ok = |l: Vec<u8>| assert!(l.starts_with(b"+OK"), "{}", String::from_utf8_lossy(&l));
    ok(line(&mut s, &mut buf, &mut have));
    s.write_all(b"USER alice\r\n").unwrap();
    ok(line(&mut s, &mut buf, &mut have));
    s.write_all(b"PASS secret\r\n").unwrap();
    ok(line(&mut s, &mut buf, &mut have));

    let mut cmds = String::new();
    for i in 1..=n {
        cmds.push_str(&format!("RETR {i}\r\n"));
    }
    s.write_all(cmds.as_bytes()).unwrap();

    // Scan for the end of each response. The scan for "\r\n.\r\n" starts at the CRLF that
    // ends the status line, so that an empty body is handled too.
    let finder = memchr::memmem::Finder::new(b"\r\n.\r\n");
    let mut done = 0usize;
    let mut pos = 0usize;
    let mut in_body = false;
    while done < n {
        let mut progressed = true;
        while progressed && done < n {
            progressed = false;
            if !in_body {
                if let Some(i) = memchr::memmem::find(&buf[pos..have], b"\r\n") {
                    assert!(buf[pos..].starts_with(b"+OK"), "RETR failed");
                    pos += i;
                    in_body = true;
                    progressed = true;
                }
            } else if let Some(i) = finder.find(&buf[pos..have]) {
                pos += i + 5;
                in_body = false;
                done += 1;
                progressed = true;
            }
        }
        if done == n {
            break;
        }
        // Keep only what may still be part of a terminator or a status line.
        let keep_from = if in_body {
            have.saturating_sub(4).max(pos)
        } else {
            pos
        };
        buf.copy_within(keep_from..have, 0);
        have -= keep_from;
        pos = 0;
        let k = s.read(&mut buf[have..]).unwrap();
        assert!(k > 0, "connection closed after {done} messages");
        have += k;
    }
    s.write_all(b"QUIT\r\n").unwrap();
    println!("{done}");
}

type Tls = native_tls::TlsStream<std::net::TcpStream>;

/// Reads one status line (greeting, USER, PASS replies).
fn line(s: &mut Tls, buf: &mut [u8], have: &mut usize) -> Vec<u8> {
    loop {
        if let Some(i) = memchr::memmem::find(&buf[..*have], b"\r\n") {
            let l = buf[..i].to_vec();
            buf.copy_within(i + 2..*have, 0);
            *have -= i + 2;
            return l;
        }
        let k = s.read(&mut buf[*have..]).unwrap();
        assert!(k > 0, "connection closed");
        *have += k;
    }
}

/// IMAP: LOGIN, EXAMINE INBOX, one `UID FETCH 1:* BODY.PEEK[]`, every literal skipped.
fn wire_imap(s: Tls) {
    let mut r = Reader {
        s,
        buf: vec![0u8; 256 * 1024],
        pos: 0,
        end: 0,
    };
    let greeting = r.line();
    assert!(
        greeting.starts_with(b"* OK"),
        "{}",
        String::from_utf8_lossy(&greeting)
    );
    let mut done = 0usize;
    for (tag, cmd) in [
        ("a", "LOGIN alice secret"),
        ("b", "EXAMINE INBOX"),
        ("c", "UID FETCH 1:* BODY.PEEK[]"),
        ("d", "LOGOUT"),
    ] {
        r.s.write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .unwrap();
        let ok = format!("{tag} OK");
        loop {
            let l = r.line();
            if l.starts_with(ok.as_bytes()) {
                break;
            }
            assert!(
                !l.starts_with(tag.as_bytes()),
                "{cmd}: {}",
                String::from_utf8_lossy(&l)
            );
            // `* N FETCH (UID U BODY[] {SIZE}`: skip the literal; the rest of the response
            // (`)`) is the next line.
            if let Some(size) = literal_size(&l) {
                r.skip(size);
                done += 1;
            }
        }
    }
    println!("{done}");
}

/// The N of a line ending with `{N}`.
fn literal_size(l: &[u8]) -> Option<usize> {
    let l = l.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', l)?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

/// A buffered reader over the TLS stream.
struct Reader {
    s: Tls,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl Reader {
    fn fill(&mut self) {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let k = self.s.read(&mut self.buf[self.end..]).unwrap();
        assert!(k > 0, "connection closed");
        self.end += k;
    }

    /// One line, without its CRLF (the lines between literals are short).
    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = memchr::memmem::find(&self.buf[self.pos..self.end], b"\r\n") {
                let l = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 2;
                return l;
            }
            self.fill();
        }
    }

    /// Discards `n` bytes.
    fn skip(&mut self, mut n: usize) {
        while n > 0 {
            if self.pos == self.end {
                self.fill();
            }
            let k = n.min(self.end - self.pos);
            self.pos += k;
            n -= k;
        }
    }
}
