//! End-to-end tests of `mailpull fetch` and `mailpull check` against a real Dovecot IMAP
//! server (imaps:// and imap:// with STARTTLS).
//!
//! Each test starts its own private Dovecot (see `common::dovecot`); when Dovecot is not
//! installed the tests print `skipped: dovecot not installed` and pass, unless
//! `MAILPULL_REQUIRE_DOVECOT=1`. Folders, flags and UIDs are set up with `doveadm`, the way
//! another client or the administrator would change them.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::{
    assert_same_messages, generated_message, tricky_imap_messages, Dovecot, ServerMessage,
};
use common::run::{code, maildir_messages, run_with_limit, tmp_count, Sandbox};

const LIMIT: Duration = Duration::from_secs(180);

/// `mailpull SUBCOMMAND URL ARGS...` with the password in the env; `fetch` delivers into the
/// sandbox's Maildir.
fn mailpull(sb: &Sandbox, password: &str, sub: &str, url: &str, args: &[&str]) -> Command {
    let mut c = sb.cmd(Some(password));
    c.arg(sub).arg(url);
    if sub == "fetch" {
        c.arg("--maildir").arg(sb.maildir());
    }
    c.args(args);
    c
}

fn fetch(sb: &Sandbox, url: &str, args: &[&str]) -> Output {
    run_with_limit(mailpull(sb, "secret", "fetch", url, args), LIMIT)
}

/// The `--tls-ca-file` arguments trusting the server's certificate, followed by `more`.
fn ca<'a>(ca_file: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--tls-ca-file", ca_file];
    v.extend_from_slice(more);
    v
}

fn ca_path(d: &Dovecot) -> String {
    d.ca_file().to_string_lossy().into_owned()
}

