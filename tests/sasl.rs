//! SASL XOAUTH2 and OAUTHBEARER (issue 15) against the scripted POP3 and IMAP servers, through
//! the real binary: a short token goes on the AUTH line, a long one after the continuation; a
//! refused token's error challenge is decoded into a message that says what to do (exit 77)
//! and answered so that the session stays in step; a server without the mechanism gets nothing
//! (exit 69); the token never appears in `-vv` output, in any form it travels in.

mod common;

use std::time::Duration;

use common::run::{self, Sandbox};
use common::scripted::{self, Config, Message, Scripted};
use common::scripted_imap::{self, ScriptedImap};
use common::server::sasl::{self, base64_encode, long_token, TOKEN};

const LIMIT: Duration = Duration::from_secs(30);

/// A token the servers did not issue.
const BAD_TOKEN: &str = "ya29.revoked-token-0123456789";

/// A POP3 server offering PLAIN and both OAuth 2 mechanisms.
const CAPA_OAUTH: &[&str] = &[
    "USER",
    "UIDL",
    "PIPELINING",
    "SASL PLAIN XOAUTH2 OAUTHBEARER",
    "RESP-CODES",
];

fn messages() -> Vec<Message> {
    (1..=2)
        .map(|i| {
            Message::new(
                format!("uid-{i}"),
                format!("Subject: m{i}\r\nMessage-ID: <m{i}@scripted.test>\r\n\r\nbody {i}\r\n"),
            )
        })
        .collect()
}

