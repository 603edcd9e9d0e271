//! The ledger's view of one opened mailbox (step 2 of the fetch, shared with `check` and
//! `list`): the rows of the server's current UIDVALIDITY, and the messages recognised by
//! Message-ID and size after a UIDVALIDITY change, so that a rebuilt folder is not downloaded
//! again.

use std::collections::HashMap;

use super::EngineError;
use crate::ledger::{Entry, Ledger, MessageKey, NewEntry, State};
use crate::source::{Listing, RemoteMessage, Source};

/// The ledger's view of one opened mailbox: the rows under the server's current
/// UIDVALIDITY, plus messages recognised after a UIDVALIDITY change.
pub(super) struct Known {
    /// Rows of the current uidvalidity, by uid.
    pub current: HashMap<String, Entry>,
    /// Messages listed under a new UIDVALIDITY that match a delivered row of an earlier one
    /// by Message-ID and size: (new row, delivered_at of the earlier delivery).
    pub recognised: Vec<(NewEntry, i64)>,
}

/// Loads the ledger rows of a mailbox and, when the server's UIDVALIDITY differs from the
/// one the ledger knows (the folder was rebuilt or the server migrated), recognises the
/// messages that were already delivered by their Message-ID and size (headers only, no
/// download), so that only really new messages are fetched.
pub(super) fn known(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
    mailbox: &str,
    listing: &Listing,
) -> Result<Known, EngineError> {
    let rows = ledger.entries_all(account, mailbox)?;
    let mut current = HashMap::new();
    // Several rows may share a Message-ID and size (the same message twice in a folder):
    // each server message uses up one of them.
    let mut earlier: HashMap<(String, u64), Vec<Entry>> = HashMap::new();
    let mut earlier_validity = None;
    for e in rows {
        if e.key.uidvalidity == listing.uidvalidity {
            current.insert(e.key.uid.clone(), e);
        } else if e.state == State::Delivered {
            earlier_validity = Some(e.key.uidvalidity);
            if let Some(id) = &e.message_id {
                earlier.entry((id.clone(), e.size)).or_default().push(e);
            }
        }
    }
    let mut recognised = Vec::new();
    if let Some(old) = earlier_validity {
        let candidates: Vec<RemoteMessage> = listing
            .messages
            .iter()
            .filter(|m| !current.contains_key(&m.uid))
            .cloned()
            .collect();
        let ids = if earlier.is_empty() || candidates.is_empty() {
            Vec::new()
        } else {
            source.message_ids(&candidates)?
        };
        for (m, id) in candidates.iter().zip(ids) {
            let Some(id) = id else { continue };
            let found = earlier.get_mut(&(id.clone(), m.size)).and_then(|v| v.pop());
            if let Some(e) = found {
                let entry = NewEntry {
                    key: MessageKey {
                        mailbox: mailbox.to_string(),
                        uidvalidity: listing.uidvalidity,
                        uid: m.uid.clone(),
                    },
                    size: m.size,
                    location: e.location.clone(),
                    message_id: Some(id),
                };
                current.insert(
                    m.uid.clone(),
                    Entry {
                        key: entry.key.clone(),
                        size: m.size,
                        state: State::Delivered,
                        location: e.location.clone(),
                        delivered_at: e.delivered_at,
                        deleted_at: None,
                        message_id: entry.message_id.clone(),
                    },
                );
                recognised.push((entry, e.delivered_at));
            }
        }
        log::info!(
            "the UIDVALIDITY of {} changed ({old} -> {}): {} message(s) recognised by \
             Message-ID and size as already delivered, {} to fetch",
            if mailbox.is_empty() {
                "the mailbox"
            } else {
                mailbox
            },
            listing.uidvalidity,
            recognised.len(),
            candidates.len() - recognised.len()
        );
    }
    Ok(Known {
        current,
        recognised,
    })
}

impl Known {
    /// Whether the ledger knows `uid` as delivered.
    pub fn delivered(&self, uid: &str) -> bool {
        self.current
            .get(uid)
            .is_some_and(|e| e.state == State::Delivered)
    }
}
