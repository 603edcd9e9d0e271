//! Read receipts end to end: a private Dovecot (IMAP) holds messages that request receipts, a
//! real SMTP server (Debian's python3-aiosmtpd, see `common::smtp`) receives the receipts, and
//! the prompt is driven through a real pseudo-terminal (rexpect).
//!
//! Every receipt received is parsed (mail-parser), never grepped: multipart/report with
//! report-type=disposition-notification, the message/disposition-notification fields, a null
//! envelope sender, exactly one recipient. Tests skip (loudly) without Dovecot or aiosmtpd,
//! unless MAILPULL_REQUIRE_DOVECOT=1 / MAILPULL_REQUIRE_TOOLS=1.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, run_with_limit, Sandbox};
use common::smtp::{Mode, Received, Smtp};
use mail_parser::{HeaderName, MessageParser, MimeHeaders};

const LIMIT: Duration = Duration::from_secs(120);
const USER: &str = "alice@example.org";

/// A message asking for a receipt at `dnt` (the raw field value).
fn request(id: &str, from: &str, dnt: &str, subject: &str) -> Vec<u8> {
    format!(
        "Return-Path: <{from}>\nFrom: Sender <{from}>\nTo: {USER}\nSubject: {subject}\n\
         Date: Mon, 2 Sep 2024 10:00:00 +0000\nMessage-ID: <{id}>\n\
         Disposition-Notification-To: {dnt}\n\nHello.\n"
    )
    .into_bytes()
}

struct Setup {
    d: Dovecot,
    sb: Sandbox,
    config: PathBuf,
}

/// Dovecot with the messages in INBOX (and `extra` folders), a sandbox and a configuration
/// whose `[receipts]` table is `receipts` (TOML lines).
fn setup(folders: &[&str], receipts: &str) -> Option<Setup> {
    let d = Dovecot::start()?;
    for f in folders {
        d.create_mailbox("alice", f);
    }
    let sb = Sandbox::new();
    let folder_list: Vec<String> = std::iter::once("INBOX")
        .chain(folders.iter().copied())
        .map(|f| format!("{f:?}"))
        .collect();
    let config = sb.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{receipts}\n\n[account.mail]\nurl = \"{}\"\ntls_ca_file = \"{}\"\n\
             deliver = {{ maildir = \"{}\" }}\nfolders = [{}]\n",
            d.imaps_url("alice"),
            d.ca_file().display(),
            sb.maildir().display(),
            folder_list.join(", ")
        ),
    )
    .unwrap();
    Some(Setup { d, sb, config })
}

fn smtp_receipts(smtp: &Smtp) -> String {
    format!(
        "[receipts]\nfrom = \"{USER}\"\nsmtp = \"{}\"\npassword_command = \"echo secret\"\n\
         tls_ca_file = \"{}\"",
        smtp.url(true),
        smtp.ca_file().display()
    )
}

impl Setup {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.sb.cmd(Some("secret"));
        c.arg("--config").arg(&self.config).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with_limit(self.cmd(args), LIMIT)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(code(&out), 0, "{args:?}:\n{}", show(&out));
        out
    }

    /// `mailpull receipts --all` as (id, state, to, subject).
    fn listing(&self) -> Vec<(i64, String, String, String)> {
        let out = self.ok(&["receipts", "--all"]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 5, "bad listing line {l:?}");
                (
                    f[0].parse().unwrap(),
                    f[1].to_string(),
                    f[3].to_string(),
                    f[4].to_string(),
                )
            })
            .collect()
    }

    /// Adds a message to a folder and has Dovecot give it its UID now, so that UIDs follow
    /// the order of the calls.
    fn add(&self, mailbox: &str, raw: &[u8]) {
        self.d.add_message_in("alice", mailbox, raw);
        self.d.server_uids("alice", mailbox);
    }

    /// Whether the message with this Message-ID (without brackets) carries `$MDNSent`.
    fn mdnsent(&self, mailbox: &str, id: &str) -> bool {
        let out = self.d.doveadm(&[
            "-f",
            "tab",
            "fetch",
            "-u",
            "alice",
            "flags",
            "mailbox",
            mailbox,
            "header",
            "Message-ID",
            id,
        ]);
        let rows: Vec<&str> = out.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(rows.len(), 1, "message {id} in {mailbox}: {out:?}");
        rows[0].split_whitespace().any(|f| f == "$MDNSent")
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Checks that `r` is one standard MDN for `original` (Message-ID without brackets) sent to
/// `to`, with a null envelope sender.
#[track_caller]
fn assert_mdn(r: &Received, to: &str, original: &str) {
    // aiosmtpd records a null reverse-path as "<>" (a real one without brackets).
    assert_eq!(r.mail_from, "<>", "the envelope sender must be null");
    assert_eq!(r.rcpt_tos, [to]);
    let msg = MessageParser::default()
        .parse(&r.data)
        .expect("the receipt parses");
    let ct = msg.content_type().expect("Content-Type");
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("report")),
        "{}",
        String::from_utf8_lossy(&r.data)
    );
    assert_eq!(
        ct.attribute("report-type"),
        Some("disposition-notification")
    );
    let to_addrs: Vec<&str> = msg
        .to()
        .expect("To")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to_addrs, [to]);
    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(USER)
    );
    assert_eq!(msg.in_reply_to().as_text(), Some(original));
    assert_eq!(msg.references().as_text(), Some(original));
    assert!(msg.header(HeaderName::Bcc).is_none() && msg.header(HeaderName::Cc).is_none());
    // Parts: the multipart itself, the human-readable text, the report.
    assert_eq!(msg.parts.len(), 3, "{}", String::from_utf8_lossy(&r.data));
    let text = &msg.parts[1];
    assert_eq!(text.content_type().map(|c| c.ctype()), Some("text"));
    let report = &msg.parts[2];
    let rct = report.content_type().expect("report Content-Type");
    assert_eq!(
        (rct.ctype(), rct.subtype()),
        ("message", Some("disposition-notification"))
    );
    let fields = MessageParser::default()
        .parse_headers(report.contents())
        .expect("the report fields parse");
    let field = |name: &str| -> Option<String> {
        fields
            .header_raw(HeaderName::parse(name.to_string()).unwrap())
            .map(|v| v.trim().to_string())
    };
    assert!(field("Reporting-UA").is_some_and(|v| v.contains("mailpull")));
    assert_eq!(
        field("Final-Recipient").as_deref(),
        Some(&*format!("rfc822;{USER}"))
    );
    assert_eq!(
        field("Original-Message-ID").as_deref(),
        Some(&*format!("<{original}>"))
    );
    assert_eq!(
        field("Disposition").as_deref(),
        Some("manual-action/MDN-sent-manually; displayed")
    );
}

