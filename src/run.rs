//! Running a command: turns the validated configuration into work.
//!
//! For each account it resolves the password (prompts happen one at a time, before any work
//! starts), takes the account's lock, opens the ledger and the delivery target, recovers from
//! an interrupted run, connects and logs in (once), and hands over to the engine. Accounts run
//! in parallel up to `--jobs`; one failing account never stops the others, every failure is
//! named on stderr, and the exit status is the most serious one.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Context;

use crate::account::{password_env, passwords, Session};
use crate::cli::{
    CheckArgs, Cli, Command as CliCommand, ConfigCommand, FetchArgs, ListArgs, WatchArgs,
};
use crate::config::{
    self, Account, ConfigError, Options, Overrides, PasswordSource, Protocol, Security, Target,
    Verbosity,
};
use crate::deliver::DeliverError;
use crate::engine::{CheckSummary, EngineError, StopToken, Summary};
use crate::exit::{Classify, Exit, InternalError};
use crate::ui::{self, JsonIn};
use crate::watch::{self, WatchRequest};

/// Reports panics as what they are — a bug in mailpull — instead of the default message and
/// its backtrace hint: `mailpull: internal error: MESSAGE (at FILE:LINE)`, made terminal-safe
/// (a panic message may quote input), with a request to report it. With `RUST_BACKTRACE` set
/// the backtrace is printed too. The status is decided where the panic is caught (exit 70).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = crate::exit::panic_message(info.payload());
        let message: String = message.chars().take(500).collect();
        let place = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        let mut text = format!(
            "mailpull: internal error: {message}{place}\n  This is a bug in mailpull; please \
             report it, with the command you ran and this message. What was delivered and \
             recorded stays so; the next run picks up from there."
        );
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            text.push_str(&format!("\n{}", std::backtrace::Backtrace::force_capture()));
        }
        eprintln!("{}", ui::safe(&text));
    }));
}

/// Runs `work`, turning a panic (already reported by the hook, see [`install_panic_hook`])
/// into exit 70 (EX_SOFTWARE).
pub fn panic_guard(work: impl FnOnce() -> Exit) -> Exit {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or(Exit::Software)
}

/// Runs the parsed command line and returns the exit status. Errors are reported on stderr.
pub fn main(cli: Cli) -> Exit {
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, 1) => Verbosity::Verbose,
        (false, _) => Verbosity::Trace,
    };
    ui::init_logging(verbosity);
    crate::exit::test_panic("main");
    let result = match &cli.command {
        CliCommand::Fetch(args) => cmd_fetch(&cli, args),
        CliCommand::Check(args) => cmd_check(&cli, args),
        CliCommand::List(args) => cmd_list(&cli, args),
        CliCommand::Watch(args) => cmd_watch(&cli, args),
        CliCommand::Accounts => cmd_accounts(&cli),
        CliCommand::Config(ConfigCommand::Check) => cmd_config_check(&cli),
        CliCommand::Import(args) => crate::import::run(&args.request(&cli)),
        CliCommand::Receipts(args) => crate::receipts::cmd::run(&cli, args),
        CliCommand::Ledger(cmd) => crate::ledger::cmd::run(&cli, cmd),
        CliCommand::Generate { dir } => crate::docs::generate(dir)
            .with_context(|| format!("cannot write the documentation into {}", dir.display()))
            .map(|()| Exit::Ok),
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            report_error(&e);
            exit_for(&e)
        }
    }
}

/// The exit status of any command's error: the first error in the chain that classifies
/// itself wins; anything unknown is a local I/O failure.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(
            |cause| match cause.downcast_ref::<crate::import::ImportError>() {
                Some(e) => Some(e.exit()),
                None => crate::account::classify(cause),
            },
        )
        .unwrap_or(Exit::IoErr)
}

/// Prints an error and its causes on stderr, made terminal-safe (servers' texts are quoted in
/// errors: see [`ui::safe`]).
pub fn report_error(e: &anyhow::Error) {
    eprintln!("{}", ui::safe(&error_text(e)));
}

fn error_text(e: &anyhow::Error) -> String {
    let mut msg = format!("mailpull: error: {e}");
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(&format!("\n  caused by: {c}"));
        }
    }
    msg
}

/// The outcome of one account.
struct AccountResult {
    summary: Option<Summary>,
    check: Option<CheckSummary>,
    error: Option<anyhow::Error>,
    exit: Exit,
}

impl AccountResult {
    fn failed(e: anyhow::Error) -> AccountResult {
        let exit = exit_for(&e);
        AccountResult {
            summary: None,
            check: None,
            error: Some(e),
            exit,
        }
    }
}

