//! Validated configuration: the TOML file and the command line's plain-value overrides,
//! merged into [`Account`]s. This file holds the values the rest of mailpull sees; the work is
//! done in the submodules:
//!
//! - [`file`]: the file (`~/.config/mailpull/config.toml`, or `--config`/`MAILPULL_CONFIG`), its
//!   `[defaults]` and `[account.NAME]` tables (see [`AccountFile`]), every error naming the
//!   file and the line;
//! - [`keys`]: each key's value, checked while the file is parsed;
//! - [`url`]: server URLs;
//! - [`values`]: sizes, durations and default paths;
//! - [`build`]: file + [`Overrides`] → [`Account`], one named step per setting;
//! - [`shared`]: refusing two accounts that read one mailbox.
//!
//! Nothing here sees the command-line parser (`cli` turns flags into [`Overrides`]) or sends a byte; the engine
//! only ever sees values that make sense.

use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{Classify, Exit};
use crate::ledger::AccountKey;
use crate::tls::TlsOptions;

pub mod build;
pub mod docs;
pub mod file;
pub mod keys;
pub mod oauth;
mod shared;
pub mod url;
pub mod values;

pub use build::{accounts, options, Overrides, ServerOverrides, TargetOverride};
pub use file::{load, parse_file, AccountFile, ConfigFile, FileConfig};
pub use keys::{
    AuthValue, Checked, DeliverValue, DurationValue, FingerprintValue, SizeValue, UrlValue,
};
pub use shared::folders_overlap;
pub use url::{parse_url, redact_url_password, ServerUrl};
pub use values::{
    check_duration, default_config_path, default_ledger, expand_tilde, parse_duration,
    parse_seconds, parse_size, MAX_DURATION, MAX_SIZE,
};

/// A configuration mistake. Command-line mistakes exit 64, configuration problems 78.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The configuration cannot work (bad file, no password source, unusable paths, …).
    #[error("{0}")]
    Invalid(String),
}

impl Classify for ConfigError {
    fn exit(&self) -> Exit {
        match self {
            ConfigError::Usage(_) => Exit::Usage,
            ConfigError::Invalid(_) => Exit::Config,
        }
    }
}

/// The mail protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Pop3,
    Imap,
}

impl Protocol {
    /// The name stored in the ledger.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }
}

/// How to authenticate; `account::connect` maps it to the protocol's own methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// SASL PLAIN when the server offers it, else USER/PASS (POP3) or LOGIN (IMAP).
    Auto,
    /// POP3 USER/PASS, or IMAP LOGIN.
    User,
    /// SASL PLAIN.
    Plain,
    /// POP3 APOP.
    Apop,
    /// SASL XOAUTH2 (POP3 AUTH, IMAP AUTHENTICATE); the secret is an OAuth 2 access token.
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 7628); the secret is an OAuth 2 access token.
    OAuthBearer,
}

impl Auth {
    /// The method as the user writes it for a `protocol` account, with what it does (for
    /// `config check`): IMAP's `login` and POP3's `user` are one value here.
    pub fn describe(self, protocol: Protocol) -> &'static str {
        match (self, protocol) {
            (Auth::Auto, Protocol::Pop3) => "auto (SASL PLAIN when offered, else USER/PASS)",
            (Auth::Auto, Protocol::Imap) => "auto (AUTHENTICATE PLAIN when offered, else LOGIN)",
            (Auth::User, Protocol::Pop3) => "user (USER/PASS)",
            (Auth::User, Protocol::Imap) => "login (LOGIN)",
            (Auth::Plain, _) => "plain (SASL PLAIN)",
            (Auth::Apop, _) => "apop (APOP)",
            (Auth::XOAuth2, Protocol::Pop3) => "xoauth2 (SASL XOAUTH2)",
            (Auth::XOAuth2, Protocol::Imap) => "xoauth2 (AUTHENTICATE XOAUTH2)",
            (Auth::OAuthBearer, Protocol::Pop3) => "oauthbearer (SASL OAUTHBEARER)",
            (Auth::OAuthBearer, Protocol::Imap) => "oauthbearer (AUTHENTICATE OAUTHBEARER)",
        }
    }
}

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (pop3s).
    Implicit,
    /// Plain connection upgraded with STLS, which is required.
    StartTls,
    /// No TLS at all (`--insecure-no-tls`).
    None,
}