#[test]
fn no_terminal_queues_then_send_id_sends_exactly_one_and_flags_mdnsent() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    s.add(
        "INBOX",
        &request("m1@x.example", "bob@x.example", "bob@x.example", "one"),
    );
    s.add("INBOX", b"From: c@x.example\nSubject: no request\n\nHi.\n");

    // No terminal (stdin is /dev/null): nothing is sent, the request waits.
    let out = s.ok(&["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mailpull receipts review"), "{err}");
    assert!(smtp.received().is_empty());
    let list = s.listing();
    assert_eq!(list.len(), 1, "{list:?}");
    let (id, state, to, subject) = &list[0];
    assert_eq!(
        (state.as_str(), to.as_str(), subject.as_str()),
        ("pending", "bob@x.example", "one")
    );
    // The message was delivered all the same, and not flagged: nobody answered yet.
    assert_eq!(common::run::maildir_messages(&s.sb.maildir()).len(), 2);
    assert!(!s.mdnsent("INBOX", "m1@x.example"));

    // Answered from a script: exactly one receipt.
    s.ok(&["receipts", "send", &id.to_string()]);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_mdn(&got[0], "bob@x.example", "m1@x.example");
    assert!(got[0].tls, "STARTTLS must be used");
    assert_eq!(got[0].auth.as_deref(), Some("alice"));
    assert_eq!(s.listing()[0].1, "sent");

    // Never two: a second send is refused, and fetching again sends nothing.
    let again = s.run(&["receipts", "send", &id.to_string()]);
    assert_eq!(code(&again), 64, "{}", show(&again));
    s.ok(&["fetch"]);
    assert_eq!(smtp.received().len(), 1);
    // The next fetch set $MDNSent on the server (the folder was opened read-only before).
    assert!(s.mdnsent("INBOX", "m1@x.example"));
}

#[test]
fn same_message_twice_or_answered_elsewhere_is_not_asked_about() {
    let Some(s) = setup(&["Other"], "") else {
        return;
    };
    let m = request("dup@x.example", "bob@x.example", "bob@x.example", "dup");
    s.add("INBOX", &m);
    s.add("Other", &m);
    // Another client already answered this one (RFC 3503).
    s.add(
        "INBOX",
        &request("done@x.example", "c@x.example", "c@x.example", "done"),
    );
    s.d.doveadm(&[
        "flags",
        "add",
        "-u",
        "alice",
        "$MDNSent",
        "mailbox",
        "INBOX",
        "header",
        "Message-ID",
        "done@x.example",
    ]);

    s.ok(&["fetch"]);
    assert_eq!(common::run::maildir_messages(&s.sb.maildir()).len(), 3);
    let list = s.listing();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].3, "dup");

    // Fetched again (keep mode): still one request, and the copy in the other folder was
    // never asked about.
    s.ok(&["fetch"]);
    assert_eq!(s.listing().len(), 1);
}

