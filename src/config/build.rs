//! File + command line → [`Account`]: the command line's [`Overrides`] (plain values, filled in
//! by `cli`) win over the account's keys, which win over `[defaults]`. Each setting is one
//! named step below, checked where it is decided, with errors naming the account.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{AccountFile, ConfigFile};
use super::keys::{DeliverValue, SizeValue};
use super::url::{parse_url, redact_url_password, ServerUrl};
use super::values::{default_config_path, default_ledger, expand_tilde, home, parse_size};
use super::{
    shared, Account, Auth, ConfigError, Filter, Options, PasswordSource, Protocol, Security,
    Target, Verbosity,
};
use crate::receipts::settings::{check_address, ReceiptSettings};
use crate::receipts::transport::Transport;
use crate::tls::{parse_fingerprint, TlsOptions};

/// How to reach and log in to the server, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct ServerOverrides {
    pub password_command: Option<String>,
    /// IMAP folders or LIST patterns (none: the configuration's).
    pub folders: Vec<String>,
    pub auth: Option<Auth>,
    pub tls_ca_file: Option<PathBuf>,
    /// `sha256:HEX`, checked here.
    pub tls_fingerprint: Option<String>,
    pub insecure_no_tls: bool,
    /// Seconds (0 is refused).
    pub timeout: Option<u64>,
}

/// Where messages go, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetOverride {
    Maildir(PathBuf),
    Mbox(PathBuf),
    Mda(String),
    Stdout,
}

/// Overrides from the command line, shared by `fetch`, `check`, `list` and `watch`.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub server: ServerOverrides,
    pub target: Option<TargetOverride>,
    pub keep: Option<bool>,
    pub skip_larger_than: Option<String>,
    pub delete_larger_than: Option<String>,
    pub max_messages: Option<usize>,
    /// Seconds (0 is refused).
    pub mda_timeout: Option<u64>,
    pub mark_seen: bool,
    /// `--filter CMD` (an empty command turns a configured filter off).
    pub filter: Option<String>,
}

/// Resolves command-line targets (account names or URLs; none = every account) into accounts.
pub fn accounts(
    file: &ConfigFile,
    targets: &[String],
    ov: &Overrides,
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

/// One account's settings being decided: its file keys (defaults filled in), the command
/// line's overrides, and how to name it in errors.
struct Step<'a> {
    name: Option<&'a str>,
    acc: AccountFile,
    ov: &'a Overrides,
}

impl Step<'_> {
    /// `account NAME: what`, or just `what` for a URL given on the command line.
    fn where_(&self, what: &str) -> String {
        match self.name {
            Some(n) => format!("account {n}: {what}"),
            None => what.to_string(),
        }
    }

    fn usage(&self, what: &str) -> ConfigError {
        ConfigError::Usage(self.where_(what))
    }

    fn invalid(&self, what: &str) -> ConfigError {
        ConfigError::Invalid(self.where_(what))
    }
}