/// Where the password comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Given (MAILPULL_PASSWORD or the `password` key).
    Given(String),
    /// The first line of this shell command's output.
    Command(String),
    /// Ask on the terminal.
    Prompt,
    /// An access token from the built-in OAuth 2 store, obtained right before each login.
    OAuth2,
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Given(_) => f.write_str("Given(<redacted>)"),
            PasswordSource::Command(c) => write!(f, "Command({c:?})"),
            PasswordSource::Prompt => f.write_str("Prompt"),
            PasswordSource::OAuth2 => f.write_str("OAuth2"),
        }
    }
}

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Mda { command: String, timeout: Duration },
    Stdout,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Maildir(p) => write!(f, "Maildir {}", p.display()),
            Target::Mbox(p) => write!(f, "mbox {}", p.display()),
            Target::Mda { command, .. } => write!(f, "MDA `{command}`"),
            Target::Stdout => f.write_str("stdout (mboxrd)"),
        }
    }
}

/// One account, ready to fetch.
#[derive(Clone, Debug)]
pub struct Account {
    /// The account's name in the configuration, if it has one.
    pub name: Option<String>,
    /// How the account is named to the user (its name, or `alice@mail.example.org`).
    pub label: String,
    /// `user@host[:port]`.
    pub server: String,
    pub protocol: Protocol,
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub auth: Auth,
    pub password: PasswordSource,
    /// IMAP folders or LIST patterns (UTF-8).
    pub folders: Vec<String>,
    /// IMAP: set \Seen on fetched messages.
    pub mark_seen: bool,
    pub tls: TlsOptions,
    /// Connect and per-reply timeout.
    pub timeout: Duration,
    /// Leave messages on the server.
    pub keep: bool,
    /// Keep mode: delete from the server once delivered this long ago.
    pub delete_after: Option<Duration>,
    /// Leave larger messages on the server, not downloaded.
    pub skip_larger_than: Option<u64>,
    /// Delete larger messages without downloading them.
    pub delete_larger_than: Option<u64>,
    /// Download at most this many new messages per run.
    pub max_messages: Option<usize>,
    /// A command deciding from each new message's headers whether to fetch it.
    pub filter: Option<Filter>,
    pub target: Target,
    /// `mailpull watch`: how often to fetch when IDLE is not available (`--every` wins).
    pub poll_interval: Option<Duration>,
    /// Read receipts: the policy and how to send them.
    pub receipts: crate::receipts::ReceiptSettings,
    /// OAuth 2 token handling (`oauth2 = { … }`), if configured.
    pub oauth2: Option<crate::oauth::OAuthSettings>,
}

/// The `filter` command: run with `sh -c`, the headers of a new message on its stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub command: String,
    /// How long it may take per message before it counts as failed.
    pub timeout: Duration,
}

impl Account {
    /// The ledger identity of the account's mailbox: protocol family, host and user (not the
    /// port, the TLS mode or the authentication method).
    pub fn key(&self) -> AccountKey {
        AccountKey::new(self.protocol.name(), &self.host, &self.user)
    }
}