/// Asserts an exit status, showing stdout, stderr and the server log otherwise.
#[track_caller]
fn assert_exit(out: &Output, want: i32, d: &Dovecot) {
    let got = code(out);
    assert_eq!(
        got,
        want,
        "exit {got}, wanted {want}\n--- stdout\n{}\n--- stderr\n{}\n--- dovecot\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&d.logs(), 4000)
    );
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The `--json` report of a run.
#[track_caller]
fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "--json output is not JSON ({e}):\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `accounts[0].FIELD` and `totals.FIELD` of a `--json` report, which must agree.
#[track_caller]
fn reported(out: &Output, field: &str) -> u64 {
    let j = json(out);
    let account = j["accounts"][0][field].as_u64();
    let total = j["totals"][field].as_u64();
    assert_eq!(
        account, total,
        "accounts[0].{field} != totals.{field} in {j}"
    );
    account.unwrap_or_else(|| panic!("no {field} in {j}"))
}

fn delivered(sb: &Sandbox) -> Vec<Vec<u8>> {
    maildir_messages(&sb.maildir()).into_values().collect()
}

/// What mailpull must deliver for a message stored on the server as `raw`: the same bytes
/// with CRLF line ends turned into LF. Unlike POP3 (see `run::expected_delivery`), an IMAP
/// literal carries the exact message, so a missing final newline stays missing.
fn expected_delivery(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        if !(b == b'\r' && raw.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

fn expected(raw: &[Vec<u8>]) -> Vec<Vec<u8>> {
    raw.iter().map(|m| expected_delivery(m)).collect()
}

/// The messages in the Maildir now that were not in `before` (a snapshot by file name).
fn added_since(sb: &Sandbox, before: &BTreeMap<String, Vec<u8>>) -> Vec<Vec<u8>> {
    maildir_messages(&sb.maildir())
        .into_iter()
        .filter(|(k, _)| !before.contains_key(k))
        .map(|(_, v)| v)
        .collect()
}

/// `n` generated messages with serials from `first`, each with its own Message-ID.
fn generated(first: u64, n: u64, rng: &mut fastrand::Rng) -> Vec<Vec<u8>> {
    (first..first + n)
        .map(|i| generated_message(i, rng.usize(300..6_000), rng))
        .collect()
}

/// The content of the message whose Maildir file has base name `base` (see
/// [`ServerMessage::file`]) in the folder directory `dir`.
fn file_content(dir: &std::path::Path, base: &str) -> Vec<u8> {
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.split(':').next() == Some(base) {
                return std::fs::read(e.path()).unwrap();
            }
        }
    }
    panic!("no file {base} in {}", dir.display());
}

fn has_flag(m: &ServerMessage, flag: &str) -> bool {
    m.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

#[test]
fn imaps_delivers_tricky_messages_exactly_and_keeps_them() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(11);
    let mut msgs = tricky_imap_messages();
    msgs.extend(generated(0, 10, &mut rng));
    d.add_messages("alice", &msgs);
    let sb = Sandbox::new();
    let url = d.imaps_url("alice");
    let cf = ca_path(&d);
    let args = ca(&cf, &["--json"]);

    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), msgs.len() as u64);
    assert_eq!(reported(&out, "deleted"), 0);
    assert_same_messages("first run", delivered(&sb), expected(&msgs));
    assert_eq!(tmp_count(&sb.maildir()), 0, "tmp/ not empty");
    // Keep is the default for IMAP, and BODY.PEEK leaves the flags alone.
    assert_same_messages(
        "server after the first run",
        d.server_messages("alice"),
        msgs.clone(),
    );
    for m in d.server_uids("alice", "INBOX") {
        assert!(
            !has_flag(&m, "\\Seen") && !has_flag(&m, "\\Deleted"),
            "keep mode changed the flags of UID {}: {:?}",
            m.uid,
            m.flags
        );
    }

    // Nothing new: nothing downloaded.
    let before = maildir_messages(&sb.maildir());
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 0);
    assert_eq!(
        maildir_messages(&sb.maildir()),
        before,
        "the second run changed the Maildir"
    );

    // A new message: exactly that one.
    let new = generated_message(100, 4000, &mut rng);
    d.add_message("alice", &new);
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 1);
    assert_same_messages(
        "third run, new files",
        added_since(&sb, &before),
        vec![expected_delivery(&new)],
    );
    msgs.push(new);
    assert_same_messages(
        "server after the third run",
        d.server_messages("alice"),
        msgs,
    );
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn imap_starttls_works_and_mark_seen_sets_seen() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(12);
    let mut msgs = tricky_imap_messages();
    msgs.extend(generated(0, 5, &mut rng));
    d.add_messages("alice", &msgs);
    let cf = ca_path(&d);

    // STARTTLS, keep: everything, flags untouched.
    let sb = Sandbox::new();
    let out = fetch(&sb, &d.imap_url("alice"), &ca(&cf, &[]));
    assert_exit(&out, 0, &d);
    assert_same_messages("over STARTTLS", delivered(&sb), expected(&msgs));
    assert!(d
        .server_uids("alice", "INBOX")
        .iter()
        .all(|m| !has_flag(m, "\\Seen")));

    // --mark-seen on a fresh ledger: everything again, now \Seen, still on the server.
    let sb = Sandbox::new();
    let out = fetch(&sb, &d.imap_url("alice"), &ca(&cf, &["--mark-seen"]));
    assert_exit(&out, 0, &d);
    assert_same_messages("with --mark-seen", delivered(&sb), expected(&msgs));
    let listed = d.server_uids("alice", "INBOX");
    assert_eq!(listed.len(), msgs.len());
    for m in &listed {
        assert!(
            has_flag(m, "\\Seen") && !has_flag(m, "\\Deleted"),
            "UID {} has flags {:?} after --mark-seen",
            m.uid,
            m.flags
        );
    }
    assert_same_messages("server", d.server_messages("alice"), msgs);
}

