//! Matching: every state list goes to the configured account with the same mailbox identity
//! (protocol, host, user — never the port), through the `--as` aliases, and its ids become the
//! ledger keys mailpull would have recorded; then [`apply`] writes them in one transaction.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{getmail, Alias, Owner, StateList, Tool};
use crate::config::{Account, Protocol};
use crate::ledger::{AccountKey, ImportRow, Ledger, MessageKey};

/// The rows to import into one account.
#[derive(Clone, Debug)]
pub struct AccountPlan {
    /// Labels of the configured accounts with this ledger identity.
    pub labels: Vec<String>,
    pub key: AccountKey,
    /// Whether the account deletes from the server (so imported messages will be deleted).
    pub deletes: bool,
    /// Distinct rows (the same id listed twice counts once).
    pub rows: Vec<ImportRow>,
}

/// Records no account matched, and why.
#[derive(Clone, Debug)]
pub struct Unmatched {
    pub file: PathBuf,
    pub line: usize,
    pub owner: String,
    pub records: usize,
    pub reason: String,
}

/// What an import would do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub accounts: Vec<AccountPlan>,
    pub unmatched: Vec<Unmatched>,
    /// `--as` arguments that matched no record (probably mistyped).
    pub unused_aliases: Vec<String>,
}

/// Whether `name` matches the IMAP LIST pattern `pattern` (`*` anything, `%` anything but
/// the hierarchy delimiter, which is unknown here, so `%` does not cross `/` or `.`).
pub(super) fn list_match(pattern: &str, name: &str) -> bool {
    crate::imap::pattern::matches(pattern.as_bytes(), name.as_bytes(), b"/.")
}

/// The folder of `account` a getmail IMAP file for (mangled) `mailbox` belongs to.
fn getmail_folder(account: &Account, mailbox: &str) -> Result<String, String> {
    for f in &account.folders {
        if f.contains(['*', '%']) {
            continue;
        }
        if f.eq_ignore_ascii_case("INBOX") && mailbox.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".into());
        }
        if getmail::strip_chars(f, '.') == mailbox {
            return Ok(f.clone());
        }
    }
    let patterns: Vec<&String> = account
        .folders
        .iter()
        .filter(|f| f.contains(['*', '%']))
        .collect();
    if patterns.iter().any(|p| list_match(p, mailbox)) {
        if mailbox.contains('.') {
            return Err(format!(
                "folder {mailbox:?} matches a folder pattern of account {}, but getmail's file \
                 name may stand for another spelling (it turns '/' into '.'): add the folder to \
                 the account's folders by its real name and import again",
                account.label
            ));
        }
        return Ok(mailbox.to_string());
    }
    Err(format!(
        "account {} does not fetch folder {mailbox:?} (folders: {})",
        account.label,
        account.folders.join(", ")
    ))
}

/// The remainder of a getmail name after the part a mailbox of `user` on `host` produces
/// (`SERVER-PORT-USER`, whatever the port: it is not part of a mailbox's identity), or `None`
/// if the name is not that mailbox's.
fn getmail_rest<'a>(host: &str, user: &str, name: &'a str) -> Option<&'a str> {
    let host = getmail::strip_chars(host, '-');
    let head = name.get(..host.len())?;
    if !head.eq_ignore_ascii_case(&host) {
        return None;
    }
    let rest = name[host.len()..].strip_prefix('-')?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 {
        return None;
    }
    let tail = getmail::strip_chars(&format!("-{user}"), '-');
    rest[digits..].strip_prefix(tail.as_str())
}

/// The (host, user) pairs whose records belong to `account`: its own, and those `--as` maps
/// to its mailbox.
fn names_of<'a>(
    account: &'a Account,
    aliases: &'a [Alias],
) -> Vec<(&'a str, &'a str, Option<usize>)> {
    let key = account.key();
    let mut out = vec![(account.host.as_str(), account.user.as_str(), None)];
    for (i, alias) in aliases.iter().enumerate() {
        if alias.ours == key {
            out.push((alias.peer.host.as_str(), alias.peer.user.as_str(), Some(i)));
        }
    }
    out
}