/// How much to say on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Trace,
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct Options {
    pub ledger: PathBuf,
    pub verbosity: Verbosity,
    /// How long to wait for another run on the same account.
    pub lock_wait: Duration,
    /// Accounts fetched in parallel.
    pub jobs: usize,
    /// JSON summary on stdout.
    pub json: bool,
    /// `fetch --pick`: ask on the terminal which new messages to download.
    pub pick: bool,
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("pop3s://alice@mail.example.org").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str(), u.implicit_tls),
            ("mail.example.org", 995, "alice", true)
        );
        let u = parse_url("pop3://alice%40example.org@127.0.0.1:1110").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str(), u.implicit_tls),
            ("127.0.0.1", 1110, "alice@example.org", false)
        );
        let u = parse_url("pop3://bob@[::1]:2110/").unwrap();
        assert_eq!(u.host, "::1");
        for bad in [
            "mail.example.org",
            "http://alice@host",
            "pop3s://host",
            "pop3s://alice:pw@host",
            "pop3s://alice@host/INBOX",
            "pop3s://alice@host:0",
            "pop3s://alice@host?x=1",
            "imapx://alice@host",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        for leaky in [
            "pop3s://alice:hunter2@host",
            "pop4://alice:hunter2@host",
            "pop3s://alice:hunter2@",
        ] {
            let e = parse_url(leaky).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
        assert_eq!(
            redact_url_password("smtp://a%40b:p@ss@host:25/x"),
            "smtp://a%40b:****@host:25/x"
        );
        assert_eq!(
            redact_url_password("imaps://alice@host"),
            "imaps://alice@host"
        );
        assert_eq!(redact_url_password("not a url"), "not a url");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("10 MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("2048").unwrap(), 2048);
        assert!(parse_size("ten").is_err());
    }

    fn parse(text: &str) -> Result<ConfigFile, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        parse_file(&path, text.to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn errors_name_line_and_key() {
        let e =
            parse("[account.work]\nurl = \"pop3s://alice@example.org\"\nkep = true\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("kep"), "{e}");
        let e = parse(
            "[account.work]\nurl = \"pop3s://alice@example.org\"\nskip_larger_than = \"huge\"\n",
        )
        .unwrap_err();
        assert!(e.contains("line 3") && e.contains("huge"), "{e}");
        let e = parse("[account.work]\n\nurl = \"htp://alice@example.org\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("url"), "{e}");
        let e = parse("[account.work]\nurl = \"pop3s://a@b\"\nkeep = \"yes\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("keep"), "{e}");
        let e = parse("[defaults]\nurl = \"pop3s://a@b\"\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("url"), "{e}");
        let e = parse("[account.work]\nkeep = true\n").unwrap_err();
        assert!(e.contains("work") && e.contains("url"), "{e}");
        let e = parse(
            "[account.w]\nurl = \"pop3s://a@b\"\ndeliver = { maildir = \"x\", mbox = \"y\" }\n",
        )
        .unwrap_err();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn defaults_apply_and_flags_override() {
        let f = parse(
            "[defaults]\nkeep = true\ndeliver = { mbox = \"/tmp/box\" }\ntimeout = \"2m\"\n\
             [account.a]\nurl = \"pop3s://alice@example.org\"\n\
             [account.b]\nurl = \"pop3://bob@example.net:1110\"\nkeep = false\nskip_larger_than = \"10MB\"\n",
        )
        .unwrap();
        let accs = accounts(&f, &[], &Overrides::default(), None).unwrap();
        assert_eq!(accs.len(), 2);
        assert!(accs[0].keep && !accs[1].keep);
        assert_eq!(accs[0].target, Target::Mbox("/tmp/box".into()));
        assert_eq!(accs[0].timeout, Duration::from_secs(120));
        assert_eq!(accs[1].skip_larger_than, Some(10_000_000));
        assert_eq!(accs[1].server, "bob@example.net:1110");
        let ov = Overrides {
            keep: Some(false),
            ..Default::default()
        };
        let accs = accounts(&f, &["a".into()], &ov, None).unwrap();
        assert!(!accs[0].keep);
        assert!(accounts(&f, &["nope".into()], &ov, None).is_err());
    }

    #[test]
    fn world_readable_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let text = "[account.a]\nurl = \"pop3s://a@b\"\npassword = \"hunter2\"\n";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = parse_file(&path, text.into()).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains("hunter2"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(parse_file(&path, text.into()).is_ok());
    }
}
