//! Validated configuration: the TOML file and the command line, merged into [`Account`]s.
//!
//! The file (`~/.config/mailpull/config.toml`, or `--config`/`MAILPULL_CONFIG`) has a
//! `[defaults]` table and `[account.NAME]` tables with the same keys (see [`AccountFile`]).
//! Values are checked while the file is parsed, so every mistake is reported with the file,
//! line and key. Flags given on the command line override the file. Nothing outside this module
//! sees clap or TOML; the engine only ever sees values that make sense.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::cli::{AuthArg, DeliverArgs, ServerArgs};
use crate::exit::{Classify, Exit};
use crate::ledger::AccountKey;
use crate::tls::{parse_fingerprint, TlsOptions};

mod shared;
pub use shared::folders_overlap;

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

/// How to authenticate; `run` maps it to the protocol's own methods.
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
    /// IMAP AUTHENTICATE XOAUTH2.
    XOAuth2,
    /// IMAP AUTHENTICATE OAUTHBEARER.
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
            (Auth::XOAuth2, _) => "xoauth2 (AUTHENTICATE XOAUTH2)",
            (Auth::OAuthBearer, _) => "oauthbearer (AUTHENTICATE OAUTHBEARER)",
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
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Given(_) => f.write_str("Given(<redacted>)"),
            PasswordSource::Command(c) => write!(f, "Command({c:?})"),
            PasswordSource::Prompt => f.write_str("Prompt"),
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

/// The parsed pieces of a server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub protocol: Protocol,
    pub implicit_tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Parses `pop3s://`, `pop3://`, `imaps://` or `imap://USER@HOST[:PORT]`.
pub fn parse_url(s: &str) -> Result<ServerUrl, ConfigError> {
    let shown = redact_url_password(s);
    let bad = |why: &str| ConfigError::Usage(format!("invalid server URL {shown:?}: {why}"));
    let url = url::Url::parse(s).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            bad("expected pop3s://, pop3://, imaps:// or imap://USER@HOST[:PORT]")
        }
        e => bad(&e.to_string()),
    })?;
    let (protocol, implicit_tls, default_port) = match url.scheme() {
        "pop3s" => (Protocol::Pop3, true, 995),
        "pop3" => (Protocol::Pop3, false, 110),
        "imaps" => (Protocol::Imap, true, 993),
        "imap" => (Protocol::Imap, false, 143),
        other => {
            return Err(bad(&format!(
                "unknown scheme {other:?}; use pop3s:// or imaps:// (TLS), pop3:// (STLS) or \
                 imap:// (STARTTLS)"
            )))
        }
    };
    if url.password().is_some() {
        return Err(ConfigError::Usage(format!(
            "invalid server URL {shown:?}: it contains a password; never put passwords in URLs \
             (they show in `ps` and shell history): use MAILPULL_PASSWORD or --password-command"
        )));
    }
    let user = percent_encoding::percent_decode_str(url.username())
        .decode_utf8()
        .map_err(|_| bad("the user name is not valid UTF-8"))?
        .into_owned();
    if user.is_empty() {
        return Err(bad(
            "no user name; write it before the host: pop3s://USER@HOST or imaps://USER@HOST",
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
        return Err(bad(
            "a server URL has no path, query or fragment (IMAP folders go in --folder or folders)",
        ));
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

/// `s` with the password of its user part (`scheme://user:PASSWORD@host…`) replaced by
/// `****`, for error messages. Works on text that does not parse as a URL too.
pub(crate) fn redact_url_password(s: &str) -> String {
    let Some(start) = s.find("://").map(|i| i + 3) else {
        return s.to_string();
    };
    let rest = &s[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return s.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:****{}", &s[..start], &rest[..colon], &rest[at..]),
        None => s.to_string(),
    }
}

/// The largest size accepted for a size limit: 1 PiB (no message comes near it; anything
/// larger is a typo, and sizes beyond 16 EiB would silently saturate).
pub const MAX_SIZE: u64 = 1 << 50;

/// The longest duration accepted anywhere (timeouts, intervals, `--lock-wait`): 366 days.
/// Anything longer is a mistake, and durations near the limits of the clock would overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// `text` quoted for an error message, cut to a short prefix.
fn quote(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(SHOWN).collect();
        format!("{cut:?}…")
    }
}

/// Parses a size such as `10MB`, `10 MiB`, `500k` or `123` (bytes), at most [`MAX_SIZE`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let size = s
        .trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| {
            format!(
                "{} is not a size (examples: 500k, 10MB, 1.5GiB, 2048)",
                quote(s)
            )
        })?;
    check_size(size).map_err(|e| format!("{}: {e}", quote(s)))
}