#[test]
fn imap_without_starttls_is_refused_before_sending_the_password() {
    let Some(d) = Dovecot::start_without_tls() else {
        return;
    };
    let msgs = tricky_imap_messages();
    d.add_messages("alice", &msgs);
    let cf = ca_path(&d);
    for args in [vec![], ca(&cf, &[])] {
        let sb = Sandbox::new();
        let out = fetch(&sb, &d.imap_url("alice"), &args);
        assert_exit(&out, 69, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.to_uppercase().contains("STARTTLS"),
            "the error does not mention STARTTLS: {err}"
        );
        assert!(delivered(&sb).is_empty());
        assert_eq!(tmp_count(&sb.maildir()), 0);
    }
    let logs = d.logs();
    assert!(
        !logs.contains("Login: user=<alice>") && !logs.contains("auth failed"),
        "credentials were sent over a plaintext channel:\n{logs}"
    );
    assert_same_messages("server", d.server_messages("alice"), msgs.clone());

    // With explicit consent it works (and keeps the messages).
    let sb = Sandbox::new();
    let out = fetch(&sb, &d.imap_url("alice"), &["--insecure-no-tls"]);
    assert_exit(&out, 0, &d);
    assert_same_messages("delivered", delivered(&sb), expected(&msgs));
    assert_same_messages("server after", d.server_messages("alice"), msgs);
}

#[test]
fn several_folders_non_ascii_names_and_patterns_in_one_session() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(13);
    // Maildir++ layout: the hierarchy separator is `.`; `Lists` itself does not exist (LIST
    // shows it as a parent without being selectable).
    let folders = ["INBOX", "Entwürfe", "Lists.a", "Lists.b", "Other"];
    let mut content: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for (i, f) in folders.iter().enumerate() {
        let dir = d.create_mailbox("alice", f);
        let msgs = generated(i as u64 * 100, 3 + i as u64, &mut rng);
        for m in &msgs {
            d.add_message_in_dir(&dir, m);
        }
        content.insert(f, msgs);
    }
    let of = |names: &[&str]| -> Vec<Vec<u8>> {
        names.iter().flat_map(|n| content[n].clone()).collect()
    };
    let cf = ca_path(&d);
    let url = d.imaps_url("alice");
    let sb = Sandbox::new();
    let args = ca(
        &cf,
        &[
            "--folder",
            "INBOX",
            "--folder",
            "Entwürfe",
            "--folder",
            "Lists*",
            "--json",
        ],
    );

    let logins = d.imap_logins("alice");
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    let want = of(&["INBOX", "Entwürfe", "Lists.a", "Lists.b"]);
    assert_eq!(reported(&out, "new"), want.len() as u64);
    assert_same_messages("INBOX, Entwürfe, Lists*", delivered(&sb), expected(&want));
    assert_eq!(
        d.imap_logins("alice") - logins,
        1,
        "one run must log in once for all its folders"
    );
    for f in folders {
        assert_same_messages(f, d.mailbox_messages("alice", f), content[f].clone());
    }

    // Again: nothing new, still one login.
    let logins = d.imap_logins("alice");
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 0);
    assert_eq!(d.imap_logins("alice") - logins, 1);

    // The folders from a configuration file: only `Other` is new for this ledger.
    let config = sb.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[account.a]\nurl = \"{url}\"\ntls_ca_file = \"{cf}\"\n\
             folders = [\"Entw*\", \"Other\", \"INBOX\"]\n\
             deliver = {{ maildir = \"{}\" }}\n",
            sb.maildir().display()
        ),
    )
    .unwrap();
    let before = maildir_messages(&sb.maildir());
    let mut c = sb.cmd(Some("secret"));
    c.arg("--config")
        .arg(&config)
        .args(["fetch", "a", "--json"]);
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), content["Other"].len() as u64);
    assert_same_messages(
        "folders from the configuration",
        added_since(&sb, &before),
        expected(&content["Other"]),
    );

    // `*` on a fresh ledger: every folder.
    let sb = Sandbox::new();
    let out = fetch(&sb, &url, &ca(&cf, &["--folder", "*"]));
    assert_exit(&out, 0, &d);
    assert_same_messages("--folder '*'", delivered(&sb), expected(&of(&folders)));
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