#[test]
fn no_transport_keeps_the_request_pending() {
    let Some(s) = setup(&[], "") else {
        return;
    };
    s.add(
        "INBOX",
        &request("m@x.example", "bob@x.example", "bob@x.example", "s"),
    );
    s.ok(&["fetch"]);
    let id = s.listing()[0].0;
    let out = s.run(&["receipts", "send", &id.to_string()]);
    assert_eq!(code(&out), 78, "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[receipts]"));
    assert_eq!(s.listing()[0].1, "pending");
    // Declined from a script.
    s.ok(&["receipts", "decline", &id.to_string()]);
    assert_eq!(s.listing()[0].1, "declined");
    let out = s.run(&["receipts", "send", &id.to_string()]);
    assert_eq!(code(&out), 64, "{}", show(&out));
    // The answer is marked on the server at the next fetch.
    s.ok(&["fetch"]);
    assert!(s.mdnsent("INBOX", "m@x.example"));
}

#[test]
fn sendmail_gets_a_null_sender_and_the_receipt() {
    let Some(s) = setup(&[], "") else {
        return;
    };
    let dir = s.sb.path().join("sendmail");
    std::fs::create_dir(&dir).unwrap();
    let script = s.sb.path().join("fake-sendmail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}/argv\ncat > {0}/stdin\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!(
            "[receipts]\nfrom = \"{USER}\"\nsendmail = \"{}\"\n{cfg}",
            script.display()
        ),
    )
    .unwrap();
    s.add(
        "INBOX",
        &request("sm@x.example", "bob@x.example", "bob@x.example", "s"),
    );
    s.ok(&["fetch"]);
    let id = s.listing()[0].0;
    s.ok(&["receipts", "send", &id.to_string()]);
    let argv = std::fs::read_to_string(dir.join("argv")).unwrap();
    assert_eq!(argv, "-f\n<>\n-i\n--\nbob@x.example\n");
    let data = std::fs::read(dir.join("stdin")).unwrap();
    assert_mdn(
        &Received {
            mail_from: "<>".into(), // checked in argv above
            rcpt_tos: vec!["bob@x.example".into()],
            tls: false,
            auth: None,
            data,
        },
        "bob@x.example",
        "sm@x.example",
    );
}

