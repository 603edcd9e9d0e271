//! Text from a server or a message never drives the terminal: greetings, `-ERR` and `NO`/`BAD`
//! texts, `[ALERT]`s and an MDA's stderr carrying an OSC title sequence, a screen clear,
//! backspaces, carriage returns, DEL, C1 controls and bidi overrides reach stderr with every one
//! of those characters shown as an escape (`\x1b`), never as the byte itself — in normal, `-v`
//! and `-vv` runs, and in `watch`'s log lines.
//!
//! The servers are tiny raw ones (`common::raw`), which send exactly these bytes, and the
//! scripted IMAP server (`common::scripted_imap`) for folder names in LIST replies.

mod common;

use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::raw::{Dialog, Raw};
use common::run::{code, run_with_limit, wait_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(30);

/// Hostile ASCII text: an OSC sequence that retitles the terminal, a CSI that clears it,
/// backspaces that hide what came before, a carriage return that overwrites the line, DEL.
const EVIL: &str = "\x1b]0;pwned\x07 \x1b[2J hidden\x08\x08\x08\x08\x08\x08 shown\r over\x7f";
/// For IMAP, whose texts may not hold a bare carriage return.
const EVIL_IMAP: &str = "\x1b]0;pwned\x07 \x1b[2J hidden\x08\x08\x08\x08\x08\x08 shown over\x7f";
/// The same in UTF-8, with a C1 CSI and a right-to-left override (for POP3, whose texts are
/// decoded as UTF-8).
const EVIL_UTF8: &str = "\x1b]0;pwned\x07 \u{9b}2J \u{202e}txt.exe\u{202c} hidden\x08\x08\r";

/// The bytes (and UTF-8 sequences) that must not reach stderr.
const FORBIDDEN: &[&[u8]] = &[
    b"\x1b",
    b"\x07",
    b"\x08",
    b"\r",
    b"\x7f",
    b"\x00",
    "\u{9b}".as_bytes(),
    "\u{202e}".as_bytes(),
    "\u{202c}".as_bytes(),
];

#[track_caller]
fn assert_terminal_safe(what: &str, stderr: &[u8]) {
    let text = String::from_utf8_lossy(stderr);
    for bad in FORBIDDEN {
        assert!(
            !stderr.windows(bad.len()).any(|w| w == *bad),
            "{what}: stderr carries {bad:?}:\n{text:?}"
        );
    }
    // The text is still there to read, made visible.
    assert!(
        text.contains("pwned"),
        "{what}: the server's text is gone:\n{text}"
    );
}

fn fetch(sb: &Sandbox, url: &str, extra: &[&str]) -> Command {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(url)
        .args(["--insecure-no-tls", "--timeout", "10", "--maildir"])
        .arg(sb.maildir())
        .args(extra);
    c
}

/// Runs `fetch` in normal, `-v` and `-vv` mode; each must exit `want` with safe stderr.
fn check_all_modes(sb: &Sandbox, url: &str, want: i32, said: &[&str]) {
    for mode in [None, Some("-v"), Some("-vv")] {
        let args: Vec<&str> = mode.into_iter().collect();
        let out = run_with_limit(fetch(sb, url, &args), LIMIT);
        let what = format!("{url} {mode:?}");
        assert_eq!(
            code(&out),
            want,
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_terminal_safe(&what, &out.stderr);
        let err = String::from_utf8_lossy(&out.stderr);
        for needle in said {
            assert!(err.contains(needle), "{what}: {needle:?} not in\n{err}");
        }
    }
}

/// A POP3 server whose greeting, CAPA, USER and PASS replies carry `evil`; PASS fails.
fn hostile_pop3(evil: &'static str) -> Raw {
    Raw::start(move |mut d: Dialog| {
        d.send(format!("+OK {evil} ready\r\n").as_bytes());
        while let Some(cmd) = d.command() {
            let verb = cmd
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match verb.as_str() {
                "CAPA" => d.send(format!("+OK {evil}\r\nUSER\r\nRESP-CODES\r\n.\r\n").as_bytes()),
                "USER" => d.send(format!("+OK {evil}\r\n").as_bytes()),
                "PASS" => d.send(format!("-ERR [AUTH] {evil}\r\n").as_bytes()),
                "QUIT" => return d.send(b"+OK\r\n"),
                _ => d.send(format!("-ERR {evil}\r\n").as_bytes()),
            }
        }
    })
}

#[test]
fn pop3_greeting_and_err_texts_are_made_safe() {
    let sb = Sandbox::new();
    for evil in [EVIL, EVIL_UTF8] {
        let server = hostile_pop3(evil);
        let url = format!("pop3://alice@127.0.0.1:{}", server.port());
        check_all_modes(&sb, &url, 77, &["the server said: \\x1b]0;pwned"]);
    }
}

#[test]
fn a_refusing_pop3_greeting_is_made_safe() {
    let sb = Sandbox::new();
    let server = Raw::start(|mut d: Dialog| {
        d.send(format!("-ERR [SYS/PERM] {EVIL_UTF8}\r\n").as_bytes());
        d.hold();
    });
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    check_all_modes(&sb, &url, 69, &["SYS/PERM"]);
}

/// An IMAP server whose greeting carries an `[ALERT]`, which sends another alert and then
/// answers LOGIN with `reply` (`NO …` or `BAD …`), all with hostile text.
fn hostile_imap(reply: &'static str) -> Raw {
    Raw::start(move |mut d: Dialog| {
        d.send(format!("* OK [ALERT] {EVIL_IMAP}\r\n").as_bytes());
        while let Some(cmd) = d.command() {
            let mut words = cmd.split(' ');
            let tag = words.next().unwrap_or_default().to_string();
            let verb = words.next().unwrap_or_default().to_ascii_uppercase();
            match verb.as_str() {
                "CAPABILITY" => d.send(
                    format!("* CAPABILITY IMAP4rev1 LITERAL+\r\n{tag} OK {EVIL_IMAP}\r\n")
                        .as_bytes(),
                ),
                "LOGIN" | "AUTHENTICATE" => d.send(
                    format!("* OK [ALERT] {EVIL_IMAP}\r\n{tag} {reply} {EVIL_IMAP}\r\n").as_bytes(),
                ),
                "LOGOUT" => {
                    d.send(format!("* BYE {EVIL_IMAP}\r\n{tag} OK bye\r\n").as_bytes());
                    return;
                }
                _ => d.send(format!("{tag} BAD {EVIL_IMAP}\r\n").as_bytes()),
            }
        }
    })
}

#[test]
fn imap_alerts_and_no_texts_are_made_safe() {
    let sb = Sandbox::new();
    let server = hostile_imap("NO [AUTHENTICATIONFAILED]");
    let url = format!("imap://alice@127.0.0.1:{}", server.port());
    check_all_modes(
        &sb,
        &url,
        77,
        &["server alert: \\x1b]0;pwned", "[AUTHENTICATIONFAILED]"],
    );
}

#[test]
fn imap_bad_texts_are_made_safe() {
    let sb = Sandbox::new();
    let server = hostile_imap("BAD");
    let url = format!("imap://alice@127.0.0.1:{}", server.port());
    check_all_modes(&sb, &url, 76, &["the server said: \\x1b]0;pwned"]);
}

#[test]
fn an_imap_bye_greeting_is_made_safe() {
    let sb = Sandbox::new();
    let server = Raw::start(|mut d: Dialog| {
        d.send(format!("* BYE {EVIL_IMAP}\r\n").as_bytes());
        d.hold();
    });
    let url = format!("imap://alice@127.0.0.1:{}", server.port());
    check_all_modes(&sb, &url, 69, &["refused the connection"]);
}

#[test]
fn an_mda_s_stderr_is_made_safe() {
    let sb = Sandbox::new();
    let server = Raw::start(|mut d: Dialog| {
        let msg = b"Subject: hi\r\n\r\nbody\r\n";
        d.pop3(b"+OK ready\r\n", msg.len(), &mut |d| {
            d.send(b"+OK\r\n");
            d.send(msg);
            d.send(b".\r\n");
        });
    });
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let mda = "cat >/dev/null; printf '\\033]0;pwned\\007\\033[2J\\b\\b\\r\\302\\233x' >&2; exit 1";
    for mode in [None, Some("-v")] {
        let mut c = sb.cmd(Some("secret"));
        c.arg("fetch")
            .arg(&url)
            .args(["--insecure-no-tls", "--keep", "--mda", mda])
            .args(mode);
        let out = run_with_limit(c, LIMIT);
        assert_eq!(code(&out), 74, "{}", String::from_utf8_lossy(&out.stderr));
        assert_terminal_safe("MDA stderr", &out.stderr);
    }
}

#[test]
fn watch_log_lines_are_made_safe() {
    let server = hostile_pop3(EVIL_UTF8);
    let sb = Sandbox::new();
    let url = format!("pop3://alice@127.0.0.1:{}", server.port());
    let log = sb.path().join("watch.log");
    let mut cmd = sb.cmd(Some("secret"));
    cmd.arg("watch")
        .arg(&url)
        .args(["--insecure-no-tls", "--every", "1h", "-v", "--maildir"])
        .arg(sb.maildir())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("trying again")
    {
        assert!(start.elapsed() < LIMIT, "no failure logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill with the pid of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out: Output = wait_with_limit(child, LIMIT);
    assert_eq!(code(&out), 0);
    assert_terminal_safe("watch", &std::fs::read(&log).unwrap());
}

/// Folder names come from the server too: a LIST whose names carry an OSC title sequence, a
/// screen clear, backspaces, DEL, and (in modified UTF-7) a C1 CSI and a right-to-left
/// override. The warning for a folder pattern that matches nothing lists the folders there;
/// they reach stderr made visible, never as the bytes themselves — in normal, `-v` and `-vv`
/// runs — and the run still fetches INBOX.
#[test]
fn hostile_folder_names_in_the_matches_nothing_warning_are_made_safe() {
    use common::scripted_imap::{self, Folder, ScriptedImap};
    let mut folders = vec![Folder::new(
        scripted_imap::INBOX,
        1,
        vec![scripted_imap::Message::new(
            1,
            &b"Subject: i1\r\nMessage-ID: <i1@scripted.test>\r\n\r\nbody\r\n"[..],
        )],
    )];
    // In modified UTF-7, as a server must send them: ESC ] 0;pwned BEL, ESC [2J, six
    // backspaces and DEL, U+009B (C1 CSI) and U+202E (right-to-left override); and the raw
    // bytes, as a careless server might (RFC 3501 allows them in a quoted string).
    for (i, name) in [
        "&ABs-]0;pwned&AAc-",
        "clear&ABs-[2Jscreen",
        "hidden&AAgACAAIAAgACAAI-shown&AH8-",
        "&AJsgLg-pwned-utf7",
        "\x1b]0;pwned-raw\x07 \x1b[2J\x08\x7f",
    ]
    .into_iter()
    .enumerate()
    {
        folders.push(Folder::new(name, 10 + i as u32, Vec::new()));
    }
    let server = ScriptedImap::start(folders);
    let sb = Sandbox::new();
    for mode in [None, Some("-v"), Some("-vv")] {
        let mut args: Vec<&str> = mode.into_iter().collect();
        args.extend(["--folder", "INBOX", "--folder", "Nothing*"]);
        let out = run_with_limit(fetch(&sb, &server.url(), &args), LIMIT);
        let what = format!("LIST names, {mode:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 0, "{what}: {err}");
        assert!(
            err.contains("\"Nothing*\" matches no folder") && err.contains("Folders there"),
            "{what}: no warning:\n{err}"
        );
        assert_terminal_safe(&what, &out.stderr);
        assert!(
            err.contains("pwned-utf7") && err.contains("pwned-raw"),
            "{what}: {err}"
        );
    }
    assert_eq!(common::run::maildir_messages(&sb.maildir()).len(), 1);
    assert!(
        server.stats().violations.is_empty(),
        "{:?}",
        server.stats().violations
    );
}