/// Refuses sizes above [`MAX_SIZE`].
fn check_size(size: u64) -> Result<u64, String> {
    if size > MAX_SIZE {
        return Err("too large: a size limit is at most 1 PiB".into());
    }
    Ok(size)
}

/// Refuses durations above [`MAX_DURATION`].
pub fn check_duration(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "too long: at most 366 days ({} seconds)",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// Parses a number of seconds given on the command line (`--timeout`, `--mda-timeout`,
/// `--lock-wait`): at most [`MAX_DURATION`].
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    let secs: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{} is not a number of seconds", quote(s)))?;
    check_duration(Duration::from_secs(secs))?;
    Ok(secs)
}

/// Parses a duration such as `30s`, `5m`, `1h 30m` (humantime), at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!(
            "{} is not a duration: {e} (examples: 30s, 5m, 1h)",
            quote(s)
        )
    })?;
    check_duration(d).map_err(|e| format!("{}: {e}", quote(s)))
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

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "mailpull")
}

/// The default ledger: `$XDG_DATA_HOME/mailpull/ledger.sqlite`, i.e.
/// `~/.local/share/mailpull/ledger.sqlite` on Linux.
pub fn default_ledger() -> Result<PathBuf, ConfigError> {
    project_dirs()
        .map(|d| d.data_dir().join("ledger.sqlite"))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find your home directory to place the ledger; set HOME or use --ledger"
                    .into(),
            )
        })
}

/// The default configuration file: `$XDG_CONFIG_HOME/mailpull/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

// ---------------------------------------------------------------------------------------------
// The file.

/// A value checked while the file is parsed; its error carries the line and key.
#[derive(Clone, Debug)]
pub struct Checked<T>(pub T);

/// Reads a scalar (what a size or a duration may be written as) and checks it with `f`;
/// `expected` says what the key takes, for the error when it is something else entirely (a
/// table, an array).
fn checked<'de, D, T, F>(d: D, expected: &'static str, f: F) -> Result<Checked<T>, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(Raw) -> Result<T, String>,
{
    let raw = d.deserialize_any(RawVisitor(expected))?;
    f(raw).map(Checked).map_err(de::Error::custom)
}

/// A scalar as written in the file.
enum Raw {
    Int(i128),
    Str(String),
    Bool(bool),
    Float(f64),
}

impl Raw {
    fn describe(&self) -> String {
        match self {
            Raw::Int(i) => i.to_string(),
            Raw::Str(s) => quote(s),
            Raw::Bool(b) => b.to_string(),
            Raw::Float(f) => format!("{f:?}"),
        }
    }
}

/// Accepts any scalar; a table or an array is refused with what the key expects.
struct RawVisitor(&'static str);

impl<'de> de::Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Raw, A::Error> {
        Err(de::Error::custom(format!("a table is not {}", self.0)))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Raw, A::Error> {
        Err(de::Error::custom(format!("an array is not {}", self.0)))
    }
}

/// A server URL.
#[derive(Clone, Debug)]
pub struct UrlValue(pub ServerUrl);

impl<'de> Deserialize<'de> for UrlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_url(&s).map(UrlValue).map_err(de::Error::custom)
    }
}

/// A size (`10MB` or a number of bytes).
#[derive(Clone, Copy, Debug)]
pub struct SizeValue(pub u64);

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SIZE: &str = "a size (examples: \"500k\", \"10MB\", 2048)";
        checked(d, SIZE, |raw| match raw {
            Raw::Int(i) if i >= 0 => u64::try_from(i)
                .map_err(|e| e.to_string())
                .and_then(check_size)
                .map_err(|e| format!("{i}: {e}")),
            Raw::Str(s) => parse_size(&s),
            other => Err(format!("{} is not {SIZE}", other.describe())),
        })
        .map(|c| SizeValue(c.0))
    }
}