/// Every form in which `token` travels: as is, and in both mechanisms' responses for
/// `alice`.
fn token_forms(token: &str) -> Vec<String> {
    let user = scripted::USER;
    vec![
        token.to_string(),
        base64_encode(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes()),
        base64_encode(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").as_bytes()),
    ]
}

fn assert_no_token(token: &str, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for form in token_forms(token) {
        assert!(
            !stderr.contains(&form) && !stdout.contains(&form),
            "the token leaked as {form:?}:\n{stderr}"
        );
    }
}

/// Runs `mailpull fetch -vv URL --auth MECH --insecure-no-tls` with `token` as the secret.
fn fetch(sb: &Sandbox, url: &str, mech: &str, token: &str) -> std::process::Output {
    let mut cmd = sb.cmd(Some(token));
    cmd.args(["fetch", "-vv", url, "--auth", mech, "--insecure-no-tls"])
        .args(["--timeout", "5", "--maildir"])
        .arg(sb.maildir());
    run::run_with_limit(cmd, LIMIT)
}

#[test]
fn pop3_oauth_short_token_on_the_auth_line_long_one_after_the_continuation() {
    for mech in ["xoauth2", "oauthbearer"] {
        for (token, words) in [(TOKEN.to_string(), 3), (long_token(), 2)] {
            let ctx = format!("{mech}, token of {} bytes", token.len());
            let server = Scripted::with_config(Config::with_capa(CAPA_OAUTH), messages());
            let sb = Sandbox::new();
            let out = fetch(&sb, &server.url(), mech, &token);
            server.wait_idle(Duration::from_secs(10));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(run::code(&out), 0, "{ctx}\n{stderr}");
            assert_eq!(run::maildir_messages(&sb.maildir()).len(), 2, "{ctx}");
            let st = server.stats();
            assert!(st.violations.is_empty(), "{ctx}: {:?}", st.violations);
            assert_eq!((st.logins, st.failed_logins), (1, 0), "{ctx}");
            let auth = st.commands_with("AUTH");
            assert_eq!(auth.len(), 1, "{ctx}");
            let line = &auth[0].line;
            assert_eq!(line.split(' ').count(), words, "{ctx}: {line}");
            assert!(line.len() + 2 <= 255, "{ctx}: {} octets", line.len() + 2);
            assert!(
                line.to_ascii_uppercase()
                    .starts_with(&format!("AUTH {}", mech.to_ascii_uppercase())),
                "{ctx}: {line}"
            );
            // -vv shows the exchange, redacted.
            assert!(stderr.contains("<redacted>"), "{ctx}\n{stderr}");
            assert_no_token(&token, &out);
        }
    }
}

#[test]
fn pop3_refused_token_error_challenge_is_decoded_and_answered() {
    for (mech, what) in [
        ("xoauth2", "https://mail.google.com/"),
        ("oauthbearer", "scope mail"),
    ] {
        for token in [
            BAD_TOKEN.to_string(),
            format!("{BAD_TOKEN}{}", "x".repeat(300)),
        ] {
            let ctx = format!("{mech}, token of {} bytes", token.len());
            let server = Scripted::with_config(Config::with_capa(CAPA_OAUTH), messages());
            let sb = Sandbox::new();
            let out = fetch(&sb, &server.url(), mech, &token);
            server.wait_idle(Duration::from_secs(10));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(run::code(&out), 77, "{ctx}\n{stderr}");
            assert!(stderr.contains("expired or was revoked"), "{ctx}\n{stderr}");
            assert!(stderr.contains(what), "{ctx}\n{stderr}");
            assert!(stderr.contains("mailpull auth login"), "{ctx}\n{stderr}");
            assert!(
                stderr.contains("-ERR [AUTH] Authentication failed"),
                "{ctx}\n{stderr}"
            );
            assert!(!stderr.contains("protocol error"), "{ctx}\n{stderr}");
            let st = server.stats();
            // The server checked that the challenge was answered with the dummy response.
            assert!(st.violations.is_empty(), "{ctx}: {:?}", st.violations);
            assert_eq!((st.logins, st.failed_logins), (0, 1), "{ctx}");
            assert_eq!(st.connections, 1, "{ctx}");
            assert!(run::maildir_messages(&sb.maildir()).is_empty(), "{ctx}");
            assert_no_token(&token, &out);
        }
    }
}

#[test]
fn pop3_server_without_the_mechanism() {
    for capa in [scripted::CAPA_FULL, scripted::CAPA_MINIMAL] {
        for mech in ["xoauth2", "oauthbearer"] {
            let ctx = format!("{mech}, CAPA {capa:?}");
            let server = Scripted::with_config(Config::with_capa(capa), messages());
            let sb = Sandbox::new();
            let out = fetch(&sb, &server.url(), mech, TOKEN);
            server.wait_idle(Duration::from_secs(10));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(run::code(&out), 69, "{ctx}\n{stderr}");
            let name = mech.to_ascii_uppercase();
            assert!(
                stderr.contains(&format!("does not offer SASL {name}")),
                "{ctx}\n{stderr}"
            );
            assert!(stderr.contains("--auth"), "{ctx}\n{stderr}");
            let st = server.stats();
            assert!(st.commands_with("AUTH").is_empty(), "{ctx}");
            assert!(st.violations.is_empty(), "{ctx}: {:?}", st.violations);
            assert_no_token(TOKEN, &out);
        }
    }
}

/// `--auth plain` on a server whose CAPA has no `SASL PLAIN`: refused before anything is sent,
/// with what the server offers, rather than a refused login that blames the password.
#[test]
fn pop3_plain_not_offered() {
    let server = Scripted::with_config(Config::with_capa(scripted::CAPA_MINIMAL), messages());
    let sb = Sandbox::new();
    let out = fetch(&sb, &server.url(), "plain", "secret");
    server.wait_idle(Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(run::code(&out), 69, "{stderr}");
    assert!(stderr.contains("does not offer SASL PLAIN"), "{stderr}");
    assert!(
        stderr.contains("its CAPA lists no SASL mechanisms"),
        "{stderr}"
    );
    let st = server.stats();
    assert!(st.commands_with("AUTH").is_empty());
    assert!(st.violations.is_empty(), "{:?}", st.violations);

    // Where PLAIN is offered, it is used.
    let server = Scripted::with_config(Config::with_capa(scripted::CAPA_FULL), messages());
    let sb = Sandbox::new();
    let out = fetch(&sb, &server.url(), "plain", scripted::PASSWORD);
    server.wait_idle(Duration::from_secs(10));
    assert_eq!(
        run::code(&out),
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.stats().commands_with("AUTH").len(), 1);
}

#[test]
fn pop3_oauth_from_the_configuration_file() {
    let server = Scripted::with_config(Config::with_capa(CAPA_OAUTH), messages());
    let sb = Sandbox::new();
    let cfg = sb.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[account.work]\nurl = \"{}\"\nauth = \"oauthbearer\"\n\
             password_command = \"printf %s {TOKEN}\"\ninsecure_no_tls = true\n\
             deliver = {{ maildir = \"{}\" }}\n",
            server.url(),
            sb.maildir().display()
        ),
    )
    .unwrap();
    let mut cmd = sb.cmd(None);
    cmd.env("MAILPULL_CONFIG", &cfg).args(["fetch", "-vv"]);
    let out = run::run_with_limit(cmd, LIMIT);
    server.wait_idle(Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(run::code(&out), 0, "{stderr}");
    assert_eq!(run::maildir_messages(&sb.maildir()).len(), 2);
    let st = server.stats();
    assert!(st.commands_with("AUTH")[0]
        .line
        .starts_with("AUTH OAUTHBEARER "));
    assert_no_token(TOKEN, &out);
    // `config check` describes it as a POP3 method.
    let mut cmd = sb.cmd(None);
    cmd.env("MAILPULL_CONFIG", &cfg).args(["config", "check"]);
    let out = run::run_with_limit(cmd, LIMIT);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run::code(&out), 0, "{all}");
    assert!(all.contains("oauthbearer (SASL OAUTHBEARER)"), "{all}");
}