#[test]
fn kill_during_sending_is_never_followed_by_a_second_send() {
    let Some(smtp) = Smtp::start_stalling(Mode::ImplicitTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    s.add(
        "INBOX",
        &request("k@x.example", "bob@x.example", "bob@x.example", "k"),
    );
    s.ok(&["fetch"]);
    let id = s.listing()[0].0.to_string();

    let mut child = s
        .cmd(&["receipts", "send", &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stalled = smtp.wait_for(LIMIT, |m| m.stalled());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        stalled,
        "the receipt never reached the server:\n{}",
        smtp.log()
    );

    let list = s.listing();
    assert_eq!(list[0].1, "may have been sent", "{list:?}");
    let out = s.ok(&["receipts"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--again"));
    // Not resent by a fetch, nor by send without --again.
    s.ok(&["fetch"]);
    let out = s.run(&["receipts", "send", &id]);
    assert_eq!(code(&out), 64, "{}", show(&out));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !smtp.dir().join("received/2.stalled").exists(),
        "a second transmission was started"
    );
    assert_eq!(s.listing()[0].1, "may have been sent");
}

#[test]
fn hostile_headers_are_refused_or_answered_safely() {
    let Some(smtp) = Smtp::start(Mode::ImplicitTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    // CR/LF inside the display name: the field ends at the CR/LF, the quote is left open.
    s.add(
        "INBOX",
        &request(
            "crlf@x.example",
            "bob@x.example",
            "\"Evil\r\nBcc: victim@x.example\" <bob@x.example>",
            "crlf",
        ),
    );
    // A folded display name carrying a header-looking text.
    s.add(
        "INBOX",
        &request(
            "fold@x.example",
            "bob@x.example",
            "\"Evil\r\n Bcc: victim@x.example\" <bob@x.example>",
            "fold",
        ),
    );
    let many: Vec<String> = (0..50).map(|i| format!("u{i}@x.example")).collect();
    s.add(
        "INBOX",
        &request("many@x.example", "u0@x.example", &many.join(", "), "many"),
    );
    let long = format!("{}@x.example", "a".repeat(1100));
    s.add(
        "INBOX",
        &request("long@x.example", "bob@x.example", &long, "long"),
    );

    let out = s.ok(&["fetch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bytes long"), "{err}");
    assert!(err.contains("will not send"), "{err}");
    let list = s.listing();
    let subjects: Vec<&str> = list.iter().map(|l| l.3.as_str()).collect();
    assert_eq!(subjects, ["fold", "many"], "{list:?}");
    for (id, ..) in &list {
        s.ok(&["receipts", "send", &id.to_string()]);
    }
    let got = smtp.received();
    assert_eq!(got.len(), 2);
    assert_mdn(&got[0], "bob@x.example", "fold@x.example");
    assert_mdn(&got[1], "u0@x.example", "many@x.example");
    for r in &got {
        let text = String::from_utf8_lossy(&r.data);
        assert!(!text.contains("victim"), "{text}");
    }
}

#[test]
fn pop3_delete_mode_queues_and_sends_later() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    let cfg = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace(&s.d.imaps_url("alice"), &s.d.pop3s_url("alice"))
        .replace("folders = [\"INBOX\"]\n", "");
    std::fs::write(&s.config, cfg).unwrap();
    s.add(
        "INBOX",
        &request("pop@x.example", "bob@x.example", "bob@x.example", "pop"),
    );
    s.ok(&["fetch"]);
    assert_eq!(s.d.server_count("alice"), 0, "POP3 deletes by default");
    let list = s.listing();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].1, "pending");
    s.ok(&["receipts", "send", &list[0].0.to_string()]);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_mdn(&got[0], "bob@x.example", "pop@x.example");
}

#[test]
fn bad_receipt_settings_are_configuration_errors() {
    let sb = Sandbox::new();
    let config = sb.path().join("config.toml");
    for (toml, want) in [
        ("[receipts]\nsmtp = \"http://h.example\"\n", "smtps://"),
        (
            "[receipts]\nsmtp = \"smtp://u:p@h.example\"\n",
            "password_command",
        ),
        (
            "[receipts]\nsmtp = \"smtp://h.example\"\nsendmail = \"x\"\n",
            "not both",
        ),
        (
            "[receipts]\nfrom = \"not an address\"\nsendmail = \"x\"\n",
            "from",
        ),
        ("[receipts]\nbogus = 1\n", "bogus"),
        ("[defaults]\nreceipts = \"sometimes\"\n", "receipts"),
        (
            "[defaults]\nreceipts_transport = { smtp = \"ftp://h.example\" }\n",
            "smtps://",
        ),
    ] {
        std::fs::write(
            &config,
            format!("{toml}\n[account.a]\nurl = \"imaps://a@127.0.0.1\"\n"),
        )
        .unwrap();
        let mut c = sb.cmd(None);
        c.arg("--config").arg(&config).args(["config", "check"]);
        let out = run_with_limit(c, LIMIT);
        assert_eq!(code(&out), 78, "{toml}\n{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{toml}: {err}");
    }
    // A good one is shown by config check.
    std::fs::write(
        &config,
        "[receipts]\nfrom = \"alice@example.org\"\nsmtp = \"smtps://alice@smtp.example.org\"\n\
         password_command = \"echo x\"\n\n[account.a]\nurl = \"imaps://a@127.0.0.1\"\n\n\
         [account.b]\nurl = \"imaps://b@127.0.0.1\"\nreceipts = \"never\"\n",
    )
    .unwrap();
    let mut c = sb.cmd(None);
    c.arg("--config").arg(&config).args(["config", "check"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "receipts: ask; sent via smtps://smtp.example.org:465 from alice@example.org"
        ),
        "{text}"
    );
    assert!(text.contains("receipts: never"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// On a terminal.

/// Runs mailpull on a pseudo-terminal.
fn pty(s: &Setup, args: &[&str]) -> rexpect::session::PtySession {
    let mut c = s.cmd(args);
    // The child's stdin, stdout and stderr are the pty (the sandbox's default stdin is null).
    c.env("TERM", "xterm").stdin(std::process::Stdio::inherit());
    rexpect::session::spawn_command(c, Some(60_000)).expect("spawn on a pty")
}

/// Waits for a prompt about `subject` and picks the item `up` places above the default
/// ("Decide later", the last).
fn answer(p: &mut rexpect::session::PtySession, subject: &str, up: usize) {
    p.exp_string(subject).expect("the prompt names the subject");
    p.exp_string("Send a read receipt?").expect("the question");
    p.send(&"k".repeat(up)).unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
}

fn finish(p: &mut rexpect::session::PtySession) -> String {
    let rest = p.exp_eof().expect("mailpull ends");
    match p.process().wait() {
        Ok(rexpect::process::WaitStatus::Exited(_, 0)) => rest,
        other => panic!("mailpull did not end well: {other:?}\n{rest}"),
    }
}

#[test]
fn prompt_send_dont_send_always_for_this_sender() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    s.add(
        "INBOX",
        &request("p1@x.example", "a@x.example", "a@x.example", "subj-one"),
    );
    s.add(
        "INBOX",
        &request("p2@x.example", "b@x.example", "b@x.example", "subj-two"),
    );
    s.add(
        "INBOX",
        &request("p3@x.example", "c@x.example", "c@x.example", "subj-three"),
    );
    s.add(
        "INBOX",
        &request("p4@x.example", "c@x.example", "c@x.example", "subj-four"),
    );

    let mut p = pty(&s, &["fetch"]);
    answer(&mut p, "subj-one", 4); // Send
    answer(&mut p, "subj-two", 3); // Don't send
    answer(&mut p, "subj-three", 2); // Always send to c@x.example
                                     // subj-four comes from c@x.example too: sent without a question.
    let rest = finish(&mut p);
    assert!(!rest.contains("subj-four"), "asked again:\n{rest}");

    let got = smtp.received();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_mdn(&got[0], "a@x.example", "p1@x.example");
    assert_mdn(&got[1], "c@x.example", "p3@x.example");
    assert_mdn(&got[2], "c@x.example", "p4@x.example");
    let states: Vec<(String, String)> = s
        .listing()
        .into_iter()
        .map(|(_, st, _, subj)| (subj, st))
        .collect();
    assert_eq!(
        states,
        [
            ("subj-one".to_string(), "sent".to_string()),
            ("subj-two".into(), "declined".into()),
            ("subj-three".into(), "sent".into()),
            ("subj-four".into(), "sent".into()),
        ]
    );
    // All four answered: flagged on the server (in the same run).
    for id in ["p1", "p2", "p3", "p4"] {
        assert!(s.mdnsent("INBOX", &format!("{id}@x.example")), "{id}");
    }

    // Without a terminal nothing is sent, even to a sender the user said "always" for; a
    // "never" sender is declined at once.
    s.add(
        "INBOX",
        &request("p5@x.example", "c@x.example", "c@x.example", "subj-five"),
    );
    s.add(
        "INBOX",
        &request("p6@x.example", "b@x.example", "b@x.example", "subj-six"),
    );
    let mut p = pty(&s, &["fetch"]);
    answer(&mut p, "subj-six", 1); // Never send to b@x.example
    finish(&mut p);
    s.add(
        "INBOX",
        &request("p7@x.example", "c@x.example", "c@x.example", "subj-seven"),
    );
    s.add(
        "INBOX",
        &request("p8@x.example", "b@x.example", "b@x.example", "subj-eight"),
    );
    s.ok(&["fetch"]);
    assert_eq!(smtp.received().len(), 4, "only subj-five (on the terminal)");
    let states: Vec<(String, String)> = s
        .listing()
        .into_iter()
        .skip(4)
        .map(|(_, st, _, subj)| (subj, st))
        .collect();
    assert_eq!(
        states,
        [
            ("subj-five".to_string(), "sent".to_string()),
            ("subj-six".into(), "declined".into()),
            ("subj-seven".into(), "pending".into()),
            ("subj-eight".into(), "declined".into()),
        ]
    );
}

#[test]
fn parallel_accounts_ask_one_question_at_a_time() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    let bob_maildir = s.sb.path().join("bob-Maildir");
    let cfg = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!(
            "{cfg}\n[account.bob]\nurl = \"{}\"\ntls_ca_file = \"{}\"\n\
             deliver = {{ maildir = \"{}\" }}\n",
            s.d.imaps_url("bob"),
            s.d.ca_file().display(),
            bob_maildir.display()
        ),
    )
    .unwrap();
    s.add(
        "INBOX",
        &request("pa@x.example", "a@x.example", "a@x.example", "subj-alice"),
    );
    s.d.add_message(
        "bob",
        &request("pb@x.example", "b@x.example", "b@x.example", "subj-bob"),
    );

    let mut p = pty(&s, &["fetch", "--jobs", "2"]);
    for _ in 0..2 {
        p.exp_string("A read receipt was requested").unwrap();
        p.exp_string("Send a read receipt?").unwrap();
        p.send("kkkk\r").unwrap(); // Send
        p.flush().unwrap();
    }
    finish(&mut p);
    let got = smtp.received();
    assert_eq!(got.len(), 2);
    let mut to: Vec<&str> = got.iter().map(|r| r.rcpt_tos[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["a@x.example", "b@x.example"]);
}

#[test]
fn kill_while_sending_from_the_prompt_is_never_followed_by_a_second_send() {
    let Some(smtp) = Smtp::start_stalling(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    s.add(
        "INBOX",
        &request(
            "kp@x.example",
            "bob@x.example",
            "bob@x.example",
            "subj-kill",
        ),
    );
    let mut p = pty(&s, &["fetch"]);
    answer(&mut p, "subj-kill", 4); // Send
    let stalled = smtp.wait_for(LIMIT, |m| m.stalled());
    p.process_mut()
        .kill(rexpect::process::Signal::SIGKILL)
        .unwrap();
    assert!(
        stalled,
        "the receipt never reached the server:\n{}",
        smtp.log()
    );

    // The next runs, on a terminal or not, neither ask nor send again.
    let mut p = pty(&s, &["fetch"]);
    let rest = finish(&mut p);
    assert!(!rest.contains("Send a read receipt?"), "{rest}");
    s.ok(&["fetch"]);
    assert_eq!(common::run::maildir_messages(&s.sb.maildir()).len(), 1);
    let list = s.listing();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].1, "may have been sent");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !smtp.dir().join("received/2.stalled").exists(),
        "a second transmission was started"
    );
}

