//! Step 7's read receipts (see [`crate::engine`]): once a mailbox's deliveries are recorded and
//! before it is closed, the requests recorded with them go to the [`ReceiptHook`], and what
//! it reports answered is marked on the server.

use std::collections::{HashMap, HashSet};

use super::{EngineError, ReceiptHook};
use crate::ledger::Ledger;
use crate::source::{Listing, RemoteMessage, Source};

/// Hands the read-receipt requests recorded in this fetch to the hook and marks answered on
/// the server what the hook says (see [`ReceiptHook`]). Failing to set a mark is not an
/// error: it is tried again next run.
#[allow(clippy::too_many_arguments)]
pub(super) fn answer_receipts(
    source: &mut dyn Source,
    ledger: &mut Ledger,
    account: i64,
    mailbox: &str,
    listing: &Listing,
    retrieved: &[RemoteMessage],
    requests: Vec<i64>,
    hook: &mut dyn ReceiptHook,
) -> Result<(), EngineError> {
    let to_mark = hook.delivered(
        ledger,
        account,
        mailbox,
        listing.uidvalidity,
        requests,
        true,
    );
    if to_mark.is_empty() {
        return Ok(());
    }
    // The plan took the messages it retrieved out of the listing.
    let wanted: HashSet<&str> = to_mark.iter().map(|(_, uid)| uid.as_str()).collect();
    let by_uid: HashMap<&str, &RemoteMessage> = (listing.messages.iter().chain(retrieved))
        .filter(|m| wanted.contains(m.uid.as_str()))
        .map(|m| (m.uid.as_str(), m))
        .collect();
    let (present, mut gone): (Vec<_>, Vec<_>) = to_mark
        .iter()
        .partition(|(_, uid)| by_uid.contains_key(uid.as_str()));
    if listing.partial {
        // Not listed is not gone: those wait for a complete listing.
        gone.clear();
    }
    let msgs: Vec<RemoteMessage> = present
        .iter()
        .map(|(_, uid)| by_uid[uid.as_str()].clone())
        .collect();
    let mut done: Vec<i64> = gone.iter().map(|(t, _)| *t).collect();
    match source.mark_answered(&msgs) {
        Ok(()) => done.extend(present.iter().map(|(t, _)| *t)),
        Err(e) => log::warn!(
            "could not mark {} message(s) as answered on the server ({e}); trying again next run",
            msgs.len()
        ),
    }
    hook.marked(ledger, &done);
    Ok(())
}