/// An IMAP server offering both OAuth 2 mechanisms, with or without SASL-IR.
fn imap_caps(sasl_ir: bool) -> Vec<&'static str> {
    let mut caps = vec![
        "IMAP4rev1",
        "LITERAL+",
        "AUTH=XOAUTH2",
        "AUTH=OAUTHBEARER",
        "UIDPLUS",
    ];
    if sasl_ir {
        caps.push("SASL-IR");
    }
    caps
}

fn imap_server(sasl_ir: bool) -> ScriptedImap {
    let inbox = scripted_imap::Folder::new(
        scripted_imap::INBOX,
        1,
        vec![scripted_imap::Message::new(
            1,
            &b"Subject: i1\r\nMessage-ID: <i1@scripted.test>\r\n\r\nbody\r\n"[..],
        )],
    );
    ScriptedImap::with_config(
        scripted_imap::Config::with_caps(&imap_caps(sasl_ir)),
        vec![inbox],
    )
}

#[test]
fn imap_oauth_login_and_refused_token() {
    for sasl_ir in [true, false] {
        for mech in ["xoauth2", "oauthbearer"] {
            let ctx = format!("{mech}, SASL-IR {sasl_ir}");
            // A token the server issued.
            let server = imap_server(sasl_ir);
            let sb = Sandbox::new();
            let out = fetch(&sb, &server.url(), mech, TOKEN);
            server.wait_idle(Duration::from_secs(10));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(run::code(&out), 0, "{ctx}\n{stderr}");
            assert_eq!(run::maildir_messages(&sb.maildir()).len(), 1, "{ctx}");
            let st = server.stats();
            assert!(st.violations.is_empty(), "{ctx}: {:?}", st.violations);
            assert_eq!(st.logins, 1, "{ctx}");
            assert_no_token(TOKEN, &out);

            // One it did not: the error challenge is decoded and answered.
            let server = imap_server(sasl_ir);
            let sb = Sandbox::new();
            let out = fetch(&sb, &server.url(), mech, BAD_TOKEN);
            server.wait_idle(Duration::from_secs(10));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(run::code(&out), 77, "{ctx}\n{stderr}");
            assert!(stderr.contains("expired or was revoked"), "{ctx}\n{stderr}");
            assert!(stderr.contains("mailpull auth login"), "{ctx}\n{stderr}");
            let st = server.stats();
            assert!(st.violations.is_empty(), "{ctx}: {:?}", st.violations);
            assert_eq!((st.logins, st.failed_logins), (0, 1), "{ctx}");
            assert_no_token(BAD_TOKEN, &out);
        }
    }
}

/// The scripted servers' own decoding of the responses (a check of the test support).
#[test]
fn scripted_servers_read_both_mechanisms() {
    let r = base64_encode(b"n,a=a=2Cb,\x01auth=Bearer t\x01\x01");
    match sasl::oauth("OAUTHBEARER", &r) {
        sasl::OAuth::Credentials { user, token } => {
            assert_eq!((user.as_str(), token.as_str()), ("a,b", "t"))
        }
        _ => panic!("not decoded"),
    }
    let r = base64_encode(b"user=u\x01auth=Bearer t\x01\x01");
    assert!(matches!(
        sasl::oauth("XOAUTH2", &r),
        sasl::OAuth::Credentials { .. }
    ));
    assert!(matches!(
        sasl::oauth("XOAUTH2", "AQ=="),
        sasl::OAuth::Malformed
    ));
}
