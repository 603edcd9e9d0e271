//! `mailpull ledger`: list the mailboxes the ledger holds records of (stdout: data, one folder
//! per line, tab-separated), or move a mailbox's records to the server's new name (a report on
//! stderr).
//!
//! `rename` takes the locks of both mailboxes (like a fetch does), so that it never moves
//! records from under a running fetch. A ledger that does not exist is never created here.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;

use crate::cli::{Cli, LedgerCommand};
use crate::config::{self, ConfigError};
use crate::exit::Exit;
use crate::ledger::{AccountKey, Ledger, LedgerError, RenameReport};

/// Runs `mailpull ledger ...`.
pub(super) fn run(cli: &Cli, cmd: &LedgerCommand) -> anyhow::Result<Exit> {
    let path = match &cli.ledger {
        Some(p) => config::expand_tilde(p),
        None => config::default_ledger()?,
    };
    match cmd {
        LedgerCommand::List => list(&path),
        LedgerCommand::Rename {
            old,
            new,
            dry_run,
            lock_wait,
        } => {
            let (from, to) = rename_keys(old, new)?;
            if !path.exists() {
                return Err(LedgerError::UnknownMailbox { path, key: from }.into());
            }
            // In a fixed order, so that two renames of the same pair cannot wait for each other.
            let mut keys = [&from, &to];
            keys.sort();
            let wait = Duration::from_secs(*lock_wait);
            let _locks = keys
                .iter()
                .map(|k| crate::account::lock_account(&path, k, wait))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut ledger = Ledger::open(&path)?;
            let report = ledger.rename(&from, &to, *dry_run)?;
            if !cli.quiet || *dry_run {
                eprint!("{}", describe(&report, *dry_run, &path));
            }
            Ok(Exit::Ok)
        }
    }
}

/// The identities of `ledger rename OLD NEW`: both URLs valid, of one protocol family, and two
/// different mailboxes. Usage errors (exit 64) otherwise.
pub fn rename_keys(old: &str, new: &str) -> Result<(AccountKey, AccountKey), ConfigError> {
    let from = config::parse_url(old)?;
    let to = config::parse_url(new)?;
    if from.protocol != to.protocol {
        return Err(ConfigError::Usage(format!(
            "{} is {} and {} is {}: a mailbox keeps its protocol ({} records mean nothing to {}); \
             nothing was changed",
            config::redact_url_password(old),
            from.protocol.name().to_uppercase(),
            config::redact_url_password(new),
            to.protocol.name().to_uppercase(),
            from.protocol.name().to_uppercase(),
            to.protocol.name().to_uppercase(),
        )));
    }
    let key = |u: &config::ServerUrl| AccountKey::new(u.protocol.name(), &u.host, &u.user);
    let (from, to) = (key(&from), key(&to));
    if from == to {
        return Err(ConfigError::Usage(format!(
            "{old} and {new} are the same mailbox ({from}): the port, the TLS mode and the case \
             of the host name are not part of a mailbox's identity, so there is nothing to \
             rename; nothing was changed"
        )));
    }
    Ok((from, to))
}

/// The report of a rename, for stderr.
fn describe(r: &RenameReport, dry_run: bool, path: &Path) -> String {
    let total: usize = r.folders.iter().map(|(_, n)| n).sum();
    let mut out = format!(
        "mailpull: {} the records of {} to {}: {total} message(s), {} read-receipt request(s)\n",
        if dry_run { "would move" } else { "moved" },
        r.from,
        r.to,
        r.merge.receipts
    );
    if r.from.protocol == "imap" {
        let folders: Vec<String> = r
            .folders
            .iter()
            .map(|(f, n)| format!("{}: {n}", crate::select::clean(f)))
            .collect();
        out.push_str(&format!("  folders: {}\n", folders.join(", ")));
    }
    if r.merged_into_existing {
        out.push_str(&format!(
            "  {} had records already: the two are merged ({} message(s) recorded under both \
             {} kept once)\n",
            r.to,
            r.merge.merged,
            if dry_run { "would be" } else { "are" }
        ));
    }
    if dry_run {
        out.push_str(&format!(
            "mailpull: dry run: nothing was changed in {}\n",
            path.display()
        ));
    }
    out
}

/// `ledger list`: `URL<TAB>FOLDER<TAB>MESSAGES<TAB>LAST-DELIVERY` per folder.
fn list(path: &Path) -> anyhow::Result<Exit> {
    if !path.exists() {
        eprintln!(
            "mailpull: there is no ledger at {} yet: nothing fetched, nothing to list",
            path.display()
        );
        return Ok(Exit::Ok);
    }
    let ledger = Ledger::open(path)?;
    let mut out = super::data_out();
    for m in ledger.mailboxes()? {
        let last = m
            .last_delivered
            .filter(|t| *t > 0)
            .map(|t| {
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t as u64))
                    .to_string()
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\t{}\t{last}",
            m.key.url(),
            crate::select::clean(&m.mailbox),
            m.messages
        )
        .context("cannot write the list to stdout")?;
    }
    out.flush().context("cannot write the list to stdout")?;
    Ok(Exit::Ok)
}
