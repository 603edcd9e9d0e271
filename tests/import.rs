//! `mailpull import`: state files written by the real fetchmail, mpop and getmail6, fetching
//! from the private Dovecot with keep-on-server, are imported, and mailpull then downloads
//! nothing the other tool already fetched, and exactly what arrived since.
//!
//! Each test starts its own Dovecot (see `common::dovecot`; skipped without it unless
//! `MAILPULL_REQUIRE_DOVECOT=1`). A test whose tool is not installed prints
//! `skipped: TOOL not installed` and passes, unless `MAILPULL_REQUIRE_TOOLS=1`
//! (`apt-get install fetchmail mpop getmail6`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, expected_delivery, maildir_messages, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(180);

/// The tool's binary, or `None` after printing that the test is skipped.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("MAILPULL_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("MAILPULL_REQUIRE_TOOLS=1 but {name} is not installed (apt-get install fetchmail mpop getmail6)");
        }
        eprintln!("skipped: {name} not installed");
    }
    found
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender@example.org\r\nTo: alice@example.org\r\nSubject: message {n}\r\n\
         Message-ID: <import-{n}@example.org>\r\n\r\nbody of message {n}\r\n"
    )
    .into_bytes()
}

/// Writes a file readable only by its owner (the tools refuse looser configuration files).
fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Runs another tool in the sandbox's HOME with a clean environment.
fn run_tool(sb: &Sandbox, bin: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.home())
        .env("LC_ALL", "C")
        .args(args)
        .stdin(Stdio::null());
    if bin.ends_with("fetchmail") {
        // As root fetchmail keeps its PID file in /var/run, shared by the tests running in
        // parallel ("another foreground fetchmail is running"): give each its own.
        c.arg("--pidfile").arg(sb.path().join("fetchmail.pid"));
    }
    let out = run_with_limit(c, LIMIT);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A mailpull configuration with one account `name` delivering into the sandbox's Maildir.
fn write_config(sb: &Sandbox, d: &Dovecot, name: &str, url: &str, extra: &str) -> PathBuf {
    let path = sb.path().join("config.toml");
    write_private(
        &path,
        &format!(
            "[account.{name}]\nurl = \"{url}\"\ntls_ca_file = \"{}\"\npassword = \"secret\"\n\
             deliver = {{ maildir = \"{}\" }}\n{extra}",
            d.ca_file().display(),
            sb.maildir().display()
        ),
    );
    path
}

/// `mailpull ARGS...` with the sandbox's configuration.
fn mailpull(sb: &Sandbox, args: &[&str]) -> Output {
    let mut c = sb.cmd(None);
    c.env("MAILPULL_CONFIG", sb.path().join("config.toml"));
    c.args(args);
    run_with_limit(c, LIMIT)
}

