//! `mailpull receipts`: list the read-receipt requests, review them on a terminal, or answer one
//! from a script (`send ID`, `decline ID`).
//!
//! The listing goes to stdout (data, one request per line, tab-separated: ID, state, account,
//! receipt address, subject); everything else to stderr. Exit status: 0 when the answer was
//! carried out; 64 for an unknown ID, a request already answered, or `review` without a
//! terminal; 78 when no way to send receipts is configured; 75 when the transport failed or
//! may have sent the receipt.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;

use crate::cli::{Cli, ReceiptsAction, ReceiptsArgs};
use crate::config::{self, ConfigError, Overrides};
use crate::exit::Exit;
use crate::ledger::{Ledger, Policy, Receipt, ReceiptState};
use crate::receipts::hook::{self, state_text, Outcome, Sending};
use crate::receipts::prompt::{self, Answer};
use crate::receipts::{ReceiptPolicy, ReceiptSettings};

/// The configured accounts by ledger id: (label, how it sends receipts).
struct Accounts {
    by_id: HashMap<i64, (String, Sending)>,
    /// The URLs of the accounts that are not configured, by ledger id.
    urls: HashMap<i64, String>,
    fallback: Sending,
}

impl Accounts {
    fn load(cli: &Cli, ledger: &mut Ledger) -> anyhow::Result<Accounts> {
        let file = config::load(cli.config.as_deref())?;
        let mut by_id = HashMap::new();
        if !file.config.account.is_empty() {
            for a in config::accounts(&file, &[], &Overrides::default(), None)? {
                let id = ledger.account_id(&a.key())?;
                by_id.insert(id, (a.label.clone(), Sending::new(&a.receipts, &a.user)));
            }
        }
        // Accounts given as URLs have no name: shown as their mailbox's URL (which holds no
        // password).
        let mut urls = HashMap::new();
        for r in ledger.receipts(&[])? {
            if !by_id.contains_key(&r.account_id) && !urls.contains_key(&r.account_id) {
                if let Some(key) = ledger.account_key(r.account_id)? {
                    urls.insert(r.account_id, key.url());
                }
            }
        }
        let fallback = Sending::new(
            &ReceiptSettings {
                policy: ReceiptPolicy::Ask,
                transport: file
                    .config
                    .defaults
                    .receipts_transport
                    .clone()
                    .or_else(|| file.config.receipts.clone()),
                ..Default::default()
            },
            "",
        );
        Ok(Accounts {
            by_id,
            urls,
            fallback,
        })
    }

    fn label(&self, r: &Receipt) -> String {
        self.by_id
            .get(&r.account_id)
            .map(|(l, _)| l.clone())
            .or_else(|| self.urls.get(&r.account_id).cloned())
            .unwrap_or_else(|| format!("account #{}", r.account_id))
    }

    fn sending(&self, r: &Receipt) -> &Sending {
        self.by_id
            .get(&r.account_id)
            .map(|(_, s)| s)
            .unwrap_or(&self.fallback)
    }
}

/// Runs `mailpull receipts …`.
pub(super) fn run(cli: &Cli, args: &ReceiptsArgs) -> anyhow::Result<Exit> {
    let path = match &cli.ledger {
        Some(p) => config::expand_tilde(p),
        None => config::default_ledger()?,
    };
    if let Some(ReceiptsAction::Review) = args.action {
        if !prompt::can_ask() {
            return Err(ConfigError::Usage(
                "receipts review asks on a terminal, and there is none; answer from a script \
                 with `mailpull receipts send ID` or `mailpull receipts decline ID`"
                    .into(),
            )
            .into());
        }
    }
    let mut ledger = Ledger::open(&path)?;
    let accounts = Accounts::load(cli, &mut ledger)?;
    match &args.action {
        None => list(&ledger, &accounts, args.all),
        Some(ReceiptsAction::Review) => review(&mut ledger, &accounts),
        Some(ReceiptsAction::Send { id, again }) => one(&mut ledger, &accounts, *id, true, *again),
        Some(ReceiptsAction::Decline { id }) => one(&mut ledger, &accounts, *id, false, false),
    }
}

const OPEN: &[ReceiptState] = &[
    ReceiptState::Pending,
    ReceiptState::Approved,
    ReceiptState::Sending,
];

