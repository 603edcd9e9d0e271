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

// ---------------------------------------------------------------------------------------------
// The built-in token store.

/// One configured account: name, user, auth method, and extra lines for its table.
struct Acc<'a> {
    name: &'a str,
    user: &'a str,
    auth: &'a str,
    host: &'a str,
    extra: &'a str,
    /// `imap` or `pop3` (both with STARTTLS/STLS).
    scheme: &'a str,
}

impl<'a> Acc<'a> {
    fn new(name: &'a str, user: &'a str, auth: &'a str) -> Acc<'a> {
        Acc {
            name,
            user,
            auth,
            host: "127.0.0.1",
            extra: "",
            scheme: "imap",
        }
    }
}

/// The `oauth2` table pointing at the test server.
fn oauth2_table(server: &OAuthServer) -> String {
    format!(
        "oauth2 = {{ provider = \"custom\", client_id = \"{}\", token_url = \"{}\", \
         device_url = \"{}\", auth_url = \"{}\", scopes = [\"mail\", \"offline_access\"] }}",
        common::oauth::CLIENT_ID,
        server.token_url(),
        server.device_url(),
        server.auth_url()
    )
}

/// Writes the sandbox's configuration file with `accounts`, each delivering into its own
/// Maildir `sb/NAME`.
fn configure(sb: &Sandbox, server: &OAuthServer, d: &Dovecot, accounts: &[Acc<'_>]) {
    let mut text = String::new();
    for a in accounts {
        text.push_str(&format!(
            "[account.{}]\nurl = \"{}://{}@{}:{}\"\ntls_ca_file = \"{}\"\nauth = \"{}\"\n\
             deliver = {{ maildir = \"{}\" }}\n{}\n{}\n\n",
            a.name,
            a.scheme,
            a.user,
            a.host,
            if a.scheme == "pop3" {
                d.pop3_port()
            } else {
                d.imap_port()
            },
            d.ca_file().display(),
            a.auth,
            sb.path().join(a.name).display(),
            oauth2_table(server),
            a.extra
        ));
    }
    let dir = sb.home().join(".config/mailpull");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

/// `mailpull ARGS` in the sandbox (no password anywhere).
fn mailpull(sb: &Sandbox, args: &[&str]) -> Output {
    let mut c = sb.cmd(None);
    c.args(args);
    run_with_limit(c, LIMIT)
}

/// `mailpull auth login NAME --device`, approved at once by the server for `user`.
#[track_caller]
fn login(sb: &Sandbox, server: &OAuthServer, name: &str, user: &str) {
    server.auto_approve(Some(user));
    let out = mailpull(sb, &["auth", "login", name, "--device"]);
    server.auto_approve(None);
    assert_eq!(code(&out), 0, "auth login {name}: {}", text(&out));
}

fn delivered(sb: &Sandbox, name: &str) -> usize {
    maildir_messages(&sb.path().join(name)).len()
}

/// The store directory of the sandbox.
fn store_dir(sb: &Sandbox) -> PathBuf {
    sb.home().join(".local/share/mailpull/oauth")
}

fn oauth_setup() -> Option<(OAuthServer, Dovecot, Sandbox)> {
    let server = OAuthServer::start();
    let d = dovecot_with_oauth(&server)?;
    Some((server, d, Sandbox::new()))
}

/// XOAUTH2 and OAUTHBEARER logins with tokens from the built-in store; a fresh token is used
/// as it is (no refresh request).
#[test]
fn imap_logins_with_stored_tokens_xoauth2_and_oauthbearer() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    d.add_message("bob", MSG);
    configure(
        &sb,
        &server,
        &d,
        &[
            Acc::new("work", "alice", "xoauth2"),
            Acc::new("home", "bob", "oauthbearer"),
        ],
    );
    login(&sb, &server, "work", "alice");
    login(&sb, &server, "home", "bob");
    let out = mailpull(&sb, &["fetch"]);
    assert_exit(&out, 0, &d);
    assert_eq!((delivered(&sb, "work"), delivered(&sb, "home")), (1, 1));
    assert_eq!((d.imap_logins("alice"), d.imap_logins("bob")), (1, 1));
    assert_eq!(server.token_requests("refresh_token"), 0);
    assert_eq!(server.token_requests("device_code"), 2);
    let log = d.logs();
    assert!(log.contains("method=XOAUTH2") && log.contains("method=OAUTHBEARER"));
    // Records are private.
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(store_dir(&sb)).unwrap() {
        let e = e.unwrap();
        let mode = e.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", e.path().display());
    }
}

/// An access token about to expire is refreshed with exactly one request, and the run logs in
/// once; the next run uses the refreshed token without asking again.
#[test]
fn expiring_access_token_is_refreshed_once_with_one_login() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    // Issued for 30 s: within the 60 s margin, so it counts as expired at once.
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    server.set_access_lifetime(3600);
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb, "work"), 1);
    assert_eq!(server.token_requests("refresh_token"), 1);
    assert_eq!(d.imap_logins("alice"), 1);

    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(
        server.token_requests("refresh_token"),
        1,
        "refreshed a valid token"
    );
    assert_eq!(d.imap_logins("alice"), 2);
}