#[track_caller]
fn assert_exit(out: &Output, want: i32, d: &Dovecot) {
    let got = code(out);
    assert_eq!(
        got,
        want,
        "exit {got}, wanted {want}\n--- stdout\n{}\n--- stderr\n{}\n--- dovecot\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&d.logs(), 3000)
    );
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// `mailpull import ARGS... --json`: asserts exit 0 and returns the report.
fn import_json(sb: &Sandbox, d: &Dovecot, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = mailpull(sb, &all);
    assert_exit(&out, 0, d);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// (imported, already known) summed over the report's accounts.
fn counts(report: &serde_json::Value) -> (u64, u64) {
    let accounts = report["accounts"].as_array().unwrap();
    (
        accounts
            .iter()
            .map(|a| a["imported"].as_u64().unwrap())
            .sum(),
        accounts
            .iter()
            .map(|a| a["already_known"].as_u64().unwrap())
            .sum(),
    )
}

/// After an import: `check` finds nothing new, `fetch` downloads nothing; then a message
/// added to `mailbox` on the server is the one and only message the next fetch delivers.
fn assert_nothing_twice_then_new(sb: &Sandbox, d: &Dovecot, mailbox: &str) {
    let out = mailpull(sb, &["check"]);
    assert_exit(&out, 1, d);
    let out = mailpull(sb, &["fetch"]);
    assert_exit(&out, 0, d);
    assert!(
        maildir_messages(&sb.maildir()).is_empty(),
        "mailpull downloaded messages the other tool had fetched:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = message(99);
    if mailbox == "INBOX" {
        d.add_message("alice", &new);
    } else {
        d.add_message_in("alice", mailbox, &new);
    }
    let out = mailpull(sb, &["fetch"]);
    assert_exit(&out, 0, d);
    let got: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    assert_eq!(
        got,
        vec![expected_delivery(&new)],
        "exactly the new message"
    );
}

#[test]
fn fetchmail_pop3_state_is_imported() {
    let Some(fetchmail) = tool("fetchmail") else {
        return;
    };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=3 {
        d.add_message("alice", &message(n));
    }
    // fetchmail over plain POP3 on the loopback (it records no port: mailpull may use pop3s).
    let rc = sb.path().join("fetchmailrc");
    let sink = sb.path().join("fetchmail.out");
    write_private(
        &rc,
        &format!(
            "set no syslog\n\
             poll 127.0.0.1 protocol pop3 port {} user \"alice\" password \"secret\" \
             keep sslproto '' mda \"cat >> {}\"\n",
            d.pop3_port(),
            sink.display()
        ),
    );
    let ids = sb.path().join("fetchids");
    run_tool(
        &sb,
        &fetchmail,
        &[
            "-f",
            rc.to_str().unwrap(),
            "--idfile",
            ids.to_str().unwrap(),
            "--nodetach",
        ],
    );
    let fetched = std::fs::read_to_string(&sink).unwrap();
    assert_eq!(fetched.matches("Subject: message").count(), 3, "{fetched}");
    let state = std::fs::read_to_string(&ids).unwrap();
    assert_eq!(state.lines().count(), 3, "{state}");
    assert!(
        state.lines().all(|l| l.starts_with("alice@127.0.0.1 ")),
        "{state}"
    );

    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = true\n",
    );
    let report = import_json(&sb, &d, &["fetchmail", ids.to_str().unwrap()]);
    assert_eq!(counts(&report), (3, 0), "{report}");
    assert_eq!(report["unmatched"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["accounts"][0]["names"][0], "home");
    // Twice is harmless.
    let report = import_json(&sb, &d, &["fetchmail", ids.to_str().unwrap()]);
    assert_eq!(counts(&report), (0, 3), "{report}");

    assert_nothing_twice_then_new(&sb, &d, "INBOX");
}

#[test]
fn fetchmail_default_idfile_and_unmatched_records() {
    // Lines in fetchmail's format (as the test above has fetchmail write them); fetchmail
    // itself is not needed here.
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = true\n",
    );
    // No ~/.fetchids: nothing to read (EX_NOINPUT), and no ledger is created.
    let out = mailpull(&sb, &["import", "fetchmail"]);
    assert_exit(&out, 66, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".fetchids"), "{err}");
    assert!(!sb.ledger().exists());

    // Lines as fetchmail writes them, for the configured account and for one that is not.
    std::fs::write(
        sb.home().join(".fetchids"),
        "alice@127.0.0.1 000000016b02674f\nbob@pop.example.net UID1\nbob@pop.example.net UID2\n",
    )
    .unwrap();
    let out = mailpull(&sb, &["import", "fetchmail", "--dry-run"]);
    assert_exit(&out, 0, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("would import 1 message(s)"), "{err}");
    assert!(
        err.contains("not imported: 2 message id(s) of bob@pop.example.net"),
        "{err}"
    );
    assert!(!sb.ledger().exists(), "a dry run writes nothing");

    let report = import_json(&sb, &d, &["fetchmail"]);
    assert_eq!(counts(&report), (1, 0), "{report}");
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1, "{report}");
    assert_eq!(unmatched[0]["owner"], "bob@pop.example.net");
    assert_eq!(unmatched[0]["records"], 2);
    assert_eq!(unmatched[0]["line"], 2);

    // Only records of unknown accounts: a configuration problem, reported as such.
    std::fs::write(sb.path().join("other"), "bob@pop.example.net UID1\n").unwrap();
    let out = mailpull(
        &sb,
        &[
            "import",
            "fetchmail",
            sb.path().join("other").to_str().unwrap(),
        ],
    );
    assert_exit(&out, 78, &d);
}

