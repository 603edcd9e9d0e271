//! Step 3 of the fetch (see [`crate::engine`]): what to do with each listed message. A message
//! the ledger knows as delivered is never downloaded again (in delete mode it is deleted
//! straight away); every other one is new, and goes through the size limits, the
//! [`Select`](super::Select)or (from its headers) and `max_messages`.

use super::context::{key, shown, Fetch};
use super::known::Known;
use super::{Candidate, Choice, EngineError, HEADER_BATCH};
use crate::ledger::State;
use crate::source::{Listing, RemoteMessage};

/// The plan for one listed mailbox.
pub(super) struct Plan {
    /// To delete without downloading: delivered earlier (delete mode, or aged out), too large
    /// (`delete_larger_than`), or chosen to be deleted unread.
    pub delete_now: Vec<RemoteMessage>,
    /// New messages to download, in listing order, within `max_messages`.
    pub retrieve: Vec<RemoteMessage>,
    /// Messages the selector could not decide on (left on the server).
    pub filter_failures: Vec<String>,
    /// Every listed message is either delivered already or in `retrieve`: once all of
    /// `retrieve` is delivered, nothing the listing shows is left behind.
    pub all_planned: bool,
}

impl Fetch<'_, '_> {
    /// Step 3: sorts the listed messages, lets the selector choose among the new ones, and
    /// caps the download at `max_messages`.
    ///
    /// The new messages are taken out of `listing.messages` (moved, not copied: a first fetch
    /// of 100,000 messages holds each listed message once); the listing keeps the others and
    /// its count of the mailbox's messages.
    pub(super) fn plan(
        &mut self,
        mailbox: &str,
        listing: &mut Listing,
        known: &Known,
    ) -> Result<Plan, EngineError> {
        let listed = listing.messages.len();
        let mut plan = Plan {
            delete_now: Vec::new(),
            retrieve: Vec::new(),
            filter_failures: Vec::new(),
            all_planned: true,
        };
        let candidates = self.sort(mailbox, listing, known, &mut plan);
        let chosen = self.choose(mailbox, listing, candidates, &mut plan)?;
        self.cap(chosen, &mut plan);
        log::debug!(
            "{}: {} message(s), {} new, {} already delivered to delete",
            shown(mailbox),
            listed,
            plan.retrieve.len(),
            plan.delete_now.len()
        );
        Ok(plan)
    }

    /// Delivered messages to delete, messages too large to download or to keep, and the new
    /// messages (returned: the candidates, moved out of the listing).
    fn sort(
        &mut self,
        mailbox: &str,
        listing: &mut Listing,
        known: &Known,
        plan: &mut Plan,
    ) -> Vec<RemoteMessage> {
        let settings = self.settings;
        let now_secs = crate::time::unix_now();
        listing.on_server = Some(listing.on_server());
        let validity = listing.uidvalidity;
        let new = |i: usize, m: &RemoteMessage| {
            !known.delivered(i)
                && !m.flagged_deleted
                && settings.delete_larger_than.is_none_or(|l| m.size <= l)
                && settings.skip_larger_than.is_none_or(|l| m.size <= l)
        };
        let count = (listing.messages.iter().enumerate())
            .filter(|&(i, m)| new(i, m))
            .count();
        let mut candidates = Vec::with_capacity(count);
        let mut i = 0;
        let taken = listing.messages.extract_if(.., |m| {
            let at = i;
            i += 1;
            match known.brief(at) {
                Some(e) if e.state == State::Delivered => {
                    let aged = settings.delete_after.is_some_and(|age| {
                        now_secs.saturating_sub(e.delivered_at) >= age.as_secs() as i64
                    });
                    if !settings.keep || aged {
                        plan.delete_now.push(m.clone());
                    }
                    false
                }
                // Marked for deletion by someone else: not ours to download or delete.
                _ if m.flagged_deleted => {
                    log::debug!(
                        "message {} is already marked deleted on the server; leaving it",
                        m.uid
                    );
                    plan.all_planned = false;
                    false
                }
                _ if settings.delete_larger_than.is_some_and(|l| m.size > l) => {
                    self.pending.unread.insert(key(mailbox, validity, &m.uid));
                    plan.delete_now.push(m.clone());
                    plan.all_planned = false;
                    false
                }
                _ if settings.skip_larger_than.is_some_and(|l| m.size > l) => {
                    self.summary.skipped += 1;
                    plan.all_planned = false;
                    false
                }
                _ => true,
            }
        });
        candidates.extend(taken);
        listing.messages.shrink_to_fit();
        candidates
    }

