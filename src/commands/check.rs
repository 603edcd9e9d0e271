//! `mailpull check`: how many new messages wait on each account (exit 1 when none), without
//! downloading anything.

use anyhow::Context;

use super::parallel::{accounts_and_options, finish, password_for, run_accounts, AccountResult};
use crate::account::{passwords, Session};
use crate::cli::{CheckArgs, Cli};
use crate::config::{Account, Options};
use crate::engine::CheckSummary;
use crate::exit::Exit;

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
    Ok(finish(&accounts, &results, &opts, true))
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