/// A duration (`30` seconds, or `30s`, `5m`).
#[derive(Clone, Copy, Debug)]
pub struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const DURATION: &str = "a duration (examples: 30, \"30s\", \"5m\")";
        checked(d, DURATION, |raw| match raw {
            Raw::Int(i) if i > 0 => u64::try_from(i)
                .map(Duration::from_secs)
                .map_err(|e| e.to_string())
                .and_then(check_duration)
                .map_err(|e| format!("{i} seconds: {e}")),
            Raw::Str(s) => match humantime::parse_duration(&s) {
                Ok(d) if !d.is_zero() => {
                    check_duration(d).map_err(|e| format!("{}: {e}", quote(&s)))
                }
                _ => Err(format!("{} is not {DURATION}", quote(&s))),
            },
            other => Err(format!("{} is not {DURATION}", other.describe())),
        })
        .map(|c| DurationValue(c.0))
    }
}

/// A certificate fingerprint.
#[derive(Clone, Copy, Debug)]
pub struct FingerprintValue(pub [u8; 32]);

impl<'de> Deserialize<'de> for FingerprintValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_fingerprint(&s)
            .map(FingerprintValue)
            .map_err(de::Error::custom)
    }
}

/// An authentication method.
#[derive(Clone, Copy, Debug)]
pub struct AuthValue(pub Auth);

impl<'de> Deserialize<'de> for AuthValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "auto" => Ok(AuthValue(Auth::Auto)),
            "user" | "login" => Ok(AuthValue(Auth::User)),
            "plain" => Ok(AuthValue(Auth::Plain)),
            "apop" => Ok(AuthValue(Auth::Apop)),
            "xoauth2" => Ok(AuthValue(Auth::XOAuth2)),
            "oauthbearer" => Ok(AuthValue(Auth::OAuthBearer)),
            other => Err(de::Error::custom(format!(
                "{other:?} is not an authentication method (auto, user, login, plain, apop, \
                 xoauth2, oauthbearer)"
            ))),
        }
    }
}

/// `deliver = { maildir = "…" }`, `{ mbox = "…" }`, `{ mda = "…" }` or `{ stdout = true }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum DeliverValue {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Mda(String),
    Stdout(bool),
}

/// The keys of `[defaults]` and `[account.NAME]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    /// `pop3s://USER@HOST[:PORT]` or `pop3://USER@HOST[:PORT]` (accounts only).
    pub url: Option<toml::Spanned<UrlValue>>,
    /// The password itself; the file must then not be readable by group or others.
    pub password: Option<String>,
    pub password_command: Option<String>,
    pub auth: Option<AuthValue>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_fingerprint: Option<FingerprintValue>,
    pub insecure_no_tls: Option<bool>,
    pub timeout: Option<DurationValue>,
    pub keep: Option<bool>,
    pub delete_after_days: Option<u32>,
    pub skip_larger_than: Option<SizeValue>,
    pub delete_larger_than: Option<SizeValue>,
    pub max_messages: Option<usize>,
    pub deliver: Option<DeliverValue>,
    pub mda_timeout: Option<DurationValue>,
    /// Command run on the headers of each new message: exit 0 fetch, 1 delete, 2 leave.
    pub filter: Option<String>,
    pub filter_timeout: Option<DurationValue>,
    /// IMAP folders or LIST patterns.
    pub folders: Option<Vec<String>>,
    /// IMAP: set \Seen on fetched messages.
    pub mark_seen: Option<bool>,
    /// `mailpull watch`: the poll interval.
    pub poll_interval: Option<DurationValue>,
    /// Read receipts: `"ask"` (default) or `"never"`.
    pub receipts: Option<crate::receipts::ReceiptPolicy>,
    /// How this account sends read receipts (replaces the `[receipts]` table).
    pub receipts_transport: Option<crate::receipts::TransportConfig>,
}

