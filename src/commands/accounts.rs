//! `mailpull accounts`: the configured accounts on stdout, one per line (label, server URL,
//! keep or delete, target), tab-separated.

use std::io::Write;

use crate::cli::Cli;
use crate::config::{self, Account, Overrides, Protocol, Security};
use crate::exit::Exit;

pub(super) fn run(cli: &Cli) -> anyhow::Result<Exit> {
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
    let mut out = super::data_out();
    for a in &accounts {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            a.label,
            server_url(a),
            if a.keep { "keep" } else { "delete" },
            a.target
        )?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}

pub(super) fn server_url(a: &Account) -> String {
    let scheme = match (a.protocol, a.security) {
        (Protocol::Pop3, Security::Implicit) => "pop3s",
        (Protocol::Pop3, _) => "pop3",
        (Protocol::Imap, Security::Implicit) => "imaps",
        (Protocol::Imap, _) => "imap",
    };
    format!("{scheme}://{}", a.server)
}