/// Where the ids of one list go: (account index, mailbox) pairs, or why nowhere. `used`
/// collects the indexes of the aliases that placed records.
fn targets(
    tool: Tool,
    list: &StateList,
    accounts: &[Account],
    aliases: &[Alias],
    used: &mut [bool],
) -> Result<Vec<(usize, String)>, String> {
    match &list.owner {
        Owner::Pop3 { user, host } => {
            // `--as` renames the tool's mailbox to the one mailpull knows.
            let alias = aliases.iter().position(|a| {
                a.peer.protocol == "pop3"
                    && a.peer.host.eq_ignore_ascii_case(host)
                    && a.peer.user == *user
            });
            let (user, host) = match alias {
                Some(i) => {
                    used[i] = true;
                    (&aliases[i].ours.user, &aliases[i].ours.host)
                }
                None => (user, host),
            };
            let same = |a: &Account| a.host.eq_ignore_ascii_case(host) && a.user == *user;
            let found: Vec<(usize, String)> = accounts
                .iter()
                .enumerate()
                .filter(|(_, a)| a.protocol == Protocol::Pop3 && same(a))
                .map(|(i, _)| (i, String::new()))
                .collect();
            if !found.is_empty() {
                return Ok(found);
            }
            if let Some(a) = accounts.iter().find(|a| same(a)) {
                return Err(format!(
                    "{} records POP3 UIDLs, and the account for {user}@{host} ({}) is IMAP; \
                     POP3 UIDLs mean nothing to IMAP",
                    tool.name(),
                    a.label
                ));
            }
            let on_host: Vec<String> = accounts
                .iter()
                .filter(|a| a.host.eq_ignore_ascii_case(host))
                .map(|a| format!("{} ({})", a.label, a.user))
                .collect();
            let hint = if alias.is_some() {
                String::new()
            } else {
                format!(
                    "; if an account reads this mailbox under another server name, say so: \
                     --as pop3://{}@{host}=URL",
                    crate::ledger::url_user(user)
                )
            };
            Err(if on_host.is_empty() {
                format!("no configured POP3 account on {host} for user {user}{hint}")
            } else {
                format!(
                    "no configured POP3 account on {host} for user {user} (accounts there: {}){hint}",
                    on_host.join(", ")
                )
            })
        }
        Owner::Getmail { name, imap } => {
            let mut found = Vec::new();
            let mut why = Vec::new();
            for (i, a) in accounts.iter().enumerate() {
                let Some((rest, alias)) = names_of(a, aliases)
                    .into_iter()
                    .find_map(|(host, user, alias)| Some((getmail_rest(host, user, name)?, alias)))
                else {
                    continue;
                };
                if let Some(alias) = alias {
                    used[alias] = true;
                }
                match (a.protocol, *imap) {
                    (Protocol::Pop3, false) if rest.is_empty() => found.push((i, String::new())),
                    (Protocol::Imap, true) => {
                        if let Some(mailbox) = rest.strip_prefix('-').filter(|m| !m.is_empty()) {
                            match getmail_folder(a, mailbox) {
                                Ok(f) => found.push((i, f)),
                                Err(e) => why.push(e),
                            }
                        }
                    }
                    (Protocol::Pop3, true) if !rest.is_empty() => why.push(format!(
                        "the file holds IMAP UIDVALIDITY/UID ids, and account {} is POP3",
                        a.label
                    )),
                    (Protocol::Imap, false) if rest.is_empty() => why.push(format!(
                        "the file holds POP3 UIDLs, and account {} is IMAP",
                        a.label
                    )),
                    _ => {}
                }
            }
            if !found.is_empty() {
                return Ok(found);
            }
            if !why.is_empty() {
                return Err(why.join("; "));
            }
            Err(format!(
                "no configured {} account whose server and user give this file name \
                 (getmail names it oldmail-SERVER-PORT-USER{}); if an account reads this \
                 mailbox under another server name, say so with --as",
                if *imap { "IMAP" } else { "POP3" },
                if *imap { "-FOLDER" } else { "" }
            ))
        }
    }
}

/// Matches the lists against the accounts, through `aliases`. Accounts with the same ledger
/// identity are merged; every id appears at most once per account.
pub fn plan(
    tool: Tool,
    lists: &[StateList],
    accounts: &[Account],
    aliases: &[Alias],
    now: i64,
) -> Plan {
    let mut out = Plan::default();
    let mut by_key: HashMap<AccountKey, usize> = HashMap::new();
    let mut seen: Vec<std::collections::HashSet<MessageKey>> = Vec::new();
    let mut used = vec![false; aliases.len()];
    for list in lists {
        match targets(tool, list, accounts, aliases, &mut used) {
            Err(reason) => out.unmatched.push(Unmatched {
                file: list.file.clone(),
                line: list.line,
                owner: list.owner.to_string(),
                records: list.ids.len(),
                reason,
            }),
            Ok(found) => {
                for (i, mailbox) in found {
                    let a = &accounts[i];
                    let key = a.key();
                    let slot = *by_key.entry(key.clone()).or_insert_with(|| {
                        out.accounts.push(AccountPlan {
                            labels: Vec::new(),
                            key,
                            deletes: false,
                            rows: Vec::new(),
                        });
                        seen.push(Default::default());
                        out.accounts.len() - 1
                    });
                    let plan = &mut out.accounts[slot];
                    if !plan.labels.contains(&a.label) {
                        plan.labels.push(a.label.clone());
                    }
                    plan.deletes |= !a.keep;
                    for id in &list.ids {
                        let key = MessageKey {
                            mailbox: mailbox.clone(),
                            uidvalidity: id.uidvalidity,
                            uid: id.uid.clone(),
                        };
                        if seen[slot].insert(key.clone()) {
                            plan.rows.push(ImportRow {
                                key,
                                location: tool.location(),
                                delivered_at: id.at.unwrap_or(now),
                            });
                        }
                    }
                }
            }
        }
    }
    out.unused_aliases = aliases
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(a, _)| a.text.clone())
        .collect();
    out
}

/// What the ledger did with a plan: new rows per account (in plan order).
pub fn apply(
    plan: &Plan,
    ledger: Option<&mut Ledger>,
    dry_run: bool,
) -> anyhow::Result<Vec<usize>> {
    let batch: Vec<(AccountKey, Vec<ImportRow>)> = plan
        .accounts
        .iter()
        .map(|a| (a.key.clone(), a.rows.clone()))
        .collect();
    match ledger {
        Some(l) => Ok(l.import_delivered(&batch, dry_run)?),
        // A dry run against a ledger that does not exist yet: everything would be new.
        None => Ok(plan.accounts.iter().map(|a| a.rows.len()).collect()),
    }
}
