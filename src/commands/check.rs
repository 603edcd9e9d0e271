//! `mailpull check`: how many new messages wait on each account (exit 1 when none), without
//! downloading anything.

use std::io::Write;

use anyhow::Context;

use super::parallel::{accounts_and_options, finish, password_for, run_accounts, AccountResult};
use crate::account::{passwords, Session};
use crate::cli::{CheckArgs, Cli};
use crate::config::{Account, Options, Verbosity};
use crate::engine::CheckSummary;
use crate::exit::Exit;
use crate::ui;

pub(super) fn run(cli: &Cli, args: &CheckArgs) -> anyhow::Result<Exit> {
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
    let exit = finish(&accounts, &results, &opts, true);
    // The counts are data: on stdout, terminal or not (`-q` prints nothing; `--json` has them).
    if !opts.json && opts.verbosity != Verbosity::Quiet {
        let mut out = super::data_out();
        let written = accounts
            .iter()
            .zip(&results)
            .filter_map(|(a, r)| Some((a, r.check.as_ref()?)))
            .try_for_each(|(a, c)| writeln!(out, "{}", ui::safe(&ui::check_line(c, &a.label))))
            .and_then(|()| out.flush());
        match written {
            // The status says it all: new mail or not.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                super::report_error(&anyhow::Error::new(e).context("cannot write to stdout"));
                return Ok(exit.max(Exit::IoErr));
            }
            Ok(()) => {}
        }
    }
    Ok(exit)
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