/// A revoked refresh token: exit 77, the message says to run `mailpull auth login ACCOUNT`,
/// and the server sees no login attempt.
#[test]
fn revoked_refresh_token_exits_77_and_names_auth_login() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    assert_eq!(server.revoke_user("alice"), 1);
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 77, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mailpull auth login work"), "{err}");
    assert_eq!(d.imap_logins("alice"), 0);
    assert_eq!(delivered(&sb, "work"), 0);

    // Never signed in at all: the same advice, before any request.
    let sb2 = Sandbox::new();
    configure(&sb2, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    let before = server.all_token_requests();
    let out = mailpull(&sb2, &["fetch", "work"]);
    assert_exit(&out, 77, &d);
    assert!(String::from_utf8_lossy(&out.stderr).contains("mailpull auth login work"));
    assert_eq!(server.all_token_requests(), before);
}

/// With rotation, the refresh token the server returns replaces the stored one: the next
/// refresh presents the new one, after which the server retires the old one.
#[test]
fn rotated_refresh_token_is_stored_and_used_next() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    server.set_access_lifetime(30);
    server.set_rotate(true);
    login(&sb, &server, "work", "alice");
    for _ in 0..3 {
        let out = mailpull(&sb, &["fetch", "work"]);
        assert_exit(&out, 0, &d);
    }
    let used = server.refresh_tokens_used();
    assert_eq!(used.len(), 3, "{used:?}");
    assert!(
        used[0] != used[1] && used[1] != used[2] && used[0] != used[2],
        "a refresh token was presented twice: {used:?}"
    );
    assert!(!server.refresh_active(&used[0]) && !server.refresh_active(&used[1]));
    assert_eq!(d.imap_logins("alice"), 3);
}

/// A token endpoint that fails (HTTP 503 with a web page): exit 75 (try again later), no login
/// attempt, and the stored refresh token still works once the endpoint is back.
#[test]
fn failing_token_endpoint_is_temporary_and_keeps_the_record() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    server.settings(serde_json::json!({ "token_fail_status": 503 }));
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 75, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refreshing the OAuth 2 token of alice"),
        "{err}"
    );
    assert!(err.contains("HTTP 503"), "{err}");
    assert_eq!(d.imap_logins("alice"), 0);
    server.settings(serde_json::json!({ "token_fail_status": 0 }));
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb, "work"), 1);
}

