//! `mailpull probe URL|ACCOUNT`: prints a server's facts (see [`crate::account::probe`]) on
//! stdout — they are the command's data — in a human form (every text from the server made
//! terminal-safe) or as JSON. The exit status is the error that stopped the probe, if any.
//! Floor 7 (commands).

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use anyhow::Context;

use crate::account::probe::{probe, Report};
use crate::account::{lock_account, passwords};
use crate::cli::probe::ProbeArgs;
use crate::cli::Cli;
use crate::config;
use crate::exit::Exit;
use crate::text::safe;

/// A URL without a user name gets this one: nothing is logged in without `--login`.
const NO_USER: &str = "anonymous";

pub(super) fn run(cli: &Cli, args: &ProbeArgs) -> anyhow::Result<Exit> {
    let target = with_user(&args.target, args.login);
    let file = config::load(cli.config.as_deref())?;
    let ov = args.server.only();
    let env = if args.login {
        crate::account::password_env()
    } else {
        None
    };
    let accounts = config::accounts(&file, std::slice::from_ref(&target), &ov, env)?;
    let [account] = accounts.as_slice() else {
        anyhow::bail!("probe takes one server");
    };
    // Resolved before connecting (a prompt must not hold a connection open), and the mailbox
    // locked as for a fetch: a login is a login.
    let (password, _lock) = if args.login {
        let password = passwords(std::slice::from_ref(account))
            .pop()
            .expect("one account")?;
        let opts = config::options(
            cli.verbose,
            cli.quiet,
            cli.ledger.as_deref(),
            0,
            None,
            false,
        )?;
        let lock = lock_account(&opts.ledger, &account.key(), Duration::from_secs(5))?;
        (Some(password), Some(lock))
    } else {
        (None, None)
    };
    let (report, error) = probe(account, password.as_deref());
    let out = if args.json {
        serde_json::to_string_pretty(&report).context("cannot encode the report")? + "\n"
    } else {
        human(&report)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.context("cannot write the report")?,
    }
    match error {
        None => Ok(Exit::Ok),
        Some(e) => Err(anyhow::Error::new(e).context(format!("probing {}", report.url))),
    }
}

/// `pop3s://HOST` → `pop3s://anonymous@HOST` when no user is given and none is needed.
fn with_user(target: &str, login: bool) -> String {
    match target.split_once("://") {
        Some((scheme, rest)) if !login && !rest.split('/').next().unwrap_or("").contains('@') => {
            format!("{scheme}://{NO_USER}@{rest}")
        }
        _ => target.to_string(),
    }
}

/// The report for people: one fact a line, labels aligned, server texts terminal-safe.
pub fn human(r: &Report) -> String {
    let mut o = String::new();
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(o, "{:<16} {}", format!("{label}:"), safe(value));
    };
    line("Server", &format!("{} ({})", r.url, r.security));
    if let Some(g) = &r.greeting {
        line("Greeting", g);
    }
    if let Some(before) = &r.capabilities_before_tls {
        let command = if r.protocol == "pop3" {
            "STLS"
        } else {
            "STARTTLS"
        };
        line(&format!("Before {command}"), &before.join(" "));
    }
    if !r.capabilities.is_empty() {
        line("Capabilities", &r.capabilities.join(" "));
    }
    if let Some(t) = &r.tls {
        line("TLS", &format!("{}, {}", t.version, t.cipher));
        if let Some(c) = &t.certificate {
            line("Subject", &c.subject);
            if !c.names.is_empty() {
                line("Names", &c.names.join(", "));
            }
            line("Issuer", &c.issuer);
            line("Valid", &format!("{} to {}", c.not_before, c.not_after));
            line("Fingerprint", &c.sha256);
        }
        let verified = match (&t.verify_error, t.verified) {
            (_, true) => "yes".to_string(),
            (Some(e), false) => format!("no ({e})"),
            (None, false) => "no".to_string(),
        };
        line("Verified", &verified);
        if let Some(p) = t.pinned {
            line(
                "Pinned",
                if p {
                    "yes (matches --tls-fingerprint)"
                } else {
                    "NO: does not match --tls-fingerprint"
                },
            );
        }
    }
    if !r.auth_mechanisms.is_empty() {
        line("Auth", &r.auth_mechanisms.join(" "));
    }
    if let Some(l) = &r.login {
        line("Login", if l.ok { "ok" } else { "failed" });
        if let Some(sep) = &l.separator {
            line("Separator", sep);
        }
        if l.ok && r.protocol == "imap" {
            line("Folders", &l.folders.join(", "));
            line("Fetched", &l.fetched.join(", "));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_added_only_when_missing_and_not_logging_in() {
        assert_eq!(
            with_user("pop3s://mail.example.org", false),
            "pop3s://anonymous@mail.example.org"
        );
        assert_eq!(
            with_user("pop3s://alice@mail.example.org:995", false),
            "pop3s://alice@mail.example.org:995"
        );
        assert_eq!(
            with_user("pop3s://mail.example.org", true),
            "pop3s://mail.example.org"
        );
        assert_eq!(with_user("work", false), "work");
    }

    #[test]
    fn server_texts_are_made_terminal_safe() {
        let r = Report {
            url: "pop3s://h:995".into(),
            greeting: Some("hi\x1b[2Jthere".into()),
            ..Report::default()
        };
        let text = human(&r);
        assert!(!text.contains('\x1b'), "{text:?}");
    }
}