#[test]
fn fetchmail_imap_keeps_no_state_to_import() {
    // fetchmail tracks IMAP messages by the server's \Seen flag and writes nothing to its
    // idfile; this is why `mailpull import fetchmail` is POP3 only.
    let Some(fetchmail) = tool("fetchmail") else {
        return;
    };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.add_message("alice", &message(1));
    let rc = sb.path().join("fetchmailrc");
    write_private(
        &rc,
        &format!(
            "set no syslog\n\
             poll 127.0.0.1 protocol imap port {} uidl user \"alice\" password \"secret\" \
             keep sslproto '' mda \"cat > /dev/null\"\n",
            d.imap_port()
        ),
    );
    let ids = sb.path().join("fetchids");
    let out = run_tool(
        &sb,
        &fetchmail,
        &[
            "-v",
            "-f",
            rc.to_str().unwrap(),
            "--idfile",
            ids.to_str().unwrap(),
            "--nodetach",
        ],
    );
    let log =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("reading message"),
        "fetchmail fetched nothing:\n{log}"
    );
    assert!(
        !ids.exists() || std::fs::read_to_string(&ids).unwrap().trim().is_empty(),
        "fetchmail now records IMAP state; mailpull import fetchmail should learn it"
    );
}

#[test]
fn mpop_state_directory_is_imported() {
    let Some(mpop) = tool("mpop") else { return };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=4 {
        d.add_message("alice", &message(n));
    }
    let rc = sb.path().join("mpoprc");
    let delivered = sb.path().join("mpop-maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(delivered.join(sub)).unwrap();
    }
    let uidls = sb.home().join(".mpop_uidls");
    write_private(
        &rc,
        &format!(
            "account alice\nhost 127.0.0.1\nport {}\ntls on\ntls_starttls off\n\
             tls_trust_file {}\nuser alice\npassword secret\nkeep on\n\
             delivery maildir {}\nuidls_file {}/%U_at_%H\n",
            d.pop3s_port(),
            d.ca_file().display(),
            delivered.display(),
            uidls.display()
        ),
    );
    run_tool(&sb, &mpop, &["-C", rc.to_str().unwrap(), "alice"]);
    assert_eq!(maildir_messages(&delivered).len(), 4, "mpop fetched");
    let state = std::fs::read_to_string(uidls.join("alice_at_127.0.0.1")).unwrap();
    assert!(state.contains("\n 4 127.0.0.1 alice\n"), "{state}");

    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = true\n",
    );
    // ~/.mpop_uidls is mpop's default directory, and so mailpull's.
    let report = import_json(&sb, &d, &["mpop"]);
    assert_eq!(counts(&report), (4, 0), "{report}");
    let report = import_json(&sb, &d, &["mpop", uidls.to_str().unwrap()]);
    assert_eq!(counts(&report), (0, 4), "{report}");

    // A damaged file is refused as a whole (EX_DATAERR), naming file and line.
    let broken = sb.path().join("broken");
    let mut text = state.clone();
    text = text.replace(" 4 127.0.0.1 alice", " 9 127.0.0.1 alice");
    std::fs::write(&broken, text).unwrap();
    let out = mailpull(&sb, &["import", "mpop", broken.to_str().unwrap()]);
    assert_exit(&out, 65, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken, line") && err.contains("short"),
        "{err}"
    );

    assert_nothing_twice_then_new(&sb, &d, "INBOX");
}

#[test]
fn mpop_import_in_delete_mode_deletes_without_downloading() {
    let Some(mpop) = tool("mpop") else { return };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=2 {
        d.add_message("alice", &message(n));
    }
    let rc = sb.path().join("mpoprc");
    let uidls = sb.path().join("uidls");
    write_private(
        &rc,
        &format!(
            "account alice\nhost 127.0.0.1\nport {}\ntls on\ntls_starttls off\n\
             tls_trust_file {}\nuser alice\npassword secret\nkeep on\n\
             delivery mbox {}\nuidls_file {}\n",
            d.pop3s_port(),
            d.ca_file().display(),
            sb.path().join("mpop.mbox").display(),
            uidls.display()
        ),
    );
    run_tool(&sb, &mpop, &["-C", rc.to_str().unwrap(), "alice"]);
    // keep = false: the note says what the next fetch will do.
    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = false\n",
    );
    let out = mailpull(&sb, &["import", "mpop", uidls.to_str().unwrap()]);
    assert_exit(&out, 0, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("imported 2 message(s)"), "{err}");
    assert!(err.contains("deletes the imported messages"), "{err}");
    d.add_message("alice", &message(3));
    let out = mailpull(&sb, &["fetch"]);
    assert_exit(&out, 0, &d);
    let got: Vec<Vec<u8>> = maildir_messages(&sb.maildir()).into_values().collect();
    assert_eq!(got, vec![expected_delivery(&message(3))]);
    assert_eq!(
        d.server_count("alice"),
        0,
        "imported messages deleted, new one too"
    );
}