impl AccountFile {
    /// `self` with unset keys taken from `defaults`.
    fn or(self, d: &AccountFile) -> AccountFile {
        AccountFile {
            url: self.url,
            password: self.password.or_else(|| d.password.clone()),
            password_command: self.password_command.or_else(|| d.password_command.clone()),
            auth: self.auth.or(d.auth),
            tls_ca_file: self.tls_ca_file.or_else(|| d.tls_ca_file.clone()),
            tls_fingerprint: self.tls_fingerprint.or(d.tls_fingerprint),
            insecure_no_tls: self.insecure_no_tls.or(d.insecure_no_tls),
            timeout: self.timeout.or(d.timeout),
            keep: self.keep.or(d.keep),
            delete_after_days: self.delete_after_days.or(d.delete_after_days),
            skip_larger_than: self.skip_larger_than.or(d.skip_larger_than),
            delete_larger_than: self.delete_larger_than.or(d.delete_larger_than),
            max_messages: self.max_messages.or(d.max_messages),
            deliver: self.deliver.or_else(|| d.deliver.clone()),
            mda_timeout: self.mda_timeout.or(d.mda_timeout),
            filter: self.filter.or_else(|| d.filter.clone()),
            filter_timeout: self.filter_timeout.or(d.filter_timeout),
            folders: self.folders.or_else(|| d.folders.clone()),
            mark_seen: self.mark_seen.or(d.mark_seen),
            poll_interval: self.poll_interval.or(d.poll_interval),
            receipts: self.receipts.or(d.receipts),
            receipts_transport: self
                .receipts_transport
                .or_else(|| d.receipts_transport.clone()),
        }
    }
}

/// The configuration file's contents.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub defaults: AccountFile,
    #[serde(default)]
    pub account: BTreeMap<String, AccountFile>,
    /// How read receipts are sent (see `receipts`).
    pub receipts: Option<crate::receipts::TransportConfig>,
}

/// A loaded configuration file.
#[derive(Clone, Debug, Default)]
pub struct ConfigFile {
    /// Where it was read from (`None`: no file).
    pub path: Option<PathBuf>,
    pub config: FileConfig,
    source: String,
}

impl ConfigFile {
    /// The 1-based line of a byte offset, for messages.
    fn line_of(&self, offset: usize) -> usize {
        line_of(&self.source, offset)
    }

    /// The line of the key at `path` (e.g. `["account", "work"]`: the `[account.work]`
    /// header), if the file has it.
    fn key_line(&self, path: &[&str]) -> Option<usize> {
        let root = toml::de::DeTable::parse(&self.source).ok()?;
        let mut table = root.get_ref();
        let mut span = None;
        for (i, name) in path.iter().enumerate() {
            let (key, value) = table.iter().find(|(k, _)| k.get_ref() == name)?;
            span = Some(key.span());
            if i + 1 < path.len() {
                match value.get_ref() {
                    toml::de::DeValue::Table(t) => table = t,
                    _ => return None,
                }
            }
        }
        span.map(|s| self.line_of(s.start))
    }

    /// `error in FILE, line N` for the key at `path`, or `error in FILE`.
    fn error_at(&self, path: &[&str]) -> String {
        match self.key_line(path) {
            Some(line) => format!("error in {}, line {line}", self.where_()),
            None => format!("error in {}", self.where_()),
        }
    }

    fn where_(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the configuration".into())
    }
}

/// Reads the configuration: `explicit` (from `--config`/`MAILPULL_CONFIG`) must exist; the
/// default file may be absent.
pub fn load(explicit: Option<&Path>) -> Result<ConfigFile, ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (expand_tilde(p), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok(ConfigFile::default()),
        },
    };
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(ConfigFile::default())
        }
        Err(e) => {
            return Err(ConfigError::Invalid(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            )))
        }
    };
    parse_file(&path, source)
}

/// The 1-based line of a byte offset of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The key a value at `offset` belongs to: what precedes the `=` on its line (`timeout` in
/// `timeout = [1]`), if the offset is after one.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset.min(text.len()))?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with(['[', '#'])).then_some(key)
}

/// A TOML error as `error in FILE, line N: KEY: what is wrong` (never quoting the line
/// itself, which might hold a password).
fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim_end();
    ConfigError::Invalid(match e.span() {
        Some(span) => {
            let line = line_of(source, span.start);
            match key_before(source, span.start) {
                Some(key) => format!("error in {}, line {line}: {key}: {message}", path.display()),
                None => format!("error in {}, line {line}: {message}", path.display()),
            }
        }
        None => format!("error in {}: {message}", path.display()),
    })
}

