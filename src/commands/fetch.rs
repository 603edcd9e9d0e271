//! `mailpull fetch`: every account (up to `--jobs` at a time), each through its
//! [`Session`]: one login, every new message delivered, recorded and (delete mode) deleted.

use std::io::IsTerminal;

use anyhow::Context;

use super::exit_for;
use super::parallel::{accounts_and_options, finish, password_for, run_accounts, AccountResult};
use crate::account::{passwords, Session};
use crate::cli::{Cli, FetchArgs};
use crate::config::{Account, ConfigError, Options, Target};
use crate::deliver::DeliverError;
use crate::engine::{EngineError, StopToken, Summary};
use crate::exit::Exit;
use crate::ui;

pub(super) fn run(cli: &Cli, args: &FetchArgs) -> anyhow::Result<Exit> {
    let ov = args.options.overrides(&args.server, &args.deliver);
    let (mut accounts, mut opts) = accounts_and_options(
        cli,
        &args.targets,
        &ov,
        args.lock_wait,
        args.jobs,
        args.json,
    )?;
    args.options.apply_receipts(&mut accounts);
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

/// Whether an error is the reader of `--stdout` going away: a clean stop, not a failure. Only
/// the delivery side counts; a broken pipe towards the server is a lost connection.
fn is_closed_pipe(e: &anyhow::Error) -> bool {
    let closed = |d: &DeliverError| matches!(d, DeliverError::Local { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe);
    e.chain().any(|c| match c.downcast_ref::<EngineError>() {
        Some(EngineError::Deliver(d)) => closed(d),
        _ => c.downcast_ref::<DeliverError>().is_some_and(closed),
    })
}

/// Fetches one account. Returns the summary (when the fetch got as far as the server) and the
/// error, if any. Even a failed fetch may have delivered messages.
fn fetch_account(
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
