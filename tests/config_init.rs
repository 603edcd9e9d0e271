//! `mailpull config init`: writes a commented starter configuration with mode 0600 — from
//! answers on a terminal (driven through a pseudo-terminal), from flags, or, with neither, a
//! commented example — that `mailpull config check` accepts, and never overwrites an existing
//! file without `--force`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::dovecot::Dovecot;
use common::run::{code, run_with_limit, Sandbox};

const LIMIT: Duration = Duration::from_secs(60);

fn default_path(sb: &Sandbox) -> PathBuf {
    sb.home().join(".config/mailpull/config.toml")
}

fn init(sb: &Sandbox, args: &[&str]) -> Output {
    let mut c = sb.cmd(None);
    c.args(["config", "init"]).args(args);
    run_with_limit(c, LIMIT)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_mode_0600(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
}

/// `mailpull config check` on the file: exit 0; returns its stdout.
#[track_caller]
fn check(sb: &Sandbox, path: &Path) -> String {
    let mut c = sb.cmd(None);
    c.arg("--config").arg(path).args(["config", "check"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(
        code(&out),
        0,
        "config check refused the written file:\n{}\n--- file\n{}",
        stderr(&out),
        std::fs::read_to_string(path).unwrap()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn without_a_terminal_or_flags_a_commented_example_is_written() {
    let sb = Sandbox::new();
    let out = init(&sb, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let path = default_path(&sb);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# [account."), "{text}");
    assert!(text.contains("mailpull.toml(5)"), "{text}");
    // Every key is mentioned.
    for k in mailpull::config::docs::KEYS {
        assert!(
            text.contains(k.key),
            "the example does not mention {}",
            k.key
        );
    }
    assert_mode_0600(&path);
    check(&sb, &path);
    assert!(out.stdout.is_empty(), "stdout is for data");
}

#[test]
fn an_existing_file_is_not_overwritten_without_force() {
    let sb = Sandbox::new();
    let path = sb.path().join("mine.toml");
    std::fs::write(&path, "# my own\n").unwrap();
    let p = path.to_str().unwrap();
    let out = init(&sb, &["--config", p]);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# my own\n");
    let out = init(&sb, &["--config", p, "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_ne!(std::fs::read_to_string(&path).unwrap(), "# my own\n");
    assert_mode_0600(&path);
}

#[test]
fn flags_write_an_account_after_trying_the_server() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let path = sb.path().join("conf/config.toml");
    let maildir = sb.maildir();
    let ca = d.ca_file();
    let url = d.imaps_url("alice");
    let out = init(
        &sb,
        &[
            "--config",
            path.to_str().unwrap(),
            "--url",
            &url,
            "--name",
            "work",
            "--password-command",
            "echo secret",
            "--maildir",
            maildir.to_str().unwrap(),
            "--tls-ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("certificate verified"), "{err}");
    assert_mode_0600(&path);
    let shown = check(&sb, &path);
    assert!(shown.contains("[account.work]"), "{shown}");
    // The file works: a fetch with it logs in.
    let mut c = sb.cmd(None);
    c.arg("--config").arg(&path).arg("fetch");
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(d.imap_logins("alice"), 1);
}

#[test]
fn on_a_terminal_it_asks_and_offers_to_pin_the_certificate() {
    let Some(d) = Dovecot::start() else { return };
    let sb = Sandbox::new();
    let url = d.pop3s_url("alice");
    let mut c = sb.cmd(None);
    c.args(["config", "init"]);
    c.stdin(std::process::Stdio::inherit());
    c.env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(c, Some(60_000)).expect("spawn in a pty");
    p.exp_string("Server URL").expect("the URL question");
    p.send_line(&url).unwrap();
    p.exp_string("Password").expect("the password question");
    // The first choice: a command.
    p.send_line("").unwrap();
    p.exp_string("Command").expect("the command question");
    p.send_line("echo secret").unwrap();
    p.exp_string("Deliver").expect("the delivery question");
    p.send_line("").unwrap();
    p.exp_string("Maildir").expect("the Maildir question");
    let maildir = sb.maildir();
    p.send_line(maildir.to_str().unwrap()).unwrap();
    p.exp_string(&d.cert_sha256())
        .expect("the fingerprint of the certificate");
    p.exp_string("Pin").expect("the pin question");
    p.send_line("y").unwrap();
    let rest = p.exp_eof().expect("mailpull to finish");
    let status = p.process().wait().expect("wait");
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}\n{rest}"
    );
    let path = default_path(&sb);
    assert_mode_0600(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&d.cert_sha256()), "{text}");
    check(&sb, &path);
    // The pinned file fetches.
    let mut c = sb.cmd(None);
    c.arg("fetch");
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}\n--- file\n{text}", stderr(&out));
}