fn list(ledger: &Ledger, accounts: &Accounts, all: bool) -> anyhow::Result<Exit> {
    let rows = ledger.receipts(if all { &[] } else { OPEN })?;
    if rows.is_empty() {
        eprintln!(
            "mailpull: no read receipt requests{}",
            if all { "" } else { " wait for an answer" }
        );
        return Ok(Exit::Ok);
    }
    let mut out = super::data_out();
    for r in &rows {
        // Requester and subject come from a message: shown terminal-safe.
        let line = format!(
            "{}\t{}\t{}\t{}\t{}",
            r.id,
            state_text(r.state),
            accounts.label(r),
            r.requester,
            if r.subject.is_empty() {
                "(no subject)"
            } else {
                &r.subject
            }
        );
        writeln!(out, "{}", crate::text::safe(&line.replace('\n', " ")))
            .context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")?;
    if rows.iter().any(|r| r.state == ReceiptState::Sending) {
        eprintln!(
            "mailpull: a request listed as \"may have been sent\" was being sent when a run \
             stopped; it is not sent again unless you run `mailpull receipts send ID --again` \
             (or settle it with `mailpull receipts decline ID`)"
        );
    }
    Ok(Exit::Ok)
}

fn review(ledger: &mut Ledger, accounts: &Accounts) -> anyhow::Result<Exit> {
    let rows = ledger.receipts(OPEN)?;
    if rows.is_empty() {
        eprintln!("mailpull: no read receipt requests wait for an answer");
        return Ok(Exit::Ok);
    }
    let mut rest: Option<Answer> = None;
    for r in &rows {
        if r.state == ReceiptState::Sending {
            eprintln!(
                "mailpull: read receipt {} (to {}) may have been sent already; decide with \
                 `mailpull receipts send {} --again` or `mailpull receipts decline {}`",
                r.id,
                crate::text::safe(&r.requester),
                r.id,
                r.id
            );
            continue;
        }
        // A remembered answer for the sender applies here too: the user is at the terminal.
        let answer = match (rest, ledger.sender_policy(&r.requester)?) {
            (Some(a), _) => a,
            (None, Some(Policy::Always)) => Answer::Send,
            (None, Some(Policy::Never)) => Answer::DontSend,
            (None, None) => prompt::ask(r, &accounts.label(r), None),
        };
        match answer {
            // The rest wait for another review.
            Answer::LaterForAll => break,
            Answer::DontSendAny => rest = Some(Answer::DontSend),
            _ => {}
        }
        let sending = accounts.sending(r);
        let outcome = hook::answer(ledger, r, answer, sending)?;
        hook::report(r, &outcome, sending.transport.as_ref());
    }
    Ok(Exit::Ok)
}

fn one(
    ledger: &mut Ledger,
    accounts: &Accounts,
    id: i64,
    send: bool,
    again: bool,
) -> anyhow::Result<Exit> {
    let Some(mut r) = ledger.receipt(id)? else {
        return Err(ConfigError::Usage(format!(
            "there is no read receipt request {id} (mailpull receipts lists them)"
        ))
        .into());
    };
    if r.state == ReceiptState::Sending {
        if send && !again {
            return Err(ConfigError::Usage(format!(
                "read receipt {id} may have been sent already (an earlier attempt did not \
                 finish); add --again to send it anyway, or decline it"
            ))
            .into());
        }
        // The user decided: send again, or consider it settled.
        let to = if send {
            ReceiptState::Pending
        } else {
            ReceiptState::Declined
        };
        ledger.set_receipt_state(
            id,
            &[ReceiptState::Sending],
            to,
            None,
            crate::time::unix_now(),
        )?;
        if !send {
            eprintln!("mailpull: read receipt {id} settled; it will not be sent again");
            return Ok(Exit::Ok);
        }
        r.state = ReceiptState::Pending;
    }
    let sending = accounts.sending(&r);
    let answer = if send { Answer::Send } else { Answer::DontSend };
    let outcome = hook::answer(ledger, &r, answer, sending)?;
    hook::report(&r, &outcome, sending.transport.as_ref());
    Ok(match outcome {
        Outcome::Sent | Outcome::Declined => Exit::Ok,
        Outcome::Pending(_) if sending.transport.is_none() || sending.from.is_none() => {
            Exit::Config
        }
        Outcome::Pending(_) | Outcome::MaybeSent(_) => Exit::TempFail,
        Outcome::AlreadyAnswered(_) => Exit::Usage,
    })
}