/// kill -9 while the token endpoint is answering a refresh: the store still holds a refresh
/// token the server accepts, and the next run succeeds.
#[test]
fn kill_during_refresh_keeps_a_valid_token() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    server.set_access_lifetime(30);
    server.set_rotate(true);
    login(&sb, &server, "work", "alice");
    server.set_token_delay(30.0);
    let mut c = sb.cmd(None);
    c.args(["fetch", "work"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.token_requests("refresh_token") == 0 {
        assert!(std::time::Instant::now() < deadline, "no refresh request");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    server.set_token_delay(0.0);
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb, "work"), 1);
    // No temporary file left in the store.
    let names: Vec<String> = std::fs::read_dir(store_dir(&sb))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

/// Two accounts that share an identity (one user, one client, one token endpoint) but not a
/// mailbox lock (127.0.0.1 and localhost), fetched in parallel while the token endpoint is
/// slow: one refresh; the other waits for it and uses its token.
#[test]
fn parallel_accounts_sharing_an_identity_refresh_once() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    let mut b = Acc::new("second", "alice", "xoauth2");
    b.host = "localhost";
    configure(
        &sb,
        &server,
        &d,
        &[Acc::new("first", "alice", "xoauth2"), b],
    );
    server.set_access_lifetime(30);
    login(&sb, &server, "first", "alice");
    server.set_access_lifetime(3600);
    server.set_token_delay(2.0);
    let out = mailpull(&sb, &["fetch", "--jobs", "2", "--keep", "first", "second"]);
    assert_exit(&out, 0, &d);
    assert_eq!(server.token_requests("refresh_token"), 1);
    assert_eq!(d.imap_logins("alice"), 2);
}

/// `token_command` (here from `[defaults]`, merged into the account's `oauth2` key by key)
/// keeps the record instead of the store directory: `auth login` puts it through the command,
/// a fetch gets it, refreshes, and puts the new one; the store directory holds only the lock.
#[test]
fn token_command_keeps_the_record() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    let kept = sb.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    let script = sb.path().join("tokens.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nf='{}'/\"$MAILPULL_OAUTH_IDENTITY\"\necho \"$1\" >> '{}'/calls\n\
             case \"$1\" in\n  get) cat \"$f\" 2>/dev/null || true ;;\n  put) cat > \"$f\" ;;\n  \
             delete) rm -f \"$f\" ;;\nesac\n",
            kept.display(),
            sb.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = sb.home().join(".config/mailpull/config.toml");
    let conf = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "[defaults]\noauth2 = {{ token_command = \"{}\" }}\n\n{conf}",
            script.display()
        ),
    )
    .unwrap();
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    server.set_access_lifetime(3600);
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb, "work"), 1);
    assert_eq!(server.token_requests("refresh_token"), 1);
    let calls = std::fs::read_to_string(sb.path().join("calls")).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert!(
        calls.contains(&"put") && calls.contains(&"get"),
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| **c == "put").count(),
        2,
        "{calls:?}"
    );
    assert_eq!(std::fs::read_dir(&kept).unwrap().count(), 1);
    let in_store: Vec<String> = std::fs::read_dir(store_dir(&sb))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        in_store.iter().all(|n| n.ends_with(".lock")),
        "{in_store:?}"
    );
    // The next run uses the refreshed record from the command.
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(server.token_requests("refresh_token"), 1);
}