/// Parses and checks a configuration file's text.
pub fn parse_file(path: &Path, source: String) -> Result<ConfigFile, ConfigError> {
    let config: FileConfig = toml::from_str(&source).map_err(|e| toml_error(path, &source, &e))?;
    let file = ConfigFile {
        path: Some(path.to_path_buf()),
        config,
        source,
    };
    if let Some(url) = &file.config.defaults.url {
        return Err(ConfigError::Invalid(format!(
            "error in {}, line {}: key `url` belongs in an [account.NAME] table, not in [defaults]",
            path.display(),
            file.line_of(url.span().start)
        )));
    }
    for (name, acc) in &file.config.account {
        if acc.url.is_none() {
            return Err(ConfigError::Invalid(format!(
                "{}: [account.{name}] has no `url` (e.g. url = \"pop3s://alice@mail.example.org\")",
                file.error_at(&["account", name])
            )));
        }
        if name.contains("://") || name.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "{}: {} is not a usable account name",
                file.error_at(&["account", name]),
                quote(name)
            )));
        }
    }
    let password_at = if file.config.defaults.password.is_some() {
        Some(vec!["defaults", "password"])
    } else {
        file.config
            .account
            .iter()
            .find(|(_, a)| a.password.is_some())
            .map(|(name, _)| vec!["account", name.as_str(), "password"])
    };
    if let Some(key) = password_at {
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(ConfigError::Invalid(format!(
                "{}: the file holds a password and is readable by other users (mode {:o}); \
                 run `chmod 600 {}` (or use password_command instead)",
                file.error_at(&key),
                mode & 0o777,
                path.display()
            )));
        }
    }
    shared::check_file(&file)?;
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// Merging file and flags.

/// Overrides from the command line, shared by `fetch` and `check`.
#[derive(Debug, Default)]
pub struct Overrides<'a> {
    pub server: Option<&'a ServerArgs>,
    pub deliver: Option<&'a DeliverArgs>,
    pub keep: Option<bool>,
    pub skip_larger_than: Option<&'a str>,
    pub delete_larger_than: Option<&'a str>,
    pub max_messages: Option<usize>,
    pub mda_timeout: Option<u64>,
    pub mark_seen: bool,
    /// `--filter CMD` (an empty command turns a configured filter off).
    pub filter: Option<&'a str>,
}

/// Resolves command-line targets (account names or URLs; none = every account) into accounts.
pub fn accounts(
    file: &ConfigFile,
    targets: &[String],
    ov: &Overrides<'_>,
    password_env: Option<String>,
) -> Result<Vec<Account>, ConfigError> {
    let mut out = Vec::new();
    if targets.is_empty() {
        if file.config.account.is_empty() {
            return Err(ConfigError::Invalid(match &file.path {
                Some(p) => format!(
                    "{} defines no accounts; add an [account.NAME] table or give a server URL",
                    p.display()
                ),
                None => format!(
                    "no accounts configured: give a server URL (mailpull fetch pop3s://USER@HOST) \
                     or create {}",
                    default_config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "a configuration file".into())
                ),
            }));
        }
        for (name, acc) in &file.config.account {
            out.push(build(
                file,
                Some(name),
                acc.clone(),
                None,
                ov,
                password_env.clone(),
            )?);
        }
        let names: Vec<String> = out.iter().map(|a| format!("account {}", a.label)).collect();
        shared::check_targets(&out, &names)?;
        return Ok(out);
    }
    // How the user named each account, for messages; URLs given twice are fetched once.
    let mut named: Vec<String> = Vec::new();
    let mut urls: Vec<ServerUrl> = Vec::new();
    for t in targets {
        if t.contains("://") {
            let url = parse_url(t)?;
            if urls.contains(&url) {
                continue;
            }
            urls.push(url.clone());
            named.push(redact_url_password(t));
            out.push(build(
                file,
                None,
                AccountFile::default(),
                Some(url),
                ov,
                password_env.clone(),
            )?);
        } else {
            let Some(acc) = file.config.account.get(t) else {
                let known: Vec<&str> = file.config.account.keys().map(String::as_str).collect();
                let accounts = if known.is_empty() {
                    "no accounts are configured".to_string()
                } else {
                    format!("accounts in {}: {}", file.where_(), known.join(", "))
                };
                return Err(ConfigError::Usage(format!(
                    "{t:?} is neither a server URL nor a configured account ({accounts}); server \
                     URLs look like pop3s://USER@HOST[:PORT] or pop3://USER@HOST[:PORT]"
                )));
            };
            if out.iter().any(|a: &Account| a.name.as_deref() == Some(t)) {
                continue;
            }
            named.push(format!("account {t}"));
            out.push(build(
                file,
                Some(t),
                acc.clone(),
                None,
                ov,
                password_env.clone(),
            )?);
        }
    }
    shared::check_targets(&out, &named)?;
    Ok(out)
}

