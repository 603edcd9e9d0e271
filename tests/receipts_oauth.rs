//! Read receipts through an OAuth-only SMTP server (issue 15): `[receipts] auth = "xoauth2"`
//! with the access token printed by `password_command`, against aiosmtpd offering only XOAUTH2
//! (`common::smtp`), mail from a private Dovecot. A receipt goes out with the right token; with
//! a refused one the error challenge is answered with the empty response, the error says why,
//! and the request stays pending and can be answered again once the token is good. The token
//! never shows. `auth = "oauthbearer"` is a configuration error (lettre has no OAUTHBEARER).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, run_with_limit, Sandbox};
use common::smtp::{Mode, Smtp};

const LIMIT: Duration = Duration::from_secs(120);
const USER: &str = "alice@example.org";
const TOKEN: &str = "ya29.smtp-access-token-0123456789";
const BAD_TOKEN: &str = "ya29.smtp-revoked-token-9876543210";

struct Setup {
    d: Dovecot,
    sb: Sandbox,
    config: PathBuf,
    token_file: PathBuf,
}

fn show(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        code(out),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Dovecot, a sandbox, and a configuration sending receipts through `smtp` with XOAUTH2, the
/// token read from a file by the password command.
fn setup(smtp: &Smtp) -> Option<Setup> {
    let d = Dovecot::start()?;
    let sb = Sandbox::new();
    let token_file = sb.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let config = sb.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[receipts]\nfrom = \"{USER}\"\nsmtp = \"{}\"\nauth = \"xoauth2\"\n\
             password_command = \"cat {}\"\ntls_ca_file = \"{}\"\n\n\
             [account.mail]\nurl = \"{}\"\ntls_ca_file = \"{}\"\n\
             deliver = {{ maildir = \"{}\" }}\n",
            smtp.url(true),
            token_file.display(),
            smtp.ca_file().display(),
            d.imaps_url("alice"),
            d.ca_file().display(),
            sb.maildir().display(),
        ),
    )
    .unwrap();
    Some(Setup {
        d,
        sb,
        config,
        token_file,
    })
}

impl Setup {
    fn run(&self, args: &[&str]) -> Output {
        let mut c: Command = self.sb.cmd(Some("secret"));
        c.arg("--config").arg(&self.config).args(args);
        run_with_limit(c, LIMIT)
    }

    /// `mailpull receipts --all` as (id, state).
    fn listing(&self) -> Vec<(String, String)> {
        let out = self.run(&["receipts", "--all"]);
        assert_eq!(code(&out), 0, "{}", show(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].to_string())
            })
            .collect()
    }

    fn request(&self, id: &str, subject: &str) {
        let raw = format!(
            "Return-Path: <bob@x.example>\nFrom: Bob <bob@x.example>\nTo: {USER}\n\
             Subject: {subject}\nDate: Mon, 2 Sep 2024 10:00:00 +0000\nMessage-ID: <{id}>\n\
             Disposition-Notification-To: bob@x.example\n\nHello.\n"
        );
        self.d.add_message_in("alice", "INBOX", raw.as_bytes());
    }
}

fn assert_no_token(out: &Output) {
    let all = show(out);
    for t in [TOKEN, BAD_TOKEN] {
        assert!(!all.contains(t), "the token leaked:\n{all}");
    }
}

#[test]
fn receipt_sent_with_xoauth2_refused_token_keeps_the_request() {
    let Some(smtp) = Smtp::start_oauth(Mode::StartTls, TOKEN) else {
        return;
    };
    let Some(s) = setup(&smtp) else {
        return;
    };
    s.request("m1@x.example", "one");
    let out = s.run(&["fetch", "-vv"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let list = s.listing();
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0].0.clone();

    // A refused token: not sent, the error says why, the request waits.
    std::fs::write(&s.token_file, BAD_TOKEN).unwrap();
    let out = s.run(&["receipts", "send", &id, "-vv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 75, "{}", show(&out));
    assert!(err.contains("expired or was revoked"), "{err}");
    assert!(err.contains("https://mail.google.com/"), "{err}");
    assert!(err.contains("mailpull auth login"), "{err}");
    assert!(err.contains("535"), "{err}");
    assert_no_token(&out);
    assert!(smtp.received().is_empty());
    // The error challenge was answered with the empty response.
    assert_eq!(smtp.xoauth2_error_answers(), vec!["b''".to_string()]);
    assert_eq!(s.listing()[0].1, "pending");

    // With the right token the same request goes out, once.
    std::fs::write(&s.token_file, TOKEN).unwrap();
    let out = s.run(&["receipts", "send", &id, "-vv"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_no_token(&out);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].auth.as_deref(), Some("alice"));
    assert!(got[0].tls);
    assert_eq!(got[0].rcpt_tos, vec!["bob@x.example".to_string()]);
    assert_eq!(s.listing()[0].1, "sent");
}

#[test]
fn smtp_oauth_settings_that_cannot_work_are_configuration_errors() {
    let sb = Sandbox::new();
    let config = sb.path().join("config.toml");
    for (toml, want) in [
        (
            "[receipts]\nsmtp = \"smtps://alice@h.example\"\nauth = \"oauthbearer\"\n",
            "xoauth2",
        ),
        (
            "[receipts]\nsmtp = \"smtps://h.example\"\nauth = \"xoauth2\"\n",
            "user",
        ),
        ("[receipts]\nsendmail = \"x\"\nauth = \"xoauth2\"\n", "smtp"),
        (
            "[receipts]\nsmtp = \"smtps://a@h\"\nauth = \"cram\"\n",
            "auth",
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
}