#[test]
fn delivery_to_stdout_never_prompts() {
    let Some(s) = setup(&[], "") else {
        return;
    };
    s.add(
        "INBOX",
        &request(
            "so@x.example",
            "bob@x.example",
            "bob@x.example",
            "subj-stdout",
        ),
    );
    let mut p = pty(&s, &["fetch", "--stdout"]);
    let out = finish(&mut p);
    assert!(
        out.contains("Disposition-Notification-To"),
        "the message went to stdout"
    );
    assert!(!out.contains("Send a read receipt?"), "{out}");
    let list = s.listing();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].1, "pending");
}

#[test]
fn review_on_a_terminal_sends_exactly_one() {
    let Some(smtp) = Smtp::start(Mode::ImplicitTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    s.add(
        "INBOX",
        &request("r1@x.example", "a@x.example", "a@x.example", "rev-one"),
    );
    s.add(
        "INBOX",
        &request("r2@x.example", "b@x.example", "b@x.example", "rev-two"),
    );
    s.ok(&["fetch"]);
    assert!(smtp.received().is_empty());

    // Without a terminal, review refuses clearly.
    let out = s.run(&["receipts", "review"]);
    assert_eq!(code(&out), 64, "{}", show(&out));

    let mut p = pty(&s, &["receipts", "review"]);
    answer(&mut p, "rev-one", 4); // Send
    answer(&mut p, "rev-two", 0); // Decide later
    finish(&mut p);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_mdn(&got[0], "a@x.example", "r1@x.example");
    let states: Vec<String> = s.listing().into_iter().map(|l| l.1).collect();
    assert_eq!(states, ["sent", "pending"]);

    // A second review asks only about the one left.
    let mut p = pty(&s, &["receipts", "review"]);
    answer(&mut p, "rev-two", 3); // Don't send
    let rest = finish(&mut p);
    assert!(!rest.contains("rev-one"), "{rest}");
    assert_eq!(smtp.received().len(), 1);
}

/// A request is recorded in the same ledger transaction as its message's delivery: a run
/// killed right after delivering a message that asks for a receipt (here, while the MDA works
/// on the next message) leaves the request listed, although the message is never downloaded
/// again.
#[test]
fn kill_after_delivery_keeps_the_request() {
    let Some(s) = setup(&[], "") else {
        return;
    };
    s.add(
        "INBOX",
        &request("k1@x.example", "bob@x.example", "bob@x.example", "first"),
    );
    s.add(
        "INBOX",
        &request("k2@x.example", "eve@x.example", "eve@x.example", "slow"),
    );
    let started = s.sb.path().join("slow-started");
    let mda = format!(
        "m=$(cat); case \"$m\" in *'Subject: slow'*) touch '{}'; sleep 60;; esac; exit 0",
        started.display()
    );
    let mut c = s.cmd(&["fetch", "--mda", &mda]);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the MDA never got the second message"
        );
        assert!(child.try_wait().unwrap().is_none(), "mailpull ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The MDA's process group may outlive mailpull: it does not matter here.
    let list = s.listing();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].1, "pending");
    assert_eq!(list[0].3, "first", "{list:?}");
}