/// getmail's rc: retriever `kind` (SimplePOP3SSLRetriever / SimpleIMAPSSLRetriever), delivery
/// through an external command (getmail refuses to write a Maildir as root).
fn getmail_rc(d: &Dovecot, kind: &str, port: u16, extra: &str, sink: &Path) -> String {
    format!(
        "[retriever]\ntype = {kind}\nserver = 127.0.0.1\nport = {port}\nusername = alice\n\
         password = secret\nca_certs = {}\n{extra}\n\
         [destination]\ntype = MDA_external\npath = /bin/sh\n\
         arguments = (\"-c\", \"cat >> {}\")\nallow_root_commands = true\n\n\
         [options]\ndelete = false\nread_all = false\nverbose = 0\n",
        d.ca_file().display(),
        sink.display()
    )
}

#[test]
fn getmail_pop3_state_is_imported() {
    let Some(getmail) = tool("getmail") else {
        return;
    };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=3 {
        d.add_message("alice", &message(n));
    }
    let gdir = sb.home().join(".getmail");
    std::fs::create_dir_all(&gdir).unwrap();
    let sink = sb.path().join("getmail.out");
    write_private(
        &gdir.join("getmailrc"),
        &getmail_rc(&d, "SimplePOP3SSLRetriever", d.pop3s_port(), "", &sink),
    );
    run_tool(
        &sb,
        &getmail,
        &[
            "--getmaildir",
            gdir.to_str().unwrap(),
            "--rcfile",
            "getmailrc",
        ],
    );
    let fetched = std::fs::read_to_string(&sink).unwrap();
    assert_eq!(fetched.matches("Subject: message").count(), 3);
    let oldmail = gdir.join(format!("oldmail-127.0.0.1-{}-alice", d.pop3s_port()));
    let state = std::fs::read_to_string(&oldmail).unwrap();
    assert_eq!(state.matches('\0').count(), 3, "{state:?}");

    // getmail records the port, but a mailbox's identity has none: an account reading the
    // same mailbox on the other port (with STLS) is the one the records belong to.
    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3://alice@127.0.0.1:{}", d.pop3_port()),
        "keep = true\n",
    );
    let report = import_json(
        &sb,
        &d,
        &["getmail", oldmail.to_str().unwrap(), "--dry-run"],
    );
    assert_eq!(counts(&report), (3, 0), "{report}");
    assert_eq!(report["accounts"][0]["protocol"], "pop3", "{report}");
    assert_eq!(report["accounts"][0]["host"], "127.0.0.1", "{report}");
    assert!(report["accounts"][0].get("port").is_none(), "{report}");

    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = true\n",
    );
    // ~/.getmail is getmail's default directory (there is no ~/.config/getmail), and so
    // mailpull's; a directory stands for its oldmail-* files (the rc file is not one).
    let report = import_json(&sb, &d, &["getmail"]);
    assert_eq!(counts(&report), (3, 0), "{report}");
    assert_eq!(report["files"][0], oldmail.to_str().unwrap(), "{report}");
    let report = import_json(&sb, &d, &["getmail", oldmail.to_str().unwrap()]);
    assert_eq!(counts(&report), (0, 3), "{report}");

    // A file that is not getmail's: refused, nothing imported.
    let out = mailpull(
        &sb,
        &[
            "import",
            "getmail",
            gdir.join("getmailrc").to_str().unwrap(),
        ],
    );
    assert_exit(&out, 65, &d);

    assert_nothing_twice_then_new(&sb, &d, "INBOX");
}

