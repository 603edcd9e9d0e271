//! The wrong TLS mode for a port is diagnosed at once, with the URL to use instead (issue 14,
//! friction 2): `pop3://`/`imap://` (STLS/STARTTLS) on an implicit-TLS port, and
//! `pop3s://`/`imaps://` on a port that greets in plaintext. A port whose first bytes are a
//! TLS record, or a plaintext greeting where TLS was expected, fails at once with exit 69 (the
//! server cannot serve the URL as written). An implicit-TLS port that stays silent (Dovecot's
//! do: they wait for the client's hello) cannot be told from a slow server without a second
//! connection, so it fails after `--timeout` (exit 75, as a timeout) with the URL to try.
//!
//! Against a real Dovecot (its plaintext and implicit-TLS ports) for both directions and both
//! protocols, and against a raw server whose first bytes are a TLS record.

mod common;

use std::process::Output;
use std::time::Duration;

use common::dovecot::Dovecot;
use common::raw::Raw;
use common::run::{code, run_with_limit, Sandbox};

/// Long enough for Dovecot to answer, far shorter than the `--timeout` the runs get: a run
/// that waits for its timeout fails the test.
const LIMIT: Duration = Duration::from_secs(40);

/// `mailpull fetch URL --timeout SECS` with the CA of `d` (if any) and a sandboxed Maildir.
fn fetch(sb: &Sandbox, url: &str, ca: Option<&Dovecot>) -> Output {
    fetch_within(sb, url, ca, "120")
}

fn fetch_within(sb: &Sandbox, url: &str, ca: Option<&Dovecot>, timeout: &str) -> Output {
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(url)
        .arg("--maildir")
        .arg(sb.maildir())
        .args(["--timeout", timeout]);
    if let Some(d) = ca {
        c.arg("--tls-ca-file").arg(d.ca_file());
    }
    run_with_limit(c, LIMIT)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_diagnosis(out: &Output, want_exit: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(code(out), want_exit, "stderr:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(out.stdout.is_empty(), "stdout is for data only");
}

#[test]
fn pop3_on_the_implicit_tls_port() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let port = d.pop3s_port();
    let out = fetch_within(
        &sb,
        &format!("pop3://alice@127.0.0.1:{port}"),
        Some(&d),
        "3",
    );
    assert_diagnosis(
        &out,
        75,
        &[
            &format!("no greeting from 127.0.0.1 port {port} within 3s"),
            "if this port speaks TLS from the start",
            &format!("pop3s://127.0.0.1:{port}"),
        ],
    );
}

#[test]
fn imap_on_the_implicit_tls_port() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let port = d.imaps_port();
    let out = fetch_within(
        &sb,
        &format!("imap://alice@127.0.0.1:{port}"),
        Some(&d),
        "3",
    );
    assert_diagnosis(
        &out,
        75,
        &[
            &format!("no greeting from 127.0.0.1 port {port} within 3s"),
            "if this port speaks TLS from the start",
            &format!("imaps://127.0.0.1:{port}"),
        ],
    );
}

#[test]
fn pop3s_on_the_plaintext_port() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let port = d.pop3_port();
    let out = fetch(&sb, &format!("pop3s://alice@127.0.0.1:{port}"), Some(&d));
    assert_diagnosis(
        &out,
        69,
        &[
            &format!("port {port} speaks plaintext first"),
            &format!("pop3://127.0.0.1:{port}"),
            "+OK",
        ],
    );
    assert!(
        !stderr(&out).contains("wrong version number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn imaps_on_the_plaintext_port() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let port = d.imap_port();
    let out = fetch(&sb, &format!("imaps://alice@127.0.0.1:{port}"), Some(&d));
    assert_diagnosis(
        &out,
        69,
        &[
            &format!("port {port} speaks plaintext first"),
            &format!("imap://127.0.0.1:{port}"),
            "* OK",
        ],
    );
}

/// A server whose first bytes are a TLS record (an alert, as some servers send to a client
/// that speaks first in plaintext) instead of a greeting.
#[test]
fn a_tls_record_instead_of_a_greeting() {
    let server = Raw::start(|mut d| {
        // A TLS 1.2 alert record: handshake_failure.
        d.send(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
        d.hold();
    });
    let sb = Sandbox::new();
    let port = server.port();
    let out = fetch(&sb, &format!("pop3://alice@127.0.0.1:{port}"), None);
    assert_diagnosis(
        &out,
        69,
        &[
            &format!("port {port} speaks TLS from the start"),
            &format!("pop3s://127.0.0.1:{port}"),
        ],
    );
}

/// A handshake record as the first bytes (0x16), on IMAP.
#[test]
fn a_tls_handshake_record_instead_of_an_imap_greeting() {
    let server = Raw::start(|mut d| {
        d.send(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x0e, 0x00, 0x00, 0x00]);
        d.hold();
    });
    let sb = Sandbox::new();
    let port = server.port();
    let out = fetch(&sb, &format!("imap://alice@127.0.0.1:{port}"), None);
    assert_diagnosis(
        &out,
        69,
        &[
            &format!("port {port} speaks TLS from the start"),
            &format!("imaps://127.0.0.1:{port}"),
        ],
    );
}

/// The line `openssl x509 -fingerprint -sha256 -noout` prints pins the certificate, given to
/// `--tls-fingerprint` and as `tls_fingerprint` in the configuration file.
#[test]
fn the_line_openssl_prints_pins_the_certificate() {
    let Some(d) = Dovecot::start() else { return };
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(d.ca_file())
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        line.to_lowercase().starts_with("sha256 fingerprint="),
        "{line}"
    );
    let sb = Sandbox::new();
    let mut c = sb.cmd(Some("secret"));
    c.arg("fetch")
        .arg(d.pop3s_url("alice"))
        .arg("--maildir")
        .arg(sb.maildir())
        .arg("--tls-fingerprint")
        .arg(&line);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let config = sb.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[account.a]\nurl = \"{}\"\ndeliver = {{ maildir = \"{}\" }}\ntls_fingerprint = \"{}\"\n",
            d.imaps_url("alice"),
            sb.maildir().display(),
            line.to_uppercase().replace("FINGERPRINT", "Fingerprint"),
        ),
    )
    .unwrap();
    let mut c = sb.cmd(Some("secret"));
    c.arg("--config").arg(&config).arg("fetch");
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
