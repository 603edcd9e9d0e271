//! Validated configuration. [`from_fetch_args`] turns the command line into an [`Account`] and
//! run [`Options`]; everything is checked here, so the engine and the protocols only ever see
//! values that make sense, and a mistake is reported before any connection is made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{AuthArg, Cli, FetchArgs};
use crate::exit::{Classify, Exit};
use crate::ledger::AccountKey;
use crate::pop3::session::AuthMethod;
use crate::tls::{parse_fingerprint, TlsOptions};

/// A configuration mistake. Command-line mistakes exit 64, configuration problems 78.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag or argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The configuration cannot work (no password source, unusable paths, …).
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
}

impl Protocol {
    /// The name stored in the ledger.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// Given (from MAILPULL_PASSWORD).
    Given(String),
    /// The first line of this shell command's output.
    Command(String),
    /// Ask on the terminal.
    Prompt,
}

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Maildir(PathBuf),
}

/// One account, ready to fetch.
#[derive(Clone, Debug)]
pub struct Account {
    /// How the account is named to the user (`alice@mail.example.org`).
    pub label: String,
    pub protocol: Protocol,
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub auth: AuthMethod,
    pub password: PasswordSource,
    pub tls: TlsOptions,
    /// Connect and per-reply timeout.
    pub timeout: Duration,
    /// Leave messages on the server.
    pub keep: bool,
    pub target: Target,
}

impl Account {
    /// The ledger identity of the account.
    pub fn key(&self) -> AccountKey {
        AccountKey {
            protocol: self.protocol.name().to_string(),
            host: self.host.to_ascii_lowercase(),
            port: self.port,
            user: self.user.clone(),
        }
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
}

/// The parsed pieces of a server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub protocol: Protocol,
    pub implicit_tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Parses `pop3s://USER@HOST[:PORT]` or `pop3://USER@HOST[:PORT]`.
pub fn parse_url(s: &str) -> Result<ServerUrl, ConfigError> {
    let bad = |why: &str| ConfigError::Usage(format!("invalid server URL {s:?}: {why}"));
    let url = url::Url::parse(s).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            bad("expected pop3s://USER@HOST[:PORT] or pop3://USER@HOST[:PORT]")
        }
        e => bad(&e.to_string()),
    })?;
    let (protocol, implicit_tls, default_port) = match url.scheme() {
        "pop3s" => (Protocol::Pop3, true, 995),
        "pop3" => (Protocol::Pop3, false, 110),
        "imap" | "imaps" => {
            return Err(bad("IMAP is not supported by this version of mailpull yet"))
        }
        other => {
            return Err(bad(&format!(
                "unknown scheme {other:?}; use pop3s:// (TLS) or pop3:// (STLS)"
            )))
        }
    };
    if url.password().is_some() {
        return Err(ConfigError::Usage(format!(
            "invalid server URL {:?}: it contains a password; never put passwords in URLs \
             (they show in `ps` and shell history): use MAILPULL_PASSWORD or --password-command",
            redact_url_password(s)
        )));
    }
    let user = percent_encoding::percent_decode_str(url.username())
        .decode_utf8()
        .map_err(|_| bad("the user name is not valid UTF-8"))?
        .into_owned();
    if user.is_empty() {
        return Err(bad(
            "no user name; write it before the host: pop3s://USER@HOST",
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host name"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a POP3 URL has no path, query or fragment"));
    }
    let port = url.port().unwrap_or(default_port);
    if port == 0 {
        return Err(bad("port 0 is not a valid port"));
    }
    Ok(ServerUrl {
        protocol,
        implicit_tls,
        host,
        port,
        user,
    })
}

fn redact_url_password(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        Err(_) => "<url>".to_string(),
    }
}

/// The user's home directory.
fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// Expands a leading `~/`.
pub fn expand_tilde(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => match home() {
            Some(h) => h.join(rest),
            None => p.to_path_buf(),
        },
        Err(_) => p.to_path_buf(),
    }
}

