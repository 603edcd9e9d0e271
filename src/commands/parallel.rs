//! Running a command over several accounts: passwords first (one prompt at a time), then up
//! to `--jobs` accounts in parallel; one failing account (or a panic in its work) never stops
//! the others, and the results are reported in account order with the most serious status.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{error_text, exit_for, report_error};
use crate::account::password_env;
use crate::cli::Cli;
use crate::config::{self, Account, ConfigError, Options, Overrides, Verbosity};
use crate::engine::{CheckSummary, Summary};
use crate::exit::{Exit, InternalError};
use crate::ui::{self, JsonIn};

/// The outcome of one account.
pub(super) struct AccountResult {
    pub summary: Option<Summary>,
    pub check: Option<CheckSummary>,
    pub error: Option<anyhow::Error>,
    pub exit: Exit,
}

impl AccountResult {
    pub fn failed(e: anyhow::Error) -> AccountResult {
        let exit = exit_for(&e);
        AccountResult {
            summary: None,
            check: None,
            error: Some(e),
            exit,
        }
    }
}

/// Runs `work` for every account, up to `jobs` at a time, in account order for the results.
pub(super) fn run_accounts<F>(accounts: &[Account], jobs: usize, work: F) -> Vec<AccountResult>
where
    F: Fn(usize, &Account) -> AccountResult + Sync,
{
    let jobs = jobs.clamp(1, accounts.len().max(1));
    let results: Vec<Mutex<Option<AccountResult>>> =
        accounts.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(account) = accounts.get(i) else {
            break;
        };
        // A panic (a bug, reported by the hook) fails this account only.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(i, account)))
            .unwrap_or_else(|payload| {
                AccountResult::failed(
                    anyhow::Error::new(InternalError(crate::exit::panic_message(payload.as_ref())))
                        .context(format!("account {}", account.label)),
                )
            });
        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    };
    if jobs == 1 {
        // One at a time: on this thread (no thread to start, no second malloc arena to grow).
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(worker);
            }
        });
    }
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
pub(super) fn password_for(
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
pub(super) fn accounts_and_options(
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

/// Reports the results (summary lines or JSON) and computes the exit status.
pub(super) fn finish(
    accounts: &[Account],
    results: &[AccountResult],
    opts: &Options,
    check: bool,
) -> Exit {
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