/// The line that tells the user that read-receipt requests wait for an answer, from a run's
/// stderr (`None` when the run printed none).
fn waiting_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find(|l| l.contains("read receipt request(s) wait for your answer"))
        .map(str::to_string)
}

/// `mailpull watch` over IMAP IDLE: a fetch that queues a read-receipt request (no terminal to
/// ask on) prints the same "N read receipt request(s) wait for your answer" line as `mailpull
/// fetch` does. The watch's IDLE fetches once wired the engine themselves and dropped that
/// line: the request was queued without a word.
#[test]
fn watch_over_idle_says_that_requests_wait_like_fetch() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    let log = s.sb.path().join("watch.log");
    let mut c = s.cmd(&["watch", "--every", "1h"]);
    c.stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = c.spawn().unwrap();
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |what: &str, child: &mut std::process::Child, cond: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + LIMIT;
        while !cond() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the watch ended ({status}) while waiting for {what}:\n{}",
                    stderr()
                );
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no {what} within {LIMIT:?}; the watch's stderr:\n{}",
                    stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("IDLE", &mut child, &|| {
        stderr().contains("watching INBOX with IDLE")
    });
    // New mail while the watch IDLEs: fetched at once, in the IDLE session.
    s.add(
        "INBOX",
        &request("w1@x.example", "bob@x.example", "bob@x.example", "watched"),
    );
    let maildir = s.sb.maildir();
    wait_for("delivery", &mut child, &|| {
        common::run::maildir_messages(&maildir).len() == 1
    });
    wait_for("the line saying that a request waits", &mut child, &|| {
        waiting_line(&stderr()).is_some()
    });
    // SAFETY: kill with the pid of our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stderr());
    let watched = waiting_line(&stderr()).unwrap();
    assert!(
        smtp.received().is_empty(),
        "nothing is sent without consent"
    );
    let list = s.listing();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].1.as_str(), list[0].3.as_str()),
        ("pending", "watched")
    );

    // `fetch` queueing one request says the very same.
    s.add(
        "INBOX",
        &request("f1@x.example", "eve@x.example", "eve@x.example", "fetched"),
    );
    let out = s.ok(&["fetch"]);
    let fetched = waiting_line(&String::from_utf8_lossy(&out.stderr))
        .unwrap_or_else(|| panic!("fetch printed no waiting line:\n{}", show(&out)));
    assert_eq!(watched, fetched);
    assert_eq!(s.listing().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// First contact: many requests at once (issue 14, friction 1).

/// Adds `n` requests from distinct senders to `mailbox`, subjects `{tag}-1`…`{tag}-n`.
fn many(s: &Setup, mailbox: &str, tag: &str, n: usize) {
    for i in 1..=n {
        let from = format!("{tag}{i}@x.example");
        s.add(
            mailbox,
            &request(
                &format!("{tag}{i}@m.example"),
                &from,
                &from,
                &format!("{tag}-{i}"),
            ),
        );
    }
}

/// Sends keys to the prompt on screen once `what` appeared.
fn keys(p: &mut rexpect::session::PtySession, what: &str, keys: &str) {
    p.exp_string(what)
        .unwrap_or_else(|e| panic!("waiting for {what:?}: {e}"));
    p.send(keys).unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
}

/// The states of every request, by subject.
fn states(s: &Setup) -> Vec<(String, String)> {
    s.listing()
        .into_iter()
        .map(|(_, st, _, subj)| (subj, st))
        .collect()
}

/// Twelve requests in two folders: one question first ("12 messages … ask"), asked once per
/// run; "review them" then asks about each; "Decide later for all remaining" ends the
/// prompting for the rest of the run, the second folder included; nothing is sent and all
/// stay pending.
#[test]
fn many_requests_one_question_first_and_later_for_all_ends_prompting() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&["Other"], &smtp_receipts(&smtp)) else {
        return;
    };
    many(&s, "INBOX", "in", 6);
    many(&s, "Other", "ot", 6);
    let mut p = pty(&s, &["fetch"]);
    keys(&mut p, "6 messages of mail ask for a read receipt", "k"); // Review them now
    for i in 1..=6 {
        answer(&mut p, &format!("in-{i}"), 0); // Decide later
    }
    // The second folder has six too: no second batch question, straight to the first one.
    p.exp_string("ot-1").expect("the first request of Other");
    let before = p.exp_string("Send a read receipt?").unwrap();
    assert!(!before.contains("ask for a read receipt"), "{before}");
    p.send("j\r").unwrap(); // Decide later for all remaining
    p.flush().unwrap();
    let rest = finish(&mut p);
    assert!(
        !rest.contains("ot-2"),
        "asked again after \"later for all\":\n{rest}"
    );
    assert!(smtp.received().is_empty());
    let st = states(&s);
    assert_eq!(st.len(), 12, "{st:?}");
    assert!(st.iter().all(|(_, state)| state == "pending"), "{st:?}");
}