/// `auth status` shows what is stored without a token (text and --json); `auth logout`
/// forgets it, after which status says to log in (exit 77).
#[test]
fn status_and_logout() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    let out = mailpull(&sb, &["auth", "status", "work"]);
    assert_eq!(code(&out), 77, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mailpull auth login work"));
    login(&sb, &server, "work", "alice");
    let out = mailpull(&sb, &["auth", "status"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.starts_with("work\talice\tcustom\tsigned in; access token valid until"),
        "{stdout}"
    );
    let out = mailpull(&sb, &["auth", "status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j[0]["account"], "work");
    assert_eq!(j[0]["signed_in"], true);
    assert_eq!(j[0]["access_token_valid"], true);
    assert!(j[0]["access_token_expires_at"].as_i64().is_some());
    assert_no_token(&server, "auth status", &[&out]);

    let out = mailpull(&sb, &["auth", "logout", "work"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = mailpull(&sb, &["auth", "status", "work", "--json"]);
    assert_eq!(code(&out), 77, "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j[0]["signed_in"], false);
}

/// Asserts that no token the server issued (nor its XOAUTH2 or OAUTHBEARER encoding) appears
/// in any of `outs`.
#[track_caller]
fn assert_no_token(server: &OAuthServer, what: &str, outs: &[&Output]) {
    use base64::Engine;
    let tokens = server.all_tokens();
    assert!(!tokens.is_empty());
    for out in outs {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for t in &tokens {
            assert!(
                !all.contains(t.as_str()),
                "{what}: a token is shown:\n{all}"
            );
            for user in ["alice", "bob"] {
                for sasl in [
                    format!("user={user}\x01auth=Bearer {t}\x01\x01"),
                    format!("n,a={user},\x01auth=Bearer {t}\x01\x01"),
                ] {
                    let b = base64::engine::general_purpose::STANDARD.encode(sasl);
                    assert!(!all.contains(&b), "{what}: a SASL token is shown:\n{all}");
                }
            }
        }
    }
}

/// A token never shows up in `-vv` output, the `--json` summary, or error messages.
#[test]
fn tokens_never_appear_in_output() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    d.add_message("bob", MSG);
    configure(
        &sb,
        &server,
        &d,
        &[
            Acc::new("work", "alice", "xoauth2"),
            Acc::new("home", "bob", "oauthbearer"),
        ],
    );
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    login(&sb, &server, "home", "bob");
    let fetched = mailpull(&sb, &["-vv", "fetch", "--json"]);
    assert_exit(&fetched, 0, &d);
    // The protocol trace is on, with the SASL response redacted.
    let err = String::from_utf8_lossy(&fetched.stderr);
    assert!(err.contains("AUTHENTICATE XOAUTH2 <redacted>"), "{err}");
    assert!(server.token_requests("refresh_token") >= 2);
    let status = mailpull(&sb, &["-vv", "auth", "status", "--json"]);
    let check = mailpull(&sb, &["-vv", "config", "check"]);
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        shown.contains("oauth2: provider custom, client id mailpull-test"),
        "{shown}"
    );
    // Errors: a revoked refresh token, and a token Dovecot refuses.
    server.revoke_user("bob");
    let revoked = mailpull(&sb, &["-vv", "fetch", "--json", "home"]);
    assert_exit(&revoked, 77, &d);
    assert_no_token(
        &server,
        "fetch -vv --json, auth status, config check, errors",
        &[&fetched, &status, &check, &revoked],
    );
}

/// How many POP3 logins of `user` the server has logged so far.
fn pop3_logins(d: &Dovecot, user: &str) -> usize {
    let needle = format!("Login: user=<{user}>");
    d.logs()
        .lines()
        .filter(|l| l.contains("pop3-login:") && l.contains(&needle))
        .count()
}

/// POP3 (AUTH XOAUTH2 and OAUTHBEARER over STLS) with tokens from the built-in store: the
/// expiring token is refreshed once per identity, each account logs in once, and the mail
/// is fetched.
#[test]
fn pop3_logins_with_stored_tokens_and_one_refresh() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    d.add_message("bob", MSG);
    let mut a = Acc::new("work", "alice", "xoauth2");
    a.scheme = "pop3";
    let mut b = Acc::new("home", "bob", "oauthbearer");
    b.scheme = "pop3";
    configure(&sb, &server, &d, &[a, b]);
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    login(&sb, &server, "home", "bob");
    server.set_access_lifetime(3600);
    let out = mailpull(&sb, &["fetch"]);
    assert_exit(&out, 0, &d);
    assert_eq!((delivered(&sb, "work"), delivered(&sb, "home")), (1, 1));
    assert_eq!((pop3_logins(&d, "alice"), pop3_logins(&d, "bob")), (1, 1));
    assert_eq!(server.token_requests("refresh_token"), 2);
    let log = d.logs();
    assert!(log.contains("method=XOAUTH2") && log.contains("method=OAUTHBEARER"));
    // POP3 deletes after fetching: the server is empty now.
    assert_eq!(d.server_count("alice"), 0);
}

/// `watch` asks for a token at every login: polling a POP3 account whose access tokens live
/// 2 s past the margin, it refreshes by itself again and again and keeps fetching, without
/// a terminal and without failing a login.
#[test]
fn watch_refreshes_before_each_login() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    let mut a = Acc::new("work", "alice", "xoauth2");
    a.scheme = "pop3";
    configure(&sb, &server, &d, &[a]);
    server.set_access_lifetime(62);
    login(&sb, &server, "work", "alice");
    let mut c = sb.cmd(None);
    c.args(["watch", "--every", "1s", "work"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.token_requests("refresh_token") < 2 || pop3_logins(&d, "alice") < 3 {
        if std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "watch did not keep refreshing: {} refreshes, {} logins\n{}",
                server.token_requests("refresh_token"),
                pop3_logins(&d, "alice"),
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    d.add_message("alice", MSG);
    while delivered(&sb, "work") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "watch stopped fetching"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("authentication failed"), "{err}");
}

/// A read receipt through an OAuth-only SMTP server (`[receipts] auth = "xoauth2"`, no
/// password command) logs in with the access token from the account's store: the one the
/// fetch just refreshed. The token never shows.
#[test]
fn receipt_goes_out_with_the_token_from_the_store() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message(
        "alice",
        b"Return-Path: <bob@x.example>\r\nFrom: Bob <bob@x.example>\r\nTo: alice@example.org\r\n\
          Subject: receipt please\r\nDate: Mon, 2 Sep 2024 10:00:00 +0000\r\n\
          Message-ID: <r1@x.example>\r\nDisposition-Notification-To: bob@x.example\r\n\r\nHello.\r\n",
    );
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    server.set_access_lifetime(30);
    login(&sb, &server, "work", "alice");
    server.set_access_lifetime(3600);
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(server.token_requests("refresh_token"), 1);
    // The newest access token is the refreshed one, now in the store.
    let state = server.state();
    let newest = state["access"]
        .as_object()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a.1["expires_at"]
                .as_f64()
                .partial_cmp(&b.1["expires_at"].as_f64())
                .unwrap()
        })
        .map(|(t, _)| t.clone())
        .unwrap();
    let Some(smtp) = common::smtp::Smtp::start_oauth(common::smtp::Mode::StartTls, &newest) else {
        return;
    };
    let config = sb.home().join(".config/mailpull/config.toml");
    let mut conf = std::fs::read_to_string(&config).unwrap();
    conf.push_str(&format!(
        "[receipts]\nfrom = \"alice@example.org\"\nsmtp = \"{}\"\nauth = \"xoauth2\"\n\
         tls_ca_file = \"{}\"\n",
        smtp.url(true),
        smtp.ca_file().display()
    ));
    std::fs::write(&config, conf).unwrap();
    let out = mailpull(&sb, &["receipts", "--all"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = listing.split('\t').next().unwrap().trim().to_string();
    assert!(!id.is_empty(), "{listing}");
    let sent = mailpull(&sb, &["-vv", "receipts", "send", &id]);
    assert_eq!(code(&sent), 0, "{}", text(&sent));
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].auth.as_deref(), Some("alice"));
    assert_eq!(
        server.token_requests("refresh_token"),
        1,
        "the stored token was not used"
    );
    assert_no_token(&server, "receipts send -vv", &[&sent]);
}

// ---------------------------------------------------------------------------------------------
// `mailpull auth login` on a terminal.

/// `mailpull ARGS` on a pseudo-terminal.
fn pty(sb: &Sandbox, args: &[&str]) -> rexpect::session::PtySession {
    let mut c = sb.cmd(None);
    c.args(args)
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::inherit());
    rexpect::session::spawn_command(c, Some(60_000)).expect("spawn on a pty")
}