/// The default ledger: `$XDG_DATA_HOME/mailpull/ledger.sqlite`, i.e.
/// `~/.local/share/mailpull/ledger.sqlite` on Linux.
pub fn default_ledger() -> Result<PathBuf, ConfigError> {
    directories::ProjectDirs::from("", "", "mailpull")
        .map(|d| d.data_dir().join("ledger.sqlite"))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find your home directory to place the ledger; set HOME or use --ledger"
                    .into(),
            )
        })
}

/// The run options from the global flags.
pub fn options(cli: &Cli, lock_wait: u64) -> Result<Options, ConfigError> {
    let ledger = match &cli.ledger {
        Some(p) => expand_tilde(p),
        None => default_ledger()?,
    };
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, 1) => Verbosity::Verbose,
        (false, _) => Verbosity::Trace,
    };
    Ok(Options {
        ledger,
        verbosity,
        lock_wait: Duration::from_secs(lock_wait),
    })
}

/// Builds the account of a one-shot `mailpull fetch URL ...`. `password_env` is the value of
/// `MAILPULL_PASSWORD`, if set.
pub fn from_fetch_args(
    args: &FetchArgs,
    password_env: Option<String>,
) -> Result<Account, ConfigError> {
    let url = parse_url(&args.url)?;
    let security = match (url.implicit_tls, args.insecure_no_tls) {
        (true, false) => Security::Implicit,
        (false, false) => Security::StartTls,
        (false, true) => Security::None,
        (true, true) => {
            return Err(ConfigError::Usage(
                "--insecure-no-tls only applies to pop3:// URLs; pop3s:// always uses TLS".into(),
            ))
        }
    };
    if security == Security::None && (args.tls_ca_file.is_some() || args.tls_fingerprint.is_some())
    {
        return Err(ConfigError::Usage(
            "--tls-ca-file and --tls-fingerprint make no sense with --insecure-no-tls".into(),
        ));
    }
    let fingerprint = args
        .tls_fingerprint
        .as_deref()
        .map(parse_fingerprint)
        .transpose()
        .map_err(|e| ConfigError::Usage(format!("--tls-fingerprint: {e}")))?;
    let ca_file = args.tls_ca_file.as_deref().map(expand_tilde);
    if let Some(p) = &ca_file {
        if !p.is_file() {
            return Err(ConfigError::Usage(format!(
                "--tls-ca-file: {} is not a readable file",
                p.display()
            )));
        }
    }
    if args.timeout == 0 {
        return Err(ConfigError::Usage(
            "--timeout must be at least 1 second".into(),
        ));
    }
    let password = match (
        password_env.filter(|p| !p.is_empty()),
        &args.password_command,
    ) {
        (_, Some(cmd)) if cmd.trim().is_empty() => {
            return Err(ConfigError::Usage("--password-command is empty".into()))
        }
        (_, Some(cmd)) => PasswordSource::Command(cmd.clone()),
        (Some(p), None) => PasswordSource::Given(p),
        (None, None) => PasswordSource::Prompt,
    };
    let maildir = match &args.maildir {
        Some(p) => expand_tilde(p),
        None => home().map(|h| h.join("Maildir")).ok_or_else(|| {
            ConfigError::Invalid("cannot find your home directory; use --maildir".into())
        })?,
    };
    let auth = match args.auth {
        AuthArg::Auto => AuthMethod::Auto,
        AuthArg::User => AuthMethod::User,
        AuthArg::Plain => AuthMethod::Plain,
        AuthArg::Apop => AuthMethod::Apop,
    };
    let label = if url.port == if url.implicit_tls { 995 } else { 110 } {
        format!("{}@{}", url.user, url.host)
    } else {
        format!("{}@{}:{}", url.user, url.host, url.port)
    };
    Ok(Account {
        label,
        protocol: url.protocol,
        security,
        host: url.host,
        port: url.port,
        user: url.user,
        auth,
        password,
        tls: TlsOptions {
            ca_file,
            fingerprint,
        },
        timeout: Duration::from_secs(args.timeout),
        keep: args.keep,
        target: Target::Maildir(maildir),
    })
}

#[cfg(test)]
mod tests {
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
            "imaps://alice@host",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let e = parse_url("pop3s://alice:hunter2@host")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