/// Three requests in each of four folders: no folder alone passes the threshold, but the run
/// does. The first folder's three are asked about one by one; before the fourth request the one
/// question comes (counting the run, not the folder), and its "decide later" holds for the rest
/// of the run: no prompt for the other nine, nothing sent, all twelve pending.
#[test]
fn many_requests_across_folders_one_question_for_the_run() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&["A", "B", "C"], &smtp_receipts(&smtp)) else {
        return;
    };
    for (folder, tag) in [("INBOX", "fi"), ("A", "fa"), ("B", "fb"), ("C", "fc")] {
        many(&s, folder, tag, 3);
    }
    let mut p = pty(&s, &["fetch"]);
    for i in 1..=3 {
        answer(&mut p, &format!("fi-{i}"), 0); // Decide later
    }
    let before = p
        .exp_string("3 more messages of mail ask for a read receipt (6 in this run)")
        .expect("one question for the run once six requests came");
    assert!(
        !before.contains("A read receipt was requested"),
        "a fourth prompt came before the question:\n{before}"
    );
    p.send("\r").unwrap(); // Decide later (the default)
    p.flush().unwrap();
    let rest = finish(&mut p);
    assert!(
        !rest.contains("Send a read receipt?") && !rest.contains("A read receipt was requested"),
        "asked again after the run's question:\n{rest}"
    );
    assert!(smtp.received().is_empty());
    let st = states(&s);
    assert_eq!(st.len(), 12, "{st:?}");
    assert!(st.iter().all(|(_, state)| state == "pending"), "{st:?}");
}