/// Whether an error is the reader of `--stdout` going away: a clean stop, not a failure. Only
/// the delivery side counts; a broken pipe towards the server is a lost connection.
fn is_closed_pipe(e: &anyhow::Error) -> bool {
    let closed = |d: &DeliverError| matches!(d, DeliverError::Local { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe);
    e.chain().any(|c| match c.downcast_ref::<EngineError>() {
        Some(EngineError::Deliver(d)) => closed(d),
        _ => c.downcast_ref::<DeliverError>().is_some_and(closed),
    })
}

/// Runs `work` for every account, up to `jobs` at a time, in account order for the results.
fn run_accounts<F>(accounts: &[Account], jobs: usize, work: F) -> Vec<AccountResult>
where
    F: Fn(usize, &Account) -> AccountResult + Sync,
{
    let jobs = jobs.clamp(1, accounts.len().max(1));
    let results: Vec<Mutex<Option<AccountResult>>> =
        accounts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(account) = accounts.get(i) else {
                    break;
                };
                // A panic (a bug, reported by the hook) fails this account only.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(i, account)))
                    .unwrap_or_else(|payload| {
                        AccountResult::failed(
                            anyhow::Error::new(InternalError(crate::exit::panic_message(
                                payload.as_ref(),
                            )))
                            .context(format!("account {}", account.label)),
                        )
                    });
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    AccountResult::failed(anyhow::anyhow!("internal error: account not run"))
                })
        })
        .collect()
}

/// The password resolved for account `i`, or the result that reports why there is none.
fn password_for(
    passwords: &[Result<String, ConfigError>],
    i: usize,
    account: &Account,
) -> Result<String, Box<AccountResult>> {
    passwords[i].clone().map_err(|e| {
        Box::new(AccountResult::failed(
            anyhow::Error::new(e).context(format!("account {}", account.label)),
        ))
    })
}

/// Loads the configuration and resolves the command's targets and run options. Nothing is
/// asked or connected yet.
fn accounts_and_options(
    cli: &Cli,
    targets: &[String],
    ov: &Overrides,
    lock_wait: u64,
    jobs: Option<usize>,
    json: bool,
) -> anyhow::Result<(Vec<Account>, Options)> {
    let file = config::load(cli.config.as_deref())?;
    let accounts = config::accounts(&file, targets, ov, password_env())?;
    let opts = config::options(
        cli.verbose,
        cli.quiet,
        cli.ledger.as_deref(),
        lock_wait,
        jobs,
        json,
    )?;
    Ok((accounts, opts))
}

fn cmd_fetch(cli: &Cli, args: &FetchArgs) -> anyhow::Result<Exit> {
    let ov = args.options.overrides(&args.server, &args.deliver);
    let (accounts, mut opts) = accounts_and_options(
        cli,
        &args.targets,
        &ov,
        args.lock_wait,
        args.jobs,
        args.json,
    )?;
    if accounts.iter().any(|a| a.target == Target::Stdout) {
        if opts.json {
            return Err(ConfigError::Usage(
                "--json cannot be combined with delivery to stdout: both would use stdout".into(),
            )
            .into());
        }
        // One account at a time, so that messages on stdout never interleave.
        opts.jobs = 1;
    }
    if args.pick {
        let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !terminal {
            return Err(ConfigError::Usage(
                "--pick asks on the terminal, but stdin or stderr is not one; use a filter \
                 (--filter) to choose messages without a terminal"
                    .into(),
            )
            .into());
        }
        // One prompt at a time, with no other account's progress bar drawing over it.
        opts.pick = true;
        opts.jobs = 1;
    }
    let passwords = passwords(&accounts);
    let multi = if opts.pick {
        None
    } else {
        ui::multi_progress(opts.verbosity, accounts.len())
    };
    let results = run_accounts(&accounts, opts.jobs, |i, account| {
        let password = match password_for(&passwords, i, account) {
            Ok(p) => p,
            Err(failed) => return *failed,
        };
        let (summary, result) = fetch_account(account, &opts, &password, multi.as_ref());
        match result {
            Ok(()) => AccountResult {
                summary,
                check: None,
                error: None,
                exit: Exit::Ok,
            },
            Err(e) if is_closed_pipe(&e) => {
                log::debug!("the reader of stdout went away; stopping {}", account.label);
                AccountResult {
                    summary,
                    check: None,
                    error: None,
                    exit: Exit::Ok,
                }
            }
            Err(e) => {
                let exit = exit_for(&e);
                AccountResult {
                    summary,
                    check: None,
                    error: Some(e),
                    exit,
                }
            }
        }
    });
    Ok(finish(&accounts, &results, &opts, false))
}

