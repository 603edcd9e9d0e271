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

/// The written file as TOML.
fn toml_of(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Scripts say OAuth 2 with flags: `auth = "xoauth2"` and the `oauth2` table are written (with
/// the provider's preset, the client id and the secret or its command), no password source,
/// `config check` accepts the file and shows the oauth2 line, and `auth status` says to sign
/// in with `mailpull auth login`. Without the flags, a Gmail host gets a note naming them.
#[test]
fn oauth2_flags_write_an_account_for_gmail_and_microsoft() {
    let sb = Sandbox::new();
    let ms = sb.path().join("ms.toml");
    let out = init(
        &sb,
        &[
            "--config",
            ms.to_str().unwrap(),
            "--url",
            "imaps://alice@outlook.office365.com",
            "--name",
            "work",
            "--oauth2",
            "microsoft",
            "--client-id",
            "00000000-1111-2222-3333-444444444444",
            "--maildir",
            sb.maildir().to_str().unwrap(),
            "--no-probe",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mailpull auth login work"),
        "{}",
        stderr(&out)
    );
    assert_mode_0600(&ms);
    let t = toml_of(&ms);
    let acc = &t["account"]["work"];
    assert_eq!(acc["auth"].as_str(), Some("xoauth2"));
    assert_eq!(acc["oauth2"]["provider"].as_str(), Some("microsoft"));
    assert_eq!(
        acc["oauth2"]["client_id"].as_str(),
        Some("00000000-1111-2222-3333-444444444444")
    );
    assert!(acc.get("password_command").is_none(), "{acc}");
    let text = std::fs::read_to_string(&ms).unwrap();
    assert!(text.contains("# OAuth 2: sign in once"), "{text}");
    let shown = check(&sb, &ms);
    assert!(
        shown
            .contains("oauth2: provider microsoft, client id 00000000-1111-2222-3333-444444444444"),
        "{shown}"
    );
    assert!(shown.contains("OAuth 2 token store"), "{shown}");
    let mut c = sb.cmd(None);
    c.arg("--config").arg(&ms).args(["auth", "status", "work"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mailpull auth login work"));

    // Google, with the client secret from a command.
    let g = sb.path().join("g.toml");
    let out = init(
        &sb,
        &[
            "--config",
            g.to_str().unwrap(),
            "--url",
            "pop3s://alice@pop.gmail.com",
            "--oauth2",
            "google",
            "--client-id",
            "1234-abc.apps.googleusercontent.com",
            "--client-secret-command",
            "pass show google/secret",
            "--no-probe",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let t = toml_of(&g);
    let o = &t["account"]["gmail"]["oauth2"];
    assert_eq!(o["provider"].as_str(), Some("google"));
    assert_eq!(
        o["client_secret_command"].as_str(),
        Some("pass show google/secret")
    );
    let shown = check(&sb, &g);
    assert!(
        shown.contains("oauth2: provider google")
            && shown.contains("client secret from its command"),
        "{shown}"
    );

    // A custom provider without a token endpoint is refused before anything is written.
    let c = sb.path().join("c.toml");
    let out = init(
        &sb,
        &[
            "--config",
            c.to_str().unwrap(),
            "--url",
            "imaps://alice@mail.example.org",
            "--oauth2",
            "custom",
            "--client-id",
            "x",
            "--no-probe",
        ],
    );
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    assert!(stderr(&out).contains("--token-url"), "{}", stderr(&out));
    assert!(!c.exists());

    // No OAuth flags on a Gmail host: a password prompt as before, and a note naming them.
    let p = sb.path().join("p.toml");
    let out = init(
        &sb,
        &[
            "--config",
            p.to_str().unwrap(),
            "--url",
            "imaps://alice@imap.gmail.com",
            "--no-probe",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--oauth2 google --client-id"),
        "{}",
        stderr(&out)
    );
    assert!(toml_of(&p)["account"]["gmail"].get("oauth2").is_none());
}

/// `mailpull ARGS` on a pseudo-terminal in the sandbox.
fn pty(sb: &Sandbox, args: &[&str]) -> rexpect::session::PtySession {
    let mut c = sb.cmd(None);
    c.args(args)
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::inherit());
    rexpect::session::spawn_command(c, Some(60_000)).expect("spawn on a pty")
}

#[track_caller]
fn exited_ok(p: &mut rexpect::session::PtySession) {
    let rest = p.exp_eof().expect("mailpull to finish");
    let status = p.process().wait().expect("wait");
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}\n{rest}"
    );
}

/// On a terminal, a Microsoft 365 host goes straight to the OAuth 2 questions (provider
/// preselected, client id) and no password source is asked.
#[test]
fn on_a_terminal_a_microsoft_host_asks_for_oauth2_not_a_password() {
    let sb = Sandbox::new();
    let maildir = sb.maildir();
    let mut p = pty(
        &sb,
        &[
            "config",
            "init",
            "--url",
            "imaps://alice@outlook.office365.com",
            "--maildir",
            maildir.to_str().unwrap(),
            "--no-probe",
        ],
    );
    p.exp_string("signs in with OAuth 2")
        .expect("the OAuth note");
    p.exp_string("OAuth 2 provider")
        .expect("the provider question");
    // Enter takes the preselected provider.
    p.send_line("").unwrap();
    p.exp_string("Client id").expect("the client id question");
    p.send_line("my-client-id").unwrap();
    p.exp_string("mailpull auth login outlook")
        .expect("what to do next");
    exited_ok(&mut p);
    let path = default_path(&sb);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("password_command ="), "{text}");
    let t = toml_of(&path);
    let o = &t["account"]["outlook"]["oauth2"];
    assert_eq!(o["provider"].as_str(), Some("microsoft"), "{text}");
    assert_eq!(o["client_id"].as_str(), Some("my-client-id"));
    assert!(o.get("client_secret").is_none(), "{text}");
    assert!(check(&sb, &path).contains("oauth2: provider microsoft"));
}

/// On a terminal, "OAuth 2" chosen as the password source with a custom provider (the test's
/// authorization server): the written file passes `config check`, `auth status` asks to sign
/// in, `auth login` signs in with it, and a fetch logs in to Dovecot with the stored token.
#[test]
fn on_a_terminal_oauth2_chosen_for_a_custom_provider_signs_in_and_fetches() {
    let server = common::oauth::OAuthServer::start();
    let Some(d) = common::oauth::dovecot_with_oauth(&server) else {
        return;
    };
    d.add_message(
        "alice",
        b"From: a@example.org\r\nSubject: init\r\nMessage-ID: <init-1@t>\r\n\r\nhi\r\n",
    );
    let sb = Sandbox::new();
    let ca = d.ca_file();
    let mut p = pty(
        &sb,
        &["config", "init", "--tls-ca-file", ca.to_str().unwrap()],
    );
    p.exp_string("Server URL").expect("the URL question");
    p.send_line(&d.imap_url("alice")).unwrap();
    p.exp_string("Password from")
        .expect("the password question");
    p.exp_string("OAuth 2 tokens").expect("the OAuth 2 choice");
    p.send("jjj").unwrap();
    p.send_line("").unwrap();
    p.exp_string("OAuth 2 provider")
        .expect("the provider question");
    p.send("jj").unwrap();
    p.send_line("").unwrap();
    p.exp_string("Client id").expect("the client id question");
    p.send_line(common::oauth::CLIENT_ID).unwrap();
    p.exp_string("Client secret").expect("the secret question");
    p.send_line("").unwrap();
    p.exp_string("Token endpoint")
        .expect("the token URL question");
    p.send_line(&server.token_url()).unwrap();
    p.exp_string("Authorization endpoint")
        .expect("the authorization URL question");
    p.send_line(&server.auth_url()).unwrap();
    p.exp_string("Device authorization")
        .expect("the device URL question");
    p.send_line(&server.device_url()).unwrap();
    p.exp_string("Scopes").expect("the scopes question");
    p.send_line("mail offline_access").unwrap();
    p.exp_string("Deliver").expect("the delivery question");
    p.send_line("").unwrap();
    p.exp_string("Maildir").expect("the Maildir question");
    p.send_line(sb.maildir().to_str().unwrap()).unwrap();
    p.exp_string("certificate verified")
        .expect("the server tried");
    p.exp_string("mailpull auth login mail")
        .expect("what to do next");
    exited_ok(&mut p);

    let path = default_path(&sb);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("auth = \"xoauth2\""), "{text}");
    let shown = check(&sb, &path);
    assert!(
        shown.contains("oauth2: provider custom, client id mailpull-test"),
        "{shown}"
    );
    let mut c = sb.cmd(None);
    c.args(["auth", "status", "mail"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 77, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mailpull auth login mail"));

    server.auto_approve(Some("alice"));
    let mut c = sb.cmd(None);
    c.args(["auth", "login", "mail", "--device"]);
    let out = run_with_limit(c, LIMIT);
    server.auto_approve(None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut c = sb.cmd(None);
    c.args(["auth", "status", "mail"]);
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut c = sb.cmd(None);
    c.arg("fetch");
    let out = run_with_limit(c, LIMIT);
    assert_eq!(code(&out), 0, "{}\n--- file\n{text}", stderr(&out));
    assert_eq!(common::run::maildir_messages(&sb.maildir()).len(), 1);
    assert_eq!(d.imap_logins("alice"), 1);
}