/// "Send none" in the batch question declines every request of the run without another
/// question, sends nothing, and the requests stay answered (declined) in later runs.
#[test]
fn many_requests_send_none_declines_all_and_sends_nothing() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    many(&s, "INBOX", "sn", 12);
    let mut p = pty(&s, &["fetch"]);
    keys(&mut p, "12 messages of mail ask for a read receipt", "j"); // Send none
    let rest = finish(&mut p);
    assert!(!rest.contains("Send a read receipt?"), "{rest}");
    assert!(
        rest.contains("12 read receipt request(s) declined"),
        "{rest}"
    );
    assert!(smtp.received().is_empty());
    let st = states(&s);
    assert_eq!(st.len(), 12);
    assert!(st.iter().all(|(_, state)| state == "declined"), "{st:?}");
    // Nothing waits: a later run on a terminal asks nothing.
    let mut p = pty(&s, &["fetch"]);
    let rest = finish(&mut p);
    assert!(!rest.contains("read receipt"), "{rest}");
    assert!(smtp.received().is_empty());
}

/// "Don't send for any of these" in the per-message prompt (a few requests: no batch
/// question) declines this one and every remaining one — also for a sender the user said
/// "always" for — and sends nothing.
#[test]
fn dont_send_for_any_declines_the_rest_of_the_run() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    s.add(
        "INBOX",
        &request("d0@x.example", "al@x.example", "al@x.example", "first-al"),
    );
    let mut p = pty(&s, &["fetch"]);
    answer(&mut p, "first-al", 2); // Always send to al@x.example
    finish(&mut p);
    assert_eq!(smtp.received().len(), 1);

    many(&s, "INBOX", "dn", 3);
    s.add(
        "INBOX",
        &request("d9@x.example", "al@x.example", "al@x.example", "second-al"),
    );
    let mut p = pty(&s, &["fetch"]);
    keys(&mut p, "dn-1", "jj"); // Don't send for any of these
    let rest = finish(&mut p);
    assert!(!rest.contains("dn-2"), "asked again:\n{rest}");
    assert_eq!(smtp.received().len(), 1, "nothing more was sent");
    assert_eq!(
        states(&s),
        [
            ("first-al".to_string(), "sent".to_string()),
            ("dn-1".into(), "declined".into()),
            ("dn-2".into(), "declined".into()),
            ("dn-3".into(), "declined".into()),
            ("second-al".into(), "declined".into()),
        ]
    );
}

/// `--receipts queue` on a terminal asks nothing (no batch question either) and keeps the
/// requests pending, saying once that they wait; `--receipts never` neither asks, sends nor
/// records; `--receipts ask` asks even where the configuration says never.
#[test]
fn receipts_flag_overrides_the_policy_for_one_run() {
    let Some(smtp) = Smtp::start(Mode::StartTls) else {
        return;
    };
    let Some(s) = setup(&[], &smtp_receipts(&smtp)) else {
        return;
    };
    many(&s, "INBOX", "q", 12);
    let mut p = pty(&s, &["fetch", "--receipts", "queue"]);
    let rest = finish(&mut p);
    assert!(!rest.contains("Send a read receipt?"), "{rest}");
    assert!(!rest.contains("ask for a read receipt"), "{rest}");
    assert_eq!(
        rest.matches("read receipt request(s) wait for your answer")
            .count(),
        1,
        "{rest}"
    );
    let st = states(&s);
    assert_eq!(st.len(), 12);
    assert!(st.iter().all(|(_, state)| state == "pending"), "{st:?}");

    many(&s, "INBOX", "nv", 2);
    let mut p = pty(&s, &["fetch", "--receipts", "never"]);
    let rest = finish(&mut p);
    assert!(!rest.contains("read receipt"), "{rest}");
    assert_eq!(states(&s).len(), 12, "nothing recorded by --receipts never");

    // The configuration says never; --receipts ask asks.
    let cfg = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        format!("[defaults]\nreceipts = \"never\"\n{cfg}"),
    )
    .unwrap();
    many(&s, "INBOX", "ak", 1);
    let mut p = pty(&s, &["fetch", "--receipts", "ask"]);
    answer(&mut p, "ak-1", 3); // Don't send
    finish(&mut p);
    assert!(smtp.received().is_empty());
    assert_eq!(states(&s).last().unwrap().1, "declined");

    // A bad value is a usage error.
    let out = s.run(&["fetch", "--receipts", "sometimes"]);
    assert_eq!(code(&out), 64, "{}", show(&out));
}

/// Without a terminal, the line saying that requests wait is printed by the run that queued
/// new ones only (not by every later run while old ones wait), and `-q` silences it; the
/// requests stay listed.
#[test]
fn without_a_terminal_the_waiting_line_is_printed_once_per_new_batch() {
    let Some(s) = setup(&[], "") else {
        return;
    };
    many(&s, "INBOX", "nt", 2);
    let out = s.ok(&["fetch"]);
    let line = waiting_line(&String::from_utf8_lossy(&out.stderr));
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("2 read receipt")),
        "{}",
        show(&out)
    );
    let out = s.ok(&["fetch"]);
    assert_eq!(waiting_line(&String::from_utf8_lossy(&out.stderr)), None);
    many(&s, "INBOX", "qq", 1);
    let out = s.ok(&["fetch", "-q"]);
    assert!(out.stderr.is_empty(), "{}", show(&out));
    assert_eq!(s.listing().len(), 3);
}
