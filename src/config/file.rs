//! The configuration file: `[defaults]`, `[account.NAME]` and `[receipts]` tables, read and
//! checked as a whole (unknown keys, missing URLs, a password in a file others can read), with
//! every error naming the file and the line.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::keys::{AuthValue, DeliverValue, DurationValue, FingerprintValue, SizeValue, UrlValue};
use super::values::{default_config_path, expand_tilde, quote};
use super::{shared, ConfigError};
use crate::receipts::settings::{ReceiptPolicy, TransportConfig};

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
    pub receipts: Option<ReceiptPolicy>,
    /// How this account sends read receipts (replaces the `[receipts]` table).
    pub receipts_transport: Option<TransportConfig>,
    /// OAuth 2 token handling (see `config::oauth`).
    pub oauth2: Option<crate::oauth::OAuthConfig>,
}

impl AccountFile {
    /// `self` with unset keys taken from `defaults`.
    pub(super) fn or(self, d: &AccountFile) -> AccountFile {
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
            oauth2: super::oauth::merge(self.oauth2, &d.oauth2),
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
    pub receipts: Option<TransportConfig>,
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
    pub(super) fn line_of(&self, offset: usize) -> usize {
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
    pub(super) fn error_at(&self, path: &[&str]) -> String {
        match self.key_line(path) {
            Some(line) => format!("error in {}, line {line}", self.where_()),
            None => format!("error in {}", self.where_()),
        }
    }

    pub(super) fn where_(&self) -> String {
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
    // A secret in the file (a password, an OAuth 2 client secret): only its owner may read it.
    let has_client_secret =
        |a: &AccountFile| a.oauth2.as_ref().is_some_and(|o| o.client_secret.is_some());
    let secret_at = if file.config.defaults.password.is_some() {
        Some((
            vec!["defaults", "password"],
            "a password",
            "password_command",
        ))
    } else if has_client_secret(&file.config.defaults) {
        Some((
            vec!["defaults", "oauth2", "client_secret"],
            "an OAuth 2 client secret",
            "client_secret_command",
        ))
    } else {
        file.config.account.iter().find_map(|(name, a)| {
            if a.password.is_some() {
                Some((
                    vec!["account", name.as_str(), "password"],
                    "a password",
                    "password_command",
                ))
            } else if has_client_secret(a) {
                Some((
                    vec!["account", name.as_str(), "oauth2", "client_secret"],
                    "an OAuth 2 client secret",
                    "client_secret_command",
                ))
            } else {
                None
            }
        })
    };
    if let Some((key, what, command)) = secret_at {
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(ConfigError::Invalid(format!(
                "{}: the file holds {what} and is readable by other users (mode {:o}); \
                 run `chmod 600 {}` (or use {command} instead)",
                file.error_at(&key),
                mode & 0o777,
                path.display()
            )));
        }
    }
    shared::check_file(&file)?;
    Ok(file)
}