    /// Step 3b: the selector (a filter, `--pick`) decides from the headers which candidates
    /// to download, leave or delete unread, in batches of [`HEADER_BATCH`]; without one, every
    /// candidate is chosen. Candidates not offered because the cap was reached wait for a
    /// later run.
    fn choose(
        &mut self,
        mailbox: &str,
        listing: &Listing,
        candidates: Vec<RemoteMessage>,
        plan: &mut Plan,
    ) -> Result<Vec<RemoteMessage>, EngineError> {
        let Some(select) = self.hooks.select.as_deref_mut() else {
            return Ok(candidates);
        };
        let settings = self.settings;
        let cap_reached = |planned: usize| settings.max_messages.is_some_and(|n| planned >= n);
        let mut chosen = Vec::new();
        let mut offered = 0;
        for chunk in candidates.chunks(HEADER_BATCH) {
            if cap_reached(self.pending.planned + chosen.len()) {
                break;
            }
            offered += chunk.len();
            let headers = self.source.headers(chunk)?;
            let offer: Vec<Candidate<'_>> = chunk
                .iter()
                .zip(&headers)
                .map(|(message, header)| Candidate {
                    message,
                    header: header.as_deref(),
                })
                .collect();
            let choices = select.select(mailbox, &offer);
            let undecided = std::iter::repeat(Choice::Fail("no decision".into()));
            for (m, choice) in chunk.iter().zip(choices.into_iter().chain(undecided)) {
                match choice {
                    Choice::Fetch => chosen.push(m.clone()),
                    Choice::Delete if !settings.keep => {
                        plan.all_planned = false;
                        self.pending
                            .unread
                            .insert(key(mailbox, listing.uidvalidity, &m.uid));
                        plan.delete_now.push(m.clone());
                    }
                    Choice::Delete => {
                        plan.all_planned = false;
                        log::warn!(
                            "message {}: the filter asked to delete it, but the account \
                             keeps mail on the server; it was left there",
                            m.uid
                        );
                        self.summary.left += 1;
                    }
                    Choice::Leave => {
                        plan.all_planned = false;
                        self.summary.left += 1
                    }
                    Choice::Fail(e) => {
                        plan.all_planned = false;
                        log::error!("message {}: {e}; it was left on the server", m.uid);
                        plan.filter_failures.push(format!("message {}: {e}", m.uid));
                    }
                }
            }
        }
        if offered < candidates.len() {
            plan.all_planned = false;
        }
        self.summary.deferred += candidates.len() - offered;
        Ok(chosen)
    }

    /// `max_messages`, across the mailboxes of the fetch: the chosen messages past it wait
    /// for a later run.
    fn cap(&mut self, mut chosen: Vec<RemoteMessage>, plan: &mut Plan) {
        let room = match self.settings.max_messages {
            Some(n) => n.saturating_sub(self.pending.planned),
            None => usize::MAX,
        };
        if chosen.len() > room {
            plan.all_planned = false;
            self.summary.deferred += chosen.len() - room;
            chosen.truncate(room);
        }
        self.pending.planned += chosen.len();
        // Moved as a whole: no second buffer for 100,000 messages.
        if plan.retrieve.is_empty() {
            plan.retrieve = chosen;
        } else {
            plan.retrieve.extend(chosen);
        }
    }
}