#[test]
fn delete_mode_expunges_exactly_the_fetched_messages() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(14);
    let inbox = generated(0, 10, &mut rng);
    d.add_messages("alice", &inbox);
    let lists_dir = d.create_mailbox("alice", "Lists.a");
    let lists = generated(100, 5, &mut rng);
    for m in &lists {
        d.add_message_in_dir(&lists_dir, m);
    }
    // Another client has flagged one message \Deleted and not expunged it (yet).
    let listed = d.server_uids("alice", "INBOX");
    assert_eq!(listed.len(), inbox.len());
    let victim_uid = listed[3].uid;
    d.add_flags("alice", "INBOX", victim_uid, "\\Deleted");
    let victim = file_content(&d.maildir("alice"), &listed[3].file);
    assert!(inbox.contains(&victim));

    let sb = Sandbox::new();
    let cf = ca_path(&d);
    let args = ca(
        &cf,
        &[
            "--no-keep",
            "--folder",
            "INBOX",
            "--folder",
            "Lists.a",
            "--json",
        ],
    );
    let out = fetch(&sb, &d.imaps_url("alice"), &args);
    assert_exit(&out, 0, &d);
    // Everything else was delivered; whether the flagged message was too is the client's
    // choice, but not twice, and it counts as deleted only if it went.
    let mut want: Vec<Vec<u8>> = inbox.iter().filter(|m| **m != victim).cloned().collect();
    want.extend(lists.iter().cloned());
    let got = delivered(&sb);
    let victim_delivered = got.contains(&expected_delivery(&victim));
    eprintln!("the message flagged \\Deleted by another client was delivered: {victim_delivered}");
    if victim_delivered {
        want.push(victim.clone());
    }

    // The message flagged by someone else is not ours to expunge: it stays, still flagged.
    let left = d.server_uids("alice", "INBOX");
    assert_same_messages(
        "INBOX after a delete-mode run (only the message another client flagged \\Deleted \
         may be left)",
        d.mailbox_messages("alice", "INBOX"),
        vec![victim.clone()],
    );
    assert!(left.len() == 1 && left[0].uid == victim_uid && has_flag(&left[0], "\\Deleted"));
    assert_eq!(
        d.mailbox_messages("alice", "Lists.a"),
        Vec::<Vec<u8>>::new()
    );

    assert_same_messages("delete mode", got, expected(&want));
    assert_eq!(
        reported(&out, "deleted"),
        (inbox.len() - 1 + lists.len()) as u64
    );
    assert_eq!(tmp_count(&sb.maildir()), 0);

    // A second run: nothing new, the flagged message still left alone.
    let before = maildir_messages(&sb.maildir());
    let out = fetch(&sb, &d.imaps_url("alice"), &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 0);
    assert_eq!(maildir_messages(&sb.maildir()), before);
    assert_same_messages(
        "INBOX after the second run",
        d.mailbox_messages("alice", "INBOX"),
        vec![victim],
    );
}