#[test]
fn getmail_imap_state_is_imported_per_folder() {
    let Some(getmail) = tool("getmail") else {
        return;
    };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    d.create_mailbox("alice", "Lists.rust");
    d.create_mailbox("alice", "Spam");
    for n in 1..=2 {
        d.add_message("alice", &message(n));
    }
    d.add_message_in("alice", "Lists.rust", &message(3));
    d.add_message_in("alice", "Spam", &message(4));
    let gdir = sb.path().join("getmail");
    std::fs::create_dir_all(&gdir).unwrap();
    let sink = sb.path().join("getmail.out");
    write_private(
        &gdir.join("getmailrc"),
        &getmail_rc(
            &d,
            "SimpleIMAPSSLRetriever",
            d.imaps_port(),
            "mailboxes = (\"INBOX\", \"Lists.rust\", \"Spam\")\n",
            &sink,
        ),
    );
    run_tool(
        &sb,
        &getmail,
        &[
            "--getmaildir",
            gdir.to_str().unwrap(),
            "--rcfile",
            "getmailrc",
        ],
    );
    let fetched = std::fs::read_to_string(&sink).unwrap();
    assert_eq!(fetched.matches("Subject: message").count(), 4);
    let inbox = gdir.join(format!("oldmail-127.0.0.1-{}-alice-INBOX", d.imaps_port()));
    let state = std::fs::read_to_string(&inbox).unwrap();
    // getmail records UIDVALIDITY/UID: the ledger key is complete without asking the server.
    let validity = d.uidvalidity("alice", "INBOX");
    assert!(
        state
            .lines()
            .all(|l| l.starts_with(&format!("{validity}/"))),
        "{state:?}"
    );

    // mailpull fetches INBOX and Lists.rust, not Spam.
    write_config(
        &sb,
        &d,
        "home",
        &format!("imaps://alice@127.0.0.1:{}", d.imaps_port()),
        "folders = [\"INBOX\", \"Lists.rust\"]\n",
    );
    let report = import_json(&sb, &d, &["getmail", gdir.to_str().unwrap()]);
    assert_eq!(counts(&report), (3, 0), "{report}");
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1, "{report}");
    assert!(
        unmatched[0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not fetch folder \"Spam\""),
        "{report}"
    );
    let report = import_json(&sb, &d, &["getmail", gdir.to_str().unwrap()]);
    assert_eq!(counts(&report), (0, 3), "{report}");

    assert_nothing_twice_then_new(&sb, &d, "Lists.rust");
}

/// fetchmail polled `localhost`; mailpull's account names the server `127.0.0.1`. Host names
/// are never resolved, so the records match only once `--as` says they are the same mailbox.
#[test]
fn fetchmail_records_of_localhost_map_to_127_0_0_1_with_as() {
    let Some(fetchmail) = tool("fetchmail") else {
        return;
    };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=3 {
        d.add_message("alice", &message(n));
    }
    let rc = sb.path().join("fetchmailrc");
    write_private(
        &rc,
        &format!(
            "set no syslog\n\
             poll localhost protocol pop3 port {} user \"alice\" password \"secret\" \
             keep sslproto '' mda \"cat > /dev/null\"\n",
            d.pop3_port(),
        ),
    );
    let ids = sb.path().join("fetchids");
    run_tool(
        &sb,
        &fetchmail,
        &[
            "-f",
            rc.to_str().unwrap(),
            "--idfile",
            ids.to_str().unwrap(),
            "--nodetach",
        ],
    );
    let state = std::fs::read_to_string(&ids).unwrap();
    assert!(
        state.lines().count() == 3 && state.lines().all(|l| l.starts_with("alice@localhost ")),
        "{state}"
    );
    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = true\n",
    );
    let ids = ids.to_str().unwrap();
    // Without the mapping: nothing matches, and the error says how to map.
    let out = mailpull(&sb, &["import", "fetchmail", ids]);
    assert_exit(&out, 78, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not imported: 3 message id(s) of alice@localhost")
            && err.contains("--as pop3://alice@localhost=URL"),
        "{err}"
    );
    assert!(!sb.ledger().exists());
    // Mistakes in the mapping are usage errors, and nothing is imported.
    for bad in [
        "pop3://alice@localhost",
        "pop3://alice@localhost=imaps://alice@127.0.0.1",
        "imap://alice@localhost=imaps://alice@127.0.0.1",
        "pop3://alice@localhost:110=pop3s://alice@LOCALHOST:995",
    ] {
        let out = mailpull(&sb, &["import", "fetchmail", ids, "--as", bad]);
        assert_exit(&out, 64, &d);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--as"),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!sb.ledger().exists());
    }
    // A mapping that matches nothing is pointed out.
    let good = "pop3://alice@localhost=pop3s://alice@127.0.0.1:1";
    let unused = "pop3://bob@nowhere.example=pop3://bob@127.0.0.1";
    let out = mailpull(
        &sb,
        &[
            "import",
            "fetchmail",
            ids,
            "--dry-run",
            "--as",
            good,
            "--as",
            unused,
        ],
    );
    assert_exit(&out, 0, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("would import 3 message(s)")
            && err.contains(&format!("--as {unused:?} matched no record")),
        "{err}"
    );
    let report = import_json(&sb, &d, &["fetchmail", ids, "--as", good]);
    assert_eq!(counts(&report), (3, 0), "{report}");
    assert_eq!(report["accounts"][0]["names"][0], "home");
    assert_nothing_twice_then_new(&sb, &d, "INBOX");
}