fn cmd_watch(cli: &Cli, args: &WatchArgs) -> anyhow::Result<Exit> {
    let every = args.every.as_deref().map(watch::parse_every).transpose()?;
    let file = config::load(cli.config.as_deref())?;
    let ov = args.options.overrides(&args.server, &args.deliver);
    let accounts = config::accounts(&file, &args.targets, &ov, password_env())?;
    let opts = config::options(
        cli.verbose,
        cli.quiet,
        cli.ledger.as_deref(),
        args.lock_wait,
        None,
        false,
    )?;
    watch::watch(WatchRequest {
        accounts,
        opts,
        every,
    })
}

fn cmd_check(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
    let ov = args.server.only();
    let (accounts, opts) = accounts_and_options(
        cli,
        &args.targets,
        &ov,
        args.lock_wait,
        args.jobs,
        args.json,
    )?;
    let passwords = passwords(&accounts);
    let results = run_accounts(&accounts, opts.jobs, |i, account| {
        let password = match password_for(&passwords, i, account) {
            Ok(p) => p,
            Err(failed) => return *failed,
        };
        match check_account(account, &opts, &password) {
            Ok(c) => AccountResult {
                summary: None,
                check: Some(c),
                error: None,
                exit: Exit::Ok,
            },
            Err(e) => AccountResult::failed(e),
        }
    });
    Ok(finish(&accounts, &results, &opts, true))
}

/// Reports the results (summary lines or JSON) and computes the exit status.
fn finish(accounts: &[Account], results: &[AccountResult], opts: &Options, check: bool) -> Exit {
    let show_summary = match opts.verbosity {
        Verbosity::Quiet => false,
        Verbosity::Normal => ui::stderr_is_terminal(),
        Verbosity::Verbose | Verbosity::Trace => true,
    };
    let mut exit = Exit::Ok;
    for (a, r) in accounts.iter().zip(results) {
        if show_summary && !opts.json {
            if let Some(s) = &r.summary {
                eprintln!("{}", ui::safe(&ui::summary_line(s, &a.label)));
            }
            if let Some(c) = &r.check {
                eprintln!("{}", ui::safe(&ui::check_line(c, &a.label)));
            }
        }
        if let Some(e) = &r.error {
            report_error(e);
        }
        exit = exit.max(r.exit);
    }
    if check && exit == Exit::Ok {
        let new: usize = results
            .iter()
            .filter_map(|r| r.check.as_ref())
            .map(|c| c.new)
            .sum();
        if new == 0 {
            exit = Exit::NoNewMail;
        }
    }
    if opts.json {
        let json = ui::json_report(
            accounts,
            results.iter().map(|r| JsonIn {
                summary: r.summary.as_ref(),
                check: r.check.as_ref(),
                error: r.error.as_ref().map(|e| {
                    error_text(e)
                        .trim_start_matches("mailpull: error: ")
                        .to_string()
                }),
                exit: r.exit,
            }),
            exit,
            check,
        );
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{json}");
        let _ = out.flush();
    }
    exit
}

fn cmd_accounts(cli: &Cli) -> anyhow::Result<Exit> {
    let file = config::load(cli.config.as_deref())?;
    if file.config.account.is_empty() {
        eprintln!(
            "mailpull: no accounts configured{}",
            file.path
                .as_ref()
                .map(|p| format!(" in {}", p.display()))
                .unwrap_or_default()
        );
        return Ok(Exit::Ok);
    }
    let accounts = config::accounts(&file, &[], &Overrides::default(), None)?;
    let mut out = std::io::stdout().lock();
    for a in &accounts {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            a.label,
            server_url(a),
            if a.keep { "keep" } else { "delete" },
            a.target
        );
    }
    Ok(Exit::Ok)
}

fn server_url(a: &Account) -> String {
    let scheme = match (a.protocol, a.security) {
        (Protocol::Pop3, Security::Implicit) => "pop3s",
        (Protocol::Pop3, _) => "pop3",
        (Protocol::Imap, Security::Implicit) => "imaps",
        (Protocol::Imap, _) => "imap",
    };
    format!("{scheme}://{}", a.server)
}

