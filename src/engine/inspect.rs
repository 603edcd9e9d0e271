//! Looking without fetching: `check` counts what the ledger does not know as delivered, `list`
//! reads every message's header block. Neither downloads a body nor changes anything (mailboxes
//! are opened read-only), and both end the session.

use super::known::known;
use super::{CheckSummary, EngineError, HEADER_BATCH};
use crate::ledger::Ledger;
use crate::source::{RemoteMessage, Source};

/// Counts the messages on the server that the ledger does not know as delivered, without
/// downloading or changing anything, and ends the session.
pub fn check(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
) -> Result<CheckSummary, EngineError> {
    let mut summary = CheckSummary::default();
    for mailbox in source.mailboxes()? {
        // Where a complete run left a resume point, only what arrived since is listed.
        let listing = match ledger.resume_point(account, &mailbox)? {
            Some(p) if p.usable(crate::time::unix_now()) => {
                source.open_since(&mailbox, false, p.at)?
            }
            _ => source.open(&mailbox, false)?,
        };
        let known = known(source, ledger, account, &mailbox, &listing)?;
        summary.listed += listing.on_server() as usize;
        for (i, m) in listing.messages.iter().enumerate() {
            if !known.delivered(i) && !m.flagged_deleted {
                summary.new += 1;
                summary.bytes += m.size;
            }
        }
        source.close(&[])?;
    }
    source.finish()?;
    Ok(summary)
}

/// A message as [`list`] reports it.
pub struct Listed<'a> {
    pub mailbox: &'a str,
    pub message: &'a RemoteMessage,
    /// Its header block (local line ends), when the server sent it.
    pub header: Option<&'a [u8]>,
    /// The ledger knows it as delivered: `fetch` will not download it again.
    pub fetched: bool,
}

/// Reads the header block of every message on the server (no body; nothing is changed,
/// mailboxes are opened read-only) and hands each to `each`, mailbox by mailbox in server
/// order, [`HEADER_BATCH`] messages at a time; then ends the session.
pub fn list(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
    each: &mut dyn FnMut(Listed<'_>),
) -> Result<(), EngineError> {
    for mailbox in source.mailboxes()? {
        let listing = source.open(&mailbox, false)?;
        let known = known(source, ledger, account, &mailbox, &listing)?;
        for (c, chunk) in listing.messages.chunks(HEADER_BATCH).enumerate() {
            let headers = source.headers(chunk)?;
            for (j, (message, header)) in chunk.iter().zip(&headers).enumerate() {
                each(Listed {
                    mailbox: &mailbox,
                    message,
                    header: header.as_deref(),
                    fetched: known.delivered(c * HEADER_BATCH + j),
                });
            }
        }
        source.close(&[])?;
    }
    source.finish()?;
    Ok(())
}