#[test]
fn uidvalidity_change_downloads_only_what_is_really_new() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(15);
    let old = generated(0, 20, &mut rng);
    d.add_messages("alice", &old);
    let sb = Sandbox::new();
    let cf = ca_path(&d);
    let url = d.imaps_url("alice");
    let args = ca(&cf, &["--json"]);

    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 20);
    assert_same_messages("first run", delivered(&sb), expected(&old));
    let v1 = d.uidvalidity("alice", "INBOX");
    let uids1: Vec<u32> = d
        .server_uids("alice", "INBOX")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids1, (1..=20).collect::<Vec<u32>>());

    // 1. A new UIDVALIDITY, same UIDs, and two new messages.
    let v2 = v1.wrapping_add(1000);
    d.doveadm(&[
        "mailbox",
        "update",
        "-u",
        "alice",
        "--uid-validity",
        &v2.to_string(),
        "INBOX",
    ]);
    assert_eq!(
        d.uidvalidity("alice", "INBOX"),
        v2,
        "UIDVALIDITY not changed"
    );
    let new1 = generated(100, 2, &mut rng);
    d.add_messages("alice", &new1);
    let before = maildir_messages(&sb.maildir());
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_same_messages(
        "after a UIDVALIDITY change (UIDs kept)",
        added_since(&sb, &before),
        expected(&new1),
    );
    assert_eq!(reported(&out, "new"), 2);

    // 2. The server renumbers everything, as after an index rebuild: another UIDVALIDITY; the
    // new messages get UIDs the old ones had (so trusting old UIDs would miss them), the old
    // ones get UIDs never seen before (so trusting old UIDs would download them again), in
    // another order. The new messages: two with a Message-ID, one without, and one with the
    // Message-ID of an old message but another size (an edited draft, say).
    let new2 = generated(200, 2, &mut rng);
    let no_id = b"From: x@example.org\r\nSubject: no Message-ID\r\n\r\nbody\r\n".to_vec();
    let mut edited = old[5].clone();
    let at = edited.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    edited.splice(at + 2..at + 2, b"X-Edited: yes\r\n".iter().copied());
    let mut new_all = new2.clone();
    new_all.push(no_id);
    new_all.push(edited);
    d.add_messages("alice", &new_all);
    let v3 = v2.wrapping_add(1000);
    let mut order: Vec<u32> = (0..100).collect();
    rng.shuffle(&mut order);
    d.reassign_uids("alice", "INBOX", v3, |m| {
        if let Some(i) = new_all.iter().position(|n| n == m) {
            i as u32 + 1
        } else {
            let i = old
                .iter()
                .chain(&new1)
                .position(|o| o == m)
                .expect("a known message");
            500 + order[i]
        }
    });
    let listed = d.server_uids("alice", "INBOX");
    assert_eq!(listed.len(), 26);
    assert!(listed.iter().all(|m| m.uid <= 4 || m.uid >= 500));

    let before = maildir_messages(&sb.maildir());
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_same_messages(
        "after renumbering (new UIDVALIDITY and UIDs)",
        added_since(&sb, &before),
        expected(&new_all),
    );
    assert_eq!(reported(&out, "new"), new_all.len() as u64);
    assert_eq!(maildir_messages(&sb.maildir()).len(), 20 + 2 + 4);

    // And then nothing.
    let before = maildir_messages(&sb.maildir());
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 0);
    assert_eq!(maildir_messages(&sb.maildir()), before);
    let mut all = old.clone();
    all.extend(new1);
    all.extend(new_all);
    assert_same_messages(
        "server (keep mode)",
        d.server_messages("alice"),
        all.clone(),
    );
    assert_same_messages("Maildir", delivered(&sb), expected(&all));
    assert_eq!(tmp_count(&sb.maildir()), 0);
}

/// The same message twice in a folder (same Message-ID, same size: copied twice, or delivered
/// twice by the MTA) is two messages: after a UIDVALIDITY change both must be recognised, or one
/// of them is downloaded a second time.
#[test]
fn uidvalidity_change_with_duplicate_messages_downloads_nothing() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(16);
    let mut msgs = generated(0, 5, &mut rng);
    let twin = generated_message(50, 3000, &mut rng);
    msgs.push(twin.clone());
    msgs.push(twin);
    d.add_messages("alice", &msgs);
    let sb = Sandbox::new();
    let cf = ca_path(&d);
    let url = d.imaps_url("alice");
    let args = ca(&cf, &["--json"]);
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), msgs.len() as u64);
    assert_same_messages("first run", delivered(&sb), expected(&msgs));

    let v = d.uidvalidity("alice", "INBOX").wrapping_add(1000);
    let mut next = 100;
    d.reassign_uids("alice", "INBOX", v, |_| {
        next += 1;
        next
    });
    let out = fetch(&sb, &url, &args);
    assert_exit(&out, 0, &d);
    assert_same_messages(
        "after a UIDVALIDITY change, with a message there twice",
        delivered(&sb),
        expected(&msgs),
    );
    assert_eq!(reported(&out, "new"), 0);
}

