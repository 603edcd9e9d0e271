//! Running a command: turns a validated configuration into work. It resolves the password,
//! takes the per-account lock, opens the ledger and the delivery target, recovers from an
//! interrupted run, connects and logs in (once), and hands over to the engine.

use std::fs::{File, TryLockError};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::cli::{Cli, Command as CliCommand};
use crate::config::{
    self, Account, ConfigError, Options, PasswordSource, Security, Target, Verbosity,
};
use crate::deliver::maildir::Maildir;
use crate::deliver::Deliver;
use crate::engine::{self, EngineError, FetchSettings, Summary};
use crate::exit::{exit_for, Exit};
use crate::ledger::{AccountKey, Ledger};
use crate::pop3::Session;
use crate::source::SourceError;
use crate::tls::{self, Conn, Tls};
use crate::ui;

/// Runs the parsed command line and returns the exit status. Errors are reported on stderr.
pub fn main(cli: Cli) -> Exit {
    let result = match &cli.command {
        CliCommand::Fetch(args) => config::options(&cli, args.lock_wait).and_then(|opts| {
            let account = config::from_fetch_args(args, std::env::var("MAILPULL_PASSWORD").ok())?;
            Ok((opts, account))
        }),
    };
    let (opts, account) = match result {
        Ok(v) => v,
        Err(e) => {
            let e = anyhow::Error::new(e);
            report_error(&e);
            return exit_for(&e);
        }
    };
    ui::init_logging(opts.verbosity);
    let (summary, result) = fetch_account(&account, &opts);
    let show_summary = match opts.verbosity {
        Verbosity::Quiet => false,
        Verbosity::Normal => ui::stderr_is_terminal(),
        Verbosity::Verbose | Verbosity::Trace => true,
    };
    if let Some(summary) = &summary {
        if show_summary {
            eprintln!("{}", ui::summary_line(summary, &account.label));
        }
    }
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => {
            report_error(&e);
            exit_for(&e)
        }
    }
}

/// Prints an error and its causes on stderr.
pub fn report_error(e: &anyhow::Error) {
    let mut msg = format!("mailpull: error: {e}");
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(&format!("\n  caused by: {c}"));
        }
    }
    eprintln!("{msg}");
}

/// Fetches one account. Returns the summary (when the fetch got as far as the server) and the
/// error, if any. Even a failed fetch may have delivered messages.
pub fn fetch_account(account: &Account, opts: &Options) -> (Option<Summary>, anyhow::Result<()>) {
    let mut summary = None;
    let r = fetch_inner(account, opts, &mut summary);
    (summary, r)
}

fn fetch_inner(
    account: &Account,
    opts: &Options,
    summary_out: &mut Option<Summary>,
) -> anyhow::Result<()> {
    // Everything that can be checked locally is checked before connecting.
    let tls = match account.security {
        Security::None => None,
        _ => Some(Tls::new(&account.tls).map_err(|e| ConfigError::Usage(e.0))?),
    };
    let password = resolve_password(&account.password, &account.label)?;
    let key = account.key();
    let _lock = lock_account(&opts.ledger, &key, opts.lock_wait)?;
    let mut ledger = Ledger::open(&opts.ledger)?;
    let mut target: Box<dyn Deliver> = match &account.target {
        Target::Maildir(path) => Box::new(Maildir::open(path)?),
    };
    let account_id = ledger.account_id(&key)?;
    let recovered = engine::recover(&mut ledger, account_id, target.as_mut())?;

    let mut session = connect(account, tls.as_ref(), &password)
        .with_context(|| format!("fetching mail for {}", account.label))?;
    let mut bar = ui::Bar::new(opts.verbosity, &account.label);
    let outcome = engine::fetch(
        &mut session,
        &mut ledger,
        account_id,
        target.as_mut(),
        FetchSettings { keep: account.keep },
        &mut bar,
    );
    let mut summary = outcome.summary;
    summary.recovered = recovered;
    *summary_out = Some(summary);
    match outcome.error {
        None => Ok(()),
        Some(e) => {
            Err(anyhow::Error::new(e).context(format!("fetching mail for {}", account.label)))
        }
    }
}