/// Builds one account from its file keys (`url` overriding the file's, for URLs given on the
/// command line), the defaults and the overrides.
fn build(
    file: &ConfigFile,
    name: Option<&str>,
    acc: AccountFile,
    url: Option<ServerUrl>,
    ov: &Overrides,
    password_env: Option<String>,
) -> Result<Account, ConfigError> {
    let step = Step {
        name,
        acc: acc.or(&file.config.defaults),
        ov,
    };
    let url = server_url(&step, url)?;
    let security = security(&step, &url)?;
    let tls = tls_options(&step, security)?;
    let timeout = timeout(&step)?;
    let flag_or_env = ov.server.password_command.is_some()
        || password_env.as_deref().is_some_and(|p| !p.is_empty());
    let mut password = password_source(&step, password_env)?;
    let mut auth = auth(&step, url.protocol)?;
    let oauth2 = super::oauth::settings(step.acc.oauth2.as_ref()).map_err(|e| step.invalid(&e))?;
    if oauth2.is_some() {
        let given = ov.server.auth.is_some() || step.acc.auth.is_some();
        auth = super::oauth::auth(auth, given).map_err(|e| step.usage(&e))?;
        password = super::oauth::password(password, flag_or_env);
    }
    let folders = folders(&step, url.protocol)?;
    let target = target(&step)?;
    // POP3 users expect delete-after-retrieve, IMAP users a copy on the server.
    let keep = ov
        .keep
        .or(step.acc.keep)
        .unwrap_or(url.protocol == Protocol::Imap);
    let skip_larger_than = size(
        ov.skip_larger_than.as_deref(),
        "skip-larger-than",
        step.acc.skip_larger_than,
    )?;
    let delete_larger_than = size(
        ov.delete_larger_than.as_deref(),
        "delete-larger-than",
        step.acc.delete_larger_than,
    )?;
    let filter = filter(&step)?;
    let max_messages = max_messages(&step)?;
    let delete_after = delete_after(&step)?;
    let mut receipts = receipts(&step, file)?;
    let server = server_label(&url);
    receipts.oauth2 = super::oauth::receipts(&oauth2, name.unwrap_or(&server));
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
        mark_seen: ov.mark_seen || step.acc.mark_seen == Some(true),
        tls,
        timeout,
        keep,
        delete_after,
        skip_larger_than,
        delete_larger_than,
        max_messages,
        filter,
        target,
        poll_interval: step.acc.poll_interval.map(|d| d.0),
        receipts,
        oauth2,
    })
}

/// The URL given on the command line, else the account's `url` key.
fn server_url(step: &Step<'_>, url: Option<ServerUrl>) -> Result<ServerUrl, ConfigError> {
    match url {
        Some(u) => Ok(u),
        None => match step.acc.url.as_ref() {
            Some(u) => Ok(u.get_ref().0.clone()),
            // Refused when the file is loaded; this keeps a hand-made ConfigFile honest.
            None => Err(ConfigError::Invalid(format!(
                "account {}: no `url`",
                step.name.unwrap_or("?")
            ))),
        },
    }
}

/// Implicit TLS, STLS/STARTTLS, or (`--insecure-no-tls`, plain URLs only) none.
fn security(step: &Step<'_>, url: &ServerUrl) -> Result<Security, ConfigError> {
    let insecure = step.ov.server.insecure_no_tls || step.acc.insecure_no_tls == Some(true);
    match (url.implicit_tls, insecure) {
        (true, false) => Ok(Security::Implicit),
        (false, false) => Ok(Security::StartTls),
        (false, true) => Ok(Security::None),
        (true, true) => Err(step.usage(
            "--insecure-no-tls only applies to pop3:// and imap:// URLs; pop3s:// and \
                 imaps:// always use TLS",
        )),
    }
}

/// The CA file and the pinned fingerprint, which need TLS.
fn tls_options(step: &Step<'_>, security: Security) -> Result<TlsOptions, ConfigError> {
    let ca_file = step
        .ov
        .server
        .tls_ca_file
        .clone()
        .or(step.acc.tls_ca_file.clone())
        .map(|p| expand_tilde(&p));
    let fingerprint = match step.ov.server.tls_fingerprint.as_deref() {
        Some(f) => Some(
            parse_fingerprint(f)
                .map_err(|e| ConfigError::Usage(format!("--tls-fingerprint: {e}")))?,
        ),
        None => step.acc.tls_fingerprint.map(|f| f.0),
    };
    if security == Security::None && (ca_file.is_some() || fingerprint.is_some()) {
        return Err(
            step.usage("--tls-ca-file and --tls-fingerprint make no sense with --insecure-no-tls")
        );
    }
    if let Some(p) = &ca_file {
        if !p.is_file() {
            return Err(step.usage(&format!(
                "--tls-ca-file: {} is not a readable file",
                p.display()
            )));
        }
    }
    Ok(TlsOptions {
        ca_file,
        fingerprint,
    })
}