#[test]
fn mpop_records_of_localhost_map_to_127_0_0_1_with_as() {
    let Some(mpop) = tool("mpop") else { return };
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    for n in 1..=2 {
        d.add_message("alice", &message(n));
    }
    let rc = sb.path().join("mpoprc");
    let uidls = sb.path().join("uidls");
    let delivered = sb.path().join("mpop-maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(delivered.join(sub)).unwrap();
    }
    write_private(
        &rc,
        &format!(
            "account alice\nhost localhost\nport {}\ntls on\ntls_starttls on\n\
             tls_trust_file {}\nuser alice\npassword secret\nkeep on\n\
             delivery maildir {}\nuidls_file {}\n",
            d.pop3_port(),
            d.ca_file().display(),
            delivered.display(),
            uidls.display()
        ),
    );
    run_tool(&sb, &mpop, &["-C", rc.to_str().unwrap(), "alice"]);
    let state = std::fs::read_to_string(&uidls).unwrap();
    assert!(state.contains("\n 2 localhost alice\n"), "{state}");
    write_config(
        &sb,
        &d,
        "home",
        &format!("pop3s://alice@127.0.0.1:{}", d.pop3s_port()),
        "keep = true\n",
    );
    let out = mailpull(&sb, &["import", "mpop", uidls.to_str().unwrap()]);
    assert_exit(&out, 78, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--as pop3://alice@localhost=URL"), "{err}");
    let report = import_json(
        &sb,
        &d,
        &[
            "mpop",
            uidls.to_str().unwrap(),
            "--as",
            "pop3s://alice@localhost=pop3://alice@127.0.0.1",
        ],
    );
    assert_eq!(counts(&report), (2, 0), "{report}");
    assert_nothing_twice_then_new(&sb, &d, "INBOX");
}

/// Matching getmail's folder names against the account's LIST patterns takes time linear in
/// their lengths: a pattern of twelve `*` and a 60-character name that almost matches took
/// hours with the backtracking matcher this replaced (25 s at 36 characters). No server is
/// needed: the record does not match, and that is reported at once.
#[test]
fn getmail_folder_patterns_match_in_linear_time() {
    let sb = Sandbox::new();
    let gdir = sb.path().join("getmail");
    std::fs::create_dir_all(&gdir).unwrap();
    let folder = "a".repeat(60);
    write_private(
        &gdir.join(format!("oldmail-mail.example.org-993-alice-{folder}")),
        "7/1\x001700000000\n",
    );
    write_private(
        &sb.path().join("config.toml"),
        &format!(
            "[account.home]\nurl = \"imaps://alice@mail.example.org\"\npassword = \"secret\"\n\
             folders = [\"{}b\"]\ndeliver = {{ maildir = \"{}\" }}\n",
            "*a".repeat(12),
            sb.maildir().display()
        ),
    );
    let started = std::time::Instant::now();
    let mut c = sb.cmd(None);
    c.env("MAILPULL_CONFIG", sb.path().join("config.toml"));
    c.args(["import", "getmail", gdir.to_str().unwrap(), "--json"]);
    let out = run_with_limit(c, Duration::from_secs(60));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(code(&out), 78, "nothing matched: {report}");
    let reason = report["unmatched"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("does not fetch folder"), "{report}");
    assert!(started.elapsed() < Duration::from_secs(60));
}
