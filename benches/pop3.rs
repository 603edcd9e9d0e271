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
//! `MAILPULL_BENCH_RUNS` the runs per tool (default 3), in rounds where every tool runs once,
//! the order turning around every round; `MAILPULL_BENCH_PROTOCOLS` which protocols to measure
//! (default `pop3,imap`). Peak RSS is measured through GNU time when
//! `/usr/bin/time` exists (see `measure`).

mod common;
#[path = "../tests/common/dovecot.rs"]
mod dovecot;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
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
        let mut tools = vec![Contender {
            name: "mailpull",
            target: "Maildir (new/)",
            run: Box::new(|| bench_mailpull(&mailpull, &d, Proto::Pop3)),
        }];
        if which("mpop").is_some() {
            tools.push(Contender {
                name: "mpop",
                target: "Maildir (new/)",
                run: Box::new(|| bench_mpop(&d)),
            });
        } else {
            println!("mpop not installed: skipped");
        }
        if which("fetchmail").is_some() {
            tools.push(Contender {
                name: "fetchmail",
                target: "mda `cat > FILE` per message",
                run: Box::new(|| bench_fetchmail(&d, Proto::Pop3)),
            });
        } else {
            println!("fetchmail not installed: skipped");
        }
        tools.push(Contender {
            name: "wire",
            target: "discarded",
            run: Box::new(|| bench_wire(&d, n, Proto::Pop3)),
        });
        let results = run_alternating(runs, tools);
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
        let mut tools = vec![Contender {
            name: "mailpull",
            target: "Maildir (new/)",
            run: Box::new(|| bench_mailpull(&mailpull, &d, Proto::Imap)),
        }];
        if which("fetchmail").is_some() {
            tools.push(Contender {
                name: "fetchmail",
                target: "mda `cat > FILE` per message",
                run: Box::new(|| bench_fetchmail(&d, Proto::Imap)),
            });
        } else {
            println!("fetchmail not installed: skipped");
        }
        tools.push(Contender {
            name: "wire",
            target: "discarded",
            run: Box::new(|| bench_wire(&d, n, Proto::Imap)),
        });
        let results = run_alternating(runs, tools);
        print_table("IMAP (imaps, keep mode)", &results, n, total_bytes);
        print_ratios(&results, &[("mailpull", "wire"), ("fetchmail", "mailpull")]);
    }
}

/// A full keep-mode fetch by `cmd` (built for a fresh state directory), checked to deliver
/// every message on the server.
fn full_run(d: &Dovecot, cmd: impl FnOnce(&Path) -> Command) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    run_checked(cmd(tmp.path()), tmp.path(), d.server_count("alice"))
}

fn bench_mailpull(bin: &Path, d: &Dovecot, proto: Proto) -> Run {
    full_run(d, |dir| mailpull_cmd(bin, d, proto, dir))
}

fn bench_mpop(d: &Dovecot) -> Run {
    full_run(d, |dir| mpop_cmd(d, dir))
}

/// fetchmail in keep mode (`fetchall`, so that every run downloads everything), over pop3s or
/// imaps.
fn bench_fetchmail(d: &Dovecot, proto: Proto) -> Run {
    full_run(d, |dir| fetchmail_cmd(d, proto, dir, true))
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