/// The connect and per-reply timeout [default: 60 s].
fn timeout(step: &Step<'_>) -> Result<Duration, ConfigError> {
    match step.ov.server.timeout {
        Some(0) => Err(ConfigError::Usage(
            "--timeout must be at least 1 second".into(),
        )),
        Some(t) => Ok(Duration::from_secs(t)),
        None => Ok(step
            .acc
            .timeout
            .map(|t| t.0)
            .unwrap_or(Duration::from_secs(60))),
    }
}

/// `--password-command`, then MAILPULL_PASSWORD, then the file's `password_command`, then its
/// `password`, else a prompt.
fn password_source(
    step: &Step<'_>,
    password_env: Option<String>,
) -> Result<PasswordSource, ConfigError> {
    let flag_command = step.ov.server.password_command.clone();
    if flag_command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(ConfigError::Usage("--password-command is empty".into()));
    }
    Ok(if let Some(cmd) = flag_command {
        PasswordSource::Command(cmd)
    } else if let Some(p) = password_env.filter(|p| !p.is_empty()) {
        PasswordSource::Given(p)
    } else if let Some(cmd) = step
        .acc
        .password_command
        .clone()
        .filter(|c| !c.trim().is_empty())
    {
        PasswordSource::Command(cmd)
    } else if let Some(p) = step.acc.password.clone() {
        PasswordSource::Given(p)
    } else {
        PasswordSource::Prompt
    })
}

/// The authentication method, refused where the protocol has no such method.
fn auth(step: &Step<'_>, protocol: Protocol) -> Result<Auth, ConfigError> {
    let auth = step
        .ov
        .server
        .auth
        .or(step.acc.auth.map(|a| a.0))
        .unwrap_or(Auth::Auto);
    match (protocol, auth) {
        (Protocol::Imap, Auth::Apop) => Err(step.usage(
            "APOP is a POP3 method; IMAP accounts use auto, login, plain, xoauth2 or oauthbearer",
        )),
        _ => Ok(auth),
    }
}

/// IMAP folders (`--folder` wins over the file) [default: INBOX]; none for POP3.
fn folders(step: &Step<'_>, protocol: Protocol) -> Result<Vec<String>, ConfigError> {
    let flag_folders = step.ov.server.folders.clone();
    let folders = if flag_folders.is_empty() {
        step.acc.folders.clone().unwrap_or_default()
    } else {
        flag_folders
    };
    if protocol == Protocol::Pop3 && !folders.is_empty() {
        return Err(
            step.usage("folders apply to IMAP accounts only (a POP3 server has one mailbox)")
        );
    }
    if folders.iter().any(|f| f.trim().is_empty()) {
        return Err(step.usage("an empty folder name"));
    }
    Ok(if folders.is_empty() && protocol == Protocol::Imap {
        vec!["INBOX".to_string()]
    } else {
        folders
    })
}

/// How long an MDA may take per message [default: 300 s].
fn mda_timeout(step: &Step<'_>) -> Result<Duration, ConfigError> {
    match step.ov.mda_timeout {
        Some(0) => Err(ConfigError::Usage(
            "--mda-timeout must be at least 1 second".into(),
        )),
        Some(t) => Ok(Duration::from_secs(t)),
        None => Ok(step
            .acc
            .mda_timeout
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(300))),
    }
}

