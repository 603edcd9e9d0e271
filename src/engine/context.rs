//! The context one fetch carries from mailbox to mailbox: the source, the ledger, the target,
//! the settings, the hooks, and what is left for the end of the session. The steps are
//! methods on it, in `fetch.rs` (list, reserve, transfer, close, commit) and `plan.rs` (plan);
//! the reservations (step 4) are shared with the sink (`sink.rs`).

use std::collections::HashSet;

use super::{FetchSettings, Hooks, Progress, Summary};
use crate::deliver::Deliver;
use crate::ledger::{Ledger, MessageKey};
use crate::source::Source;

/// One fetch in progress: what every step works on.
pub(super) struct Fetch<'a, 'h> {
    pub source: &'a mut dyn Source,
    pub ledger: &'a mut Ledger,
    pub account: i64,
    pub target: &'a mut dyn Deliver,
    pub settings: FetchSettings,
    pub progress: &'a mut dyn Progress,
    pub hooks: &'a mut Hooks<'h>,
    pub summary: Summary,
    pub pending: Pending,
}

/// What the mailboxes leave for the end of the session.
#[derive(Default)]
pub(super) struct Pending {
    /// Deletions that take effect when the session ends (POP3).
    pub at_finish: Vec<MessageKey>,
    /// Ledger rows to prune once the session ended well: (mailbox, the delivered rows of
    /// messages a complete listing no longer shows, as (uidvalidity, uid)).
    pub prune: Vec<(String, Vec<(u32, String)>)>,
    /// Uids deleted without download, to tell them apart in the summary.
    pub unread: HashSet<MessageKey>,
    /// New messages planned so far (for `max_messages` across mailboxes).
    pub planned: usize,
}

/// The ledger key of a message of the listed mailbox (of this UIDVALIDITY).
pub(super) fn key(mailbox: &str, uidvalidity: u32, uid: &str) -> MessageKey {
    MessageKey {
        mailbox: mailbox.to_string(),
        uidvalidity,
        uid: uid.to_string(),
    }
}

/// The locations reserved for the messages to retrieve (step 4), the `i`-th for the `i`-th
/// message of the plan's `retrieve`, kept in one buffer: a few dozen bytes per message.
pub(super) struct Reserved {
    pub names: String,
    pub ends: Vec<u32>,
}

impl Reserved {
    /// The location reserved for the `i`-th message to retrieve.
    pub fn location(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.names[start..self.ends[i] as usize]
    }
}

/// How logs name `mailbox`: POP3's maildrop (`""`) is "mailbox".
pub(super) fn shown(mailbox: &str) -> &str {
    if mailbox.is_empty() {
        "mailbox"
    } else {
        mailbox
    }
}
