//! OAuth 2 end to end: a local authorization server (`common::oauth`, RFC 6749/7636/8628/7662)
//! and a private Dovecot whose `oauth2` passdb checks every XOAUTH2/OAUTHBEARER token against
//! that server's introspection endpoint, so Dovecot accepts exactly the tokens the server issued.
//!
//! Tokens never go on a command line here: a password command reads them from a file.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::Dovecot;
use common::oauth::{dovecot_with_oauth, OAuthServer};
use common::run::{code, maildir_messages, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(120);

const MSG: &[u8] =
    b"From: a@example.org\r\nSubject: oauth\r\nMessage-ID: <oauth-1@t>\r\n\r\nhello\r\n";

fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        code(out),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts an exit status, showing the output and the server log otherwise.
#[track_caller]
fn assert_exit(out: &Output, want: i32, d: &Dovecot) {
    assert_eq!(
        code(out),
        want,
        "{}\n--- dovecot\n{}",
        text(out),
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

/// A password command that prints the contents of a file (the token stays off argv).
fn token_file(sb: &Sandbox, token: &str) -> PathBuf {
    let p = sb.path().join("token");
    std::fs::write(&p, format!("{token}\n")).unwrap();
    p
}

/// `mailpull fetch IMAP-URL --auth METHOD --password-command 'cat FILE'` into the sandbox.
fn fetch_with_token_command(
    sb: &Sandbox,
    d: &Dovecot,
    user: &str,
    method: &str,
    file: &std::path::Path,
) -> Command {
    let mut c = sb.cmd(None);
    c.arg("fetch")
        .arg(d.imap_url(user))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .args(["--auth", method])
        .arg("--password-command")
        .arg(format!("cat '{}'", file.display()));
    c
}

/// The harness itself: a token the server minted logs in to Dovecot over IMAP with today's
/// `--auth xoauth2` and a password command printing it; a made-up token is refused (77).
#[test]
fn minted_token_logs_in_and_made_up_token_is_refused() {
    let server = OAuthServer::start();
    let Some(d) = dovecot_with_oauth(&server) else {
        return;
    };
    d.add_message("alice", MSG);

    let sb = Sandbox::new();
    let pair = server.mint("alice");
    let file = token_file(&sb, &pair.access_token);
    let out = run_with_limit(
        fetch_with_token_command(&sb, &d, "alice", "xoauth2", &file),
        LIMIT,
    );
    assert_exit(&out, 0, &d);
    assert_eq!(maildir_messages(&sb.maildir()).len(), 1, "{}", text(&out));
    assert_eq!(d.imap_logins("alice"), 1);
    assert!(
        server.introspections() >= 1,
        "Dovecot never asked the server"
    );

    // A token the server never issued: Dovecot refuses it, mailpull exits 77.
    let sb2 = Sandbox::new();
    let file = token_file(&sb2, "at-made-up-token-that-was-never-issued");
    let out = run_with_limit(
        fetch_with_token_command(&sb2, &d, "alice", "xoauth2", &file),
        LIMIT,
    );
    assert_exit(&out, 77, &d);
    assert!(maildir_messages(&sb2.maildir()).is_empty());
    assert_eq!(d.imap_logins("alice"), 1, "the made-up token logged in");
    // And the password still works for PLAIN beside the oauth2 passdb.
    let sb3 = Sandbox::new();
    let mut c = sb3.cmd(Some("secret"));
    c.arg("fetch")
        .arg(d.imap_url("bob"))
        .arg("--maildir")
        .arg(sb3.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file());
    let out = run_with_limit(c, LIMIT);
    assert_exit(&out, 0, &d);
}
