//! `mailpull probe URL`: a server's facts (greeting, capabilities before and after STLS or
//! STARTTLS, TLS version and cipher, the certificate and whether it verifies, the
//! authentication mechanisms; with `--login`, IMAP's hierarchy separator and folders), in a
//! human form and as JSON, against a real Dovecot on all four ports.

mod common;

use std::process::Output;
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(60);

fn probe(sb: &Sandbox, password: Option<&str>, args: &[&str]) -> Output {
    let mut c = sb.cmd(password);
    c.arg("probe").args(args);
    run_with_limit(c, LIMIT)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert_eq!(
        code(out),
        0,
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn pop3_logins(d: &Dovecot) -> usize {
    d.logs()
        .lines()
        .filter(|l| l.contains("pop3-login:") && l.contains("Login: user=<"))
        .count()
}

#[test]
fn pop3s_without_trust_reports_the_certificate_and_does_not_log_in() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let out = probe(&sb, Some("secret"), &[&url, "--json"]);
    assert_ok(&out);
    let j = json(&out);
    assert_eq!(j["protocol"], "pop3");
    assert_eq!(j["security"], "implicit TLS");
    assert!(j["greeting"].as_str().unwrap().contains("Dovecot"), "{j}");
    let tls = &j["tls"];
    assert!(
        tls["version"].as_str().unwrap().starts_with("TLSv1."),
        "{j}"
    );
    assert!(!tls["cipher"].as_str().unwrap().is_empty(), "{j}");
    let cert = &tls["certificate"];
    assert_eq!(cert["sha256"].as_str().unwrap(), d.cert_sha256());
    assert!(!cert["subject"].as_str().unwrap().is_empty(), "{j}");
    assert!(!cert["not_after"].as_str().unwrap().is_empty(), "{j}");
    // Self-signed and not trusted: reported, not fatal.
    assert_eq!(tls["verified"], false, "{j}");
    assert!(!tls["verify_error"].as_str().unwrap().is_empty(), "{j}");
    let caps = strings(&j["capabilities"]);
    assert!(caps.iter().any(|c| c.starts_with("UIDL")), "{caps:?}");
    let mechs = strings(&j["auth_mechanisms"]);
    assert!(mechs.contains(&"PLAIN".to_string()), "{mechs:?}");
    assert!(j["login"].is_null(), "{j}");
    assert_eq!(pop3_logins(&d), 0, "a probe without --login never logs in");
}

#[test]
fn pop3_with_stls_shows_the_capabilities_before_and_after_tls() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let ca = d.ca_file();
    let url = d.pop3_url("alice");
    let out = probe(
        &sb,
        None,
        &[&url, "--json", "--tls-ca-file", ca.to_str().unwrap()],
    );
    assert_ok(&out);
    let j = json(&out);
    assert_eq!(j["security"], "STLS");
    let before = strings(&j["capabilities_before_tls"]);
    assert!(before.iter().any(|c| c == "STLS"), "{before:?}");
    let after = strings(&j["capabilities"]);
    assert!(!after.iter().any(|c| c == "STLS"), "{after:?}");
    assert_eq!(j["tls"]["verified"], true, "{j}");
    assert_eq!(
        j["tls"]["certificate"]["sha256"].as_str().unwrap(),
        d.cert_sha256()
    );
}

#[test]
fn pop3_login_over_a_pinned_channel() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let pin = d.cert_sha256();
    let out = probe(
        &sb,
        Some("secret"),
        &[&url, "--json", "--login", "--tls-fingerprint", &pin],
    );
    assert_ok(&out);
    let j = json(&out);
    assert_eq!(j["tls"]["pinned"], true, "{j}");
    assert_eq!(j["login"]["ok"], true, "{j}");
    assert_eq!(pop3_logins(&d), 1);
}

#[test]
fn imaps_login_lists_the_folders_and_the_separator() {
    let Some(d) = Dovecot::start() else { return };
    d.create_mailbox("alice", "Lists.rust");
    let sb = Sandbox::new();
    let ca = d.ca_file();
    let url = d.imaps_url("alice");
    let out = probe(
        &sb,
        Some("secret"),
        &[
            &url,
            "--json",
            "--login",
            "--tls-ca-file",
            ca.to_str().unwrap(),
            "--folder",
            "Lists/*",
        ],
    );
    assert_ok(&out);
    let j = json(&out);
    assert_eq!(j["protocol"], "imap");
    assert_eq!(strings(&j["login"]["fetched"]), ["Lists.rust"], "{j}");
    assert_eq!(j["tls"]["verified"], true, "{j}");
    assert_eq!(j["login"]["ok"], true, "{j}");
    assert_eq!(j["login"]["separator"], ".", "{j}");
    let folders = strings(&j["login"]["folders"]);
    assert!(folders.contains(&"INBOX".to_string()), "{folders:?}");
    assert!(folders.contains(&"Lists.rust".to_string()), "{folders:?}");
    assert_eq!(d.imap_logins("alice"), 1);
}

#[test]
fn imap_with_starttls_in_the_human_form() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let url = d.imap_url("alice");
    let out = probe(&sb, Some("secret"), &[&url]);
    assert_ok(&out);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    for needle in [
        "Greeting:",
        "Before STARTTLS:",
        "STARTTLS",
        "TLS:",
        "Subject:",
        "Issuer:",
        "Valid:",
        "Auth:",
        "PLAIN",
    ] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    let value = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in:\n{text}"))
            .trim()
            .to_string()
    };
    assert_eq!(value("Fingerprint:"), d.cert_sha256());
    assert!(value("Verified:").starts_with("no ("), "{text}");
    // The fingerprint line is accepted by --tls-fingerprint as it is.
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Fingerprint:"))
        .unwrap();
    let pin = line.trim_start()["Fingerprint:".len()..].trim();
    let out = probe(
        &sb,
        Some("secret"),
        &[&url, "--login", "--tls-fingerprint", pin],
    );
    assert_ok(&out);
    assert_eq!(d.imap_logins("alice"), 1);
}

/// `--login` over a channel that does not verify (and is not pinned) sends no password.
#[test]
fn no_password_over_an_unverified_channel() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let url = d.imaps_url("alice");
    let out = probe(&sb, Some("secret"), &[&url, "--login"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 69, "{err}");
    assert!(err.contains("not logging in"), "{err}");
    assert!(err.contains("--tls-fingerprint"), "{err}");
    // The facts are still printed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("Fingerprint:"));
    assert_eq!(d.imap_logins("alice"), 0);
}

/// On an implicit-TLS port, a plaintext URL is diagnosed by knocking with a TLS hello.
#[test]
fn a_plaintext_url_on_the_tls_port_is_named() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let port = d.pop3s_port();
    let out = probe(&sb, None, &[&format!("pop3://alice@127.0.0.1:{port}")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 69, "{err}");
    assert!(
        err.contains(&format!("use pop3s://127.0.0.1:{port}")),
        "{err}"
    );
}
