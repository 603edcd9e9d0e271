//! `mailpull list`: the messages on each account's server (all, or `--new` only), one account
//! after the other so that the output keeps the accounts' order.

use anyhow::Context;

use super::parallel::{accounts_and_options, password_for};
use super::{exit_for, report_error};
use crate::account::{passwords, Session};
use crate::cli::{Cli, ListArgs};
use crate::config::{Account, Options};
use crate::exit::Exit;
use crate::ui;

pub(super) fn run(cli: &Cli, args: &ListArgs) -> anyhow::Result<Exit> {
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