/// Where messages go: the command line's target, else the file's [default: ~/Maildir].
fn target(step: &Step<'_>) -> Result<Target, ConfigError> {
    let mda_timeout = mda_timeout(step)?;
    let target = match &step.ov.target {
        Some(TargetOverride::Maildir(p)) => Target::Maildir(expand_tilde(p)),
        Some(TargetOverride::Mbox(p)) => Target::Mbox(expand_tilde(p)),
        Some(TargetOverride::Mda(c)) => Target::Mda {
            command: c.clone(),
            timeout: mda_timeout,
        },
        Some(TargetOverride::Stdout) => Target::Stdout,
        None => match &step.acc.deliver {
            Some(DeliverValue::Maildir(p)) => Target::Maildir(expand_tilde(p)),
            Some(DeliverValue::Mbox(p)) => Target::Mbox(expand_tilde(p)),
            Some(DeliverValue::Mda(c)) if !c.trim().is_empty() => Target::Mda {
                command: c.clone(),
                timeout: mda_timeout,
            },
            Some(DeliverValue::Mda(_)) => return Err(step.invalid("deliver.mda is empty")),
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
    Ok(target)
}

/// A size limit: the flag `--NAME` (checked here) wins over the file's value.
fn size(
    flag: Option<&str>,
    name: &str,
    file: Option<SizeValue>,
) -> Result<Option<u64>, ConfigError> {
    match flag {
        Some(s) => parse_size(s)
            .map(Some)
            .map_err(|e| ConfigError::Usage(format!("--{name}: {e}"))),
        None => Ok(file.map(|s| s.0)),
    }
}

/// The `filter` command and its timeout [default: 60 s]; `--filter ''` turns it off.
fn filter(step: &Step<'_>) -> Result<Option<Filter>, ConfigError> {
    let command = match (step.ov.filter.as_deref(), step.acc.filter.as_deref()) {
        (Some(""), _) | (None, None) => return Ok(None),
        (Some(c), _) | (None, Some(c)) => c,
    };
    if command.trim().is_empty() {
        return Err(step.invalid("filter is empty"));
    }
    let timeout = match step.acc.filter_timeout.map(|d| d.0) {
        Some(t) if t.is_zero() => {
            return Err(step.invalid("filter_timeout must be more than 0 seconds"))
        }
        Some(t) => t,
        None => Duration::from_secs(60),
    };
    Ok(Some(Filter {
        command: command.to_string(),
        timeout,
    }))
}

/// How many new messages one run downloads at most.
fn max_messages(step: &Step<'_>) -> Result<Option<usize>, ConfigError> {
    let max = step.ov.max_messages.or(step.acc.max_messages);
    if max == Some(0) {
        return Err(step.usage("max_messages must be at least 1"));
    }
    Ok(max)
}

/// Keep mode: how long after delivery a message is deleted from the server.
fn delete_after(step: &Step<'_>) -> Result<Option<Duration>, ConfigError> {
    match step.acc.delete_after_days {
        Some(0) => Err(step.invalid("delete_after_days must be at least 1")),
        Some(d) => Ok(Some(Duration::from_secs(u64::from(d) * 86_400))),
        None => Ok(None),
    }
}

/// `user@host`, with `:port` when it is not the default for the protocol and TLS mode.
fn server_label(url: &ServerUrl) -> String {
    let default_port = match (url.protocol, url.implicit_tls) {
        (Protocol::Pop3, true) => 995,
        (Protocol::Pop3, false) => 110,
        (Protocol::Imap, true) => 993,
        (Protocol::Imap, false) => 143,
    };
    if url.port == default_port {
        format!("{}@{}", url.user, url.host)
    } else {
        format!("{}@{}:{}", url.user, url.host, url.port)
    }
}

/// The read-receipt policy and transport (the account's, else the file's `[receipts]`),
/// checked now so that a bad transport is a configuration error, not a surprise mid-fetch.
fn receipts(step: &Step<'_>, file: &ConfigFile) -> Result<ReceiptSettings, ConfigError> {
    let receipts = ReceiptSettings {
        policy: step.acc.receipts.unwrap_or_default(),
        transport: step
            .acc
            .receipts_transport
            .clone()
            .or_else(|| file.config.receipts.clone()),
        oauth2: None,
    };
    if let Some(t) = &receipts.transport {
        Transport::from_config(t).map_err(|e| step.invalid(&e))?;
        if let Some(from) = &t.from {
            check_address(from)
                .map_err(|e| step.invalid(&format!("receipts from {from:?}: {e}")))?;
        }
    }
    Ok(receipts)
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
