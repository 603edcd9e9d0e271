//! POP3 OAuth 2 end to end (issue 15): a private Dovecot whose `oauth2` passdb checks every
//! XOAUTH2/OAUTHBEARER token against the test authorization server's introspection endpoint
//! (`common::oauth`), so it accepts exactly the tokens that server issued. mailpull logs in
//! with `AUTH XOAUTH2` and `AUTH OAUTHBEARER` over STLS and fetches; a token the server never
//! issued is refused with exit 77 and a message that says what to do (Dovecot answers it with
//! the error challenge, which IMAP decodes alike); the token never shows in `-vv` output.
//!
//! Tokens never go on a command line here: a password command reads them from a file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::Dovecot;
use common::oauth::{dovecot_with_oauth, OAuthServer};
use common::run::{code, maildir_messages, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(120);

fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        code(out),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn assert_exit(out: &Output, want: i32, d: &Dovecot) {
    let logs = d.logs();
    let start = logs.len().saturating_sub(4000);
    let start = (start..logs.len())
        .find(|&i| logs.is_char_boundary(i))
        .unwrap_or(logs.len());
    assert_eq!(
        code(out),
        want,
        "{}\n--- dovecot\n{}",
        text(out),
        &logs[start..]
    );
}

/// A password command's file holding the token (the token stays off argv).
fn token_file(sb: &Sandbox, token: &str) -> PathBuf {
    let p = sb.path().join("token");
    std::fs::write(&p, format!("{token}\n")).unwrap();
    p
}

/// `mailpull fetch -vv POP3-URL --auth METHOD --password-command 'cat FILE'` (STLS).
fn fetch(sb: &Sandbox, d: &Dovecot, method: &str, file: &Path) -> Output {
    let mut c: Command = sb.cmd(None);
    c.args(["fetch", "-vv"])
        .arg(d.pop3_url("alice"))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-ca-file")
        .arg(d.ca_file())
        .args(["--auth", method])
        .arg("--password-command")
        .arg(format!("cat '{}'", file.display()));
    run_with_limit(c, LIMIT)
}

fn pop3_logins(d: &Dovecot) -> usize {
    d.logs()
        .lines()
        .filter(|l| l.contains("pop3-login:") && l.contains("Login: user=<alice>"))
        .count()
}

/// Every form in which `token` travels in a SASL response for alice.
fn token_forms(token: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        token.to_string(),
        b64(format!("user=alice\x01auth=Bearer {token}\x01\x01")),
        b64(format!("n,a=alice,\x01auth=Bearer {token}\x01\x01")),
    ]
}

fn assert_no_token(out: &Output, token: &str) {
    let all = text(out);
    for form in token_forms(token) {
        assert!(!all.contains(&form), "the token leaked as {form:?}:\n{all}");
    }
}

#[test]
fn pop3_xoauth2_and_oauthbearer_against_dovecot() {
    let server = OAuthServer::start();
    let Some(d) = dovecot_with_oauth(&server) else {
        return;
    };
    for (i, mech) in ["xoauth2", "oauthbearer"].into_iter().enumerate() {
        let msg = format!(
            "From: a@example.org\r\nSubject: pop3 {mech}\r\nMessage-ID: <pop3-oauth-{i}@t>\r\n\r\nhello\r\n"
        );
        d.add_message("alice", msg.as_bytes());
        let sb = Sandbox::new();
        let pair = server.mint("alice");
        let file = token_file(&sb, &pair.access_token);
        let before = pop3_logins(&d);
        let out = fetch(&sb, &d, mech, &file);
        assert_exit(&out, 0, &d);
        let got = maildir_messages(&sb.maildir());
        assert_eq!(got.len(), 1, "{mech}: {}", text(&out));
        assert!(
            got.values().next().unwrap().ends_with(b"hello\n")
                || got.values().next().unwrap().ends_with(b"hello\r\n")
        );
        assert_eq!(pop3_logins(&d), before + 1, "{mech}: one login");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("C: AUTH {} <redacted>", mech.to_ascii_uppercase())),
            "{mech}: {err}"
        );
        assert_no_token(&out, &pair.access_token);
    }
    assert!(
        server.introspections() >= 2,
        "Dovecot never asked the server"
    );
}

#[test]
fn pop3_token_dovecot_did_not_issue_exits_77() {
    let server = OAuthServer::start();
    let Some(d) = dovecot_with_oauth(&server) else {
        return;
    };
    d.add_message(
        "alice",
        b"From: a@example.org\r\nSubject: kept\r\nMessage-ID: <kept@t>\r\n\r\nhi\r\n",
    );
    for mech in ["xoauth2", "oauthbearer"] {
        let sb = Sandbox::new();
        let bad = "at-made-up-token-that-was-never-issued";
        let file = token_file(&sb, bad);
        let out = fetch(&sb, &d, mech, &file);
        assert_exit(&out, 77, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "the server refused the {} login",
                mech.to_ascii_uppercase()
            )),
            "{mech}: {err}"
        );
        // Dovecot sends the error challenge: XOAUTH2 {"status":"401","schemes":"bearer",
        // "scope":"mail"}, OAUTHBEARER {"status":"invalid_token"}.
        assert!(err.contains("expired or was revoked"), "{mech}: {err}");
        assert!(
            err.contains("-ERR [AUTH] Authentication failed."),
            "{mech}: {err}"
        );
        assert!(err.contains("mailpull auth login"), "{mech}: {err}");
        assert!(!err.contains("protocol error"), "{mech}: {err}");
        assert!(maildir_messages(&sb.maildir()).is_empty());
        assert_no_token(&out, bad);
    }
    assert_eq!(pop3_logins(&d), 0, "a made-up token logged in");

    // IMAP decodes the same challenges.
    for mech in ["xoauth2", "oauthbearer"] {
        let sb = Sandbox::new();
        let bad = "at-another-made-up-token";
        let file = token_file(&sb, bad);
        let mut c: Command = sb.cmd(None);
        c.args(["fetch", "-vv"])
            .arg(d.imap_url("alice"))
            .arg("--maildir")
            .arg(sb.maildir())
            .arg("--tls-ca-file")
            .arg(d.ca_file())
            .args(["--auth", mech])
            .arg("--password-command")
            .arg(format!("cat '{}'", file.display()));
        let out = run_with_limit(c, LIMIT);
        assert_exit(&out, 77, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("expired or was revoked"), "IMAP {mech}: {err}");
        assert!(err.contains("AUTHENTICATIONFAILED"), "IMAP {mech}: {err}");
        assert_no_token(&out, bad);
    }
}
