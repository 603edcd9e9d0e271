//! `mailpull watch`'s entry: resolves the accounts and options, then hands over to
//! [`crate::watch`] (scheduling, IDLE, retries).

use crate::account::password_env;
use crate::cli::{Cli, WatchArgs};
use crate::config;
use crate::exit::Exit;
use crate::watch::{self, WatchRequest};

pub(super) fn run(cli: &Cli, args: &WatchArgs) -> anyhow::Result<Exit> {
    let every = args.every.as_deref().map(watch::parse_every).transpose()?;
    let file = config::load(cli.config.as_deref())?;
    let ov = args.options.overrides(&args.server, &args.deliver);
    let mut accounts = config::accounts(&file, &args.targets, &ov, password_env())?;
    args.options.apply_receipts(&mut accounts);
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