#[test]
fn wrong_password_untrusted_certificate_and_pins() {
    let Some(d) = Dovecot::start() else { return };
    let msgs = tricky_imap_messages();
    d.add_messages("alice", &msgs);
    let cf = ca_path(&d);
    let urls = [d.imaps_url("alice"), d.imap_url("alice")];

    for url in &urls {
        let sb = Sandbox::new();
        let out = run_with_limit(
            mailpull(&sb, "not-the-password", "fetch", url, &ca(&cf, &[])),
            LIMIT,
        );
        assert_exit(&out, 77, &d);
        assert!(
            delivered(&sb).is_empty(),
            "{url}: delivered despite a failed login"
        );
    }

    // No CA file and no pin: the self-signed certificate is not trusted.
    for url in &urls {
        let sb = Sandbox::new();
        let out = fetch(&sb, url, &[]);
        assert_exit(&out, 69, &d);
        assert!(
            delivered(&sb).is_empty(),
            "{url}: delivered over an untrusted channel"
        );
    }

    // A wrong pin.
    let right = d.cert_sha256();
    let hex = right.strip_prefix("sha256:").unwrap();
    let first = if hex.starts_with('0') { '1' } else { '0' };
    let wrong = format!("sha256:{first}{}", &hex[1..]);
    for url in &urls {
        let sb = Sandbox::new();
        let out = fetch(&sb, url, &["--tls-fingerprint", &wrong]);
        assert_exit(&out, 69, &d);
        assert!(
            delivered(&sb).is_empty(),
            "{url}: delivered despite a pin mismatch"
        );
    }
    assert!(
        !d.logs().contains("Login: user=<alice>"),
        "logged in over an untrusted channel"
    );

    // The right pin, upper case with colons, on both ports.
    let colons: Vec<String> = hex
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let openssl_style = format!("sha256:{}", colons.join(":"));
    for (url, pin) in urls.iter().zip([&openssl_style, &right]) {
        let sb = Sandbox::new();
        let out = fetch(&sb, url, &["--tls-fingerprint", pin]);
        assert_exit(&out, 0, &d);
        assert_same_messages("pinned", delivered(&sb), expected(&msgs));
    }
    assert_same_messages("server", d.server_messages("alice"), msgs);
}

#[test]
fn check_reports_new_mail_until_it_is_fetched() {
    let Some(d) = Dovecot::start() else { return };
    let mut rng = fastrand::Rng::with_seed(17);
    let msgs = generated(0, 6, &mut rng);
    d.add_messages("alice", &msgs);
    let other_dir = d.create_mailbox("alice", "Other");
    let other = generated(100, 2, &mut rng);
    for m in &other {
        d.add_message_in_dir(&other_dir, m);
    }
    let sb = Sandbox::new();
    let cf = ca_path(&d);
    let url = d.imaps_url("alice");
    let check = |extra: &[&str]| {
        let mut args = ca(&cf, &["--json"]);
        args.extend_from_slice(extra);
        run_with_limit(mailpull(&sb, "secret", "check", &url, &args), LIMIT)
    };

    let out = check(&[]);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), msgs.len() as u64);
    let out = check(&["--folder", "INBOX", "--folder", "Other"]);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), (msgs.len() + other.len()) as u64);
    assert!(delivered(&sb).is_empty(), "check delivered something");

    let out = fetch(&sb, &url, &ca(&cf, &[]));
    assert_exit(&out, 0, &d);
    assert_same_messages("fetched", delivered(&sb), expected(&msgs));

    let out = check(&[]);
    assert_exit(&out, 1, &d);
    assert_eq!(reported(&out, "new"), 0);
    let out = check(&["--folder", "INBOX", "--folder", "Other"]);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), other.len() as u64);

    d.add_message("alice", &generated_message(1000, 2000, &mut rng));
    let out = check(&[]);
    assert_exit(&out, 0, &d);
    assert_eq!(reported(&out, "new"), 1);
    // Neither check nor a keep-mode fetch touched the flags.
    for m in d.server_uids("alice", "INBOX") {
        assert!(!has_flag(&m, "\\Seen"), "UID {} is \\Seen", m.uid);
    }
}