fn build(
    file: &ConfigFile,
    name: Option<&str>,
    acc: AccountFile,
    url: Option<ServerUrl>,
    ov: &Overrides<'_>,
    password_env: Option<String>,
) -> Result<Account, ConfigError> {
    let acc = acc.or(&file.config.defaults);
    let url = match url {
        Some(u) => u,
        None => match acc.url.as_ref() {
            Some(u) => u.get_ref().0.clone(),
            // Refused when the file is loaded; this keeps a hand-made ConfigFile honest.
            None => {
                return Err(ConfigError::Invalid(format!(
                    "account {}: no `url`",
                    name.unwrap_or("?")
                )))
            }
        },
    };
    let server_args = ov.server;
    let where_ = |what: &str| match name {
        Some(n) => format!("account {n}: {what}"),
        None => what.to_string(),
    };
    let insecure =
        server_args.is_some_and(|s| s.insecure_no_tls) || acc.insecure_no_tls == Some(true);
    let security = match (url.implicit_tls, insecure) {
        (true, false) => Security::Implicit,
        (false, false) => Security::StartTls,
        (false, true) => Security::None,
        (true, true) => {
            return Err(ConfigError::Usage(where_(
                "--insecure-no-tls only applies to pop3:// URLs; pop3s:// always uses TLS",
            )))
        }
    };
    let ca_file = server_args
        .and_then(|s| s.tls_ca_file.clone())
        .or(acc.tls_ca_file.clone())
        .map(|p| expand_tilde(&p));
    let fingerprint = match server_args.and_then(|s| s.tls_fingerprint.as_deref()) {
        Some(f) => Some(
            parse_fingerprint(f)
                .map_err(|e| ConfigError::Usage(format!("--tls-fingerprint: {e}")))?,
        ),
        None => acc.tls_fingerprint.map(|f| f.0),
    };
    if security == Security::None && (ca_file.is_some() || fingerprint.is_some()) {
        return Err(ConfigError::Usage(where_(
            "--tls-ca-file and --tls-fingerprint make no sense with --insecure-no-tls",
        )));
    }
    if let Some(p) = &ca_file {
        if !p.is_file() {
            return Err(ConfigError::Usage(where_(&format!(
                "--tls-ca-file: {} is not a readable file",
                p.display()
            ))));
        }
    }
    let timeout = match server_args.and_then(|s| s.timeout) {
        Some(0) => {
            return Err(ConfigError::Usage(
                "--timeout must be at least 1 second".into(),
            ))
        }
        Some(t) => Duration::from_secs(t),
        None => acc.timeout.map(|t| t.0).unwrap_or(Duration::from_secs(60)),
    };
    let flag_command = server_args.and_then(|s| s.password_command.clone());
    if flag_command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(ConfigError::Usage("--password-command is empty".into()));
    }
    let password = if let Some(cmd) = flag_command {
        PasswordSource::Command(cmd)
    } else if let Some(p) = password_env.filter(|p| !p.is_empty()) {
        PasswordSource::Given(p)
    } else if let Some(cmd) = acc
        .password_command
        .clone()
        .filter(|c| !c.trim().is_empty())
    {
        PasswordSource::Command(cmd)
    } else if let Some(p) = acc.password.clone() {
        PasswordSource::Given(p)
    } else {
        PasswordSource::Prompt
    };
    let auth = match server_args.and_then(|s| s.auth) {
        Some(AuthArg::Auto) => Auth::Auto,
        Some(AuthArg::User | AuthArg::Login) => Auth::User,
        Some(AuthArg::Plain) => Auth::Plain,
        Some(AuthArg::Apop) => Auth::Apop,
        Some(AuthArg::Xoauth2) => Auth::XOAuth2,
        Some(AuthArg::Oauthbearer) => Auth::OAuthBearer,
        None => acc.auth.map(|a| a.0).unwrap_or(Auth::Auto),
    };
    match (url.protocol, auth) {
        (Protocol::Imap, Auth::Apop) => return Err(ConfigError::Usage(where_(
            "APOP is a POP3 method; IMAP accounts use auto, login, plain, xoauth2 or oauthbearer",
        ))),
        (Protocol::Pop3, Auth::XOAuth2 | Auth::OAuthBearer) => {
            return Err(ConfigError::Usage(where_(
                "xoauth2 and oauthbearer are supported for IMAP accounts only",
            )))
        }
        _ => {}
    }
    let flag_folders = server_args.map(|s| s.folders.clone()).unwrap_or_default();
    let folders = if flag_folders.is_empty() {
        acc.folders.clone().unwrap_or_default()
    } else {
        flag_folders
    };
    if url.protocol == Protocol::Pop3 && !folders.is_empty() {
        return Err(ConfigError::Usage(where_(
            "folders apply to IMAP accounts only (a POP3 server has one mailbox)",
        )));
    }
    if folders.iter().any(|f| f.trim().is_empty()) {
        return Err(ConfigError::Usage(where_("an empty folder name")));
    }
    let folders = if folders.is_empty() && url.protocol == Protocol::Imap {
        vec!["INBOX".to_string()]
    } else {
        folders
    };
    let mark_seen = ov.mark_seen || acc.mark_seen == Some(true);
    let mda_timeout = match ov.mda_timeout {
        Some(0) => {
            return Err(ConfigError::Usage(
                "--mda-timeout must be at least 1 second".into(),
            ))
        }
        Some(t) => Duration::from_secs(t),
        None => acc
            .mda_timeout
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(300)),
    };
    let target = match ov.deliver {
        Some(DeliverArgs {
            maildir: Some(p), ..
        }) => Target::Maildir(expand_tilde(p)),
        Some(DeliverArgs { mbox: Some(p), .. }) => Target::Mbox(expand_tilde(p)),
        Some(DeliverArgs { mda: Some(c), .. }) => Target::Mda {
            command: c.clone(),
            timeout: mda_timeout,
        },
        Some(DeliverArgs { stdout: true, .. }) => Target::Stdout,
        _ => match &acc.deliver {
            Some(DeliverValue::Maildir(p)) => Target::Maildir(expand_tilde(p)),
            Some(DeliverValue::Mbox(p)) => Target::Mbox(expand_tilde(p)),
            Some(DeliverValue::Mda(c)) if !c.trim().is_empty() => Target::Mda {
                command: c.clone(),
                timeout: mda_timeout,
            },
            Some(DeliverValue::Mda(_)) => {
                return Err(ConfigError::Invalid(where_("deliver.mda is empty")))
            }
            Some(DeliverValue::Stdout(true)) => Target::Stdout,
            Some(DeliverValue::Stdout(false)) | None => {
                Target::Maildir(home().map(|h| h.join("Maildir")).ok_or_else(|| {
                    ConfigError::Invalid("cannot find your home directory; use --maildir".into())
                })?)
            }
        },
    };
    if let Target::Mda { command, .. } = &target {
        if command.trim().is_empty() {
            return Err(ConfigError::Usage("--mda is empty".into()));
        }
    }
    // POP3 users expect delete-after-retrieve, IMAP users a copy on the server.
    let keep = ov
        .keep
        .or(acc.keep)
        .unwrap_or(url.protocol == Protocol::Imap);
    let size = |flag: Option<&str>,
                name: &str,
                file: Option<SizeValue>|
     -> Result<Option<u64>, ConfigError> {
        match flag {
            Some(s) => parse_size(s)
                .map(Some)
                .map_err(|e| ConfigError::Usage(format!("--{name}: {e}"))),
            None => Ok(file.map(|s| s.0)),
        }
    };
    let skip_larger_than = size(
        ov.skip_larger_than,
        "skip-larger-than",
        acc.skip_larger_than,
    )?;
    let delete_larger_than = size(
        ov.delete_larger_than,
        "delete-larger-than",
        acc.delete_larger_than,
    )?;
    let filter = match (ov.filter, acc.filter.as_deref()) {
        // `--filter ''` turns a configured filter off for this run.
        (Some(""), _) | (None, None) => None,
        (Some(c), _) | (None, Some(c)) if c.trim().is_empty() => {
            return Err(ConfigError::Invalid(where_("filter is empty")))
        }
        (Some(c), _) | (None, Some(c)) => Some(Filter {
            command: c.to_string(),
            timeout: match acc.filter_timeout.map(|d| d.0) {
                Some(t) if t.is_zero() => {
                    return Err(ConfigError::Invalid(where_(
                        "filter_timeout must be more than 0 seconds",
                    )))
                }
                Some(t) => t,
                None => Duration::from_secs(60),
            },
        }),
    };
    let max_messages = ov.max_messages.or(acc.max_messages);
    if max_messages == Some(0) {
        return Err(ConfigError::Usage(where_(
            "max_messages must be at least 1",
        )));
    }
    let delete_after = match acc.delete_after_days {
        Some(0) => {
            return Err(ConfigError::Invalid(where_(
                "delete_after_days must be at least 1",
            )))
        }
        Some(d) => Some(Duration::from_secs(u64::from(d) * 86_400)),
        None => None,
    };
    let default_port = match (url.protocol, url.implicit_tls) {
        (Protocol::Pop3, true) => 995,
        (Protocol::Pop3, false) => 110,
        (Protocol::Imap, true) => 993,
        (Protocol::Imap, false) => 143,
    };
    let server = if url.port == default_port {
        format!("{}@{}", url.user, url.host)
    } else {
        format!("{}@{}:{}", url.user, url.host, url.port)
    };
    let receipts = crate::receipts::ReceiptSettings {
        policy: acc.receipts.unwrap_or_default(),
        transport: acc
            .receipts_transport
            .clone()
            .or_else(|| file.config.receipts.clone()),
    };
    if let Some(t) = &receipts.transport {
        crate::receipts::transport::Transport::from_config(t)
            .map_err(|e| ConfigError::Invalid(where_(&e)))?;
        if let Some(from) = &t.from {
            crate::receipts::check_address(from).map_err(|e| {
                ConfigError::Invalid(where_(&format!("receipts from {from:?}: {e}")))
            })?;
        }
    }
    Ok(Account {
        name: name.map(str::to_string),
        label: name.map(str::to_string).unwrap_or_else(|| server.clone()),
        server,
        protocol: url.protocol,
        security,
        host: url.host,
        port: url.port,
        user: url.user,
        auth,
        password,
        folders,
        mark_seen,
        tls: TlsOptions {
            ca_file,
            fingerprint,
        },
        timeout,
        keep,
        delete_after,
        skip_larger_than,
        delete_larger_than,
        max_messages,
        filter,
        target,
        poll_interval: acc.poll_interval.map(|d| d.0),
        receipts,
    })
}

/// The run options from the global flags.
pub fn options(
    verbose: u8,
    quiet: bool,
    ledger: Option<&Path>,
    lock_wait: u64,
    jobs: Option<usize>,
    json: bool,
) -> Result<Options, ConfigError> {
    let ledger = match ledger {
        Some(p) => expand_tilde(p),
        None => default_ledger()?,
    };
    let verbosity = match (quiet, verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, 1) => Verbosity::Verbose,
        (false, _) => Verbosity::Trace,
    };
    if jobs == Some(0) {
        return Err(ConfigError::Usage("--jobs must be at least 1".into()));
    }
    Ok(Options {
        ledger,
        verbosity,
        lock_wait: Duration::from_secs(lock_wait),
        jobs: jobs.unwrap_or(4),
        json,
        pick: false,
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
