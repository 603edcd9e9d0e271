//! The ledger's view of one opened mailbox (step 2 of the fetch, shared with `check` and
//! `list`): for each listed message, the ledger's row under the server's current UIDVALIDITY,
//! and the messages recognised by Message-ID and size after a UIDVALIDITY change, so that a
//! rebuilt folder is not downloaded again.
//!
//! The comparison is O(n) with a small constant: one streaming scan of the mailbox's rows
//! (uid, state and delivery time only, see [`Ledger::for_each_brief`]) against an index of
//! the listing that borrows its uids — no per-row allocation, a few bytes per message. A
//! partial listing (only what arrived since an earlier one, same UIDVALIDITY) costs one
//! indexed lookup per listed message and nothing for the rest of the mailbox.

use std::collections::HashMap;

use super::EngineError;
use crate::ledger::{Brief, Entry, Ledger, MessageKey, NewEntry, State};
use crate::source::{Listing, RemoteMessage, Source};

/// The ledger's view of one opened mailbox, message by message of its listing.
pub(super) struct Known {
    /// The row of each listed message (same order as `Listing::messages`), if any.
    briefs: Vec<Option<Brief>>,
    /// Messages listed under a new UIDVALIDITY that match a delivered row of an earlier one
    /// by Message-ID and size: (new row, delivered_at of the earlier delivery).
    pub recognised: Vec<(NewEntry, i64)>,
    /// Delivered rows of messages a complete listing no longer shows (another UIDVALIDITY, or
    /// a uid the server no longer has): (uidvalidity, uid), pruned once the session ended
    /// well. Found by the same scan, so that pruning costs nothing when nothing is gone.
    pub gone: Vec<(u32, String)>,
}

impl Known {
    /// The ledger's row of the `i`-th listed message.
    pub fn brief(&self, i: usize) -> Option<Brief> {
        self.briefs.get(i).copied().flatten()
    }

    /// The delivered rows of messages a complete listing no longer shows (see
    /// [`Known::gone`]); the rest is dropped.
    pub fn into_gone(self) -> Vec<(u32, String)> {
        self.gone
    }

    /// Whether the ledger knows the `i`-th listed message as delivered.
    pub fn delivered(&self, i: usize) -> bool {
        self.brief(i).is_some_and(|b| b.state == State::Delivered)
    }
}

/// Compares the listing with the ledger's rows and, when the server's UIDVALIDITY differs
/// from the one the ledger knows (the folder was rebuilt or the server migrated), recognises
/// the messages that were already delivered by their Message-ID and size (headers only, no
/// download), so that only really new messages are fetched.
pub(super) fn known(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
    mailbox: &str,
    listing: &Listing,
) -> Result<Known, EngineError> {
    let messages = &listing.messages;
    if listing.partial {
        // Only what arrived since an earlier listing of the same UIDVALIDITY: a lookup each.
        let mut briefs = Vec::with_capacity(messages.len());
        for m in messages {
            briefs.push(ledger.brief(account, mailbox, listing.uidvalidity, &m.uid)?);
        }
        return Ok(Known {
            briefs,
            recognised: Vec::new(),
            gone: Vec::new(),
        });
    }
    // Each uid's first position; a uid listed twice (a broken server) shares its row.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        index.entry(m.uid.as_str()).or_insert(i);
    }
    let mut briefs: Vec<Option<Brief>> = vec![None; messages.len()];
    let mut earlier_validity = None;
    let mut gone = Vec::new();
    ledger.for_each_brief(account, mailbox, |validity, uid, brief| {
        let listed = if validity == listing.uidvalidity {
            index.get(uid).map(|&i| briefs[i] = Some(brief)).is_some()
        } else {
            if brief.state == State::Delivered {
                earlier_validity = Some(validity);
            }
            false
        };
        if !listed && brief.state == State::Delivered {
            gone.push((validity, uid.to_string()));
        }
    })?;
    for (i, m) in messages.iter().enumerate() {
        let first = index[m.uid.as_str()];
        if first != i {
            briefs[i] = briefs[first];
        }
    }
    let mut known = Known {
        briefs,
        recognised: Vec::new(),
        gone,
    };
    if let Some(old) = earlier_validity {
        recognise(source, ledger, account, mailbox, listing, old, &mut known)?;
    }
    Ok(known)
}

/// After a UIDVALIDITY change: matches the messages the ledger does not know under the new
/// UIDVALIDITY with the rows delivered under earlier ones, by Message-ID and size.
fn recognise(
    source: &mut dyn Source,
    ledger: &Ledger,
    account: i64,
    mailbox: &str,
    listing: &Listing,
    old: u32,
    known: &mut Known,
) -> Result<(), EngineError> {
    // Several rows may share a Message-ID and size (the same message twice in a folder):
    // each server message uses up one of them.
    let mut earlier: HashMap<(String, u64), Vec<Entry>> = HashMap::new();
    for e in ledger.delivered_elsewhere(account, mailbox, listing.uidvalidity)? {
        if let Some(id) = &e.message_id {
            earlier.entry((id.clone(), e.size)).or_default().push(e);
        }
    }
    let unknown: Vec<usize> = (0..listing.messages.len())
        .filter(|&i| known.briefs[i].is_none())
        .collect();
    let candidates: Vec<RemoteMessage> = unknown
        .iter()
        .map(|&i| listing.messages[i].clone())
        .collect();
    let ids = if earlier.is_empty() || candidates.is_empty() {
        Vec::new()
    } else {
        source.message_ids(&candidates)?
    };
    for ((&i, m), id) in unknown.iter().zip(&candidates).zip(ids) {
        let Some(id) = id else { continue };
        let Some(e) = earlier.get_mut(&(id.clone(), m.size)).and_then(|v| v.pop()) else {
            continue;
        };
        known.briefs[i] = Some(Brief {
            state: State::Delivered,
            delivered_at: e.delivered_at,
        });
        let entry = NewEntry {
            key: MessageKey {
                mailbox: mailbox.to_string(),
                uidvalidity: listing.uidvalidity,
                uid: m.uid.clone(),
            },
            size: m.size,
            location: e.location,
            message_id: Some(id),
        };
        known.recognised.push((entry, e.delivered_at));
    }
    log::info!(
        "the UIDVALIDITY of {} changed ({old} -> {}): {} message(s) recognised by Message-ID \
         and size as already delivered, {} to fetch",
        if mailbox.is_empty() {
            "the mailbox"
        } else {
            mailbox
        },
        listing.uidvalidity,
        known.recognised.len(),
        candidates.len() - known.recognised.len()
    );
    Ok(())
}
