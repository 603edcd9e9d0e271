//! Asks the user about one read-receipt request on the terminal (stderr), with dialoguer.
//!
//! Prompts are serialised across accounts fetched in parallel (one global lock) and the
//! progress bars are suspended while one is shown, so that a question never interleaves with
//! another or with a bar. The question names who asks, the subject, the date, the account, the
//! address the receipt would go to, and the warnings RFC 8098 §2.1 asks for.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use dialoguer::console::Term;
use dialoguer::Select;

use crate::ledger::Receipt;

/// The user's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Send,
    DontSend,
    AlwaysForSender,
    NeverForSender,
    Later,
    /// "Decide later for all remaining": this one and every request after it in this run stay
    /// pending, without another question.
    LaterForAll,
    /// "Don't send for any of these": this one and every request after it in this run are
    /// declined (remembered in the ledger like "Don't send"), without another question.
    DontSendAny,
}

/// The answer to the one question asked first when many requests arrive in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Ask about each of them.
    Review,
    /// Ask about none now: they stay pending for `mailpull receipts review`.
    Later,
    /// Decline every one of them (none is sent).
    SendNone,
}

/// One prompt at a time, whatever the number of accounts being fetched.
static PROMPT: Mutex<()> = Mutex::new(());

/// Whether the user can be asked: stdin and stderr are terminals.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Shows the request and asks what to do. Escape or a failure to read means "decide later".
pub fn ask(r: &Receipt, account: &str, multi: Option<&indicatif::MultiProgress>) -> Answer {
    let _one = PROMPT.lock().unwrap_or_else(|p| p.into_inner());
    let run = || ask_now(r, account);
    match multi {
        Some(m) => m.suspend(run),
        None => run(),
    }
}

fn ask_now(r: &Receipt, account: &str) -> Answer {
    let mut text = String::from("\nA read receipt was requested\n");
    // The fields come from a message: shown terminal-safe.
    let mut line =
        |k: &str, v: &str| text.push_str(&format!("  {k:<12} {}\n", crate::text::safe(v)));
    line(
        "from:",
        if r.from.is_empty() {
            "(no From)"
        } else {
            &r.from
        },
    );
    line(
        "subject:",
        if r.subject.is_empty() {
            "(no subject)"
        } else {
            &r.subject
        },
    );
    line(
        "date:",
        if r.date.is_empty() {
            "(no date)"
        } else {
            &r.date
        },
    );
    line("account:", account);
    line("receipt to:", &r.requester);
    for w in &r.warnings {
        text.push_str(&format!("  warning: {}\n", crate::text::safe(w)));
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
    drop(err);
    let to = crate::text::safe(&r.requester);
    let items = [
        "Send a read receipt".to_string(),
        "Don't send".to_string(),
        format!("Always send to {to}"),
        format!("Never send to {to}"),
        "Decide later".to_string(),
        "Decide later for all remaining".to_string(),
        "Don't send for any of these".to_string(),
    ];
    let choice = Select::new()
        .with_prompt("Send a read receipt?")
        .items(&items)
        .default(4)
        .interact_on_opt(&Term::stderr());
    match choice {
        Ok(Some(0)) => Answer::Send,
        Ok(Some(1)) => Answer::DontSend,
        Ok(Some(2)) => Answer::AlwaysForSender,
        Ok(Some(3)) => Answer::NeverForSender,
        Ok(Some(5)) => Answer::LaterForAll,
        Ok(Some(6)) => Answer::DontSendAny,
        _ => Answer::Later,
    }
}

/// Asks one question about `count` new requests of `account` before any of them (`earlier`
/// requests of this run were asked about already): review them one by one, decide later, or
/// send none. Escape or a failure to read means "later".
pub fn ask_batch(
    count: usize,
    earlier: usize,
    account: &str,
    multi: Option<&indicatif::MultiProgress>,
) -> Batch {
    let _one = PROMPT.lock().unwrap_or_else(|p| p.into_inner());
    let run = || {
        let (more, so_far) = match earlier {
            0 => ("", String::new()),
            n => ("more ", format!(" ({} in this run)", n + count)),
        };
        let choice = Select::new()
            .with_prompt(format!(
                "\n{count} {more}messages of {} ask for a read receipt{so_far}",
                crate::text::safe(account)
            ))
            .items([
                "Review them now, one by one",
                "Decide later (they wait for `mailpull receipts review`)",
                "Send none (decline them all)",
            ])
            .default(1)
            .interact_on_opt(&Term::stderr());
        match choice {
            Ok(Some(0)) => Batch::Review,
            Ok(Some(2)) => Batch::SendNone,
            _ => Batch::Later,
        }
    };
    match multi {
        Some(m) => m.suspend(run),
        None => run(),
    }
}