fn cmd_config_check(cli: &Cli) -> anyhow::Result<Exit> {
    let file = config::load(cli.config.as_deref())?;
    let accounts = if file.config.account.is_empty() {
        Vec::new()
    } else {
        config::accounts(&file, &[], &Overrides::default(), None)?
    };
    let mut out = std::io::stdout().lock();
    match &file.path {
        Some(p) => writeln!(out, "configuration: {} (OK)", p.display())?,
        None => writeln!(
            out,
            "configuration: none ({} does not exist)",
            config::default_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no config directory".into())
        )?,
    }
    let ledger = match &cli.ledger {
        Some(p) => config::expand_tilde(p),
        None => config::default_ledger()?,
    };
    writeln!(out, "ledger: {}", ledger.display())?;
    for a in &accounts {
        writeln!(out, "\n[account.{}]", a.label)?;
        writeln!(out, "  server: {}", server_url(a))?;
        writeln!(
            out,
            "  security: {}",
            match a.security {
                Security::Implicit => "TLS",
                Security::StartTls => "STLS (required)",
                Security::None => "none (insecure_no_tls)",
            }
        )?;
        writeln!(
            out,
            "  password: {}",
            match &a.password {
                PasswordSource::Given(_) => "set (not shown)".to_string(),
                PasswordSource::Command(c) => format!("from `{c}`"),
                PasswordSource::Prompt => "asked on the terminal".to_string(),
            }
        )?;
        writeln!(out, "  auth: {}", a.auth.describe(a.protocol))?;
        if let Some(f) = &a.tls.ca_file {
            writeln!(out, "  tls_ca_file: {}", f.display())?;
        }
        if let Some(f) = &a.tls.fingerprint {
            writeln!(out, "  tls_fingerprint: sha256:{}", hex::encode(f))?;
        }
        writeln!(out, "  timeout: {} s", a.timeout.as_secs())?;
        writeln!(out, "  keep: {}", a.keep)?;
        if let Some(d) = a.delete_after {
            writeln!(out, "  delete_after_days: {}", d.as_secs() / 86_400)?;
        }
        if let Some(s) = a.skip_larger_than {
            writeln!(out, "  skip_larger_than: {s} bytes")?;
        }
        if let Some(s) = a.delete_larger_than {
            writeln!(out, "  delete_larger_than: {s} bytes")?;
        }
        if let Some(n) = a.max_messages {
            writeln!(out, "  max_messages: {n}")?;
        }
        writeln!(out, "  deliver: {}", a.target)?;
        if let Some(p) = a.poll_interval {
            writeln!(out, "  poll_interval: {} s", p.as_secs())?;
        }
        writeln!(
            out,
            "  receipts: {}",
            crate::receipts::describe(&a.receipts, &a.user)
        )?;
    }
    Ok(Exit::Ok)
}

/// Fetches one account. Returns the summary (when the fetch got as far as the server) and the
/// error, if any. Even a failed fetch may have delivered messages.
pub fn fetch_account(
    account: &Account,
    opts: &Options,
    password: &str,
    multi: Option<&indicatif::MultiProgress>,
) -> (Option<Summary>, anyhow::Result<()>) {
    let (summary, r) = match Session::open(account, opts) {
        Ok(session) => session.fetch(
            password,
            || ui::Bar::new(opts.verbosity, &account.label, multi),
            multi,
            &StopToken::new(),
        ),
        Err(e) => (None, Err(e)),
    };
    (
        summary,
        r.with_context(|| format!("account {}", account.label)),
    )
}

fn cmd_list(cli: &Cli, args: &ListArgs) -> anyhow::Result<Exit> {
    let ov = args.server.only();
    let (accounts, opts) =
        accounts_and_options(cli, &args.targets, &ov, args.lock_wait, Some(1), args.json)?;
    let passwords = passwords(&accounts);
    let mut out = ui::ListOutput::new(args.json, args.new);
    let mut exit = Exit::Ok;
    // One account after the other, so that the output keeps the accounts' order.
    for (i, account) in accounts.iter().enumerate() {
        let result = password_for(&passwords, i, account)
            .map_err(|failed| {
                failed
                    .error
                    .unwrap_or_else(|| anyhow::anyhow!("no password"))
            })
            .and_then(|password| {
                list_account(account, &opts, &password, &mut out)
                    .with_context(|| format!("account {}", account.label))
            });
        if let Err(e) = result {
            report_error(&e);
            exit = exit.max(exit_for(&e));
        }
    }
    out.finish().context("cannot write the list to stdout")?;
    Ok(exit)
}

/// Lists one account's messages into `out`.
fn list_account(
    account: &Account,
    opts: &Options,
    password: &str,
    out: &mut ui::ListOutput,
) -> anyhow::Result<()> {
    let session = Session::open(account, opts)?;
    let mut write_error = None;
    session.list(password, &mut |listed| {
        if write_error.is_none() {
            write_error = out.message(&account.label, &listed).err();
        }
    })?;
    match write_error {
        Some(e) => Err(anyhow::Error::new(e).context("cannot write the list to stdout")),
        None => Ok(()),
    }
}

fn check_account(
    account: &Account,
    opts: &Options,
    password: &str,
) -> anyhow::Result<CheckSummary> {
    Session::open(account, opts)
        .and_then(|session| session.check(password))
        .with_context(|| format!("account {}", account.label))
}