/// Reads the rest of the output and the exit status.
fn finish(p: &mut rexpect::session::PtySession) -> (i32, String) {
    let rest = p.exp_eof().expect("mailpull ends");
    match p.process().wait() {
        Ok(rexpect::process::WaitStatus::Exited(_, code)) => (code, rest),
        other => panic!("mailpull did not exit: {other:?}\n{rest}"),
    }
}

/// The device flow: the code printed on the terminal is approved by "the user" (the test,
/// through the server); mailpull polls at the server's interval (never `slow_down`), stores
/// the tokens, and the next fetch logs in with them.
#[test]
fn device_flow_on_a_terminal() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    let mut p = pty(&sb, &["auth", "login", "work"]);
    p.exp_string("/device-login").expect("the verification URL");
    let (_, code_line) = p
        .exp_regex("enter the code\\s+[A-Z]{4}-[A-Z]{4}")
        .expect("the user code");
    let user_code = code_line.split_whitespace().last().unwrap().to_string();
    // Let it poll a few times while "the user" signs in.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.token_requests("device_code") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "mailpull does not poll"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.approve_device(Some(&user_code), "alice"), 1);
    p.exp_string("signed in").expect("the confirmation");
    let (status, rest) = finish(&mut p);
    assert_eq!(status, 0, "{rest}");
    let s = server.state();
    assert!(
        s["counters"]["token_errors"]["slow_down"].is_null(),
        "mailpull polled too fast: {}",
        s["counters"]
    );
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb, "work"), 1);
    assert_eq!(server.token_requests("refresh_token"), 0);
}