/// Connects, secures the connection and logs in: the one login of the run.
fn connect(
    account: &Account,
    tls: Option<&Tls>,
    password: &str,
) -> Result<Session<Conn>, SourceError> {
    let host = account.host.as_str();
    log::debug!("connecting to {host} port {}", account.port);
    let tcp = tls::connect_tcp(host, account.port, account.timeout)?;
    let mut session = match (account.security, tls) {
        (Security::Implicit, Some(tls)) => {
            let conn = tls.handshake(host, tcp)?;
            let mut s = Session::start(conn)?;
            s.capa()?;
            s
        }
        (Security::StartTls, Some(tls)) => {
            let mut s = Session::start(Conn::Plain(tcp))?;
            s.capa()?;
            s.stls(|conn| match conn {
                Conn::Plain(tcp) => tls.handshake(host, tcp),
                tls @ Conn::Tls(_) => Ok(tls),
            })?
        }
        _ => {
            log::warn!(
                "talking to {host} without TLS (--insecure-no-tls): the password is sent in clear"
            );
            let mut s = Session::start(Conn::Plain(tcp))?;
            s.capa()?;
            s
        }
    };
    session.login(&account.user, password, account.auth)?;
    Ok(session)
}

/// Gets the password from its source.
fn resolve_password(source: &PasswordSource, label: &str) -> Result<String, ConfigError> {
    match source {
        PasswordSource::Given(p) => Ok(p.clone()),
        PasswordSource::Command(cmd) => run_password_command(cmd),
        PasswordSource::Prompt => {
            if !std::io::stdin().is_terminal() {
                return Err(ConfigError::Invalid(format!(
                    "no password for {label}: set MAILPULL_PASSWORD or use --password-command \
                     (there is no terminal to ask on)"
                )));
            }
            dialoguer::Password::new()
                .with_prompt(format!("Password for {label}"))
                .interact()
                .map_err(|e| ConfigError::Invalid(format!("could not read the password: {e}")))
        }
    }
}

fn run_password_command(cmd: &str) -> Result<String, ConfigError> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| ConfigError::Invalid(format!("cannot run the password command: {e}")))?;
    if !out.status.success() {
        return Err(ConfigError::Invalid(format!(
            "the password command `{cmd}` failed ({})",
            out.status
        )));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| {
        ConfigError::Invalid(format!(
            "the password command `{cmd}` printed something that is not UTF-8"
        ))
    })?;
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "the password command `{cmd}` printed no password (its first line is empty)"
        )));
    }
    Ok(first)
}

/// The lock file of an account: beside the ledger, so that every run sharing a ledger
/// excludes the others for the same account.
pub fn lock_path(ledger: &Path, key: &AccountKey) -> PathBuf {
    let dir = ledger
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("locks");
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let digest = Sha256::digest(format!(
        "{}\0{}\0{}\0{}",
        key.protocol, key.host, key.port, key.user
    ));
    dir.join(format!(
        "{}-{}@{}-{}-{}.lock",
        key.protocol,
        clean(&key.user),
        clean(&key.host),
        key.port,
        &hex::encode(digest)[..8]
    ))
}

/// Takes the account's lock, waiting up to `wait` for another run to finish.
fn lock_account(ledger: &Path, key: &AccountKey, wait: Duration) -> anyhow::Result<File> {
    let path = lock_path(ledger, key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the lock directory {}", dir.display()))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    return Err(EngineError::Busy(format!(
                        "another mailpull is fetching {}@{} (lock {}); gave up after {} s — \
                         try again later",
                        key.user,
                        key.host,
                        path.display(),
                        wait.as_secs()
                    ))
                    .into());
                }
                if !announced {
                    log::info!(
                        "waiting for another mailpull fetching {}@{}",
                        key.user,
                        key.host
                    );
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::Error(e)) => {
                return Err(anyhow::Error::new(e).context(format!("cannot lock {}", path.display())))
            }
        }
    }
}