/// Starts `auth login work --loopback` on a pty and returns it with the authorization URL it
/// printed.
fn start_loopback(sb: &Sandbox) -> (rexpect::session::PtySession, String) {
    let mut p = pty(sb, &["auth", "login", "work", "--loopback"]);
    let (_, url) = p
        .exp_regex("http://127\\.0\\.0\\.1:[0-9]+/authorize\\?[^\\s]+")
        .expect("the authorization URL");
    p.exp_string("Waiting for the browser").expect("waiting");
    (p, url)
}

/// The browser side of the loopback flow: "the user" signs in (the server approves), the
/// browser follows the redirect to mailpull's listener on 127.0.0.1; mailpull checks the
/// state, exchanges the code with its PKCE verifier and stores the tokens.
#[test]
fn loopback_pkce_flow_on_a_terminal() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    d.add_message("alice", MSG);
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    let (mut p, url) = start_loopback(&sb);
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("state="),
        "{url}"
    );
    server.approve_authorize(None, "alice");
    let r = common::oauth::http_get(&url);
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let back = r.header("location").unwrap().to_string();
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    let page = common::oauth::http_get(&back);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("authorized"));
    let (status, rest) = finish(&mut p);
    assert_eq!(status, 0, "{rest}");
    assert_eq!(server.token_requests("authorization_code"), 1);
    assert!(server.state()["counters"]["token_errors"]["invalid_grant"].is_null());
    let out = mailpull(&sb, &["fetch", "work"]);
    assert_exit(&out, 0, &d);
    assert_eq!(delivered(&sb, "work"), 1);
}

/// A redirect whose state is not the one mailpull sent is refused (exit 77) and no code is
/// exchanged; other requests to the listener (a favicon) are ignored.
#[test]
fn loopback_flow_refuses_a_forged_state() {
    let Some((server, d, sb)) = oauth_setup() else {
        return;
    };
    configure(&sb, &server, &d, &[Acc::new("work", "alice", "xoauth2")]);
    let (mut p, url) = start_loopback(&sb);
    server.approve_authorize(None, "alice");
    let back = common::oauth::http_get(&url)
        .header("location")
        .unwrap()
        .to_string();
    let (base, _) = back.split_once('?').unwrap();
    let favicon = common::oauth::http_get(&format!("{}/favicon.ico", base.trim_end_matches('/')));
    assert_eq!(favicon.status, 404);
    let auth_code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let forged = common::oauth::http_get(&format!("{base}?code={auth_code}&state=forged"));
    assert_eq!(forged.status, 400);
    let (status, rest) = finish(&mut p);
    assert_eq!(status, 77, "{rest}");
    assert!(rest.contains("state"), "{rest}");
    assert_eq!(server.token_requests("authorization_code"), 0);
    let out = mailpull(&sb, &["auth", "status", "work"]);
    assert_eq!(code(&out), 77);
}
